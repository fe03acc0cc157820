"""Anti-aliased subsampling: blur, then keep one value in `stride` (Zhang 2019, "Making convolutional
networks shift-invariant again").

A 2×2 max-pool with stride 2 is two operations: a dense max (MaxPool2d(2, stride=1)), then a
subsampling that aliases (it keeps one value in two without low-pass filtering first). Zhang's
remedy keeps the dense max and subsamples with a `BlurPool2d`: a fixed binomial low-pass filter
([1, 2, 1] ⊗ [1, 2, 1] / 16 for size 3), applied to each channel on its own (depthwise), then stride 2.

    pool = nn.Sequential(nn.MaxPool2d(2, stride=1), BlurPool2d(channels))   # (N, C, H, W) -> (N, C, ⌈(H−1)/2⌉, ...)

Same padding and filters as the reference `antialiased_cnns.BlurPool` (reflect padding by default,
(size−1)/2 pixels before and ⌈(size−1)/2⌉ after); tests/test_remedies.py compares the two.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

PAD_MODES = ("reflect", "replicate", "zero")


def binomial_filter(size: int) -> torch.Tensor:
    """The 2-D binomial low-pass filter of side `size` (row of Pascal's triangle, outer product, sum 1)."""
    if not 1 <= size <= 7:
        raise ValueError(f"BlurPool filter size must be 1..7, got {size}")
    row = torch.tensor([math.comb(size - 1, i) for i in range(size)], dtype=torch.float64)
    kernel = torch.outer(row, row)
    return (kernel / kernel.sum()).float()  # (size, size)


class BlurPool2d(nn.Module):
    """Depthwise binomial blur then subsampling by `stride`: (N, C, H, W) -> (N, C, H', W'),
    H' = ⌊(H + 2·pad − size)/stride⌋ + 1 with pad = (size−1)/2 (odd sizes; even sizes pad one more after).

    No trainable parameter; the filter is a non-persistent buffer (not stored in checkpoints).
    `kernel_size`, `stride`, `padding` and `dilation` mirror nn.MaxPool2d's, so shape tracing treats it
    like any other pooling."""

    def __init__(self, channels: int, size: int = 3, stride: int = 2, pad_mode: str = "reflect"):
        super().__init__()
        if pad_mode not in PAD_MODES:
            raise ValueError(f"pad_mode must be one of {PAD_MODES}, got {pad_mode!r}")
        if stride < 1:
            raise ValueError(f"stride must be ≥ 1, got {stride}")
        self.channels, self.size, self.pad_mode = int(channels), int(size), pad_mode
        self.kernel_size, self.stride, self.dilation = self.size, int(stride), 1
        self.pads = ((size - 1) // 2, (size - 1) - (size - 1) // 2)  # (before, after) on each axis
        self.padding = self.pads[0]  # for shape formulas (exact for odd sizes)
        weight = binomial_filter(size)[None, None].repeat(self.channels, 1, 1, 1)  # (C, 1, size, size)
        self.register_buffer("weight", weight, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, H, W)
        before, after = self.pads
        if before or after:
            mode = "constant" if self.pad_mode == "zero" else self.pad_mode
            x = F.pad(x, (before, after, before, after), mode=mode)
        if self.size == 1:
            return x[:, :, ::self.stride, ::self.stride]
        return F.conv2d(x, self.weight.to(x.dtype), stride=self.stride, groups=self.channels)

    def extra_repr(self) -> str:
        return f"{self.channels}, size={self.size}, stride={self.stride}, pad_mode={self.pad_mode!r}"
