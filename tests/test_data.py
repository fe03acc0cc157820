"""Datasets: the real Fashion-MNIST, the CIFAR-10 path on a generated fixture, the missing-data error."""

import time

import numpy as np
import pytest
import torch

from cnnviz import DatasetUnavailable, data
from cnnviz.data import load_dataset, load_samples, to_tensor, to_uint8
from tests.conftest import write_cifar_fixture


def test_fashion_mnist_test_split(fmnist_test):
    assert fmnist_test.images.shape == (10000, 28, 28)
    assert fmnist_test.images.dtype == np.uint8
    assert fmnist_test.labels.shape == (10000,)
    assert set(np.unique(fmnist_test.labels)) == set(range(10))
    assert np.bincount(fmnist_test.labels).tolist() == [1000] * 10
    assert fmnist_test.classes[0] == "T-shirt/top" and fmnist_test.classes[9] == "Ankle boot"
    assert not fmnist_test.images.flags.writeable  # shared read-only by every session


def test_fashion_mnist_loads_once_and_fast(fmnist_test):
    assert load_dataset("fashion-mnist", "test") is fmnist_test
    load_dataset.cache_clear()
    try:
        t0 = time.perf_counter()
        again = data._load_fashion_mnist("test")
        elapsed = time.perf_counter() - t0
    finally:
        load_dataset.cache_clear()
    assert np.array_equal(again.images, fmnist_test.images)
    print(f"Fashion-MNIST test split read in {elapsed:.2f} s")


def test_normalisation_matches_torchvision(fmnist_test):
    from torchvision import transforms

    tv = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    ours = to_tensor(fmnist_test.images[:4])
    ref = torch.stack([tv(img) for img in fmnist_test.images[:4]])
    assert ours.shape == (4, 1, 28, 28)
    torch.testing.assert_close(ours, ref)
    assert ours.min() >= -1 and ours.max() <= 1
    assert np.array_equal(to_uint8(ours[0].numpy()), fmnist_test.images[0])


def test_cifar10_from_fixture(tmp_path, monkeypatch):
    written = write_cifar_fixture(tmp_path)
    monkeypatch.setenv("CNNVIZ_DATA", str(tmp_path))
    monkeypatch.setenv("CNNVIZ_NO_DOWNLOAD", "1")
    load_dataset.cache_clear()
    try:
        train, test = load_dataset("cifar10", "train"), load_dataset("cifar10", "test")
    finally:
        load_dataset.cache_clear()
    assert train.images.shape == (100, 32, 32, 3) and test.images.shape == (20, 32, 32, 3)
    assert train.images.dtype == np.uint8 and train.input_shape == (3, 32, 32)
    raw, labels = written["test_batch"]
    # CIFAR rows are channel planes: pixel (0, 0) of image 0 is (R, G, B) = raw[0, 0], raw[0, 1024], raw[0, 2048]
    assert test.images[0, 0, 0].tolist() == [raw[0, 0], raw[0, 1024], raw[0, 2048]]
    assert test.labels.tolist() == labels
    assert test.classes[3] == "cat"
    assert to_tensor(test.images[:2]).shape == (2, 3, 32, 32)


@pytest.mark.parametrize("name", ["fashion-mnist", "cifar10"])
def test_missing_data_error(tmp_path, monkeypatch, name):
    monkeypatch.setenv("CNNVIZ_DATA", str(tmp_path))
    monkeypatch.setenv("CNNVIZ_NO_DOWNLOAD", "1")
    monkeypatch.setattr(data, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", tmp_path / "nowhere")
    load_dataset.cache_clear()
    try:
        with pytest.raises(DatasetUnavailable) as info:
            load_dataset(name, "test")
    finally:
        load_dataset.cache_clear()
    message = str(info.value)
    assert "not found" in message and str(tmp_path) in message
    if name == "fashion-mnist":
        assert "apt-get install dataset-fashion-mnist" in message
    assert "CNNVIZ_DATA" in message and "download=True" in message


def test_download_failure_is_quick_and_clear(tmp_path, monkeypatch):
    """With no network (or a refused one), the torchvision download fails with our message, not a hang."""
    monkeypatch.setenv("CNNVIZ_DATA", str(tmp_path))
    monkeypatch.delenv("CNNVIZ_NO_DOWNLOAD", raising=False)
    monkeypatch.setattr(data, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", tmp_path / "nowhere")
    monkeypatch.setattr(data, "DOWNLOAD_TIMEOUT_S", 3)

    def refuse(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr("urllib.request.urlopen", refuse)
    monkeypatch.setattr(data, "_failed_downloads", {})
    load_dataset.cache_clear()
    t0 = time.perf_counter()
    try:
        with pytest.raises(DatasetUnavailable, match="download failed"):
            load_dataset("fashion-mnist", "train")
        assert time.perf_counter() - t0 < 60
        # a second request within a few minutes does not try the network again
        monkeypatch.setattr("urllib.request.urlopen", lambda *a, **k: pytest.fail("retried the download"))
        with pytest.raises(DatasetUnavailable, match="not retried"):
            load_dataset("fashion-mnist", "test")
    finally:
        load_dataset.cache_clear()


def test_corrupt_idx_file(tmp_path, monkeypatch):
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + (10).to_bytes(4, "big") * 3 + b"\x01" * 5)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01" + (10).to_bytes(4, "big") + b"\x01" * 10)
    monkeypatch.setenv("CNNVIZ_DATA", str(tmp_path))
    load_dataset.cache_clear()
    try:
        with pytest.raises(DatasetUnavailable, match="truncated"):
            load_dataset("fashion-mnist", "test")
    finally:
        load_dataset.cache_clear()


def test_shipped_samples():
    s = load_samples("fashion-mnist")
    assert s.images.shape[1:] == (28, 28) and s.images.dtype == np.uint8
    assert np.bincount(s.labels, minlength=10).min() >= 2  # every class at least twice
