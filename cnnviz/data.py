"""Datasets: Fashion-MNIST and CIFAR-10 as read-only uint8 arrays, loaded once per process.

Where the data is looked for, in order:
  1. the folder named by $CNNVIZ_DATA,
  2. `data/` in the repository,
  3. Debian's package `dataset-fashion-mnist` (/usr/share/datasets/fashion-mnist; Fashion-MNIST only),
  4. a torchvision download into `data/`, where the network allows it (skipped when
     $CNNVIZ_NO_DOWNLOAD is set).
When none works, `load_dataset` raises `DatasetUnavailable` with the commands that fetch the data.

Images go into a network normalised to [-1, 1] as in the course (ToTensor then Normalize(0.5, 0.5)):
`to_tensor` does exactly that on a batch of uint8 images.

    python -m cnnviz.data fashion-mnist test    # prints where the data was found and its shape
"""

from __future__ import annotations

import codecs
import gzip
import os
import pickle
import socket
import sys
import threading
import time
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from cnnviz import DatasetUnavailable, shown_path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
SAMPLES_DIR = REPO_ROOT / "checkpoints"

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
CIFAR10_CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)
DATASETS = {
    # name: (classes, input shape (C, H, W))
    "fashion-mnist": (FASHION_MNIST_CLASSES, (1, 28, 28)),
    "cifar10": (CIFAR10_CLASSES, (3, 32, 32)),
}
SPLITS = ("train", "test")
DOWNLOAD_TIMEOUT_S = 20


@dataclass(frozen=True)
class Dataset:
    """One split of a dataset. `images` is (N, H, W) for grayscale or (N, H, W, 3) for RGB, uint8."""

    name: str
    split: str
    images: np.ndarray
    labels: np.ndarray  # (N,) int64
    classes: tuple[str, ...]
    source: str  # where it was read from, for the user

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return DATASETS[self.name][1]


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 images (N, H, W) or (N, H, W, 3) -> float tensor (N, C, H, W) in [-1, 1]."""
    x = torch.from_numpy(np.array(images, dtype=np.uint8))  # a writable copy (datasets are read-only)
    if x.ndim == 3:  # (N, H, W) grayscale
        x = x.unsqueeze(1)
    else:  # (N, H, W, C) -> (N, C, H, W)
        x = x.permute(0, 3, 1, 2)
    return x.float().div_(127.5).sub_(1.0)


def to_uint8(x: torch.Tensor | np.ndarray) -> np.ndarray:
    """Inverse of `to_tensor` for one image: (C, H, W) in [-1, 1] -> (H, W) or (H, W, 3) uint8."""
    x = np.asarray(x, dtype=np.float32)
    img = np.clip(np.round((x + 1.0) * 127.5), 0, 255).astype(np.uint8)
    return img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0)


def search_dirs() -> list[Path]:
    """Folders searched for data, in order."""
    dirs = []
    if os.environ.get("CNNVIZ_DATA"):
        dirs.append(Path(os.environ["CNNVIZ_DATA"]))
    dirs.append(REPO_ROOT / "data")
    return dirs


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


# ---------------------------------------------------------------- Fashion-MNIST (idx files)

_FMNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _read_idx(path: Path) -> np.ndarray:
    """Read an idx file (optionally gzipped): big-endian magic, dims, then uint8 data."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read(MAX_IDX_BYTES + 1)
    except (OSError, EOFError, zlib.error) as exc:  # a corrupt gzip stream, a file we may not read
        raise DatasetUnavailable("err.data_unreadable", path=shown_path(path), kind=type(exc).__name__) from None
    if len(raw) > MAX_IDX_BYTES:
        raise DatasetUnavailable("err.data_not_idx", path=shown_path(path))
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DatasetUnavailable("err.data_not_idx", path=shown_path(path))
    ndim = raw[3]
    if ndim == 0 or len(raw) < 4 + 4 * ndim:
        raise DatasetUnavailable("err.data_idx_truncated", path=shown_path(path), shape="?")
    dims = np.frombuffer(raw, dtype=">u4", count=ndim, offset=4).astype(np.int64)
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DatasetUnavailable("err.data_idx_truncated", path=shown_path(path), shape="×".join(map(str, dims)))
    return data.reshape(tuple(dims))


def _find_idx(folder: Path, stem: str) -> Path | None:
    # Flat layout (Debian's package, a hand-made folder) or torchvision's FashionMNIST/raw layout.
    for sub in (folder, folder / "FashionMNIST" / "raw", folder / "fashion-mnist"):
        for name in (stem + ".gz", stem):
            if (sub / name).is_file():
                return sub / name
    return None


def _fashion_mnist_from(folder: Path, split: str) -> Dataset | None:
    img_stem, lbl_stem = _FMNIST_FILES[split]
    img_path, lbl_path = _find_idx(folder, img_stem), _find_idx(folder, lbl_stem)
    if img_path is None or lbl_path is None:
        return None
    images, labels = _read_idx(img_path), _read_idx(lbl_path).astype(np.int64)
    if images.shape[0] != labels.shape[0]:
        raise DatasetUnavailable("err.data_count_mismatch", images=shown_path(img_path), labels=shown_path(lbl_path))
    if images.ndim != 3 or images.shape[1:] != (28, 28) or labels.ndim != 1 or labels.size and labels.max() > 9:
        raise DatasetUnavailable("err.data_bad_shape", path=shown_path(img_path.parent), dataset="Fashion-MNIST")
    return Dataset("fashion-mnist", split, _readonly(images), _readonly(labels),
                   FASHION_MNIST_CLASSES, str(img_path.parent))


RETRY_DOWNLOAD_AFTER_S = 300
_failed_downloads: dict[str, tuple[float, str]] = {}  # dataset -> (when, why): no retry at every click


def _download(name: str, fetch, allowed: bool = True) -> tuple[str, str] | None:
    """Run fetch() with bounded network calls; None when it worked, else why it did not: (a "@err.…"
    reason, a detail such as the exception's type)."""
    if not allowed:
        return "@err.data_why_not_asked", ""
    if os.environ.get("CNNVIZ_NO_DOWNLOAD"):
        return "@err.data_why_disabled", ""
    when, detail = _failed_downloads.get(name, (0.0, ""))
    if time.monotonic() - when < RETRY_DOWNLOAD_AFTER_S:
        return "@err.data_why_not_retried", detail
    try:
        with _socket_timeout(DOWNLOAD_TIMEOUT_S):
            fetch()
        return None
    except Exception as exc:  # noqa: BLE001 - any network failure becomes one clear message
        detail = type(exc).__name__
        _failed_downloads[name] = (time.monotonic(), detail)
        return "@err.data_why_failed", detail


class _socket_timeout:
    """Bound every network call of a download, so a closed network fails instead of hanging."""

    def __init__(self, seconds: float):
        self.seconds, self.old = seconds, None

    def __enter__(self):
        self.old = socket.getdefaulttimeout()
        socket.setdefaulttimeout(self.seconds)

    def __exit__(self, *exc):
        socket.setdefaulttimeout(self.old)


def _find(title: str, name: str, split: str, folders: list[Path], read, fetch, download: bool, how_to: str) -> Dataset:
    """The first folder where `read(folder, split)` finds the data; else a download into data/ with
    `fetch(folder)`; else DatasetUnavailable saying where we looked, why the download did not help, and
    `how_to` get the data."""
    for folder in folders:
        ds = read(folder, split)
        if ds is not None:
            return ds
    target = REPO_ROOT / "data"
    error = _download(name, lambda: fetch(target), download)
    if error is None:
        ds = read(target, split)
        if ds is not None:
            return ds
        error = ("@err.data_why_no_files", "")
    why, detail = error
    raise DatasetUnavailable("err.data_not_found", title=title, split=split, folders=", ".join(map(shown_path, folders)),
                             why=why, detail=f" ({detail})" if detail else "", how_to=how_to)


def _load_fashion_mnist(split: str, download: bool = True) -> Dataset:
    from torchvision.datasets import FashionMNIST

    return _find(
        "Fashion-MNIST", "fashion-mnist", split, [*search_dirs(), DEBIAN_FASHION_MNIST], _fashion_mnist_from,
        lambda target: FashionMNIST(str(target), train=(split == "train"), download=True), download,
        "@err.data_howto_fashion_mnist",
    )


# ---------------------------------------------------------------- CIFAR-10 (torchvision)

CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_FILES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}
MAX_IDX_BYTES = 200 * 2**20  # Fashion-MNIST's largest file is 47 MB
MAX_CIFAR_BATCH_BYTES = 64 * 2**20  # a CIFAR-10 batch is 31 MB


class _DataOnlyUnpickler(pickle.Unpickler):
    """Unpickles CIFAR-10's batches and nothing else: dicts, lists, strings, bytes, numbers and numpy
    arrays. Any other global (os.system, builtins.eval, a class with a __reduce__...) is refused before it
    is looked up, so a folder of crafted "batches" cannot run code."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("_codecs", "encode"),  # bytes written by Python 3 with pickle protocol 2
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed")
        if module == "_codecs":
            return codecs.encode
        if name in ("ndarray", "dtype"):
            return getattr(np, name)
        core = getattr(np, "_core", None) or np.core  # numpy 2 (numpy.core is a deprecated alias) or 1
        return getattr(core.multiarray if name == "_reconstruct" else core.numeric, name)

    def persistent_load(self, pid):
        raise pickle.UnpicklingError("persistent ids are not allowed")


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch file -> (images (N, 32, 32, 3) uint8, labels (N,) int64), without running any code."""
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size > MAX_CIFAR_BATCH_BYTES:
                raise DatasetUnavailable("err.data_cifar_bad", path=shown_path(path))
            entry = _DataOnlyUnpickler(f, encoding="latin1").load()
    except DatasetUnavailable:
        raise
    except pickle.UnpicklingError:
        raise DatasetUnavailable("err.data_cifar_unsafe", path=shown_path(path)) from None
    except Exception:  # noqa: BLE001 - truncated, corrupt: anything that is not a batch
        raise DatasetUnavailable("err.data_cifar_bad", path=shown_path(path)) from None
    if not isinstance(entry, dict):
        raise DatasetUnavailable("err.data_cifar_bad", path=shown_path(path))
    entry = {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in entry.items()}
    data, labels = entry.get("data"), entry.get("labels", entry.get("fine_labels"))
    if (not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32
            or not isinstance(labels, (list, tuple, np.ndarray)) or len(labels) != data.shape[0]):
        raise DatasetUnavailable("err.data_cifar_bad", path=shown_path(path))
    try:
        labels = np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise DatasetUnavailable("err.data_cifar_bad", path=shown_path(path)) from None
    if labels.ndim != 1 or (labels.size and (labels.min() < 0 or labels.max() > 9)):
        raise DatasetUnavailable("err.data_cifar_bad", path=shown_path(path))
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), labels


def _cifar10_from(folder: Path, split: str) -> Dataset | None:
    """CIFAR-10 from torchvision's folder layout. The batch files are Python pickles: they are read with an
    unpickler that only builds arrays and plain data (never torchvision's pickle.load, which runs code)."""
    base = folder / CIFAR10_FOLDER
    if not base.is_dir():
        return None
    parts = [_read_cifar_batch(base / name) for name in CIFAR10_FILES[split]]
    images = np.ascontiguousarray(np.concatenate([p[0] for p in parts]))  # (N, 32, 32, 3) uint8
    labels = np.concatenate([p[1] for p in parts])
    return Dataset("cifar10", split, _readonly(images), _readonly(labels), CIFAR10_CLASSES, str(base))


def _load_cifar10(split: str, download: bool = True) -> Dataset:
    from torchvision.datasets import CIFAR10

    return _find(
        "CIFAR-10", "cifar10", split, search_dirs(), _cifar10_from,
        lambda target: CIFAR10(str(target), train=(split == "train"), download=True), download,  # md5-checked
        "@err.data_howto_cifar10",
    )


# ---------------------------------------------------------------- public entry points

_loaded: dict[tuple[str, str], Dataset] = {}  # one copy of each split per process
_locks: dict[tuple[str, str], threading.Lock] = {}
_locks_lock = threading.Lock()


def load_dataset(name: str, split: str, download: bool = False) -> Dataset:
    """Load one split of a dataset, once per process. Raises DatasetUnavailable when it is missing.

    Nothing is downloaded unless `download=True` is asked for explicitly (the command line, a button
    that says so): a page view never starts a 170 MB download by itself. `local_dataset` returns None
    instead of raising."""
    if name not in DATASETS:
        raise DatasetUnavailable("err.data_unknown", name=str(name)[:40], choices=", ".join(sorted(DATASETS)))
    if split not in SPLITS:
        raise DatasetUnavailable("err.data_unknown_split", split=str(split)[:40])
    with _locks_lock:
        lock = _locks.setdefault((name, split), threading.Lock())
    with lock:  # two sessions asking at once read the files once; other splits are not held up
        ds = _loaded.get((name, split))
        if ds is None:
            loader = _load_fashion_mnist if name == "fashion-mnist" else _load_cifar10
            ds = _loaded[(name, split)] = loader(split, download)
    return ds


load_dataset.cache_clear = _loaded.clear  # the tests' way to forget what was loaded


def local_dataset(name: str, split: str) -> Dataset | None:
    """The split when it is on this machine, else None; never downloads, never raises for missing data."""
    try:
        return load_dataset(name, split, download=False)
    except DatasetUnavailable:
        return None


def available_datasets() -> dict[str, dict[str, bool]]:
    """What is on this machine, without downloading anything: {name: {split: available}}."""
    return {name: {split: local_dataset(name, split) is not None for split in SPLITS} for name in DATASETS}


def download_dataset(name: str, split: str) -> Dataset:
    """Fetch a missing split with torchvision (an explicit user action), then load it."""
    return load_dataset(name, split, download=True)


def sample_path(name: str) -> Path:
    return SAMPLES_DIR / f"samples-{name}.npz"


@lru_cache(maxsize=None)
def load_samples(name: str) -> Dataset:
    """The tiny sample of test images shipped in checkpoints/ (works with no dataset installed)."""
    path = sample_path(name)
    if not path.is_file():
        raise DatasetUnavailable("err.data_no_samples", name=name, path=path.name)
    with np.load(path, allow_pickle=False) as z:
        images, labels = z["images"].copy(), z["labels"].astype(np.int64)
    classes, _ = DATASETS[name]
    return Dataset(name, "test", _readonly(images), _readonly(labels), classes, f"shipped sample ({path.name})")


def images_to_browse(name: str) -> Dataset:
    """The test split when it is on this machine (nothing is downloaded), otherwise the shipped sample."""
    return local_dataset(name, "test") or load_samples(name)


def save_samples(name: str, per_class: int = 2, seed: int = 0) -> Path:
    """Write `per_class` test images of each class to checkpoints/ (used when shipping a network)."""
    ds = load_dataset(name, "test", download=True)
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.choice(np.flatnonzero(ds.labels == c), per_class, replace=False)
                          for c in range(len(ds.classes))])
    path = sample_path(name)
    np.savez_compressed(path, images=ds.images[idx], labels=ds.labels[idx], test_index=idx)
    return path


if __name__ == "__main__":
    name, split = (sys.argv[1:3] + ["fashion-mnist", "test"][len(sys.argv[1:3]):])
    ds = load_dataset(name, split, download=True)
    print(f"{ds.name}/{ds.split}: {ds.images.shape} {ds.images.dtype} from {ds.source}")


def synthetic_rgb(size: int = 8) -> np.ndarray:
    """A small colour test card (H, W, 3) uint8: a red square, a green bar, a blue diagonal, on grey."""
    img = np.full((size, size, 3), 40, dtype=np.uint8)
    q = size // 4
    img[q:2 * q + q // 2, q:2 * q + q // 2] = (230, 40, 40)  # red square
    img[:, size - q - 1:size - 1, 1] = 220  # green vertical bar
    for i in range(size):
        img[i, i, 2] = 255  # blue diagonal
    return img
