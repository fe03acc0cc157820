"""Every number of a trained network explained: one unit from the previous stage, what excites a channel,
Grad-CAM, and a drawing turned into an input.

    python -m cnnviz.explain conv2 5 3 4      # explains unit (channel 5, row 3, col 4) of conv2 on test image 0

A *unit* is one number of one stage's output: (stage, channel, row, col) for maps (C, H, W), and
(stage, feature, 0, 0) for flat stages (F,) such as fc1 or the logits. `explain_unit` recomputes it from
the previous stage's output with the stage's own parameters (conv: window × kernel slice, channel by
channel, plus the bias, with `cnnviz.ops.conv2d_multi`; batch norm: (x − mean)/√(var + eps)·γ + β; ReLU:
max(0, x); pooling: the window and its winner; linear: Σ w·x + b) and says which units of the previous
stage it reads (`sources`) and which one to follow backwards by default (`follow`), so a screen can walk
the path pool → ReLU → batch norm → conv → its window one click at a time (`path_back` walks it all).

    explain_unit(model, image, stage, channel, row, col) -> UnitExplanation (.value, .kind, .terms, ...)
    path_back(model, image, stage, channel, row, col)    -> [UnitExplanation, ...] down to the first stage
    receptive_field(model, stage, row, col)              -> (row0, row1, col0, col1) input pixels, inclusive
    stage_maxima(model, images, stage)                   -> every image's max in every channel (cache it)
    top_activations(model, images, stage, channel, k=9)  -> [TopActivation(index, value, row, col, box)]
    grad_cam(model, image, target=None, stage=None)      -> GradCam(.heatmap (H, W) ≥ 0, ...)
    canvas_to_image(rgba, input_shape)                   -> uint8 input from a drawing

Stages are found generically: the order of `model.forward_features(x)` gives each stage's predecessor
("input" for the first), and the module of a stage is `model.stages[name]` (a StagedNet) or the module of
that name in `model.named_modules()`; its kind comes from its type, never from its name. "logits" is the
last stage under another name.

Nothing here mutates the model it is given: inference runs under `torch.inference_mode()`, and Grad-CAM
works on a private deep copy (Captum's hooks live on the copy and vanish with it).
"""

from __future__ import annotations

import copy
import sys
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cnnviz import CnnvizError
from cnnviz.blurpool import BlurPool2d
from cnnviz.data import to_tensor
from cnnviz.device import compute_device, device_of, model_on
from cnnviz.ops import ChannelTerm, conv2d_multi

INPUT = "input"  # the name of the network's input in `previous` and in `Unit.stage`
LOGITS = "logits"
ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.ReLU6, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Softplus)
IDENTITY = (nn.Dropout, nn.Dropout2d, nn.Identity)


class ExplainError(CnnvizError):
    """A unit that cannot be explained (unknown stage, coordinates outside the map, a layer of another kind)."""


# ---------------------------------------------------------------- stages of a network, found generically

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


def _resolve(stage: str, names: list[str]) -> str:
    """'logits' -> the last stage's own name; an unknown name -> ExplainError."""
    if stage == LOGITS:
        real = [n for n in names if n != LOGITS]
        return real[-1]
    if stage not in names:
        raise ExplainError("err.explain_unknown_stage", stage=stage, stages=", ".join(names))
    return stage


def _normalise(model: nn.Module, image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W) or (H, W, 3) -> (1, C, H, W) in [-1, 1], as the app feeds the networks."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ExplainError("err.explain_image", shape=str(tuple(image.shape)), dtype=str(image.dtype))
    x = to_tensor(image[None])
    expected = getattr(model, "input_shape", None)
    if expected is not None and tuple(x.shape[1:]) != tuple(expected):
        raise ExplainError("err.explain_image_shape", shape=str(tuple(x.shape[1:])), expected=str(tuple(expected)))
    return x


def _eval_model(model: nn.Module) -> nn.Module:
    """The model itself when in eval mode; otherwise an eval-mode copy (the caller's model is left alone)."""
    return copy.deepcopy(model).eval() if model.training else model


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
    terms: ConvTerms | BatchNormTerms | ElementwiseTerms | PoolTerms | LinearTerms
    sources: list[Unit]  # every unit of `previous` it reads (padding excluded)
    follow: Unit | None  # the one to step back to: the max's winner, the same cell, the strongest product
    receptive_field: tuple[int, int, int, int]  # (row0, row1, col0, col1) input pixels, inclusive, clipped
    spatial: bool = True  # the stage's output is maps (C, H, W); False for flat stages (F,)
    is_logits: bool = False


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _window_indices(row: int, col: int, k, s, p, d) -> tuple[np.ndarray, np.ndarray]:
    """Previous-stage rows and cols (unpadded coordinates) a k×k window at output (row, col) reads."""
    rows = row * s[0] - p[0] + np.arange(k[0]) * d[0]
    cols = col * s[1] - p[1] + np.arange(k[1]) * d[1]
    return rows, cols


def _explain_conv(m: nn.Conv2d, prev: np.ndarray, prev_name: str, channel: int, row: int, col: int):
    k, s, p, d = (_pair(v) for v in (m.kernel_size, m.stride, m.padding, m.dilation))
    if isinstance(m.padding, str):  # 'same' / 'valid'
        p = (0, 0) if m.padding == "valid" else tuple((d[i] * (k[i] - 1)) // 2 for i in range(2))
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
        padded = F.pad(torch.from_numpy(prev[in_channels])[None], (p[1], p[1], p[0], p[0]), mode=mode)[0].numpy()
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
    return value, terms, sources, follow


def _explain_pool(m, prev: np.ndarray, prev_name: str, channel: int, row: int, col: int):
    mode = "max" if isinstance(m, nn.MaxPool2d) else "avg"
    k, s, p = (_pair(v) for v in (m.kernel_size, m.stride if m.stride is not None else m.kernel_size, m.padding))
    d = _pair(getattr(m, "dilation", 1))
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
    return value, terms, sources, follow


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


def _explain_module(m: nn.Module, prev: np.ndarray, prev_name: str, channel: int, row: int, col: int):
    """(kind, value, terms, sources, follow) of unit (channel, row, col) of m(prev); prev without batch."""
    same = _prev_unit(prev_name, prev.shape, channel, row, col)
    if isinstance(m, BlurPool2d) and m.size > 1 and m.pads[0] == m.pads[1]:
        m = _blur_as_conv(m)  # anti-aliased subsampling is a fixed depthwise convolution: explained as one
    if isinstance(m, nn.Conv2d):
        return ("conv", *_explain_conv(m, prev, prev_name, channel, row, col))
    if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d)):
        if getattr(m, "return_indices", False):
            raise ExplainError("err.explain_unsupported", module=type(m).__name__)
        return ("pool", *_explain_pool(m, prev, prev_name, channel, row, col))
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
        return "batchnorm", float(value), BatchNormTerms(x, mean, var, float(m.eps), gamma, beta), [same], same
    if isinstance(m, nn.ReLU):
        x = _scalar(prev, channel, row, col)
        return "relu", max(0.0, x), ElementwiseTerms(x, "relu"), [same], same
    if isinstance(m, ELEMENTWISE):
        x = _scalar(prev, channel, row, col)
        with torch.inference_mode():
            value = float(m(torch.tensor([x], dtype=torch.float64)))
        return "activation", value, ElementwiseTerms(x, type(m).__name__), [same], same
    if isinstance(m, IDENTITY):  # dropout does nothing at test time
        x = _scalar(prev, channel, row, col)
        return "identity", x, ElementwiseTerms(x, "identity"), [same], same
    if isinstance(m, nn.Flatten):
        if m.start_dim != 1 or m.end_dim != -1:
            raise ExplainError("err.explain_unsupported", module="Flatten")
        idx = tuple(int(v) for v in np.unravel_index(channel, prev.shape))
        src = Unit(prev_name, *idx) if len(idx) == 3 else Unit(prev_name, idx[0])
        x = float(prev[idx])
        return "flatten", x, ElementwiseTerms(x, "identity"), [src], src
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
        return "linear", value, terms, sources, Unit(prev_name, int(terms.top(1)[0]))
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
    model = _eval_model(model)
    if features is None:
        features = model.forward_features(_normalise(model, image))
    names = list(features)
    real = _resolve(stage, names)
    modules = stage_modules(model, [real])
    order = [n for n in names if n != LOGITS]
    i = order.index(real)
    prev_name = order[i - 1] if i > 0 else INPUT
    prev_t = features[prev_name] if i > 0 else _normalise(model, image)
    out_t = features[stage if stage in features else real]
    out_shape = tuple(out_t.shape[1:])
    channel, row, col = int(channel), int(row), int(col)
    _check_unit(stage, out_shape, channel, row, col)
    prev = prev_t[0].detach().numpy()
    kind, value, terms, sources, follow = _explain_module(modules[real], prev, prev_name, channel, row, col)
    network_value = float(out_t[0, channel, row, col] if len(out_shape) == 3 else out_t[0, channel])
    if not np.isclose(value, network_value, rtol=1e-3, atol=1e-3):  # the stage is not a function of its predecessor
        raise ExplainError("err.explain_mismatch", stage=stage, previous=prev_name)
    box = receptive_field(model, stage, row, col, names=names) if len(out_shape) == 3 else _whole(model, image)
    return UnitExplanation(stage, channel, row, col, kind, type(modules[real]).__name__, prev_name,
                           tuple(prev.shape), float(value), network_value, terms, sources, follow, box,
                           spatial=len(out_shape) == 3, is_logits=(stage == LOGITS or real == order[-1]))


@torch.inference_mode()
def path_back(model: nn.Module, image: np.ndarray, stage: str, channel: int, row: int = 0, col: int = 0,
              stop: tuple[str, ...] = ()) -> list[UnitExplanation]:
    """The unit, then the unit it `follow`s in the previous stage, and so on down to the first stage (or
    to the first unit whose kind is in `stop`, e.g. ("conv",)): pool -> ReLU -> batch norm -> conv -> ...
    One forward pass for the whole path."""
    model = _eval_model(model)
    features = model.forward_features(_normalise(model, image))
    path = [explain_unit(model, image, stage, channel, row, col, features=features)]
    while path[-1].kind not in stop and path[-1].previous != INPUT and path[-1].follow is not None:
        u = path[-1].follow
        path.append(explain_unit(model, image, u.stage, u.channel, u.row, u.col, features=features))
    return path


def _whole(model: nn.Module, image) -> tuple[int, int, int, int]:
    h, w = (np.asarray(image).shape[:2] if image is not None else tuple(model.input_shape[1:]))
    return (0, h - 1, 0, w - 1)


# ---------------------------------------------------------------- receptive field

def receptive_field(model: nn.Module, stage: str, row: int, col: int, names: list[str] | None = None,
                    input_hw: tuple[int, int] | None = None) -> tuple[int, int, int, int]:
    """Input pixels unit (row, col) of `stage` depends on: (row0, row1, col0, col1), inclusive, clipped.

    Traced backwards through every stage's kernel, stride, padding and dilation (the arithmetic of
    cnnviz.architecture.receptive_field, for any network whose stages are modules in forward order).
    A flat stage (after flatten) depends on the whole image. For max pooling this is the region the
    unit *may* depend on; the winner decides which part it does.
    """
    if names is None:
        names = list(getattr(model, "stages", {}).keys())
        if not names:
            raise ExplainError("err.explain_unknown_stage", stage=stage, stages="")
    h, w = input_hw or tuple(model.input_shape[1:])
    order = [n for n in names if n != LOGITS]
    real = _resolve(stage, names)
    chain = stage_modules(model, order[:order.index(real) + 1])
    r0, r1, c0, c1 = row, row, col, col
    for m in reversed(chain.values()):
        if isinstance(m, (nn.Flatten, nn.Linear)):
            return (0, h - 1, 0, w - 1)
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, BlurPool2d)):
            k = _pair(m.kernel_size)
            s = _pair(m.stride if m.stride is not None else m.kernel_size)
            p = _pair(m.padding) if not isinstance(m.padding, str) else (
                (0, 0) if m.padding == "valid" else tuple((_pair(m.dilation)[i] * (k[i] - 1)) // 2 for i in range(2)))
            d = _pair(getattr(m, "dilation", 1))
            r0, r1 = r0 * s[0] - p[0], r1 * s[0] - p[0] + d[0] * (k[0] - 1)
            c0, c1 = c0 * s[1] - p[1], c1 * s[1] - p[1] + d[1] * (k[1] - 1)
    return (max(0, r0), min(h - 1, r1), max(0, c0), min(w - 1, c1))


# ---------------------------------------------------------------- what excites a channel

@dataclass
class StageMaxima:
    """Every image's strongest response in every channel of one stage (one pass over a test set)."""

    stage: str
    values: np.ndarray  # (N, C) float32: max over the map
    rows: np.ndarray  # (N, C) int: where (first maximum in raster order); 0 for flat stages
    cols: np.ndarray  # (N, C)
    map_shape: tuple[int, ...]  # the stage's output shape without batch
    names: list[str] | None = None  # every stage in forward order (for receptive fields)


@dataclass
class TopActivation:
    index: int  # image index in the set
    value: float  # the channel's max over the map
    row: int  # position of the strongest unit
    col: int
    box: tuple[int, int, int, int]  # its receptive field (row0, row1, col0, col1), inclusive


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
    model = model_on(_eval_model(model), compute_device() if device is None else device)
    device = device_of(model)
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim not in (3, 4) or len(images) == 0:
        raise ExplainError("err.explain_images", shape=str(tuple(images.shape)), dtype=str(images.dtype))
    values, rows, cols = [], [], []
    shape = names = None
    for start in range(0, len(images), batch_size):
        out, names = _features_until(model, to_tensor(images[start:start + batch_size]).to(device), stage)
        shape = tuple(out.shape[1:])
        if out.ndim == 4:
            v, a = out.flatten(2).max(dim=2)  # (B, C): first maximum in raster order
            v, a = v.cpu(), a.cpu()
            values.append(v.numpy())
            rows.append((a // out.shape[3]).numpy())
            cols.append((a % out.shape[3]).numpy())
        else:
            values.append(out.cpu().numpy())
            rows.append(np.zeros(out.shape, dtype=np.int64))
            cols.append(np.zeros(out.shape, dtype=np.int64))
    return StageMaxima(stage, np.concatenate(values), np.concatenate(rows), np.concatenate(cols), shape, names)


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
        box = (receptive_field(model, stage, r, c, names=names, input_hw=hw) if spatial
               else (0, hw[0] - 1, 0, hw[1] - 1))
        out.append(TopActivation(int(i), float(v[i]), r, c, box))
    return out


# ---------------------------------------------------------------- Grad-CAM (Captum)

@dataclass
class GradCam:
    heatmap: np.ndarray  # (H, W) float, ≥ 0, upsampled to the input size (bilinear)
    layer_map: np.ndarray  # (h, w) at the stage's own resolution
    stage: str
    target: int  # the class explained
    predicted: int
    probs: np.ndarray  # (classes,)


def last_conv_stage(model: nn.Module) -> str:
    """The name of the last Conv2d stage (Grad-CAM's default layer)."""
    staged = getattr(model, "stages", None)
    items = staged.items() if isinstance(staged, nn.ModuleDict) else model.named_modules()
    convs = [n for n, m in items if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ExplainError("err.explain_no_conv")
    return convs[-1]


def gradcam_stage(model: nn.Module) -> str:
    """Grad-CAM's default stage: the last conv's block output before pooling (conv -> [bn] -> relu: the ReLU).

    The raw conv output comes before batch norm, whose γ may be negative, so its Grad-CAM is often all
    negative (then all zero after ReLU); the rectified maps are what Selvaraju et al. use (VGG's last ReLU).
    """
    staged = getattr(model, "stages", None)
    items = list(staged.items() if isinstance(staged, nn.ModuleDict) else model.named_modules())
    last = last_conv_stage(model)
    names = [n for n, _ in items]
    best = last
    for name, m in items[names.index(last) + 1:]:
        if not isinstance(m, (nn.BatchNorm2d, *ELEMENTWISE, *IDENTITY)):
            break
        best = name
    return best


def grad_cam(model: nn.Module, image: np.ndarray, target: int | None = None, stage: str | None = None,
             after_relu: bool = True) -> GradCam:
    """Grad-CAM (Selvaraju et al. 2017) of class `target` (default: the predicted one) over the input.

    Captum's LayerGradCam on `stage` (default: `gradcam_stage`, the last conv block's ReLU): the stage's maps weighted by the mean
    gradient of the class score over each map, summed over channels, then ReLU (`after_relu`), then
    upsampled bilinearly to the input size. Runs on a deep copy of the model (a few ms) so that Captum's
    temporary hooks never touch the shared model, with gradients enabled even when called inside
    `torch.inference_mode()`.
    """
    from captum.attr import LayerGradCam

    stage = stage or gradcam_stage(model)
    with torch.inference_mode(False), torch.enable_grad():
        net = copy.deepcopy(model).eval()
        for m in net.modules():
            if hasattr(m, "inplace"):
                m.inplace = False  # in-place ops break the backward hooks
        layer = stage_modules(net, [stage])[stage]
        x = _normalise(net, image).clone().requires_grad_(True)
        logits = net(x)
        probs = torch.softmax(logits.detach(), 1)[0].numpy()
        predicted = int(probs.argmax())
        target = predicted if target is None else int(target)
        if not 0 <= target < logits.shape[1]:
            raise ExplainError("err.explain_bad_class", target=target, n=logits.shape[1])
        cam = LayerGradCam(net, layer).attribute(x, target=target, relu_attributions=after_relu)
        if cam.ndim != 4:
            raise ExplainError("err.explain_no_conv")
        layer_map = cam.detach()[0].sum(0)  # (h, w)
        up = F.interpolate(layer_map[None, None], size=tuple(x.shape[2:]), mode="bilinear", align_corners=False)
        heatmap = up[0, 0].numpy().astype(np.float64)
        if after_relu:
            heatmap = np.maximum(heatmap, 0.0)  # bilinear interpolation of ≥ 0 values stays ≥ 0; rounding aside
    return GradCam(heatmap, layer_map.numpy(), stage, target, predicted, probs)


# ---------------------------------------------------------------- a drawing as an input

def canvas_to_image(rgba: np.ndarray, input_shape: tuple[int, int, int] = (1, 28, 28)) -> np.ndarray:
    """A drawing canvas's RGBA array (H, W, 4), white strokes on black, -> the network's uint8 input.

    Transparent pixels are black (the Fashion-MNIST convention: the object is light on a dark ground),
    the drawing is cropped to its strokes with a margin, then `cnnviz.images.to_input` resizes it,
    centred, to (H, W) for one channel or (H, W, 3) for three. An empty canvas gives a black image.
    """
    from PIL import Image

    from cnnviz.images import to_input

    src = np.asarray(rgba)
    if src.ndim != 3 or src.shape[2] not in (3, 4) or src.size == 0 or src.dtype.kind not in "uif":
        raise ExplainError("err.explain_canvas", shape=str(tuple(src.shape)))
    a = np.nan_to_num(src.astype(np.float64))
    if src.dtype.kind == "f" and a.max() <= 1.0:  # floats in [0, 1]
        a = a * 255.0
    alpha = a[..., 3] / 255.0 if a.shape[2] == 4 else np.ones(a.shape[:2])
    rgb = a[..., :3] * alpha[..., None]  # composite over black
    ys, xs = np.nonzero(rgb.max(axis=2) > 8)
    if len(ys):  # crop to the strokes, square, with a 15 % margin, as MNIST-like sets centre their objects
        cy, cx = (ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2
        half = max(ys.max() - ys.min(), xs.max() - xs.min()) / 2 * 1.15 + 1
        y0, y1 = int(max(0, cy - half)), int(min(a.shape[0], cy + half + 1))
        x0, x1 = int(max(0, cx - half)), int(min(a.shape[1], cx + half + 1))
        rgb = rgb[y0:y1, x0:x1]
    img = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")
    return to_input(img, tuple(input_shape))


if __name__ == "__main__":
    from cnnviz.checkpoints import SHIPPED, load_checkpoint
    from cnnviz.data import images_to_browse

    net, meta = load_checkpoint(SHIPPED)
    data = images_to_browse(meta["dataset"])
    st_name = sys.argv[1] if len(sys.argv) > 1 else "conv2"
    ch, r_, c_ = (int(v) for v in (sys.argv[2:5] if len(sys.argv) >= 5 else (0, 0, 0)))
    e = explain_unit(net, data.images[0], st_name, ch, r_, c_)
    print(f"{e.stage}[{e.channel}, {e.row}, {e.col}] = {e.value:.6f} ({e.kind}, from {e.previous}); "
          f"network {e.network_value:.6f}; follow {e.follow}; receptive field {e.receptive_field}")
