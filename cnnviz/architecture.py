"""Architecture arithmetic: shapes and parameters of a ConvNet config, the matching PyTorch code,
the fully connected comparison ("why a CNN") and receptive fields.

    python -m cnnviz.architecture 3 210 310    # the course's Net on the slide's image: fc1 gets 836,096 inputs
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cnnviz import ShapeError
from cnnviz.i18n import tr
from cnnviz.models import SEED_CONVS, ConvNetConfig, ConvSpec, StageTrace, _conv_stages, receptive_fields, trace_stage


@dataclass
class ArchTrace:
    rows: list[StageTrace]  # every stage up to the end, or up to the one that collapses
    error: str | None  # the collapse, naming the layer, with a suggestion (English; see `exception`)
    fc1_in: int | None  # the slide's TODO
    last_shape: tuple[int, int, int] | None = None  # (C, H, W) flattened into fc1
    exception: ShapeError | None = None  # the collapse as an error: exception.message(lang) in any language

    @property
    def total_params(self) -> int:
        return sum(r.params for r in self.rows)


def trace_config(config: ConvNetConfig) -> ArchTrace:
    """Trace every stage of a ConvNet config without building it, stopping at a collapse with its reason.

    The modules are made on PyTorch's "meta" device: shapes and parameter counts without memory (the
    slide's fc1 alone would be 100 million floats).
    """
    with torch.device("meta"):
        return _trace_config(config)


def _trace_config(config: ConvNetConfig) -> ArchTrace:
    rows: list[StageTrace] = []
    shape = tuple(config.input_shape)
    for name, module in _conv_stages(config).items():
        try:
            row = trace_stage(name, module, shape)
        except ShapeError as exc:
            return ArchTrace(rows, str(exc), None, exception=exc)
        rows.append(row)
        shape = row.out_shape
    shape_before_flatten = shape
    flat = shape[0] * shape[1] * shape[2]
    n = len(config.convs) + 1
    tail = [("flatten", nn.Flatten(1)), ("fc1", nn.Linear(flat, config.fc_width)), (f"relu{n}", nn.ReLU()),
            ("fc2", nn.Linear(config.fc_width, config.num_classes))]
    for name, module in tail:
        row = trace_stage(name, module, shape)
        rows.append(row)
        shape = row.out_shape
    return ArchTrace(rows, None, flat, tuple(shape_before_flatten))


def fc_equivalent(row: StageTrace) -> int:
    """Parameters of a fully connected layer mapping the same input to an output of the same size."""
    n_in = 1
    for v in row.in_shape:
        n_in *= v
    n_out = 1
    for v in row.out_shape:
        n_out *= v
    return n_in * n_out + n_out


def pytorch_code(config: ConvNetConfig, last_shape: tuple[int, int, int] | None = None, lang: str = "en") -> str:
    """The network as PyTorch code in the course's style, ready to copy (its one comment in `lang`)."""
    lines = ["import torch", "import torch.nn as nn", "import torch.nn.functional as F", "", "",
             "class Net(nn.Module):", "    def __init__(self):", "        super().__init__()"]
    c = config.input_shape[0]
    for i, spec in enumerate(config.convs, start=1):
        pad = f", padding={spec.padding}" if spec.padding else ""
        lines.append(f"        self.conv{i} = nn.Conv2d({c}, {spec.out_channels}, {spec.kernel}{pad})")
        if spec.batchnorm:
            lines.append(f"        self.bn{i} = nn.BatchNorm2d({spec.out_channels})")
        c = spec.out_channels
    if last_shape is None:
        fc1 = f"        self.fc1 = nn.Linear(___, {config.fc_width})  # TODO"
    else:
        c_, h_, w_ = last_shape
        inputs = tr(lang, "arch.code_inputs", n=c_ * h_ * w_)
        fc1 = f"        self.fc1 = nn.Linear({c_} * {h_} * {w_}, {config.fc_width})  # {inputs}"
    lines += [fc1] + ([f"        self.dropout = nn.Dropout({config.dropout:g})"] if config.dropout else []) + [
              f"        self.fc2 = nn.Linear({config.fc_width}, {config.num_classes})", "",
              "    def forward(self, x):"]
    for i, spec in enumerate(config.convs, start=1):
        relu = f"F.relu(self.bn{i}(self.conv{i}(x)))" if spec.batchnorm else f"F.relu(self.conv{i}(x))"
        lines.append(f"        x = F.max_pool2d({relu}, 2)" if spec.pool else f"        x = {relu}")
    lines += ["        x = torch.flatten(x, 1)", "        x = F.relu(self.fc1(x))",
              *(["        x = self.dropout(x)"] if config.dropout else []), "        x = self.fc2(x)",
              "        return x", "", "", "net = Net()"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- an edited layer table is input

# Allowed ranges of the editor's settings (inclusive). Anything from a browser is checked against them
# before a module is made: a rewritten websocket message can hold any value.
LIMITS = {
    "out_channels": (1, 1024),  # filters of a conv layer
    "kernel": (1, 15),
    "stride": (1, 8),
    "padding": (0, 8),
    "pool": (1, 8),  # pooling window (True means 2, False means none)
    "fc_width": (1, 8192),
    "channels": (1, 64),  # input channels
    "size": (1, 4096),  # input height and width
}
MAX_LAYERS = 16
LAYER_KINDS = ("conv",)  # the editor's table: one conv block per row
_FIELD_NAMES = {"out_channels": "@err.arch_field_filters", "kernel": "@err.arch_field_kernel",
                "stride": "@err.arch_field_stride", "padding": "@err.arch_field_padding",
                "pool": "@err.arch_field_pool", "fc_width": "@err.arch_field_fc_width",
                "channels": "@err.arch_field_channels", "size": "@err.arch_field_size"}


class LayerError(ShapeError):
    """An edited layer table that cannot describe a network (a ValueError too)."""


def _whole_number(value, field: str, row: int) -> int:
    """An integer from an editor cell (row ≥ 1) or a setting (row 0): int, numpy integer, or a float with no
    fraction; nothing else."""
    where = dict(row=row) if row else {}
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)):
        v = int(value)
    elif isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer():
        v = int(value)
    else:
        code = "err.arch_not_integer" if row else "err.arch_setting_not_integer"
        raise LayerError(code, field=_FIELD_NAMES[field], value=repr(value)[:20], **where)
    lo, hi = LIMITS[field]
    if not lo <= v <= hi:
        code = "err.arch_out_of_range" if row else "err.arch_setting_out_of_range"
        raise LayerError(code, field=_FIELD_NAMES[field], value=v, lo=lo, hi=hi, **where)
    return v


def _pool(value, row: int) -> int:
    if isinstance(value, (bool, np.bool_)):
        return 2 if value else 0
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return 0
    return _whole_number(value, "pool", row)


def validate_layers(rows, input_shape=None, fc_width=None, num_classes: int = 10) -> ConvNetConfig:
    """Check an edited layer table and return the network it describes, or raise LayerError (a
    CnnvizError and a ValueError) naming the row and the setting.

    `rows`: one conv block per row, each a mapping {"out_channels" (or "filters"), "kernel", "padding",
    "pool", optional "stride", optional "kind" ("conv")} or a tuple (out_channels, kernel, padding, pool).
    Ranges: filters 1..1024, kernel 1..15, stride 1..8 (only 1 builds: the course's blocks), padding 0..8,
    pool True/False or a window 1..8 (only 2 builds: 2×2 max-pooling), at most MAX_LAYERS rows.
    `input_shape` (C, H, W): C 1..64, H and W 1..4096 (default 3×32×32); `fc_width` 1..8192 (default 120).
    Shapes that collapse are not an error here: trace_config reports them."""
    if rows is None or isinstance(rows, (str, bytes)) or not hasattr(rows, "__iter__"):
        raise LayerError("err.arch_empty")
    rows = list(rows)
    if not rows:
        raise LayerError("err.arch_empty")
    if len(rows) > MAX_LAYERS:
        raise LayerError("err.arch_too_many", n=len(rows), max=MAX_LAYERS)
    specs = []
    for i, row in enumerate(rows, start=1):
        if isinstance(row, dict):
            cells = dict(row)
        elif isinstance(row, (tuple, list)) and len(row) == 4:
            cells = dict(zip(("out_channels", "kernel", "padding", "pool"), row))
        else:
            raise LayerError("err.arch_bad_row", row=i)
        kind = cells.pop("kind", "conv")
        if kind not in LAYER_KINDS:
            raise LayerError("err.arch_kind", row=i, kind=str(kind)[:20], kinds=", ".join(LAYER_KINDS))
        if "filters" in cells and "out_channels" not in cells:
            cells["out_channels"] = cells.pop("filters")
        unknown = set(cells) - {"out_channels", "kernel", "padding", "pool", "stride", "batchnorm"}
        if unknown or "out_channels" not in cells or "kernel" not in cells:
            raise LayerError("err.arch_bad_row", row=i)
        out = _whole_number(cells["out_channels"], "out_channels", i)
        kernel = _whole_number(cells["kernel"], "kernel", i)
        padding = _whole_number(cells.get("padding", 0), "padding", i)
        stride = _whole_number(cells.get("stride", 1), "stride", i)
        pool = _pool(cells.get("pool", False), i)
        if stride != 1:
            raise LayerError("err.arch_unsupported", row=i, field="@err.arch_field_stride", value=stride, ok=1)
        if pool not in (0, 1, 2):
            raise LayerError("err.arch_unsupported", row=i, field="@err.arch_field_pool", value=pool, ok=2)
        specs.append(ConvSpec(out, kernel, padding, pool == 2, bool(cells.get("batchnorm", False))))
    c, h, w = _input_shape(input_shape if input_shape is not None else (3, 32, 32))
    width = _whole_number(fc_width if fc_width is not None else 120, "fc_width", 0)
    return ConvNetConfig((c, h, w), tuple(specs), width, int(num_classes))


def _input_shape(shape) -> tuple[int, int, int]:
    if isinstance(shape, (str, bytes)) or not hasattr(shape, "__len__") or len(shape) != 3:
        raise LayerError("err.arch_input_shape")
    c, h, w = shape
    return _whole_number(c, "channels", 0), _whole_number(h, "size", 0), _whole_number(w, "size", 0)


def seed_config(input_shape=(3, 32, 32)) -> ConvNetConfig:
    return ConvNetConfig(tuple(input_shape), SEED_CONVS, 120, 10)


@dataclass
class ReceptiveField:
    rows: tuple[int, int]  # first and last input row (clipped to the image)
    cols: tuple[int, int]
    size: int  # the field's full extent in pixels (may reach into the padding)
    jump: int  # input pixels between two neighbouring units of the layer


def receptive_field(config: ConvNetConfig, stage: str, row: int, col: int) -> ReceptiveField:
    """Input region that unit (row, col) of `stage` depends on, from kernels, strides, paddings, dilations."""
    with torch.device("meta"):  # only the settings are read
        stages = _conv_stages(config)
    names = list(stages)
    if stage not in names:
        raise ShapeError("err.arch_not_conv_stage", stage=str(stage)[:40])
    rows, cols = receptive_fields(list(stages.values())[:names.index(stage) + 1])
    _, h, w = config.input_shape
    return ReceptiveField(rows.span(row, h), cols.span(col, w), rows.size, rows.jump)


if __name__ == "__main__":
    shape = tuple(int(v) for v in sys.argv[1:4]) if len(sys.argv) >= 4 else (3, 210, 310)
    t = trace_config(seed_config(shape))
    for r in t.rows:
        print(f"{r.name:8s} {r.kind:10s} {str(r.out_shape):18s} {r.params:>10,}  {r.formula}")
    print(t.error or f"fc1 input: {t.fc1_in:,}; total parameters {t.total_params:,}")
