"""What excites a channel: the images of a set on which it responds most.

    stage_maxima(model, images, stage)                   -> every image's max (and mean) in every channel (cache it)
    top_activations(model, images, stage, channel, k=9)  -> [TopActivation(index, value, row, col, box)]

One pass over the set gives every channel's ranking (`stage_maxima`, the costly part, shared by a server per
network and stage); `top_activations` then sorts one channel and frames each image's strongest unit with its
receptive field.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

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


@torch.inference_mode()
def stage_maxima(model: nn.Module, images: np.ndarray, stage: str, batch_size: int = 500,
                 device: torch.device | str | None = None) -> StageMaxima:
    """Max over the map of every channel of `stage`, for every image of `images` ((N, H, W[, 3]) uint8), on
    `device` (default: the GPU where there is one, cnnviz.device)."""
    model = model_on(in_eval_mode(model), compute_device() if device is None else device)
    device = device_of(model)
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or len(images) == 0:
        raise ExplainError("err.explain_images", shape=str(tuple(images.shape)), dtype=str(images.dtype))
    values, rows, cols, means = [], [], [], []
    shape = names = None
    for start in range(0, len(images), batch_size):
        out, names = _features_until(model, to_tensor(images[start:start + batch_size]).to(device), stage)
        shape = tuple(out.shape[1:])
        if out.ndim == 4:
            v, a = out.flatten(2).max(dim=2)  # (B, C): first maximum in raster order
            v, a = v.cpu(), a.cpu()
            values.append(v.numpy())
            means.append(out.flatten(2).mean(2).cpu().numpy())
            rows.append((a // out.shape[3]).numpy())
            cols.append((a % out.shape[3]).numpy())
        else:
            values.append(out.cpu().numpy())
            means.append(values[-1])
            rows.append(np.zeros(out.shape, dtype=np.int64))
            cols.append(np.zeros(out.shape, dtype=np.int64))
    return StageMaxima(stage, np.concatenate(values), np.concatenate(rows), np.concatenate(cols), shape, names,
                       np.concatenate(means))


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
