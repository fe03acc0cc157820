"""The user's saved runs: list them with their settings and per-epoch history, rename, delete, export.

Only files of the runs folder (cnnviz.checkpoints.runs_dir(): $CNNVIZ_RUNS or runs/) are touched, never the
shipped checkpoints/. A run is named by its file name, which comes from a browser or from the disk: `check_name`
accepts plain file-name characters only (letters, digits, '.', '_', '-', space; no path separator, no '..', no
leading dot, at most 120 characters) and never a shipped network's name (fashion_compact, in any case). Files of
the runs folder with other names are not runs (`run_files`).

A rename never replaces another file and leaves the run under exactly one name, even when two sessions (or two
replicas) rename it at once: the new name is reserved first (an empty placeholder created with O_EXCL, which
fails when the name is taken), then the run is moved onto it with os.rename (atomic); the loser of a race finds
the old name gone, removes its placeholder and says so.

A run belongs to the browser that trained it: its metadata holds `owner`, a hash of that browser's token
(`owner_id(token)`; the token itself is never written, so a downloaded run does not give it away). Anyone may
open, compare and download a run; renaming or deleting it takes its owner or the instructor (`Requester`).
Runs without an owner (the command line, earlier versions) are the server's: only the instructor changes them.

    summaries = list_runs()                 # newest first: name, dataset, arch, settings, history, accuracy, owner
    rename_run("old.pt", "lr 0.1", by=Requester(owner_id(token)))   # -> runs/lr 0.1.pt
    delete_run("lr 0.1.pt", by=Requester(None, instructor=True))
    data = export_zip(path, lang="fr")      # a .zip: the .pt, net.py (the architecture as code), README.md

`net_code(model)` writes any StagedNet as a plain PyTorch module whose state_dict has the same keys as the
checkpoint's: `Net().load_state_dict(torch.load(f, weights_only=True)["state_dict"])` works.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import math
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from cnnviz import CnnvizError
from cnnviz.checkpoints import SHIPPED_DIR, _read_bytes, read_payload, runs_dir, validate_meta
from cnnviz.layers import layers_text

MAX_NAME = 120
CODE_FILE = "net" + ".py"  # the network's code in an export (written so, it is not read as a message id)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]*")


class RunError(CnnvizError, ValueError):
    """A run name that cannot be used, or a run that cannot be renamed or deleted."""


def owner_id(token: str) -> str:
    """What a run's metadata records of the browser that trained it: a hash of its token (32 hex digits)."""
    return hashlib.sha256(("cnnviz-run-owner:" + token).encode("utf-8", "replace")).hexdigest()[:32]


@dataclass(frozen=True)
class Requester:
    """Who asks to rename or delete a run: a browser (`owner`, its owner_id) and whether it holds the instructor key."""

    owner: str | None
    instructor: bool = False

    def may_change(self, run_owner: str | None) -> bool:
        """The instructor may change any run; a browser only the runs it trained (never the server's own)."""
        return self.instructor or (run_owner is not None and self.owner is not None and run_owner == self.owner)


def run_owner(path: str | Path) -> str | None:
    """The owner recorded in a run's metadata (None: the server's run, or a file that is not a run)."""
    try:
        _, meta = read_meta(path)
    except CnnvizError:
        return None
    owner = meta.get("owner")
    return owner if isinstance(owner, str) and re.fullmatch(r"[0-9a-f]{32}", owner) else None


def _check_allowed(path: Path, by: Requester | None) -> None:
    """RunError "err.run_not_yours" unless `by` may change the run (by=None: the server itself, e.g. a script)."""
    if by is not None and not by.may_change(run_owner(path)):
        raise RunError("err.run_not_yours", name=path.name)


def plain_name(name) -> str:
    """A file name as typed, linked or found on disk -> the name ending in .pt when it is a plain one
    (letters, digits, '.', '_', '-', space; no path, no '..', no leading dot); RunError for anything else."""
    if not isinstance(name, str):
        raise RunError("err.run_name", name="?")
    text = name.strip()
    if text and not text.endswith(".pt"):
        text += ".pt"
    if (not 3 < len(text) <= MAX_NAME or not _NAME.fullmatch(text) or ".." in text or "/" in text
            or "\\" in text or not text.isascii()):
        raise RunError("err.run_name", name=name[:40])
    return text


def picker_key(name: str) -> str:
    """What a picker shows of a file name, compared without case: 'Fashion_Compact.PT' -> 'fashion_compact'."""
    return re.sub(r"(\.pt)+$", "", name.strip().casefold()).strip()


def shipped_keys() -> frozenset[str]:
    """The picker keys of the shipped networks (checkpoints/*.pt): names no run may take."""
    try:
        return frozenset(picker_key(p.name) for p in SHIPPED_DIR.glob("*.pt"))
    except OSError:
        return frozenset()


def check_name(name) -> str:
    """A run's file name as typed, linked or found on disk -> the name ending in .pt; RunError for anything
    else: not a plain name ("err.run_name"), or the name of a shipped network in any case, with or without
    .pt ("err.run_reserved": a run so named would take the shipped network's place in every picker)."""
    text = plain_name(name)
    if picker_key(text) in shipped_keys():
        raise RunError("err.run_reserved", name=name.strip()[:40])
    return text


def run_files(folder: str | Path | None = None, skipped: list | None = None) -> list[Path]:
    """The .pt files of the runs folder whose names are run names exactly as found (check_name), by name;
    each other name goes to `skipped` as (name, RunError). Nothing is opened here."""
    base = _folder(folder)
    try:
        paths = sorted(base.glob("*.pt"))
    except OSError:
        return []
    out = []
    for p in paths:
        try:
            if check_name(p.name) != p.name:  # " x.pt" would be read as another file, x.pt
                raise RunError("err.run_name", name=p.name[:40])
        except RunError as exc:
            if skipped is not None:
                skipped.append((p.name, exc))
            continue
        out.append(p)
    return out


def _folder(folder: str | Path | None) -> Path:
    path = Path(folder) if folder is not None else runs_dir()
    if path.resolve() == SHIPPED_DIR.resolve():
        raise RunError("err.run_shipped")
    return path


def run_path(name: str, folder: str | Path | None = None) -> Path:
    """The path of an existing run named `name` in the runs folder (RunError when it is not one)."""
    base = _folder(folder)
    name = check_name(name)
    path = base / name
    if path.parent != base or not (path.is_file() or path.is_symlink()):
        raise RunError("err.run_missing", name=name)
    return path


def delete_run(name: str, folder: str | Path | None = None, by: Requester | None = None) -> None:
    """Remove a run from the runs folder (a link is removed, not what it points to). `by`: who asks (RunError
    "err.run_not_yours" when it is neither the run's owner nor the instructor); None: the server itself."""
    path = run_path(name, folder)
    _check_allowed(path, by)
    try:
        path.unlink()
    except FileNotFoundError:
        raise RunError("err.run_missing", name=path.name) from None
    except OSError as exc:
        raise RunError("err.run_io", name=path.name, reason=exc.strerror or type(exc).__name__) from None


def rename_run(name: str, new_name: str, folder: str | Path | None = None, by: Requester | None = None) -> Path:
    """Give a run a new name in the same folder; never replaces a file (RunError "err.run_exists"), and leaves
    the run under exactly one name whatever other sessions do meanwhile (see the module's docstring). `by`: who
    asks (as for delete_run)."""
    path = run_path(name, folder)
    target = path.parent / check_name(new_name)
    if target.name == path.name:
        return path
    _check_allowed(path, by)
    try:  # reserve the new name: O_EXCL fails when it is taken (by a run, or by another session's reservation)
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o644))
    except FileExistsError:
        raise RunError("err.run_exists", name=target.name) from None
    except OSError as exc:
        raise RunError("err.run_io", name=path.name, reason=exc.strerror or type(exc).__name__) from None
    try:
        os.rename(path, target)  # atomic: the run leaves its old name as it takes the new one (our placeholder)
    except OSError as exc:
        target.unlink(missing_ok=True)  # our empty placeholder, never a run
        if isinstance(exc, FileNotFoundError):  # renamed or deleted meanwhile, by another session
            raise RunError("err.run_missing", name=path.name) from None
        raise RunError("err.run_io", name=path.name, reason=exc.strerror or type(exc).__name__) from None
    return target


# ---------------------------------------------------------------- what a run holds

@dataclass
class RunSummary:
    name: str
    path: Path
    dataset: str
    arch: str
    test_accuracy: float
    epochs: float
    settings: dict  # lr, momentum, batch, loss, subset, val, seed, layers, fc, bn, dropout
    history: list[dict] = field(default_factory=list)
    train_seconds: float = 0.0
    mtime: float = 0.0
    moments: int = 0  # moments of its timeline (cnnviz.timeline; 0: saved without one)
    owner: str | None = None  # owner_id of the browser that trained it (None: the server's run)
    test_images: int | None = None  # how many test images test_accuracy was measured on (None: not recorded)


def read_meta(path: str | Path) -> tuple[str, dict]:
    """(arch, validated metadata) of a checkpoint without building its network (CheckpointError)."""
    arch, meta, _ = _read(path)
    return arch, meta


def _read(path: str | Path) -> tuple[str, dict, int]:
    """(arch, validated metadata, moments of its timeline) of a checkpoint (CheckpointError)."""
    from cnnviz.timeline import from_payload

    path = Path(path)
    payload = read_payload(path)
    timeline = from_payload(payload.get("timeline"))
    return str(payload.get("arch"))[:40], validate_meta(payload.get("meta"), path.name), len(timeline or ())


def _history(meta: dict) -> list[dict]:
    out = []
    for h in meta.get("history") or ():
        if not isinstance(h, dict) or not isinstance(h.get("epoch"), int):
            continue
        row = {"epoch": h["epoch"]}
        for k in ("train_loss", "val_loss", "val_accuracy", "test_accuracy"):
            v = h.get(k)
            row[k] = float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None
        out.append(row)
    return out


def summary(path: str | Path) -> RunSummary:
    """A run's settings and history from its metadata (CheckpointError for a file that is not a run)."""
    path = Path(path)
    arch, meta, moments = _read(path)
    cfg = meta.get("train_config") if isinstance(meta.get("train_config"), dict) else {}
    net = meta.get("config") if isinstance(meta.get("config"), dict) else cfg.get("net")
    convs = (net or {}).get("convs") or ()
    settings = dict(lr=cfg.get("lr"), momentum=cfg.get("momentum"), batch=cfg.get("batch_size"),
                    loss=cfg.get("loss"), subset=cfg.get("subset"), val=cfg.get("val_fraction"),
                    seed=cfg.get("seed"), layers=layers_text(net), fc=(net or {}).get("fc_width"),
                    bn=any(bool(c.get("batchnorm")) for c in convs) if convs else None,
                    dropout=(net or {}).get("dropout"))
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = 0.0
    owner = meta.get("owner")
    n_test = meta.get("test_images")
    return RunSummary(path.name, path, meta["dataset"], arch, meta["test_accuracy"],
                      float(meta.get("epochs") or 0), settings, _history(meta),
                      float(meta.get("train_seconds") or 0), mtime, moments,
                      owner if isinstance(owner, str) and re.fullmatch(r"[0-9a-f]{32}", owner) else None,
                      n_test if isinstance(n_test, int) and not isinstance(n_test, bool) and n_test > 0 else None)


def list_runs(folder: str | Path | None = None) -> tuple[list[RunSummary], list[tuple[str, CnnvizError]]]:
    """(the runs of the runs folder, newest first; [(name, error)] for the .pt files that are not runs, or
    whose names are not run names)."""
    runs, skipped = [], []
    for p in run_files(folder, skipped):
        try:
            runs.append(summary(p))
        except CnnvizError as exc:
            skipped.append((p.name, exc))
    runs.sort(key=lambda r: r.mtime, reverse=True)
    return runs, skipped


# ---------------------------------------------------------------- export

def _module_code(m: nn.Module) -> str:
    """The constructor call of a stage, in the course's short style where PyTorch's repr is long."""
    def opt(name, value, default):
        return f", {name}={value}" if value != default else ""

    if isinstance(m, nn.Conv2d):
        k, s, p, d = (v[0] if isinstance(v, tuple) else v for v in (m.kernel_size, m.stride, m.padding, m.dilation))
        return (f"nn.Conv2d({m.in_channels}, {m.out_channels}, {k}{opt('stride', s, 1)}{opt('padding', p, 0)}"
                f"{opt('dilation', d, 1)}{opt('bias', m.bias is not None, True)})")
    if isinstance(m, nn.BatchNorm2d):
        return f"nn.BatchNorm2d({m.num_features})"
    if isinstance(m, nn.MaxPool2d):
        return f"nn.MaxPool2d({m.kernel_size}{opt('stride', m.stride, m.kernel_size)}{opt('padding', m.padding, 0)})"
    if isinstance(m, nn.Linear):
        return f"nn.Linear({m.in_features}, {m.out_features})"
    if isinstance(m, nn.Flatten):
        return f"nn.Flatten({m.start_dim})"
    if isinstance(m, nn.Dropout):
        return f"nn.Dropout({m.p})"
    if type(m).__module__.startswith("torch.nn"):
        return f"nn.{m!r}"
    return f"{type(m).__name__}({m.extra_repr()})"  # cnnviz's own (BlurPool2d): its module is copied


def _module_source(cls: type) -> str:
    """The source of the module defining `cls` (cnnviz.blurpool: torch only), without its __future__ import."""
    src = inspect.getsource(inspect.getmodule(cls))
    return "\n".join(line for line in src.splitlines() if not line.startswith("from __future__"))


def net_code(model: nn.Module, input_shape=None) -> str:
    """A StagedNet as a plain PyTorch module (`class Net`) with the same stage names, so the checkpoint's
    state_dict loads into it as it is."""
    stages = model.stages
    extra = []
    for m in stages.values():
        if not type(m).__module__.startswith("torch.nn"):
            src = _module_source(type(m))
            if src not in extra:
                extra.append(src)
    shape = tuple(input_shape or getattr(model, "input_shape", ()))
    lines = ['"""The network of a cnnviz run, as plain PyTorch (generated).', "",
             f"Input: {' × '.join(map(str, shape))} images with values in [-1, 1] (x / 255, then (x - 0.5) / 0.5).",
             '"""', "", "import math", "", "import torch", "import torch.nn.functional as F", "from torch import nn",
             "", ""]
    for src in extra:
        lines += [src.rstrip(), "", ""]
    lines += ["class Net(nn.Module):", "    def __init__(self):", "        super().__init__()",
              "        self.stages = nn.ModuleDict({"]
    for name, m in stages.items():
        lines.append(f"            {name!r}: {_module_code(m)},")
    lines += ["        })", f"        self.input_shape = {shape!r}", "",
              "    def forward(self, x):", "        for stage in self.stages.values():", "            x = stage(x)",
              "        return x", ""]
    return "\n".join(lines)


def accuracy_text(lang: str, meta: dict) -> str:
    """The run's one test accuracy and what it was measured on: "28.35 % on the 10,000 test images (step 120)"."""
    from cnnviz.i18n import tr

    acc = float(meta.get("test_accuracy", float("nan")))
    n, steps = meta.get("test_images"), meta.get("steps")
    if acc != acc:
        return tr(lang, "runs.acc_none")
    if isinstance(n, int) and not isinstance(n, bool) and n > 0:
        return tr(lang, "runs.acc_on", acc=acc, n=n, steps=int(steps) if isinstance(steps, int) else 0)
    return tr(lang, "runs.acc_plain", acc=acc)


def readme(lang: str, file_name: str, meta: dict) -> str:
    from cnnviz.i18n import tr

    shape = " × ".join(map(str, meta.get("input_shape", ())))
    return tr(lang, "runs.readme", file=file_name, shape=shape, dataset=str(meta.get("dataset")),
              classes=", ".join(meta.get("classes", ())), acc=accuracy_text(lang, meta))


def export_zip(path: str | Path, lang: str = "en") -> bytes:
    """A run as a .zip: the checkpoint itself (state_dict + meta), net.py (its architecture as code) and
    README.md (how to load it in a notebook). The checkpoint is validated first (CheckpointError); its member
    name is its plain file name (RunError otherwise: `..\\..\\evil.pt` would escape an extractor's folder)."""
    path = Path(path)
    return export_bytes(_read_bytes(path), path.name, lang)


def export_bytes(data: bytes, name: str, lang: str = "en") -> bytes:
    """export_zip of a checkpoint held in memory (`data`, what torch.save wrote) under the file name `name`: e.g. a
    run that could not be written to the runs folder."""
    from cnnviz.checkpoints import load_checkpoint_bytes

    member = plain_name(name)
    if member != name:
        raise RunError("err.run_name", name=str(name)[:40])
    model, meta = load_checkpoint_bytes(data, member)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(member, data)
        z.writestr(CODE_FILE, net_code(model, meta["input_shape"]))
        z.writestr("README.md", readme(lang, member, meta))
    return buf.getvalue()


def export_name(path: str | Path) -> str:
    return Path(path).stem + ".zip"
