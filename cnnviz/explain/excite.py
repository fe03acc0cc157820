"""What excites a channel: the images of a set on which it responds most.

    all_stage_maxima(model, images)                      -> {stage: StageMaxima} of every stage, in one pass
    stage_maxima(model, images, stage)                   -> every image's max (and mean) in every channel (cache it)
    top_activations(model, images, stage, channel, k=9)  -> [TopActivation(index, value, row, col, box)]
    MaximaJob(model, images).start()                     -> all_stage_maxima in a thread, with its progress

One forward pass over the set gives every stage's every channel ranking (`all_stage_maxima`, the costly part:
shared by a server per network, computed once in the background by a `MaximaJob`); `top_activations` then sorts
one channel and frames each image's strongest unit with its receptive field. Each channel's mean over the map is
kept too (the measure the image a channel wants maximises, cnnviz.explain.ascent).
"""

from __future__ import annotations

import logging
import threading
import weakref
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

from cnnviz import CnnvizError
from cnnviz.data import to_tensor
from cnnviz.device import compute_device, device_of, model_on
from cnnviz.explain.receptive import Box, image_box, receptive_field
from cnnviz.explain.stages import LOGITS, ExplainError, in_eval_mode


@dataclass
class StageMaxima:
    """Every image's strongest response in every channel of one stage (one pass over a test set)."""

    stage: str
    values: np.ndarray  # (N, C) float32: max over the map
    rows: np.ndarray  # (N, C) int: where (first maximum in raster order); 0 for flat stages
    cols: np.ndarray  # (N, C)
    map_shape: tuple[int, ...]  # the stage's output shape without batch
    names: list[str] | None = None  # every stage in forward order (for receptive fields)
    means: np.ndarray | None = None  # (N, C) float32: mean over the map (channel_image's measure); = values if flat


@dataclass
class TopActivation:
    index: int  # image index in the set
    value: float  # the channel's max over the map
    row: int  # position of the strongest unit
    col: int
    box: Box  # its receptive field (row0, row1, col0, col1), inclusive


def _features_until(model: nn.Module, x: torch.Tensor, stage: str) -> tuple[torch.Tensor, list[str]]:
    """The output of `stage` for a batch (running only the stages up to it when the model is a StagedNet),
    and the names of every stage in forward order."""
    staged = getattr(model, "stages", None)
    if isinstance(staged, nn.ModuleDict) and stage in staged and hasattr(model, "forward_features"):
        for name, m in staged.items():
            x = m(x)
            if name == stage:
                return x, [*staged.keys(), LOGITS]
    feats = model.forward_features(x)
    if stage not in feats:
        raise ExplainError("err.explain_unknown_stage", stage=stage, stages=", ".join(feats))
    return feats[stage], list(feats)


def _check_images(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or len(images) == 0:
        raise ExplainError("err.explain_images", shape=str(tuple(images.shape)), dtype=str(images.dtype))
    return images


def _small_int(limit: int):
    """The smallest integer type holding 0..limit-1 (rows and columns: uint8 for maps up to 256 pixels wide)."""
    return np.uint8 if limit <= 256 else np.uint16 if limit <= 65536 else np.int64


class _Gather:
    """One stage's maxima, batch by batch: values, where (rows, cols) and means, (N, C) each."""

    def __init__(self):
        self.values, self.rows, self.cols, self.means, self.shape = [], [], [], [], None

    def add(self, out: torch.Tensor) -> None:
        self.shape = tuple(out.shape[1:])
        if out.ndim == 4:
            flat = out.flatten(2)  # (B, C, H*W)
            v, a = flat.max(dim=2)  # (B, C): first maximum in raster order
            a = a.cpu().numpy()
            self.values.append(v.float().cpu().numpy())
            self.means.append(flat.mean(2).float().cpu().numpy())
            kind = _small_int(max(out.shape[2], out.shape[3]))
            self.rows.append((a // out.shape[3]).astype(kind))
            self.cols.append((a % out.shape[3]).astype(kind))
        else:  # a flat stage (B, F): each feature is its own "map"
            self.values.append(out.reshape(len(out), -1).float().cpu().numpy())

    def result(self, stage: str, names: list[str]) -> StageMaxima:
        values = np.concatenate(self.values)
        if self.rows:
            rows, cols, means = np.concatenate(self.rows), np.concatenate(self.cols), np.concatenate(self.means)
        else:  # flat: the unit is at (0, 0), its mean is its value (no copies)
            rows = cols = np.broadcast_to(np.zeros((), np.uint8), values.shape)
            means = values
        return StageMaxima(stage, values, rows, cols, self.shape, names, means)


@torch.inference_mode()
def all_stage_maxima(model: nn.Module, images: np.ndarray, batch_size: int = 500,
                     device: torch.device | str | None = None, progress: Callable[[int, int], None] | None = None,
                     cancel: threading.Event | None = None) -> dict[str, StageMaxima]:
    """Every stage's StageMaxima (max, where, and mean over the map of every channel, for every image of `images`
    ((N, H, W[, 3]) uint8)) from ONE forward pass over the set: forward_features gives every stage at once.
    "logits" shares the last stage's arrays. `progress(done, total)` is called after each batch; `cancel` (and a
    process shutdown, cnnviz.evaluate.SHUTDOWN) stops it before the next batch (EvaluationCancelled)."""
    from cnnviz.evaluate import SHUTDOWN, EvaluationCancelled

    model = model_on(in_eval_mode(model), compute_device() if device is None else device)
    device = device_of(model)
    images = _check_images(images)
    gathered: dict[str, _Gather] = {}
    for start in range(0, len(images), batch_size):
        if SHUTDOWN.is_set() or (cancel is not None and cancel.is_set()):
            raise EvaluationCancelled("err.eval_cancelled")
        feats = model.forward_features(to_tensor(images[start:start + batch_size]).to(device))
        last = next(reversed(feats))
        for name, out in feats.items():
            if name == LOGITS and name == last and len(feats) > 1:
                continue  # the previous stage's output under another name
            gathered.setdefault(name, _Gather()).add(out)
        if progress is not None:
            progress(min(start + batch_size, len(images)), len(images))
    names = list(feats)
    out = {name: g.result(name, names) for name, g in gathered.items()}
    if LOGITS in names and LOGITS not in out:
        before = names[-2]
        out[LOGITS] = StageMaxima(LOGITS, *(getattr(out[before], f) for f in ("values", "rows", "cols")),
                                  out[before].map_shape, names, out[before].means)
    return out


@torch.inference_mode()
def stage_maxima(model: nn.Module, images: np.ndarray, stage: str, batch_size: int = 500,
                 device: torch.device | str | None = None) -> StageMaxima:
    """Max (and mean) over the map of every channel of `stage`, for every image of `images` ((N, H, W[, 3]) uint8),
    on `device` (default: the GPU where there is one, cnnviz.device), running only the stages up to it. For every
    stage at once, all_stage_maxima costs about as much as this does for the last one."""
    model = model_on(in_eval_mode(model), compute_device() if device is None else device)
    device = device_of(model)
    images = _check_images(images)
    gathered, names = _Gather(), None
    for start in range(0, len(images), batch_size):
        out, names = _features_until(model, to_tensor(images[start:start + batch_size]).to(device), stage)
        gathered.add(out)
    return gathered.result(stage, names)


log = logging.getLogger(__name__)
_MAXIMA_JOBS: "weakref.WeakSet[MaximaJob]" = weakref.WeakSet()


class MaximaJob:
    """all_stage_maxima of one network over one image set, in a daemon thread (started once, e.g. by a server's
    first request); whoever waits reads `progress` and, once `done`, `result` (or `error`, a CnnvizError). The
    thread never touches a user interface; the model is only read (eval mode, inference mode)."""

    def __init__(self, model: nn.Module, images: np.ndarray, batch_size: int = 500):
        self.model, self.images, self.batch_size = model, images, batch_size
        self.result: dict[str, StageMaxima] | None = None
        self.error: CnnvizError | None = None
        self._progress = (0, len(images))
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._run, name="cnnviz-maxima", daemon=True)
        _MAXIMA_JOBS.add(self)

    def start(self) -> "MaximaJob":
        self._thread.start()
        return self

    def _run(self) -> None:
        try:
            self.result = all_stage_maxima(self.model, self.images, self.batch_size, progress=self._report,
                                           cancel=self._cancel)
        except CnnvizError as exc:
            self.error = exc
        except Exception as exc:  # noqa: BLE001 - reported to whoever waits, never lost in a thread
            log.exception("stage maxima failed")
            self.error = ExplainError("err.explain_failed", reason=type(exc).__name__)
        finally:
            self.model = self.images = None  # the shared model and images stay with their caches

    def _report(self, done: int, total: int) -> None:
        self._progress = (done, total)

    @property
    def progress(self) -> tuple[int, int]:
        """(images done, of how many)."""
        return self._progress

    @property
    def done(self) -> bool:
        return self.result is not None or self.error is not None

    def wait(self, timeout: float | None = None) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def cancel(self) -> None:
        self._cancel.set()


def stop_maxima_jobs(timeout: float = 5.0) -> None:
    """Cancel every MaximaJob and wait for their threads (a clean end of the process)."""
    jobs = [j for j in list(_MAXIMA_JOBS) if j._thread.is_alive()]
    for job in jobs:
        job.cancel()
    for job in jobs:
        job.wait(timeout)


def top_activations(model: nn.Module, images: np.ndarray, stage: str, channel: int, k: int = 9,
                    batch_size: int = 500, maxima: StageMaxima | None = None) -> list[TopActivation]:
    """The k images of `images` on which `channel` of `stage` responds most (its max over the map).

    Ties are broken by the smaller index. Pass `maxima` (from `stage_maxima`, e.g. cached per network and
    stage) to rank another channel without a new pass over the images.
    """
    if maxima is None or maxima.stage != stage:
        maxima = stage_maxima(model, images, stage, batch_size)
    if not 0 <= channel < maxima.values.shape[1]:
        raise ExplainError("err.explain_out_of_range", stage=stage, channel=channel, row=0, col=0,
                           shape=" × ".join(map(str, maxima.map_shape)))
    v = maxima.values[:, channel]
    order = np.lexsort((np.arange(len(v)), -v.astype(np.float64)))[:k]
    hw = tuple(np.asarray(images).shape[1:3])
    spatial = len(maxima.map_shape) == 3
    names = maxima.names
    out = []
    for i in order:
        r, c = int(maxima.rows[i, channel]), int(maxima.cols[i, channel])
        box = receptive_field(model, stage, r, c, names=names, input_hw=hw) if spatial else image_box(*hw)
        out.append(TopActivation(int(i), float(v[i]), r, c, box))
    return out
