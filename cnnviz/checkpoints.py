"""Checkpoints: a plain dict of a state_dict plus primitive metadata, written atomically, read safely.

File layout (what `torch.save` writes):
    {"format": "cnnviz-1", "arch": "compact", "state_dict": {...}, "meta": {...primitives...}
     [, "timeline": {...tensors and primitives...}]}
A user's run may hold its timeline (cnnviz.timeline: moments of its training to scrub through); older runs and
the shipped networks have none, and nothing else depends on it.
`meta` holds at least dataset, classes, input_shape (C, H, W), test_accuracy, normalization, epochs,
seed, command (the exact training command), train_seconds.

Loading uses `torch.load(weights_only=True, map_location="cpu")`: a file holding any other pickled
object is refused without running it.
"""

from __future__ import annotations

import io
import math
import os
import pickle
import stat
import tempfile
import time
import uuid
from functools import lru_cache
from pathlib import Path

import torch

from cnnviz import CheckpointError, shown_path
from cnnviz.data import DATASETS
from cnnviz.models import ARCHITECTURES, StagedNet, build_model

FORMAT = "cnnviz-1"
REPO_ROOT = Path(__file__).resolve().parent.parent
SHIPPED_DIR = REPO_ROOT / "checkpoints"
SHIPPED = SHIPPED_DIR / "fashion_compact.pt"


def runs_dir() -> Path:
    """Where the user's trainings are saved: $CNNVIZ_RUNS, or runs/ in the repository when it is unset or
    unusable (a file, the shipped checkpoints/ folder, a folder that cannot be written: see cnnviz.config,
    which logs why once)."""
    return _checked_runs_dir(os.environ.get("CNNVIZ_RUNS") or "")


@lru_cache(maxsize=16)
def _checked_runs_dir(raw: str) -> Path:
    from cnnviz.config import load_settings

    return load_settings({"CNNVIZ_RUNS": raw}).runs_dir


def _run_name(dataset: str, arch: str, tag: str = "") -> str:
    # The time to the second for a person, then 8 random hex digits so that two runs ending in the same
    # second (two sessions, two jobs) never get the same name.
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return f"{dataset}_{arch}_{stamp}-{uuid.uuid4().hex[:8]}{'_' + tag if tag else ''}.pt"


def new_run_path(dataset: str, arch: str, tag: str = "", folder: str | Path | None = None) -> Path:
    """A fresh file name for a user's training: <dataset>_<arch>_<time>-<random>[_<tag>].pt in `folder`
    (default runs_dir()). Save with `save_checkpoint(..., exclusive=True)` (or `save_run`) so that even
    an improbable collision never replaces another run."""
    return Path(folder or runs_dir()) / _run_name(dataset, arch, tag)


WEIGHT_HISTORY = "weight_history"  # the payload's per-epoch weights (cnnviz.landscape.HISTORY_KEY reads it)
REQUIRED_META = ("dataset", "classes", "input_shape", "test_accuracy")
MAX_CHECKPOINT_BYTES = 1 << 30  # 1 GiB: far above any network of the course (the shipped one is ~1 MB)
_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's format is a zip archive


def checkpoint_payload(model: StagedNet, arch: str, meta: dict, timeline: dict | None = None,
                       weight_history: list[dict] | None = None) -> dict:
    """The dict a checkpoint file holds: format, arch, a CPU copy of the state_dict, the metadata (checked), and
    the run's timeline when there is one (cnnviz.timeline.Timeline.to_payload(): tensors and primitives), and its
    weights before the first step and after each epoch when it kept them (`weight_history`, a list of CPU
    state_dicts, oldest first: cnnviz.landscape draws the run's path on the loss landscape)."""
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise CheckpointError("err.ckpt_save_meta", missing=", ".join(missing))
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
    if timeline is not None:
        payload["timeline"] = timeline
    if weight_history:
        payload[WEIGHT_HISTORY] = weight_history
    return payload


def checkpoint_bytes(model: StagedNet, arch: str, meta: dict, timeline: dict | None = None,
                     weight_history: list[dict] | None = None) -> bytes:
    """A checkpoint in memory (what save_checkpoint writes): for a run that cannot be written to its folder."""
    buf = io.BytesIO()
    torch.save(checkpoint_payload(model, arch, meta, timeline, weight_history), buf)
    return buf.getvalue()


def save_checkpoint(path: str | Path, model: StagedNet, arch: str, meta: dict, exclusive: bool = False,
                    timeline: dict | None = None, weight_history: list[dict] | None = None) -> Path:
    """Write model + metadata to `path` atomically (temporary file in the same folder, then os.replace).

    `exclusive=True` never replaces an existing file: the temporary file is hard-linked to `path`, which
    fails with FileExistsError when `path` exists (the O_EXCL of a rename)."""
    path = Path(path)
    payload = checkpoint_payload(model, arch, meta, timeline, weight_history)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a checkpoint is meant to be shared
        if exclusive:
            os.link(tmp, path)  # FileExistsError if a file of that name exists: never replaced
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def check_folder(folder: str | Path) -> Path:
    """`folder`, created if missing; CheckpointError "err.ckpt_folder" (naming it without its server path) when
    it is not a folder: a file took its name, or a parent is a file."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise CheckpointError("err.ckpt_folder", folder=shown_path(folder)) from None
    if not folder.is_dir():
        raise CheckpointError("err.ckpt_folder", folder=shown_path(folder))
    return folder


def save_run(model: StagedNet, arch: str, meta: dict, tag: str = "", folder: str | Path | None = None,
             timeline: dict | None = None, weight_history: list[dict] | None = None) -> Path:
    """Save a user's training (and its timeline) under a new name in `folder` (default runs_dir()); never replaces a file. A folder
    that is not one (runs/ replaced by a file meanwhile) is said as such (CheckpointError "err.ckpt_folder"),
    never as a name collision."""
    folder = Path(folder or runs_dir())
    for _ in range(16):
        check_folder(folder)
        try:
            return save_checkpoint(new_run_path(meta["dataset"], arch, tag, folder), model, arch, meta,
                                   exclusive=True, timeline=timeline, weight_history=weight_history)
        except FileExistsError:
            continue
        except NotADirectoryError:  # replaced by a file between the check and the write
            raise CheckpointError("err.ckpt_folder", folder=shown_path(folder)) from None
    check_folder(folder)
    raise CheckpointError("err.ckpt_no_free_name", folder=shown_path(folder))


def _inside(real: Path, folder: Path) -> bool:
    try:
        real.relative_to(folder)
        return True
    except ValueError:
        return False


def _resolve(path: Path) -> Path:
    """The file a checkpoint path really names. A symbolic link may only point inside its own folder
    (runs/ is input too: a link to /etc/passwd or elsewhere is refused, never read)."""
    try:
        real = path.resolve(strict=True)
        folder = path.parent.resolve(strict=True)
    except (FileNotFoundError, NotADirectoryError):
        raise CheckpointError("err.ckpt_missing", name=path.name) from None
    except (OSError, RuntimeError):  # a loop of links, a folder we may not read
        raise CheckpointError("err.ckpt_unreadable", name=path.name) from None
    if not _inside(real, folder):
        raise CheckpointError("err.ckpt_outside", name=path.name)
    return real


def _open_regular(path: Path, name: str):
    """`path` opened for reading when it is a regular file, else CheckpointError. What runs/ holds is input:
    open() of a named pipe waits for a writer for ever (and a device may do anything), so the type is checked
    before opening (os.stat), the file is opened with O_NONBLOCK (a pipe swapped in meanwhile does not block)
    and O_NOFOLLOW, and checked again on the descriptor."""
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise CheckpointError("err.ckpt_not_file", name=name)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise CheckpointError("err.ckpt_not_file", name=name)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _read_bytes(path: Path) -> bytes:
    """The whole file, read through one descriptor (a file deleted or replaced meanwhile is no error)."""
    real = _resolve(path)
    try:
        with _open_regular(real, path.name) as f:
            size = os.fstat(f.fileno()).st_size
            if size > MAX_CHECKPOINT_BYTES:
                raise CheckpointError("err.ckpt_too_large", name=path.name, mb=size // 2**20,
                                      limit=MAX_CHECKPOINT_BYTES // 2**20)
            return f.read(MAX_CHECKPOINT_BYTES + 1)
    except FileNotFoundError:
        raise CheckpointError("err.ckpt_missing", name=path.name) from None
    except IsADirectoryError:
        raise CheckpointError("err.ckpt_not_file", name=path.name) from None
    except OSError:  # ELOOP: a link swapped in after _resolve (O_NOFOLLOW); EACCES...
        raise CheckpointError("err.ckpt_unreadable", name=path.name) from None


def _payload(data: bytes, name: str) -> dict:
    """The dict a checkpoint's bytes hold, loaded with weights_only=True; CheckpointError for anything else:
    not a zip archive or a corrupt one (truncated), a pickle weights_only refuses (refused), not a dict."""
    if not data.startswith(_ZIP_MAGIC):
        raise CheckpointError("err.ckpt_truncated", name=name)
    try:
        payload = torch.load(io.BytesIO(data), weights_only=True, map_location="cpu")
    except pickle.UnpicklingError:
        raise CheckpointError("err.ckpt_refused", name=name) from None
    except Exception:  # noqa: BLE001 - zip, pickle, storage and memory errors of a corrupt file: all say the same
        raise CheckpointError("err.ckpt_truncated", name=name) from None
    if not isinstance(payload, dict):
        raise CheckpointError("err.ckpt_not_cnnviz", name=name, format=FORMAT)
    return payload


def read_payload(path: str | Path) -> dict:
    """The dict a checkpoint file holds (format, arch, state_dict, meta, and a run's timeline and weight history
    when it kept them), read as runs/ is read — a regular file inside its folder, at most MAX_CHECKPOINT_BYTES —
    and loaded as load_checkpoint loads it. CheckpointError for a file that cannot be read or is not a cnnviz one."""
    path = Path(path)
    return _payload(_read_bytes(path), path.name)


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def validate_meta(meta, name: str = "checkpoint") -> dict:
    """Check a checkpoint's metadata like any input: the known dataset, as many class names (strings) as
    it has classes, its input shape (three positive ints), an accuracy in [0, 1] (NaN: not measured).
    Returns a cleaned copy; raises CheckpointError naming the field."""
    if not isinstance(meta, dict) or any(k not in meta for k in REQUIRED_META):
        raise CheckpointError("err.ckpt_meta_missing", name=name, fields=", ".join(REQUIRED_META))
    if not all(isinstance(k, str) for k in meta):
        raise CheckpointError("err.ckpt_meta_bad", name=name, field="meta")
    dataset = meta["dataset"]
    if not isinstance(dataset, str) or dataset not in DATASETS:
        raise CheckpointError("err.ckpt_meta_dataset", name=name, value=str(dataset)[:40],
                              known=", ".join(sorted(DATASETS)))
    known_classes, known_shape = DATASETS[dataset]
    classes = meta["classes"]
    if (not isinstance(classes, (list, tuple)) or len(classes) != len(known_classes)
            or not all(isinstance(c, str) and 0 < len(c) <= 100 for c in classes)):
        raise CheckpointError("err.ckpt_meta_classes", name=name, n=len(known_classes), dataset=dataset)
    shape = meta["input_shape"]
    if (not isinstance(shape, (list, tuple)) or len(shape) != 3
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in shape)
            or tuple(shape) != tuple(known_shape)):
        raise CheckpointError("err.ckpt_meta_shape", name=name, dataset=dataset,
                              shape="×".join(map(str, known_shape)))
    acc = meta["test_accuracy"]
    if not _number(acc) or not (math.isnan(acc) or 0.0 <= acc <= 1.0):
        raise CheckpointError("err.ckpt_meta_accuracy", name=name)
    config = meta.get("config")
    if config is not None and not isinstance(config, dict):
        raise CheckpointError("err.ckpt_meta_bad", name=name, field="config")
    return dict(meta, dataset=dataset, classes=tuple(classes), input_shape=tuple(shape), test_accuracy=float(acc))


def load_checkpoint(path: str | Path) -> tuple[StagedNet, dict]:
    """Load a checkpoint -> (model in eval mode, meta). Raises CheckpointError with a clear reason, and
    nothing else, whatever the file holds."""
    path = Path(path)
    model, meta = load_checkpoint_bytes(_read_bytes(path), path.name)
    return model, dict(meta, path=str(path))


def load_checkpoint_bytes(data: bytes, name: str) -> tuple[StagedNet, dict]:
    """load_checkpoint of a checkpoint's bytes (`name`: its file name, for messages); meta without "path"."""
    path = Path(name)
    payload = _payload(data, path.name)
    if payload.get("format") != FORMAT:
        raise CheckpointError("err.ckpt_not_cnnviz", name=path.name, format=FORMAT)
    meta = validate_meta(payload.get("meta"), path.name)
    arch, state = payload.get("arch"), payload.get("state_dict")
    if arch not in ARCHITECTURES and arch != "convnet":
        raise CheckpointError("err.ckpt_arch", name=path.name, arch=str(arch)[:40])
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor)
                                              for k, v in state.items()):
        raise CheckpointError("err.ckpt_mismatch", name=path.name, arch=arch)
    try:
        model = build_model(arch, meta["input_shape"], len(meta["classes"]), meta.get("config"))
        if tuple(model.input_shape) != meta["input_shape"]:
            raise ValueError("input shape")
        model.load_state_dict(state)
    except Exception:  # noqa: BLE001 - a config or weights that do not fit: one message
        raise CheckpointError("err.ckpt_mismatch", name=path.name, arch=arch) from None
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, dict(meta, arch=arch)


def _listable(path: Path) -> CheckpointError | None:
    """Why `path` cannot be offered (cheap checks: inside its folder, a regular file, a zip archive), or None."""
    try:
        real = _resolve(path)
        with _open_regular(real, path.name) as f:
            if f.read(4) != _ZIP_MAGIC:
                return CheckpointError("err.ckpt_truncated", name=path.name)
    except CheckpointError as exc:
        return exc
    except FileNotFoundError:
        return CheckpointError("err.ckpt_missing", name=path.name)
    except OSError:
        return CheckpointError("err.ckpt_unreadable", name=path.name)
    return None


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def list_checkpoints(skipped: list | None = None) -> list[Path]:
    """The shipped networks first, then the user's runs (newest first).

    A run never takes a shipped network's place: names found in runs/ go through `cnnviz.runs.check_name`
    like typed names, so a run named like a shipped network (in any case: fashion_compact.pt,
    Fashion_Compact.pt) or with a name no run may have (`..\\..\\evil.pt`) is left out. Files that cannot
    be offered (a dangling or outward link, a file deleted meanwhile, a named pipe, junk that is not a
    checkpoint archive) are left out too; pass a list as `skipped` to receive (path, CnnvizError) for each,
    so the page can say what it ignored. Loading still validates everything (load_checkpoint)."""
    from cnnviz.runs import run_files  # cnnviz.runs builds on this module

    def offered(paths: list[Path]) -> list[Path]:
        ok = []
        for p in paths:
            why = _listable(p)
            if why is None:
                ok.append(p)
            elif skipped is not None:
                skipped.append((p, why))
        return ok

    try:
        shipped = sorted(SHIPPED_DIR.glob("*.pt"))
    except OSError:
        shipped = []
    odd_names: list = []
    runs = run_files(skipped=odd_names)
    if skipped is not None:
        skipped += [(runs_dir() / name, why) for name, why in odd_names]
    return offered(shipped) + sorted(offered(runs), key=_mtime, reverse=True)
