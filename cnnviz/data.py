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

import gzip
import os
import socket
import sys
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from cnnviz import DatasetUnavailable

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
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise DatasetUnavailable(f"{path} is not an idx file of uint8 data.")
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">u4", count=ndim, offset=4).astype(int)
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise DatasetUnavailable(f"{path} is truncated: expected {tuple(dims)} values.")
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
        raise DatasetUnavailable(f"{img_path} and {lbl_path} hold different numbers of items.")
    return Dataset("fashion-mnist", split, _readonly(images), _readonly(labels),
                   FASHION_MNIST_CLASSES, str(img_path.parent))


RETRY_DOWNLOAD_AFTER_S = 300
_failed_downloads: dict[str, tuple[float, str]] = {}  # dataset -> (when, why): no retry at every click


def _download(name: str, fetch, allowed: bool = True) -> str | None:
    """Run fetch() with bounded network calls; None when it worked, else why it did not."""
    if not allowed:
        return "download not asked for"
    if os.environ.get("CNNVIZ_NO_DOWNLOAD"):
        return "download disabled ($CNNVIZ_NO_DOWNLOAD is set)"
    when, why = _failed_downloads.get(name, (0.0, ""))
    if time.monotonic() - when < RETRY_DOWNLOAD_AFTER_S:
        return why + " (not retried for a few minutes)"
    try:
        with _socket_timeout(DOWNLOAD_TIMEOUT_S):
            fetch()
        return None
    except Exception as exc:  # noqa: BLE001 - any network failure becomes one clear message
        why = f"download failed: {type(exc).__name__}: {exc}"
        _failed_downloads[name] = (time.monotonic(), why)
        return why


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
        error = "the download finished but the files were not found"
    raise DatasetUnavailable(f"{title} ({split}) was not found. Looked in: {', '.join(map(str, folders))}; "
                             f"{error}.\n{how_to}")


def _load_fashion_mnist(split: str, download: bool = True) -> Dataset:
    from torchvision.datasets import FashionMNIST

    return _find(
        "Fashion-MNIST", "fashion-mnist", split, [*search_dirs(), DEBIAN_FASHION_MNIST], _fashion_mnist_from,
        lambda target: FashionMNIST(str(target), train=(split == "train"), download=True), download,
        "Get it with one of:\n"
        "  sudo apt-get install dataset-fashion-mnist        # Debian: /usr/share/datasets/fashion-mnist\n"
        "  python -c \"from torchvision.datasets import FashionMNIST as F; "
        "F('data', download=True); F('data', train=False, download=True)\"   # needs internet\n"
        "or put the four *-idx*-ubyte.gz files in a folder and set CNNVIZ_DATA to it.",
    )


# ---------------------------------------------------------------- CIFAR-10 (torchvision)

def _cifar10_from(folder: Path, split: str) -> Dataset | None:
    from torchvision.datasets import CIFAR10

    class LocalCIFAR10(CIFAR10):
        # torchvision checks each batch file's md5 against the official archive. The download path
        # below still does; a folder that is already there (or a test fixture) only needs the files.
        def _check_integrity(self) -> bool:
            base = Path(self.root) / self.base_folder
            return all((base / name).is_file() for name, _ in self.train_list + self.test_list)

        def _load_meta(self) -> None:  # the class names are fixed; no need to trust batches.meta
            self.classes = list(CIFAR10_CLASSES)
            self.class_to_idx = {c: i for i, c in enumerate(self.classes)}

    if not (folder / CIFAR10.base_folder).is_dir():
        return None
    try:
        ds = LocalCIFAR10(str(folder), train=(split == "train"), download=False)
    except Exception as exc:  # noqa: BLE001
        raise DatasetUnavailable(f"CIFAR-10 in {folder} could not be read: {exc}") from exc
    images = np.ascontiguousarray(ds.data)  # (N, 32, 32, 3) uint8
    labels = np.asarray(ds.targets, dtype=np.int64)
    return Dataset("cifar10", split, _readonly(images), _readonly(labels), CIFAR10_CLASSES,
                   str(folder / CIFAR10.base_folder))


def _load_cifar10(split: str, download: bool = True) -> Dataset:
    from torchvision.datasets import CIFAR10

    return _find(
        "CIFAR-10", "cifar10", split, search_dirs(), _cifar10_from,
        lambda target: CIFAR10(str(target), train=(split == "train"), download=True), download,  # md5-checked
        "Get it (about 170 MB, needs internet) with:\n"
        "  python -c \"from torchvision.datasets import CIFAR10; CIFAR10('data', download=True)\"\n"
        "or put the folder cifar-10-batches-py in a folder and set CNNVIZ_DATA to it.",
    )


# ---------------------------------------------------------------- public entry points

@lru_cache(maxsize=None)
def load_dataset(name: str, split: str, download: bool = True) -> Dataset:
    """Load one split of a dataset, once per process. Raises DatasetUnavailable when it is missing.

    `download=False` only looks on this machine (for optional uses that must not wait on a network).
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose 'train' or 'test'")
    loader = _load_fashion_mnist if name == "fashion-mnist" else _load_cifar10
    return loader(split, download)


def sample_path(name: str) -> Path:
    return SAMPLES_DIR / f"samples-{name}.npz"


@lru_cache(maxsize=None)
def load_samples(name: str) -> Dataset:
    """The tiny sample of test images shipped in checkpoints/ (works with no dataset installed)."""
    path = sample_path(name)
    if not path.is_file():
        raise DatasetUnavailable(f"no shipped sample images for {name} ({path} is missing).")
    with np.load(path, allow_pickle=False) as z:
        images, labels = z["images"].copy(), z["labels"].astype(np.int64)
    classes, _ = DATASETS[name]
    return Dataset(name, "test", _readonly(images), _readonly(labels), classes, f"shipped sample ({path.name})")


def images_to_browse(name: str) -> Dataset:
    """The test split when it is available, otherwise the shipped sample."""
    try:
        return load_dataset(name, "test")
    except DatasetUnavailable:
        return load_samples(name)


def save_samples(name: str, per_class: int = 2, seed: int = 0) -> Path:
    """Write `per_class` test images of each class to checkpoints/ (used when shipping a network)."""
    ds = load_dataset(name, "test")
    rng = np.random.default_rng(seed)
    idx = np.concatenate([rng.choice(np.flatnonzero(ds.labels == c), per_class, replace=False)
                          for c in range(len(ds.classes))])
    path = sample_path(name)
    np.savez_compressed(path, images=ds.images[idx], labels=ds.labels[idx], test_index=idx)
    return path


if __name__ == "__main__":
    name, split = (sys.argv[1:3] + ["fashion-mnist", "test"][len(sys.argv[1:3]):])
    ds = load_dataset(name, split)
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
