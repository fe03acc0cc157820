"""A run's timeline: moments of its training kept to scrub through (issue 24), beside its per-epoch history.

At each moment — before the first step, at a few points inside the first epoch (when learning is fastest:
FIRST_EPOCH_POINTS of it) and at the end of every epoch — a run keeps:

    filters       conv1's weights (F, C, k, k), float16
    maps          conv1's maps of one fixed test image (F, H', W') before ReLU, as in the Training screen's live
                  view, stored as uint8 with a scale per moment (value = (q − 128) / 127 · scale)
    val_accuracy  the accuracy on the run's validation split (NaN without one)
    confusion     the confusion matrix on that split (K, K), rows true classes, columns predicted

Bounded: at most MAX_MOMENTS moments and MAX_BYTES bytes whatever the number of epochs — past either, every
other epoch's moment is dropped (the first epoch's points and the latest epoch are always kept). For the default
network (the compact CNN on Fashion-MNIST: 32 maps of 28 × 28) a moment is about 26 kB, a timeline at most
~0.65 MB (tests/test_learned_timeline.py measures it). No weights beyond conv1's are kept.

In a checkpoint the timeline is one more entry of its plain dict, `payload["timeline"]`: tensors and primitives
only, read with torch.load(weights_only=True). Runs saved before it, and the shipped checkpoints, have none.

    timeline = load_timeline("runs/my_run.pt")    # Timeline, or None for a run without one
    timeline.epochs, timeline.steps                # (M,) each moment's epoch (fractional) and step count
    timeline.filters[m], timeline.maps_of(m)       # conv1 at moment m: (F, C, k, k), (F, H', W') float32
    timeline.val_accuracy[m], timeline.confusion[m]

The recording side is `TimelineRecorder` (a TrainingJob owns one); the Training screen scrubs through it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cnnviz.evaluate import predict_logits
from cnnviz.geometry import window_of

VERSION = 1
FIRST_EPOCH_POINTS = (0.1, 0.25, 0.5)  # fractions of the first epoch at which a moment is kept
MAX_MOMENTS = 24
MAX_BYTES = 1_000_000  # the timeline's tensors in all


@dataclass
class Timeline:
    """The moments of one run, in order (see the module's docstring for each field)."""

    steps: np.ndarray  # (M,) int64: batches done
    epochs: np.ndarray  # (M,) float64: epochs done (0.25: a quarter of the first)
    filters: np.ndarray  # (M, F, C, k, k) float16
    maps: np.ndarray | None  # (M, F, H', W') uint8, or None without a test image
    map_scale: np.ndarray  # (M,) float32
    val_accuracy: np.ndarray  # (M,) float32, NaN without a validation split
    confusion: np.ndarray | None  # (M, K, K) int32, or None without a validation split
    conv: str = "conv1"
    image_index: int = 0  # the test image whose maps are kept

    def __len__(self) -> int:
        return len(self.steps)

    def maps_of(self, m: int) -> np.ndarray | None:
        """conv1's maps at moment m, (F, H', W') float32 (the stored uint8 scaled back)."""
        if self.maps is None:
            return None
        return (self.maps[m].astype(np.float32) - 128.0) / 127.0 * float(self.map_scale[m])

    def nearest(self, epoch: float) -> int:
        """The index of the moment closest to `epoch` (the earlier one on a tie)."""
        return int(np.argmin(np.abs(self.epochs - float(epoch))))

    def to_payload(self) -> dict:
        """The checkpoint entry: tensors and primitives only."""
        out = {"version": VERSION, "conv": self.conv, "image_index": int(self.image_index),
               "steps": torch.from_numpy(np.asarray(self.steps, dtype=np.int64)),
               "epochs": torch.from_numpy(np.asarray(self.epochs, dtype=np.float64)),
               "filters": torch.from_numpy(np.asarray(self.filters, dtype=np.float16)),
               "map_scale": torch.from_numpy(np.asarray(self.map_scale, dtype=np.float32)),
               "val_accuracy": torch.from_numpy(np.asarray(self.val_accuracy, dtype=np.float32))}
        if self.maps is not None:
            out["maps"] = torch.from_numpy(np.asarray(self.maps, dtype=np.uint8))
        if self.confusion is not None:
            out["confusion"] = torch.from_numpy(np.asarray(self.confusion, dtype=np.int32))
        return out

    def nbytes(self) -> int:
        return sum(a.nbytes for a in (self.steps, self.epochs, self.filters, self.maps, self.map_scale,
                                      self.val_accuracy, self.confusion) if a is not None)


def from_payload(entry) -> Timeline | None:
    """A checkpoint's timeline entry -> Timeline; None when there is none or it is not one this version reads
    (a damaged or foreign entry never stops a run from opening: it opens without its timeline)."""
    if not isinstance(entry, dict) or entry.get("version") != VERSION:
        return None
    try:
        arrays = {k: entry[k].numpy() for k in ("steps", "epochs", "filters", "map_scale", "val_accuracy")}
        maps = entry["maps"].numpy() if "maps" in entry else None
        confusion = entry["confusion"].numpy() if "confusion" in entry else None
        m = len(arrays["steps"])
        shapes_ok = (m >= 1 and arrays["filters"].ndim == 5 and all(len(a) == m for a in arrays.values())
                     and (maps is None or (maps.ndim == 4 and len(maps) == m and maps.dtype == np.uint8))
                     and (confusion is None or (confusion.ndim == 3 and len(confusion) == m
                                                and confusion.shape[1] == confusion.shape[2])))
        if not shapes_ok or sum(a.nbytes for a in (*arrays.values(), maps, confusion) if a is not None) > 4 * MAX_BYTES:
            return None
        return Timeline(arrays["steps"].astype(np.int64), arrays["epochs"].astype(np.float64),
                        arrays["filters"], maps, arrays["map_scale"].astype(np.float32),
                        arrays["val_accuracy"].astype(np.float32), confusion,
                        str(entry.get("conv", "conv1"))[:40], int(entry.get("image_index", 0)))
    except (AttributeError, KeyError, TypeError, ValueError):
        return None


def load_timeline(path: str | Path) -> Timeline | None:
    """The timeline of a saved run, or None for a run saved without one (older runs, shipped networks).
    Raises CheckpointError for a file that cannot be read (as load_checkpoint does)."""
    from cnnviz.checkpoints import read_payload

    return from_payload(read_payload(path).get("timeline"))


def moment_steps(batches_per_epoch: int) -> list[int]:
    """The steps inside the first epoch at which a moment is kept (besides 0 and the epochs' ends)."""
    steps = {int(round(f * batches_per_epoch)) for f in FIRST_EPOCH_POINTS}
    return sorted(s for s in steps if 0 < s < batches_per_epoch)


def first_conv(model: torch.nn.Module) -> tuple[str | None, torch.nn.Conv2d | None]:
    """(name, module) of a staged network's first convolution — conv1, whose weights and maps a run keeps and
    the live view shows — or (None, None) without one."""
    staged = getattr(model, "stages", None)
    if staged is None:
        return None, None
    for name, m in staged.items():
        if isinstance(m, torch.nn.Conv2d):
            return name, m
    return None, None


def conv_padding(module: torch.nn.Conv2d | None) -> int:
    """The padding of a convolution's rows (cnnviz.geometry.window_of), to compute its maps from a copy of its
    weights with figures_runs.conv1_maps; 0 without a convolution."""
    return window_of(module).padding[0] if module is not None else 0


class TimelineRecorder:
    """Takes the moments of one training (TrainingJob calls `take` at step 0, at moment_steps() of the first
    epoch, and after each epoch) and keeps them bounded; `timeline()` hands out what it has so far."""

    def __init__(self, model: torch.nn.Module, image: np.ndarray | None, images: np.ndarray, labels: np.ndarray,
                 val_rows: np.ndarray, num_classes: int, image_index: int = 0):
        """`image`: the fixed test image (None: no maps); the validation split is `images[val_rows]` (the
        training set's shared arrays: gathered at each moment, never kept)."""
        self.conv, module = first_conv(model)
        self.image = None if image is None else np.asarray(image)
        self.image_index = int(image_index)
        self.images, self.labels = images, labels
        self.val_rows = np.asarray(val_rows, dtype=np.int64)
        self.num_classes = int(num_classes)
        self.padding = conv_padding(module)
        self._moments: list[dict] = []
        self._stride = 1  # epochs between two kept epoch moments (doubles when the bound is reached)

    @property
    def enabled(self) -> bool:
        return self.conv is not None

    def take(self, model: torch.nn.Module, step: int, epoch: float, cancel=None) -> None:
        """One moment of `model` now (eval-mode predictions on the validation split; the model's mode is kept).
        Raises cnnviz.evaluate.EvaluationCancelled when `cancel` is set meanwhile."""
        if not self.enabled or any(m["step"] == step for m in self._moments):
            return
        from cnnviz.figures_runs import conv1_maps

        conv = model.stages[self.conv]
        weights = conv.weight.detach().float().cpu().numpy()  # (F, C, k, k)
        bias = (conv.bias.detach().float().cpu().numpy() if conv.bias is not None
                else np.zeros(weights.shape[0], np.float32))
        moment = {"step": int(step), "epoch": float(epoch), "filters": weights.astype(np.float16)}
        if self.image is not None:
            maps = conv1_maps(weights, bias, self.image, self.padding)  # (F, H', W')
            scale = float(np.abs(maps).max()) or 1.0
            moment["maps"] = np.clip(np.round(maps / scale * 127.0) + 128.0, 0, 255).astype(np.uint8)
            moment["scale"] = scale
        if len(self.val_rows):
            pred = predict_logits(model, self.images[self.val_rows], cancel=cancel).argmax(1).numpy()
            truth = np.asarray(self.labels[self.val_rows], dtype=np.int64)
            k = self.num_classes
            moment["accuracy"] = float((pred == truth).mean())
            moment["confusion"] = np.bincount(truth * k + pred, minlength=k * k).reshape(k, k).astype(np.int32)
        self._moments.append(moment)
        self._thin()

    def _bytes_per_moment(self) -> int:
        m = self._moments[0]
        return sum(m[k].nbytes for k in ("filters", "maps", "confusion") if k in m) + 24

    def _thin(self) -> None:
        """Keep at most MAX_MOMENTS moments and MAX_BYTES bytes: the first epoch's moments always, the latest
        always, the other epochs' every `stride` epochs (the stride doubles each time the bound is passed)."""
        cap = max(len(FIRST_EPOCH_POINTS) + 3, min(MAX_MOMENTS, MAX_BYTES // self._bytes_per_moment()))
        while len(self._moments) > cap:
            self._stride *= 2
            last = self._moments[-1]
            self._moments = [m for m in self._moments if m["epoch"] <= 1 or m is last
                             or math.isclose(m["epoch"] % self._stride, 0)]

    def timeline(self) -> Timeline | None:
        """The moments so far (None before the first, or for a network without convolution)."""
        moments = list(self._moments)
        if not moments:
            return None
        has_maps, has_val = "maps" in moments[0], "confusion" in moments[0]
        return Timeline(
            steps=np.array([m["step"] for m in moments], dtype=np.int64),
            epochs=np.array([m["epoch"] for m in moments], dtype=np.float64),
            filters=np.stack([m["filters"] for m in moments]),
            maps=np.stack([m["maps"] for m in moments]) if has_maps else None,
            map_scale=np.array([m.get("scale", 1.0) for m in moments], dtype=np.float32),
            val_accuracy=np.array([m.get("accuracy", np.nan) for m in moments], dtype=np.float32),
            confusion=np.stack([m["confusion"] for m in moments]) if has_val else None,
            conv=self.conv, image_index=self.image_index)
