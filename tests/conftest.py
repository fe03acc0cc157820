"""Shared fixtures: the real datasets (a test that needs them fails, saying how to install them, when they are
absent), a CIFAR-format fixture, and `fresh_datasets` for a test that changes where datasets are found."""

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from cnnviz import DatasetUnavailable
from cnnviz.data import load_dataset

# A server started by a test (tests/e2e, test_serve*) does not open the lecture's views on itself at start-up
# (deploy/warmup.py): a test that checks the warm-up turns it on for its own server.
os.environ.setdefault("CNNVIZ_WARM", "0")


def real_fashion_mnist(split: str):
    try:
        return load_dataset("fashion-mnist", split)
    except DatasetUnavailable as exc:
        pytest.fail(f"the real Fashion-MNIST is required (install dataset-fashion-mnist): {exc}")


@pytest.fixture(scope="session")
def fmnist_test():
    return real_fashion_mnist("test")


@pytest.fixture(scope="session")
def fmnist_train():
    return real_fashion_mnist("train")


@pytest.fixture
def fresh_datasets():
    """load_dataset's per-process cache emptied before and after the test: the test reads datasets from where
    it points (CNNVIZ_DATA, a fixture folder...), and later tests do not see what it loaded."""
    load_dataset.cache_clear()
    yield
    load_dataset.cache_clear()


def write_cifar_fixture(root: Path, per_batch: int = 20, seed: int = 0) -> dict:
    """A tiny dataset in CIFAR-10's python format: 5 training batches and a test batch of random images."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    written = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, size=(per_batch, 3 * 32 * 32), dtype=np.uint8)  # rows: R plane, G, B
        labels = rng.integers(0, 10, size=per_batch).tolist()
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, "labels": labels}, f)
        written[name] = (data, labels)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                                     "ship", "truck"]}, f)
    return written
