"""Server settings from the environment, checked like any input.

    CNNVIZ_THREADS            PyTorch threads, shared by every session (1..256; default: CPU cores, at most 4)
    CNNVIZ_MAX_JOBS           trainings running at once on the server (1..64; default 2)
    CNNVIZ_MAX_TRAIN_SECONDS  a training stops by itself after this many seconds (1..86400; default 600)
    CNNVIZ_RUNS               folder of the users' trainings (default runs/ in the repository)
    CNNVIZ_DEVICE             where training, the test-set measures, top-9 and the shared maps run: "cuda" (or
                              "cuda:N") by default when PyTorch sees a GPU, else "cpu"; "cpu" forces the CPU

A bad value ("x", "two", "10min", -5, and 0, which never silently removes a limit) is replaced by the
default, with a warning: `load_settings()` returns them (each a CnnvizError: str() in English,
.message("fr") in French) and logs each one once per process.

    python -m cnnviz.config        # prints the settings in use and any warning
"""

from __future__ import annotations

import logging
import math
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cnnviz import CnnvizError

log = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MAX_JOBS = 2
DEFAULT_MAX_TRAIN_SECONDS = 600.0


class SettingWarning(CnnvizError):
    """An environment setting that was ignored; the message says which, why, and what is used instead."""


@dataclass(frozen=True)
class Settings:
    threads: int
    max_jobs: int
    max_train_seconds: float
    runs_dir: Path
    device: str = "cpu"
    warnings: list[SettingWarning] = field(default_factory=list, compare=False)


def default_threads() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def _in_range(name: str, raw: str, value, default, lo, hi, warnings: list):
    """`value` when lo <= value <= hi, else `default` with a warning (0 has its own: it never lifts a limit)."""
    if lo <= value <= hi:
        return value
    code = "err.env_zero" if value == 0 else "err.env_out_of_range"
    warnings.append(SettingWarning(code, name=name, value=raw[:40], lo=lo, hi=hi, default=default))
    return default


def _int(env, name: str, default: int, lo: int, hi: int, warnings: list) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw, 10)
    except ValueError:
        warnings.append(SettingWarning("err.env_not_integer", name=name, value=raw[:40], lo=lo, hi=hi,
                                       default=default))
        return default
    return _in_range(name, raw, value, default, lo, hi, warnings)


def _seconds(env, name: str, default: float, lo: float, hi: float, warnings: list) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = None
    if value is None or not math.isfinite(value):
        warnings.append(SettingWarning("err.env_not_seconds", name=name, value=raw[:40], lo=lo, hi=hi,
                                       default=default))
        return default
    return _in_range(name, raw, value, default, lo, hi, warnings)


def _runs_dir(env, warnings: list) -> Path:
    default = REPO_ROOT / "runs"
    raw = (env.get("CNNVIZ_RUNS") or "").strip()
    if not raw:
        return default
    path = Path(raw).expanduser()
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):
        resolved = None
    shipped = (REPO_ROOT / "checkpoints").resolve()
    reason = None
    if resolved is None:
        reason = "@err.env_runs_unresolvable"
    elif resolved == shipped or shipped in resolved.parents:
        reason = "@err.env_runs_shipped"
    elif path.exists() and not path.is_dir():
        reason = "@err.env_runs_not_dir"
    else:
        try:
            path.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=path):
                pass
        except OSError:
            reason = "@err.env_runs_not_writable"
    if reason:
        warnings.append(SettingWarning("err.env_runs", value=raw[:200], reason=reason, default=str(default)))
        return default
    return path


def default_device() -> str:
    """"cuda" when PyTorch sees a GPU, else "cpu": the GPU is used by default where there is one."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _device(env, warnings: list) -> str:
    raw = (env.get("CNNVIZ_DEVICE") or "").strip().lower()
    if not raw:
        return default_device()
    if raw == "cpu":
        return "cpu"
    if raw == "cuda" or raw.startswith("cuda:") and raw[5:].isdigit():
        import torch

        if torch.cuda.is_available() and (raw == "cuda" or int(raw[5:]) < torch.cuda.device_count()):
            return raw
        warnings.append(SettingWarning("err.env_device_missing", value=raw[:40]))
        return "cpu"
    warnings.append(SettingWarning("err.env_device", value=raw[:40]))
    return "cpu"


_logged: set[str] = set()


def load_settings(environ=None, log_warnings: bool = True) -> Settings:
    """The server's settings from `environ` (default os.environ); bad values replaced by safe defaults,
    each with a warning in `.warnings` (logged once per process)."""
    env = os.environ if environ is None else environ
    warnings: list[SettingWarning] = []
    settings = Settings(
        threads=_int(env, "CNNVIZ_THREADS", default_threads(), 1, 256, warnings),
        max_jobs=_int(env, "CNNVIZ_MAX_JOBS", DEFAULT_MAX_JOBS, 1, 64, warnings),
        max_train_seconds=_seconds(env, "CNNVIZ_MAX_TRAIN_SECONDS", DEFAULT_MAX_TRAIN_SECONDS, 1, 86400, warnings),
        runs_dir=_runs_dir(env, warnings),
        device=_device(env, warnings),
        warnings=warnings,
    )
    if log_warnings:
        for w in warnings:
            text = str(w)
            if text not in _logged:
                _logged.add(text)
                log.warning("%s", text)
    return settings


if __name__ == "__main__":
    s = load_settings(log_warnings=False)
    for w in s.warnings:
        print(f"warning: {w}", file=sys.stderr)
    print(f"threads={s.threads} max_jobs={s.max_jobs} max_train_seconds={s.max_train_seconds:g} "
          f"runs_dir={s.runs_dir} device={s.device}")
