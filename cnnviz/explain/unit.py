"""One unit of a trained network explained from the previous stage: every number of the network recomputed.

    explain_unit(model, image, stage, channel, row, col) -> UnitExplanation (.value, .kind, .terms, ...)
    path_back(model, image, stage, channel, row, col)    -> [UnitExplanation, ...] down to the first stage

A *unit* is one number of one stage's output: (stage, channel, row, col) for maps (C, H, W), and
(stage, feature, 0, 0) for flat stages (F,) such as fc1 or the logits. `explain_unit` recomputes it from
the previous stage's output with the stage's own parameters (conv: window × kernel slice, channel by
channel, plus the bias, with `cnnviz.ops.conv2d_multi`; batch norm: (x − mean)/√(var + eps)·γ + β; ReLU:
max(0, x); pooling: the window and its winner; linear: Σ w·x + b), checks it against the network's own
value, and says which units of the previous stage it reads (`sources`) and which one to follow backwards by
default (`follow`), so a screen can walk the path pool → ReLU → batch norm → conv → its window one click at
a time (`path_back` walks it all). Inference runs under `torch.inference_mode()`; the model is not changed.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cnnviz.blurpool import BlurPool2d
from cnnviz.explain.receptive import Box, image_box, receptive_field
from cnnviz.explain.stages import (
    ELEMENTWISE,
    IDENTITY,
    INPUT,
    LOGITS,
    ExplainError,
    Unit,
    in_eval_mode,
    normalised_input,
    resolve_stage,
    stage_modules,
)
from cnnviz.geometry import window_of
from cnnviz.ops import ChannelTerm, conv2d_multi

# ---------------------------------------------------------------- the terms of each kind of stage

@dataclass
class ConvTerms:
    """out = Σ_c Σ_ij window[c, i, j] · kernel[c, i, j] + bias."""

    in_channels: np.ndarray  # (C_in,) channels of the previous stage read (all of them unless groups > 1)
    window: np.ndarray  # (C_in, kh, kw) previous-stage values under the kernel (dilation applied), 0 in padding
    rows: np.ndarray  # (kh,) previous-stage rows the kernel touches (< 0 or ≥ H: padding)
    cols: np.ndarray  # (kw,)
    padding_mask: np.ndarray  # (kh, kw) True where the cell is zero padding
    kernel: np.ndarray  # (C_in, kh, kw) weight[channel]
    partials: np.ndarray  # (C_in,) each input channel's dot product
    partial_sum: float  # Σ partials, the value before the bias
    bias: float
    channel_terms: list[ChannelTerm]  # cnnviz.ops' per-channel view (window, kernel, products, value)
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]


@dataclass
class BatchNormTerms:
    """out = (x − mean) / √(var + eps) · gamma + beta."""

    x: float
    mean: float
    var: float
    eps: float
    gamma: float
    beta: float


@dataclass
class ElementwiseTerms:
    """out = f(x): ReLU max(0, x), another activation, dropout (the identity at test time), flatten."""

    x: float
    function: str  # "relu", "identity", or the module's class name ("LeakyReLU", "Sigmoid", ...)


@dataclass
class PoolTerms:
    """out = max (or mean) of the window."""

    mode: str  # "max" or "avg"
    window: np.ndarray  # (kh, kw) previous-stage values; NaN outside the map (padding)
    rows: np.ndarray  # (kh,) previous-stage rows of the window
    cols: np.ndarray  # (kw,)
    padding_mask: np.ndarray  # (kh, kw) True outside the map
    winner: tuple[int, int] | None  # (row, col) of the max in previous-stage coordinates (max pooling)
    divisor: int | None  # average pooling: the number of cells the sum is divided by


@dataclass
class LinearTerms:
    """out = Σ_i weights[i] · inputs[i] + bias."""

    inputs: np.ndarray  # (F_in,)
    weights: np.ndarray  # (F_in,) weight[feature]
    products: np.ndarray  # (F_in,)
    bias: float

    def top(self, k: int = 8) -> np.ndarray:
        """Indices of the k largest |products|, largest first."""
        return np.argsort(-np.abs(self.products), kind="stable")[:k]


Terms = ConvTerms | BatchNormTerms | ElementwiseTerms | PoolTerms | LinearTerms


@dataclass
class UnitExplanation:
    stage: str  # as asked ("logits" stays "logits")
    channel: int
    row: int
    col: int
    kind: str  # "conv", "batchnorm", "relu", "activation", "identity", "flatten", "pool", "linear"
    module: str  # the module's class name: "Conv2d", "MaxPool2d", ...
    previous: str  # the stage it reads ("input" for the first stage)
    previous_shape: tuple[int, ...]  # without the batch dimension
    value: float  # recomputed from the terms (float64)
    network_value: float  # forward_features(x)[stage][0, channel, row, col]
    terms: Terms
    sources: list[Unit]  # every unit of `previous` it reads (padding excluded)
    follow: Unit | None  # the one to step back to: the max's winner, the same cell, the strongest product
    receptive_field: Box  # (row0, row1, col0, col1) input pixels, inclusive, clipped
    spatial: bool = True  # the stage's output is maps (C, H, W); False for flat stages (F,)
    is_logits: bool = False


@dataclass
class Computation:
    """How one unit follows from the previous stage, as each kind of stage finds it (before the check)."""

    kind: str  # as UnitExplanation.kind
    value: float  # recomputed from the terms
    terms: Terms
    sources: list[Unit]  # every unit of the previous stage it reads
    follow: Unit | None  # the one to step back to


def _window_indices(row: int, col: int, k, s, p, d) -> tuple[np.ndarray, np.ndarray]:
    """Previous-stage rows and cols (unpadded coordinates) a k×k window at output (row, col) reads."""
    rows = row * s[0] - p[0] + np.arange(k[0]) * d[0]
    cols = col * s[1] - p[1] + np.arange(k[1]) * d[1]
    return rows, cols


def _explain_conv(m: nn.Conv2d, prev: np.ndarray, prev_name: str, channel: int, row: int, col: int) -> Computation:
    win = window_of(m)  # padding 'same' / 'valid' as numbers
    k, s, p, d = win.kernel, win.stride, win.padding, win.dilation
    c_in_all, h, w = prev.shape
    per_group = c_in_all // m.groups
    group = channel // (m.out_channels // m.groups)
    in_channels = np.arange(group * per_group, (group + 1) * per_group)
    rows, cols = _window_indices(row, col, k, s, p, d)
    inside_r, inside_c = (rows >= 0) & (rows < h), (cols >= 0) & (cols < w)
    pad_mask = ~(inside_r[:, None] & inside_c[None, :])
    if m.padding_mode == "zeros":
        window = np.zeros((per_group, k[0], k[1]))
        ri, ci = np.nonzero(inside_r)[0], np.nonzero(inside_c)[0]
        window[:, ri[:, None], ci[None, :]] = prev[in_channels][:, rows[ri][:, None], cols[ci][None, :]]
    else:  # reflect / replicate / circular: the padded values come from the map itself
        mode = {"reflect": "reflect", "replicate": "replicate", "circular": "circular"}[m.padding_mode]
        pads = (p[1], p[1] + win.extra[1], p[0], p[0] + win.extra[0])  # (left, right, top, bottom)
        padded = F.pad(torch.from_numpy(prev[in_channels])[None], pads, mode=mode)[0].numpy()
        window = padded[:, (rows + p[0])[:, None], (cols + p[1])[None, :]].astype(np.float64)
    weight = m.weight[channel:channel + 1].detach().double().numpy()  # (1, C_in, kh, kw)
    bias = float(m.bias[channel]) if m.bias is not None else 0.0
    trace = conv2d_multi(window, weight, np.array([bias]))  # one output cell: the window is exactly the kernel's size
    channel_terms, value = trace.cell(0, 0, 0)
    partials = trace.partials[0, :, 0, 0]
    terms = ConvTerms(in_channels, window, rows, cols, pad_mask, weight[0], partials, float(partials.sum()), bias,
                      channel_terms, s, p, d)
    sources = [Unit(prev_name, int(c), int(r), int(q)) for c in in_channels for r in rows[inside_r]
               for q in cols[inside_c]]
    products = window * weight[0]
    products = np.where(pad_mask[None], 0.0, products)
    follow = None
    if (~pad_mask).any():
        masked = np.where(pad_mask[None], -np.inf, np.abs(products))
        c, i, j = np.unravel_index(int(np.argmax(masked)), masked.shape)
        follow = Unit(prev_name, int(in_channels[c]), int(rows[i]), int(cols[j]))
    return Computation("conv", value, terms, sources, follow)


def _explain_pool(m, prev: np.ndarray, prev_name: str, channel: int, row: int, col: int) -> Computation:
    mode = "max" if isinstance(m, nn.MaxPool2d) else "avg"
    win = window_of(m)
    k, s, p, d = win.kernel, win.stride, win.padding, win.dilation
    _, h, w = prev.shape
    rows, cols = _window_indices(row, col, k, s, p, d)
    inside_r, inside_c = (rows >= 0) & (rows < h), (cols >= 0) & (cols < w)
    inside = inside_r[:, None] & inside_c[None, :]
    window = np.full(k, np.nan)
    ri, ci = np.nonzero(inside_r)[0], np.nonzero(inside_c)[0]
    window[ri[:, None], ci[None, :]] = prev[channel][rows[ri][:, None], cols[ci][None, :]]
    winner, divisor = None, None
    if mode == "max":
        flat = np.where(inside, window, -np.inf).ravel()
        a = int(np.argmax(flat))  # the first maximum in raster order, as PyTorch
        value = float(flat[a])
        winner = (int(rows[a // k[1]]), int(cols[a % k[1]]))
        follow = Unit(prev_name, channel, *winner)
    else:
        total = float(np.nansum(window))
        if m.divisor_override:
            divisor = int(m.divisor_override)
        elif m.count_include_pad:  # cells inside the padded map count, even the zeros of the padding
            in_r = ((rows >= -p[0]) & (rows < h + p[0])).sum()
            in_c = ((cols >= -p[1]) & (cols < w + p[1])).sum()
            divisor = int(in_r * in_c)
        else:
            divisor = int(inside.sum())
        value = total / divisor
        masked = np.where(inside, window, -np.inf)
        a = int(np.argmax(masked))
        follow = Unit(prev_name, channel, int(rows[a // k[1]]), int(cols[a % k[1]]))
    terms = PoolTerms(mode, window, rows, cols, ~inside, winner, divisor)
    sources = [Unit(prev_name, channel, int(r), int(q)) for r in rows[inside_r] for q in cols[inside_c]]
    return Computation("pool", value, terms, sources, follow)


def _prev_unit(prev_name: str, prev_shape: tuple[int, ...], channel: int, row: int, col: int) -> Unit:
    return Unit(prev_name, channel, row, col) if len(prev_shape) == 3 else Unit(prev_name, channel, 0, 0)


def _scalar(prev: np.ndarray, channel: int, row: int, col: int) -> float:
    return float(prev[channel, row, col]) if prev.ndim == 3 else float(prev[channel])


def _blur_as_conv(m: BlurPool2d) -> nn.Conv2d:
    """The Conv2d that computes the same as a BlurPool2d (its binomial filter, depthwise, same padding)."""
    mode = {"zero": "zeros"}.get(m.pad_mode, m.pad_mode)
    conv = nn.Conv2d(m.channels, m.channels, m.size, stride=m.stride, padding=m.pads[0], groups=m.channels,
                     bias=False, padding_mode=mode)
    with torch.no_grad():
        conv.weight.copy_(m.weight)
    return conv.eval()


def _explain_module(m: nn.Module, prev: np.ndarray, prev_name: str, channel: int, row: int,
                    col: int) -> Computation:
    """How unit (channel, row, col) of m(prev) is computed; prev without batch."""
    same = _prev_unit(prev_name, prev.shape, channel, row, col)
    if isinstance(m, BlurPool2d) and m.size > 1 and m.pads[0] == m.pads[1]:
        m = _blur_as_conv(m)  # anti-aliased subsampling is a fixed depthwise convolution: explained as one
    if isinstance(m, nn.Conv2d):
        return _explain_conv(m, prev, prev_name, channel, row, col)
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        if getattr(m, "return_indices", False):
            raise ExplainError("err.explain_unsupported", module=type(m).__name__)
        return _explain_pool(m, prev, prev_name, channel, row, col)
    if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
        x = _scalar(prev, channel, row, col)
        if m.running_mean is not None:
            mean, var = float(m.running_mean[channel]), float(m.running_var[channel])
        else:  # no running statistics: PyTorch uses the batch's (here one image)
            v = prev[channel].astype(np.float64)
            mean, var = float(v.mean()), float(v.var())
        gamma = float(m.weight[channel]) if m.weight is not None else 1.0
        beta = float(m.bias[channel]) if m.bias is not None else 0.0
        value = (x - mean) / np.sqrt(var + m.eps) * gamma + beta
        return Computation("batchnorm", float(value), BatchNormTerms(x, mean, var, float(m.eps), gamma, beta), [same], same)
    if isinstance(m, nn.ReLU):
        x = _scalar(prev, channel, row, col)
        return Computation("relu", max(0.0, x), ElementwiseTerms(x, "relu"), [same], same)
    if isinstance(m, ELEMENTWISE):
        x = _scalar(prev, channel, row, col)
        with torch.inference_mode():
            value = float(m(torch.tensor([x], dtype=torch.float64)))
        return Computation("activation", value, ElementwiseTerms(x, type(m).__name__), [same], same)
    if isinstance(m, IDENTITY):  # dropout does nothing at test time
        x = _scalar(prev, channel, row, col)
        return Computation("identity", x, ElementwiseTerms(x, "identity"), [same], same)
    if isinstance(m, nn.Flatten):
        if m.start_dim != 1 or m.end_dim != -1:
            raise ExplainError("err.explain_unsupported", module="Flatten")
        idx = tuple(int(v) for v in np.unravel_index(channel, prev.shape))
        src = Unit(prev_name, *idx) if len(idx) == 3 else Unit(prev_name, idx[0])
        x = float(prev[idx])
        return Computation("flatten", x, ElementwiseTerms(x, "identity"), [src], src)
    if isinstance(m, nn.Linear):
        if prev.ndim != 1:
            raise ExplainError("err.explain_unsupported", module="Linear")
        inputs = prev.astype(np.float64)
        weights = m.weight[channel].detach().double().numpy()
        products = inputs * weights
        bias = float(m.bias[channel]) if m.bias is not None else 0.0
        terms = LinearTerms(inputs, weights, products, bias)
        value = float(products.sum() + bias)
        sources = [Unit(prev_name, i) for i in range(inputs.shape[0])]
        return Computation("linear", value, terms, sources, Unit(prev_name, int(terms.top(1)[0])))
    raise ExplainError("err.explain_unsupported", module=type(m).__name__)


def _check_unit(stage: str, shape: tuple[int, ...], channel: int, row: int, col: int) -> None:
    limits = (shape[0], shape[1], shape[2]) if len(shape) == 3 else (shape[0], 1, 1)
    if len(shape) not in (1, 3) or not all(0 <= v < n for v, n in zip((channel, row, col), limits)):
        raise ExplainError("err.explain_out_of_range", stage=stage, channel=channel, row=row, col=col,
                           shape=" × ".join(map(str, shape)))


@torch.inference_mode()
def explain_unit(model: nn.Module, image: np.ndarray, stage: str, channel: int, row: int = 0,
                 col: int = 0, features: "OrderedDict[str, torch.Tensor] | None" = None) -> UnitExplanation:
    """Unit (channel, row, col) of `stage` on `image`, recomputed from the previous stage.

    image: uint8 (H, W) or (H, W, 3), normalised as the app does ((x/255 − 0.5)/0.5). Flat stages (F,)
    take row = col = 0. `features` (the model's forward_features on this image) may be passed to save
    the forward pass when a screen explains several units of the same image.
    """
    model = in_eval_mode(model)
    if features is None:
        features = model.forward_features(normalised_input(model, image))
    names = list(features)
    real = resolve_stage(stage, names)
    modules = stage_modules(model, [real])
    order = [n for n in names if n != LOGITS]
    i = order.index(real)
    prev_name = order[i - 1] if i > 0 else INPUT
    prev_t = features[prev_name] if i > 0 else normalised_input(model, image)
    out_t = features[stage if stage in features else real]
    out_shape = tuple(out_t.shape[1:])
    channel, row, col = int(channel), int(row), int(col)
    _check_unit(stage, out_shape, channel, row, col)
    prev = prev_t[0].detach().numpy()
    done = _explain_module(modules[real], prev, prev_name, channel, row, col)
    network_value = float(out_t[0, channel, row, col] if len(out_shape) == 3 else out_t[0, channel])
    if not np.isclose(done.value, network_value, rtol=1e-3, atol=1e-3):  # not a function of its predecessor
        raise ExplainError("err.explain_mismatch", stage=stage, previous=prev_name)
    if len(out_shape) == 3:
        box = receptive_field(model, stage, row, col, names=names)
    else:
        box = image_box(*(np.asarray(image).shape[:2] if image is not None else model.input_shape[1:]))
    return UnitExplanation(stage, channel, row, col, done.kind, type(modules[real]).__name__, prev_name,
                           tuple(prev.shape), float(done.value), network_value, done.terms, done.sources, done.follow,
                           box, spatial=len(out_shape) == 3, is_logits=(stage == LOGITS or real == order[-1]))


@torch.inference_mode()
def path_back(model: nn.Module, image: np.ndarray, stage: str, channel: int, row: int = 0, col: int = 0,
              stop: tuple[str, ...] = ()) -> list[UnitExplanation]:
    """The unit, then the unit it `follow`s in the previous stage, and so on down to the first stage (or
    to the first unit whose kind is in `stop`, e.g. ("conv",)): pool -> ReLU -> batch norm -> conv -> ...
    One forward pass for the whole path."""
    model = in_eval_mode(model)
    features = model.forward_features(normalised_input(model, image))
    path = [explain_unit(model, image, stage, channel, row, col, features=features)]
    while path[-1].kind not in stop and path[-1].previous != INPUT and path[-1].follow is not None:
        u = path[-1].follow
        path.append(explain_unit(model, image, u.stage, u.channel, u.row, u.col, features=features))
    return path
