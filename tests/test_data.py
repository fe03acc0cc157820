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


def test_fashion_mnist_is_read_once_per_process(fmnist_test, fresh_datasets):
    """One read-only copy shared by every session; what a fresh read of the files gives is the same data.
    (How long a read takes is measured by bench/, not asserted here.)"""
    first = load_dataset("fashion-mnist", "test")
    assert load_dataset("fashion-mnist", "test") is first  # cached: read once
    again = data._load_fashion_mnist("test")  # the files read again, past the cache
    assert again is not first
    assert np.array_equal(again.images, fmnist_test.images) and np.array_equal(again.labels, fmnist_test.labels)


def test_normalisation_matches_torchvision(fmnist_test):
    from torchvision import transforms

    tv = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    ours = to_tensor(fmnist_test.images[:4])
    ref = torch.stack([tv(img) for img in fmnist_test.images[:4]])
    assert ours.shape == (4, 1, 28, 28)
    torch.testing.assert_close(ours, ref)
    assert ours.min() >= -1 and ours.max() <= 1
    assert np.array_equal(to_uint8(ours[0].numpy()), fmnist_test.images[0])


def test_cifar10_from_fixture(tmp_path, monkeypatch, fresh_datasets):
    written = write_cifar_fixture(tmp_path)
    monkeypatch.setenv("CNNVIZ_DATA", str(tmp_path))
    monkeypatch.setenv("CNNVIZ_NO_DOWNLOAD", "1")
    train, test = load_dataset("cifar10", "train"), load_dataset("cifar10", "test")
    assert train.images.shape == (100, 32, 32, 3) and test.images.shape == (20, 32, 32, 3)
    assert train.images.dtype == np.uint8 and train.input_shape == (3, 32, 32)
    raw, labels = written["test_batch"]
    # CIFAR rows are channel planes: pixel (0, 0) of image 0 is (R, G, B) = raw[0, 0], raw[0, 1024], raw[0, 2048]
    assert test.images[0, 0, 0].tolist() == [raw[0, 0], raw[0, 1024], raw[0, 2048]]
    assert test.labels.tolist() == labels
    assert test.classes[3] == "cat"
    assert to_tensor(test.images[:2]).shape == (2, 3, 32, 32)


@pytest.mark.parametrize("name", ["fashion-mnist", "cifar10"])
def test_missing_data_error(tmp_path, monkeypatch, fresh_datasets, name):
    monkeypatch.setenv("CNNVIZ_DATA", str(tmp_path))
    monkeypatch.setenv("CNNVIZ_NO_DOWNLOAD", "1")
    monkeypatch.setattr(data, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", tmp_path / "nowhere")
    with pytest.raises(DatasetUnavailable) as info:
        load_dataset(name, "test")
    message = str(info.value)
    assert "not found" in message and tmp_path.name in message and str(tmp_path) not in message  # no server path
    if name == "fashion-mnist":
        assert "apt-get install dataset-fashion-mnist" in message
    assert "CNNVIZ_DATA" in message and "download=True" in message


def test_download_failure_is_quick_and_clear(tmp_path, monkeypatch, fresh_datasets):
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
    t0 = time.perf_counter()
    with pytest.raises(DatasetUnavailable, match="download failed"):
        load_dataset("fashion-mnist", "train", download=True)
    assert time.perf_counter() - t0 < 60
    # a second request within a few minutes does not try the network again
    monkeypatch.setattr("urllib.request.urlopen", lambda *a, **k: pytest.fail("retried the download"))
    with pytest.raises(DatasetUnavailable, match="not retried"):
        load_dataset("fashion-mnist", "test", download=True)


def test_corrupt_idx_file(tmp_path, monkeypatch, fresh_datasets):
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"\x00\x00\x08\x03" + (10).to_bytes(4, "big") * 3 + b"\x01" * 5)
    (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01" + (10).to_bytes(4, "big") + b"\x01" * 10)
    monkeypatch.setenv("CNNVIZ_DATA", str(tmp_path))
    with pytest.raises(DatasetUnavailable, match="truncated"):
        load_dataset("fashion-mnist", "test")


def test_shipped_samples():
    s = load_samples("fashion-mnist")
    assert s.images.shape[1:] == (28, 28) and s.images.dtype == np.uint8
    assert np.bincount(s.labels, minlength=10).min() >= 2  # every class at least twice


# ---------------------------------------------------------------- issue 15, item 6: data folders are input

class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("where", ["data_batch_1", "test_batch"])
def test_cifar_pickle_payload_is_refused_and_not_run(tmp_path, monkeypatch, fresh_datasets, where):
    import pickle

    write_cifar_fixture(tmp_path)
    marker = tmp_path / "PWNED"
    with open(tmp_path / "cifar-10-batches-py" / where, "wb") as f:
        pickle.dump({"data": Payload(marker), "labels": [0]}, f)
    monkeypatch.setenv("CNNVIZ_DATA", str(tmp_path))
    monkeypatch.setenv("CNNVIZ_NO_DOWNLOAD", "1")
    with pytest.raises(DatasetUnavailable) as info:
        load_dataset("cifar10", "train" if where != "test_batch" else "test")
    assert not marker.exists()
    assert info.value.code == "err.data_cifar_unsafe" and "could run code" in str(info.value)
    assert "exécuter du code" in info.value.message("fr")


@pytest.mark.parametrize("content", [b"", b"\x80\x04K\x01.", b"junk" * 10, b"\x80\x02}q\x00(X\x04\x00\x00\x00dataq"])
def test_cifar_junk_batch(tmp_path, monkeypatch, fresh_datasets, content):
    write_cifar_fixture(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(content)
    monkeypatch.setenv("CNNVIZ_DATA", str(tmp_path))
    with pytest.raises(DatasetUnavailable) as info:
        load_dataset("cifar10", "test")
    assert info.value.code in ("err.data_cifar_bad", "err.data_cifar_unsafe")


def test_cifar_pickles_of_every_protocol_load(tmp_path, monkeypatch, fresh_datasets):
    import pickle

    write_cifar_fixture(tmp_path)
    rng = np.random.default_rng(3)
    rows = rng.integers(0, 256, size=(4, 3072), dtype=np.uint8)
    for proto in (2, 3, 4, 5):
        with open(tmp_path / "cifar-10-batches-py" / "test_batch", "wb") as f:
            pickle.dump({b"batch_label": b"testing", b"data": rows, b"labels": [1, 2, 3, 4]}, f, protocol=proto)
        monkeypatch.setenv("CNNVIZ_DATA", str(tmp_path))
        load_dataset.cache_clear()  # the same file, rewritten: read it again
        test = load_dataset("cifar10", "test")
        assert test.labels.tolist() == [1, 2, 3, 4]
        np.testing.assert_array_equal(test.images[2], rows[2].reshape(3, 32, 32).transpose(1, 2, 0))


def test_no_download_unless_asked(tmp_path, monkeypatch, fresh_datasets):
    """A page view (load_dataset's default, images_to_browse, local_dataset) never starts a download."""
    monkeypatch.setenv("CNNVIZ_DATA", str(tmp_path))
    monkeypatch.delenv("CNNVIZ_NO_DOWNLOAD", raising=False)
    monkeypatch.setattr(data, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", tmp_path / "nowhere")
    monkeypatch.setattr(data, "_failed_downloads", {})
    monkeypatch.setattr("urllib.request.urlopen", lambda *a, **k: pytest.fail("a download was started"))
    with pytest.raises(DatasetUnavailable) as info:
        load_dataset("cifar10", "test")
    assert "nothing is downloaded unless you ask" in str(info.value)
    assert data.local_dataset("fashion-mnist", "train") is None
    assert data.images_to_browse("fashion-mnist").source.startswith("shipped sample")
    assert data.available_datasets() == {n: {"train": False, "test": False} for n in data.DATASETS}


def test_unknown_names_are_clear():
    with pytest.raises(DatasetUnavailable, match="Unknown dataset"):
        load_dataset("mnist", "test")
    with pytest.raises(DatasetUnavailable, match="Unknown split"):
        load_dataset("fashion-mnist", "valid")
