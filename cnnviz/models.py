"""Networks: the course's Net (`SeedNet`), the compact CNN shipped for Fashion-MNIST, an MLP.

Every network is a `StagedNet`: an ordered list of named stages (conv1, relu1, pool1, ..., fc2), so
that `forward_features(x)` can return every stage's output in forward order with the logits last,
and `trace_shapes(model, input_shape)` can compute each stage's output shape and parameter count
from the layer settings alone (the architecture screen shows those formulas; the tests check them
against a real forward pass).

The convolutional networks are built from a `ConvNetConfig` (a dataclass of primitives, stored in
checkpoints), so the course's Net, the compact CNN and an architecture edited on screen are one class.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from cnnviz import CnnvizError, ShapeError
from cnnviz.blurpool import BlurPool2d
from cnnviz.geometry import Field, receptive_field, window_of


class ModelError(CnnvizError, ValueError):
    """A network that cannot be built (an unknown architecture name)."""


@dataclass(frozen=True)
class ConvSpec:
    """One conv block: Conv2d(k×k, padding) [-> BatchNorm] -> ReLU [-> 2×2 max-pool].

    blur: anti-aliased pooling (Zhang 2019): the pool is MaxPool2d(2, stride=1) then BlurPool2d (stride 2)."""

    out_channels: int
    kernel: int
    padding: int = 0
    pool: bool = False
    batchnorm: bool = False
    blur: bool = False


@dataclass(frozen=True)
class ConvNetConfig:
    input_shape: tuple[int, int, int] = (3, 32, 32)  # (C, H, W)
    convs: tuple[ConvSpec, ...] = ()
    fc_width: int = 120
    num_classes: int = 10
    dropout: float = 0.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["input_shape"] = list(self.input_shape)
        d["convs"] = [asdict(c) for c in self.convs]
        return d

    @staticmethod
    def from_dict(d: dict) -> "ConvNetConfig":
        return ConvNetConfig(
            input_shape=tuple(int(v) for v in d["input_shape"]),
            convs=tuple(ConvSpec(**c) for c in d["convs"]),
            fc_width=int(d["fc_width"]),
            num_classes=int(d["num_classes"]),
            dropout=float(d.get("dropout", 0.0)),
        )


# The slide's Net: conv1 64@11×11, conv2 128@5×5, conv3 256@3×3, pooling after conv1 and conv2, fc1 -> 120.
SEED_CONVS = (ConvSpec(64, 11, pool=True), ConvSpec(128, 5, pool=True), ConvSpec(256, 3))
# The shipped Fashion-MNIST network: three padded 3×3 blocks with batch norm, about 243k parameters.
COMPACT_CONVS = (
    ConvSpec(32, 3, padding=1, pool=True, batchnorm=True),
    ConvSpec(64, 3, padding=1, pool=True, batchnorm=True),
    ConvSpec(128, 3, padding=1, pool=True, batchnorm=True),
)


@dataclass
class StageTrace:
    """One stage of a network for one input shape."""

    name: str
    kind: str  # "Conv2d", "ReLU", "MaxPool2d", ...
    in_shape: tuple[int, ...]  # without the batch dimension
    out_shape: tuple[int, ...]
    params: int
    formula: str = ""  # how out_shape follows from in_shape, with the numbers
    settings: dict = field(default_factory=dict)


# Layers that slide a window over their input: their output shape and receptive field follow from
# cnnviz.geometry; every other stage keeps the positions (ReLU, batch norm, dropout) or flattens them.
WINDOWED = (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d, BlurPool2d)


def receptive_fields(stages) -> tuple[Field, Field]:
    """The receptive field (rows, cols) of the last of a chain of stages, from the input up: its windowed
    layers' (cnnviz.geometry.receptive_field). Only the settings are read; no flatten in the chain."""
    windows = [window_of(m) for m in stages if isinstance(m, WINDOWED)]
    rows, cols = (receptive_field([w.axis(i) for w in windows]) for i in (0, 1))
    return rows, cols


def trace_stage(name: str, module: nn.Module, in_shape: tuple[int, ...]) -> StageTrace:
    """Output shape and parameter count of one stage, from its settings (no forward pass)."""
    params = sum(p.numel() for p in module.parameters())
    kind = type(module).__name__
    if isinstance(module, WINDOWED):
        c, h, w = in_shape
        win = window_of(module)
        k, s, p, d = win.kernel, win.stride, win.padding, win.dilation
        oh, ow = win.output_size(0, h), win.output_size(1, w)
        oc = module.out_channels if isinstance(module, nn.Conv2d) else c
        formula = (f"⌊({h} + 2·{p[0]} − {d[0]}·({k[0]}−1) − 1)/{s[0]}⌋ + 1 = {oh}; "
                   f"⌊({w} + 2·{p[1]} − {d[1]}·({k[1]}−1) − 1)/{s[1]}⌋ + 1 = {ow}")
        if isinstance(module, nn.Conv2d):
            formula += (f"; params {oc}×{c}×{k[0]}×{k[1]}"
                        + (f" + {oc}" if module.bias is not None else "") + f" = {params:,}")
        if oh < 1 or ow < 1:
            raise ShapeError("err.shape_collapse", name=name, kind=kind, kernel=f"{k[0]}×{k[1]}", stride=s[0],
                             padding=p[0], shape=f"{c}×{h}×{w}", out=f"{oh}×{ow}")
        settings = dict(kernel=k[0], stride=s[0], padding=p[0], dilation=d[0])
        return StageTrace(name, kind, in_shape, (oc, oh, ow), params, formula, settings)
    if isinstance(module, nn.Flatten):
        n = 1
        for v in in_shape:
            n *= v
        return StageTrace(name, kind, in_shape, (n,), 0, " × ".join(map(str, in_shape)) + f" = {n:,}")
    if isinstance(module, nn.Linear):
        if in_shape != (module.in_features,):
            raise ShapeError("err.shape_linear", name=name, n=module.in_features,
                             shape="×".join(map(str, in_shape)))
        formula = f"params {module.out_features}×{module.in_features} + {module.out_features} = {params:,}"
        return StageTrace(name, kind, in_shape, (module.out_features,), params, formula)
    if isinstance(module, nn.BatchNorm2d):
        return StageTrace(name, kind, in_shape, in_shape, params, f"params 2×{module.num_features}")
    # ReLU, Dropout: same shape, no parameters.
    return StageTrace(name, kind, in_shape, in_shape, params)


class StagedNet(nn.Module):
    """A network made of named stages run in order."""

    def __init__(self, stages: "OrderedDict[str, nn.Module]", input_shape: tuple[int, int, int]):
        super().__init__()
        self.stages = nn.ModuleDict(stages)
        self.input_shape = tuple(input_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, H, W) -> (N, classes)
        for stage in self.stages.values():
            x = stage(x)
        return x

    def forward_features(self, x: torch.Tensor) -> "OrderedDict[str, torch.Tensor]":
        """Every stage's output in forward order, then 'logits' (the last stage's output) last."""
        feats: OrderedDict[str, torch.Tensor] = OrderedDict()
        for name, stage in self.stages.items():
            x = stage(x)
            feats[name] = x
        feats["logits"] = x
        return feats

    def conv_layers(self) -> list[str]:
        return [n for n, m in self.stages.items() if isinstance(m, nn.Conv2d)]


def trace_shapes(model: StagedNet, input_shape: tuple[int, int, int] | None = None) -> list[StageTrace]:
    """Each stage's output shape (without batch) and parameter count, computed from the settings."""
    shape = tuple(input_shape or model.input_shape)
    rows = []
    for name, module in model.stages.items():
        row = trace_stage(name, module, shape)
        rows.append(row)
        shape = row.out_shape
    return rows


def _conv_stages(cfg: ConvNetConfig) -> "OrderedDict[str, nn.Module]":
    stages: OrderedDict[str, nn.Module] = OrderedDict()
    c = cfg.input_shape[0]
    for i, spec in enumerate(cfg.convs, start=1):
        stages[f"conv{i}"] = nn.Conv2d(c, spec.out_channels, spec.kernel, padding=spec.padding)
        if spec.batchnorm:
            stages[f"bn{i}"] = nn.BatchNorm2d(spec.out_channels)
        stages[f"relu{i}"] = nn.ReLU()
        if spec.pool and spec.blur:
            stages[f"pool{i}"] = nn.MaxPool2d(2, stride=1)
            stages[f"blur{i}"] = BlurPool2d(spec.out_channels)
        elif spec.pool:
            stages[f"pool{i}"] = nn.MaxPool2d(2)
        c = spec.out_channels
    return stages


class ConvNet(StagedNet):
    """Conv blocks, flatten, fc1 -> ReLU [-> dropout] -> fc2. fc1's input size follows from the input shape."""

    def __init__(self, config: ConvNetConfig):
        stages = _conv_stages(config)
        shape = tuple(config.input_shape)
        for name, module in stages.items():  # raises ShapeError naming the layer that collapses
            shape = trace_stage(name, module, shape).out_shape
        flat = shape[0] * shape[1] * shape[2]
        n = len(config.convs) + 1
        stages["flatten"] = nn.Flatten(1)
        stages["fc1"] = nn.Linear(flat, config.fc_width)
        stages[f"relu{n}"] = nn.ReLU()
        if config.dropout:
            stages["dropout"] = nn.Dropout(config.dropout)
        stages["fc2"] = nn.Linear(config.fc_width, config.num_classes)
        super().__init__(stages, config.input_shape)
        self.config = config
        self.fc1_in_features = flat


class SeedNet(ConvNet):
    """The course's Net, for any input shape: fc1's input is the slide's TODO (256×46×71 for 3×210×310)."""

    def __init__(self, input_shape=(3, 32, 32), num_classes: int = 10):
        super().__init__(ConvNetConfig(tuple(input_shape), SEED_CONVS, 120, num_classes))


class CompactCNN(ConvNet):
    """The shipped Fashion-MNIST network (about 243k parameters)."""

    def __init__(self, input_shape=(1, 28, 28), num_classes: int = 10):
        super().__init__(ConvNetConfig(tuple(input_shape), COMPACT_CONVS, 128, num_classes, dropout=0.25))


# The same network with anti-aliased pooling (Zhang 2019): max (stride 1), binomial blur, subsample.
COMPACT_BLUR_CONVS = tuple(ConvSpec(c.out_channels, c.kernel, c.padding, c.pool, c.batchnorm, blur=True)
                           for c in COMPACT_CONVS)


class CompactBlurCNN(ConvNet):
    """CompactCNN with anti-aliased pooling (MaxPool2d(2, stride=1) -> BlurPool2d): same parameters."""

    def __init__(self, input_shape=(1, 28, 28), num_classes: int = 10):
        super().__init__(ConvNetConfig(tuple(input_shape), COMPACT_BLUR_CONVS, 128, num_classes, dropout=0.25))


class MLP(StagedNet):
    """A fully connected network of similar depth, for comparison: flatten -> 256 -> 128 -> classes."""

    def __init__(self, input_shape=(1, 28, 28), num_classes: int = 10, hidden=(256, 128)):
        c, h, w = input_shape
        stages: OrderedDict[str, nn.Module] = OrderedDict(flatten=nn.Flatten(1))
        width = c * h * w
        for i, out in enumerate(hidden, start=1):
            stages[f"fc{i}"] = nn.Linear(width, out)
            stages[f"relu{i}"] = nn.ReLU()
            width = out
        stages[f"fc{len(hidden) + 1}"] = nn.Linear(width, num_classes)
        super().__init__(stages, input_shape)
        self.hidden = tuple(hidden)


ARCHITECTURES = {
    "compact": "Compact CNN (3 conv blocks, batch norm)",
    "compact_blur": "Compact CNN with anti-aliased pooling (max, blur, subsample)",
    "seednet": "The course's Net (conv 11×11, 5×5, 3×3)",
    "mlp": "MLP (fully connected, for comparison)",
}


def build_model(arch: str, input_shape=(1, 28, 28), num_classes: int = 10, config: dict | None = None) -> StagedNet:
    """Build a fresh network by name; `config` (a ConvNetConfig dict) overrides for arch 'convnet'."""
    input_shape = tuple(input_shape)
    if arch == "compact":
        return CompactCNN(input_shape, num_classes)
    if arch == "compact_blur":
        return CompactBlurCNN(input_shape, num_classes)
    if arch == "seednet":
        return SeedNet(input_shape, num_classes)
    if arch == "mlp":
        return MLP(input_shape, num_classes)
    if arch == "convnet" and config is not None:
        return ConvNet(ConvNetConfig.from_dict(config))
    raise ModelError("err.model_unknown_arch", arch=str(arch)[:40], choices=", ".join(sorted(ARCHITECTURES)))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
