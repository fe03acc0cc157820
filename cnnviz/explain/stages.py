"""The stages of any network, found generically — what every explanation of cnnviz.explain starts from.

The order of `model.forward_features(x)` gives each stage's predecessor ("input" for the first); the module of
a stage is `model.stages[name]` (a StagedNet) or the module of that name in `model.named_modules()`; its kind
comes from its type, never from its name. "logits" is the last stage under another name.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cnnviz import CnnvizError
from cnnviz.data import to_tensor

INPUT = "input"  # the name of the network's input in `previous` and in `Unit.stage`
LOGITS = "logits"
ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.ReLU6, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Softplus)
IDENTITY = (nn.Dropout, nn.Dropout2d, nn.Identity)


class ExplainError(CnnvizError):
    """A unit that cannot be explained (unknown stage, coordinates outside the map, a layer of another kind)."""


@dataclass(frozen=True)
class Unit:
    """One number of one stage: maps are (channel, row, col); flat stages use (feature, 0, 0)."""

    stage: str
    channel: int
    row: int = 0
    col: int = 0


def stage_modules(model: nn.Module, names) -> "OrderedDict[str, nn.Module]":
    """stage name -> module, for the names `forward_features` returns (without 'logits')."""
    staged = getattr(model, "stages", None)
    named = None
    out: OrderedDict[str, nn.Module] = OrderedDict()
    for name in names:
        if name == LOGITS:
            continue
        if isinstance(staged, nn.ModuleDict) and name in staged:
            out[name] = staged[name]
            continue
        named = dict(model.named_modules()) if named is None else named
        if name not in named:
            raise ExplainError("err.explain_no_module", stage=name)
        out[name] = named[name]
    return out


def resolve_stage(stage: str, names: list[str]) -> str:
    """'logits' -> the last stage's own name; an unknown name -> ExplainError."""
    if stage == LOGITS:
        real = [n for n in names if n != LOGITS]
        return real[-1]
    if stage not in names:
        raise ExplainError("err.explain_unknown_stage", stage=stage, stages=", ".join(names))
    return stage


def normalised_input(model: nn.Module, image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W) or (H, W, 3) -> (1, C, H, W) in [-1, 1], as the app feeds the networks."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ExplainError("err.explain_image", shape=str(tuple(image.shape)), dtype=str(image.dtype))
    x = to_tensor(image[None])
    expected = getattr(model, "input_shape", None)
    if expected is not None and tuple(x.shape[1:]) != tuple(expected):
        raise ExplainError("err.explain_image_shape", shape=str(tuple(x.shape[1:])), expected=str(tuple(expected)))
    return x


def in_eval_mode(model: nn.Module) -> nn.Module:
    """The model itself when in eval mode; otherwise an eval-mode copy (the caller's model is left alone)."""
    return copy.deepcopy(model).eval() if model.training else model
