"""Architecture arithmetic: shapes and parameters of a ConvNet config, the matching PyTorch code,
the fully connected comparison ("why a CNN") and receptive fields.

    python -m cnnviz.architecture 3 210 310    # the course's Net on the slide's image: fc1 gets 836,096 inputs
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

import torch
from torch import nn

from cnnviz import ShapeError
from cnnviz.models import SEED_CONVS, ConvNetConfig, StageTrace, _conv_stages, _pair, trace_stage


@dataclass
class ArchTrace:
    rows: list[StageTrace]  # every stage up to the end, or up to the one that collapses
    error: str | None  # the collapse, naming the layer, with a suggestion
    fc1_in: int | None  # the slide's TODO
    last_shape: tuple[int, int, int] | None = None  # (C, H, W) flattened into fc1

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
            return ArchTrace(rows, str(exc), None)
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


def pytorch_code(config: ConvNetConfig, last_shape: tuple[int, int, int] | None = None) -> str:
    """The network as PyTorch code in the course's style, ready to copy."""
    lines = ["import torch", "import torch.nn as nn", "import torch.nn.functional as F", "", "",
             "class Net(nn.Module):", "    def __init__(self):", "        super().__init__()"]
    c = config.input_shape[0]
    for i, spec in enumerate(config.convs, start=1):
        pad = f", padding={spec.padding}" if spec.padding else ""
        lines.append(f"        self.conv{i} = nn.Conv2d({c}, {spec.out_channels}, {spec.kernel}{pad})")
        c = spec.out_channels
    if last_shape is None:
        fc1 = f"        self.fc1 = nn.Linear(___, {config.fc_width})  # TODO"
    else:
        c_, h_, w_ = last_shape
        fc1 = f"        self.fc1 = nn.Linear({c_} * {h_} * {w_}, {config.fc_width})  # {c_ * h_ * w_:,} inputs"
    lines += [fc1,
              f"        self.fc2 = nn.Linear({config.fc_width}, {config.num_classes})", "",
              "    def forward(self, x):"]
    for i, spec in enumerate(config.convs, start=1):
        relu = f"F.relu(self.conv{i}(x))"
        lines.append(f"        x = F.max_pool2d({relu}, 2)" if spec.pool else f"        x = {relu}")
    lines += ["        x = torch.flatten(x, 1)", "        x = F.relu(self.fc1(x))", "        x = self.fc2(x)",
              "        return x", "", "", "net = Net()"]
    return "\n".join(lines) + "\n"


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
        raise ValueError(f"{stage} is not a convolutional stage of this network")
    chain = [stages[n] for n in names[:names.index(stage) + 1]]
    r0, r1, c0, c1 = row, row, col, col
    jump = 1
    for m in reversed(chain):
        if isinstance(m, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            k, s, p, d = (_pair(v)[0] for v in (m.kernel_size, m.stride, m.padding, getattr(m, "dilation", 1)))
            # output cells a..b read input cells a*s - p .. b*s - p + d(k-1)
            r0, r1 = r0 * s - p, r1 * s - p + d * (k - 1)
            c0, c1 = c0 * s - p, c1 * s - p + d * (k - 1)
            jump *= s
    _, h, w = config.input_shape
    return ReceptiveField((max(0, r0), min(h - 1, r1)), (max(0, c0), min(w - 1, c1)), r1 - r0 + 1, jump)


if __name__ == "__main__":
    shape = tuple(int(v) for v in sys.argv[1:4]) if len(sys.argv) >= 4 else (3, 210, 310)
    t = trace_config(seed_config(shape))
    for r in t.rows:
        print(f"{r.name:8s} {r.kind:10s} {str(r.out_shape):18s} {r.params:>10,}  {r.formula}")
    print(t.error or f"fc1 input: {t.fc1_in:,}; total parameters {t.total_params:,}")
