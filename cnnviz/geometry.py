"""The geometry of a sliding window — kernel k, stride s, padding p, dilation d — written once.

Every shape and receptive field of the app follows from these few formulas (PyTorch's conventions, as
torch.nn.Conv2d and MaxPool2d); the step engines, the networks' shape tracing, the Architecture screen, the
explanations and the exercises all read them from here. Plain integers, no torch: tests/test_geometry.py
compares every formula with the shapes and gradients of real torch layers.

    pair(3) -> (3, 3)                                   a setting as (rows, cols)
    extent(k, dilation=1) -> d(k − 1) + 1               the input span of one window
    output_size(n, k, stride=1, padding=0, dilation=1)  ⌊(n + 2p − d(k − 1) − 1) / s⌋ + 1
    same_padding(k, dilation=1) -> d(k − 1) // 2        the padding (before) that keeps the size at stride 1
    window_of(module) -> Window                         a conv or pooling layer's settings, as pairs
    receptive_field([(k, s, p, d), ...]) -> Field       what one unit sees, through a chain of layers

    python -m cnnviz.geometry 11,1,0,1 2,2,0,1 5,1,0,1   # the receptive field of the course's conv2
"""

from __future__ import annotations

import operator
import sys
from dataclasses import dataclass


def pair(v) -> tuple[int, int]:
    """A setting as (rows, cols): 3 -> (3, 3), (3, 5) -> (3, 5), as PyTorch's layers take them."""
    try:
        n = operator.index(v)
    except TypeError:
        rows, cols = v
        return operator.index(rows), operator.index(cols)
    return n, n


def extent(k: int, dilation: int = 1) -> int:
    """How many input cells one window spans along an axis: d(k − 1) + 1 (k when not dilated)."""
    return dilation * (k - 1) + 1


def output_size(n: int, k: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """The length of a convolution's or pooling's output along an axis of length n:
    ⌊(n + 2p − d(k − 1) − 1) / s⌋ + 1. Below 1 the window does not fit (the layer collapses)."""
    return (n + 2 * padding - extent(k, dilation)) // stride + 1


def same_padding(k: int, dilation: int = 1) -> int:
    """The padding before the first cell that PyTorch's padding="same" uses: d(k − 1) // 2.

    At stride 1 it keeps the size (output_size(n, k, 1, p, d) == n) when d(k − 1) is even; otherwise PyTorch
    pads one more cell after the last, which output_size's symmetric p does not describe."""
    return dilation * (k - 1) // 2


@dataclass(frozen=True)
class Window:
    """A conv or pooling layer's settings on both axes, (rows, cols) each, padding as numbers of cells."""

    kernel: tuple[int, int]
    stride: tuple[int, int]
    padding: tuple[int, int]  # cells added before the first (and after the last, plus `extra`)
    dilation: tuple[int, int]
    extra: tuple[int, int] = (0, 0)  # one more cell after the last: "same" with an even span, an even BlurPool2d

    def axis(self, i: int) -> tuple[int, int, int, int]:
        """(k, stride, padding, dilation) along axis i (0: rows, 1: cols): one layer of `receptive_field`."""
        return self.kernel[i], self.stride[i], self.padding[i], self.dilation[i]

    def output_size(self, i: int, n: int) -> int:
        """The output length along axis i of an input of length n (`output_size`, with the extra padding)."""
        return output_size(n + self.extra[i], *self.axis(i))


def window_of(module) -> Window:
    """The settings of a layer with `kernel_size` (Conv2d, MaxPool2d, AvgPool2d, BlurPool2d), read as PyTorch
    does: stride None means the kernel size (pooling), no `dilation` means 1, padding "valid" is 0 and "same"
    is `same_padding` before the first cell, the rest of d(k − 1) after the last; a BlurPool2d's `pads` are
    (before, after)."""
    k = pair(module.kernel_size)
    stride = getattr(module, "stride", None)
    s = k if stride is None else pair(stride)
    d = pair(getattr(module, "dilation", 1))
    padding = getattr(module, "padding", 0)
    extra = (0, 0)
    if padding == "valid":
        p = (0, 0)
    elif padding == "same":
        p = (same_padding(k[0], d[0]), same_padding(k[1], d[1]))
        extra = tuple((extent(k[i], d[i]) - 1) % 2 for i in range(2))
    elif hasattr(module, "pads"):  # BlurPool2d: (before, after), the same on both axes
        before, after = module.pads
        p, extra = (before, before), (after - before, after - before)
    else:
        p = pair(padding)
    return Window(k, s, p, d, extra)


@dataclass(frozen=True)
class Field:
    """What the units of a layer see of the input, along one axis.

    Unit i reads the input cells start + i·jump … start + i·jump + size − 1: a window of `size` cells (padding
    included), `jump` cells further for each next unit; `start` < 0 when the first unit's window begins in the
    padding."""

    size: int
    jump: int
    start: int

    def span(self, i: int, n: int | None = None) -> tuple[int, int]:
        """(first, last) input cell unit i reads, inclusive; clipped to an input of length n when given."""
        first = self.start + i * self.jump
        last = first + self.size - 1
        if n is None:
            return first, last
        return max(0, first), min(n - 1, last)


def receptive_field(layers) -> Field:
    """The receptive field through a chain of layers, each (k, stride, padding, dilation) along one axis, from
    the input up (layers without a window — ReLU, batch norm — are left out: they keep the positions).

    Each layer widens what a unit sees by d(k − 1) of its own input's cells, that is d(k − 1)·jump input
    cells, multiplies the jump by its stride and moves the start back by its padding (p·jump):

        size = 1 + Σ d_l (k_l − 1) · jump_(l−1),    jump_l = s_1 ⋯ s_l,    start = −Σ p_l · jump_(l−1)

    No layer: the unit is the input cell itself (size 1, jump 1, start 0)."""
    size, jump, start = 1, 1, 0
    for k, stride, padding, dilation in layers:
        size += (extent(k, dilation) - 1) * jump
        start -= padding * jump
        jump *= stride
    return Field(size, jump, start)


if __name__ == "__main__":
    chain = [tuple(int(v) for v in arg.split(",")) for arg in sys.argv[1:]] or [(11, 1, 0, 1), (2, 2, 0, 1)]
    field = receptive_field(chain)
    print(f"layers (k, stride, padding, dilation): {chain}")
    print(f"receptive field {field.size} px, jump {field.jump} px, unit 0 reads {field.span(0)}")
