"""Checkpoints: a plain dict of a state_dict plus primitive metadata, written atomically, read safely.

File layout (what `torch.save` writes):
    {"format": "cnnviz-1", "arch": "compact", "state_dict": {...}, "meta": {...primitives...}}
`meta` holds at least dataset, classes, input_shape (C, H, W), test_accuracy, normalization, epochs,
seed, command (the exact training command), train_seconds.

Loading uses `torch.load(weights_only=True, map_location="cpu")`: a file holding any other pickled
object is refused without running it.
"""

from __future__ import annotations

import os
import pickle
import tempfile
import time
import zipfile
from pathlib import Path

import torch

from cnnviz import CheckpointError
from cnnviz.models import StagedNet, build_model

FORMAT = "cnnviz-1"
REPO_ROOT = Path(__file__).resolve().parent.parent
SHIPPED_DIR = REPO_ROOT / "checkpoints"
SHIPPED = SHIPPED_DIR / "fashion_compact.pt"


def runs_dir() -> Path:
    """Where the user's trainings are saved: $CNNVIZ_RUNS, or runs/ in the repository."""
    return Path(os.environ.get("CNNVIZ_RUNS") or REPO_ROOT / "runs")


def new_run_path(dataset: str, arch: str, tag: str = "") -> Path:
    """A fresh file name for a user's training in runs_dir(): <dataset>_<arch>_<time>[_<tag>].pt."""
    return runs_dir() / f"{dataset}_{arch}_{time.strftime('%Y%m%d-%H%M%S')}{'_' + tag if tag else ''}.pt"


REQUIRED_META = ("dataset", "classes", "input_shape", "test_accuracy")


def save_checkpoint(path: str | Path, model: StagedNet, arch: str, meta: dict) -> Path:
    """Write model + metadata to `path` atomically (temporary file in the same folder, then os.replace)."""
    path = Path(path)
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise ValueError(f"checkpoint metadata lacks {missing}")
    meta = dict(meta, input_shape=list(meta["input_shape"]), classes=list(meta["classes"]))
    config = getattr(model, "config", None)
    if arch == "convnet" and config is not None:
        meta["config"] = config.to_dict()
    payload = {
        "format": FORMAT,
        "arch": arch,
        "state_dict": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()},
        "meta": meta,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a checkpoint is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path) -> tuple[StagedNet, dict]:
    """Load a checkpoint -> (model in eval mode, meta). Raises CheckpointError with a clear reason."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist.")
    try:
        payload = torch.load(path, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        raise CheckpointError(
            f"{path.name} was refused: it holds Python objects other than weights and plain data, "
            "and loading it could run code."
        ) from exc
    except (EOFError, zipfile.BadZipFile, RuntimeError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path.name} is truncated or not a checkpoint ({type(exc).__name__}).") from exc
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path.name} is not a cnnviz checkpoint (format {FORMAT} expected).")
    meta = payload.get("meta")
    if not isinstance(meta, dict) or any(k not in meta for k in REQUIRED_META):
        raise CheckpointError(f"{path.name} lacks metadata {list(REQUIRED_META)}.")
    try:
        model = build_model(payload["arch"], meta["input_shape"], len(meta["classes"]), meta.get("config"))
        model.load_state_dict(payload["state_dict"])
    except (KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise CheckpointError(
            f"{path.name} does not match its architecture {payload.get('arch')!r}: "
            f"{str(exc).splitlines()[0]}"
        ) from exc
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    meta = dict(meta, arch=payload["arch"], input_shape=tuple(meta["input_shape"]),
                classes=tuple(meta["classes"]), path=str(path))
    return model, meta


def list_checkpoints() -> list[Path]:
    """The shipped network first, then the user's runs (newest first)."""
    shipped = sorted(SHIPPED_DIR.glob("*.pt"))
    runs = sorted(runs_dir().glob("*.pt"), key=lambda p: p.stat().st_mtime, reverse=True)  # none if no folder
    return [*shipped, *runs]
