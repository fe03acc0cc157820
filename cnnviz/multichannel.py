"""The multi-channel screen's pieces that need no Streamlit: its input channels, the bias it reads, one cell's sum.

    x, rgb = input_channels("card", 8)          # (3, 8, 8) in [0, 1] with one decimal, and the colour image
    parse_bias("1, -0.5", 2)                    # array([ 1. , -0.5])
    products_text("fr", window, kernel, value)  # '0,3×1 + 0×-1 + … = 0,7'
    number_text("fr", 0.25)                     # '0,25'
"""

from __future__ import annotations

import numpy as np

from cnnviz.data import synthetic_rgb
from cnnviz.i18n import format_number, format_numbers
from cnnviz.ops import GridError, parse_grid

MAX_FILTERS = 4


def input_channels(source: str, size: int, seed: int = 0, rgb: np.ndarray | None = None):
    """(x (3, size, size), the colour image (size, size, 3) uint8 or None) for a source of the screen.

    "random": integers 0..3 drawn with `seed` (no colour image); "card": the colour test card; otherwise
    `rgb` (an upload or a CIFAR-10 image already resized), or the test card when there is none.
    """
    if source == "random":
        return np.random.default_rng(seed).integers(0, 4, size=(3, size, size)), None
    if rgb is None or source == "card":
        rgb = synthetic_rgb(size)
    return np.round(rgb.transpose(2, 0, 1) / 255.0, 1), rgb  # values in [0, 1], one decimal to stay readable


def parse_bias(text: str, n: int, max_n: int = MAX_FILTERS) -> np.ndarray:
    """One line of up to max_n numbers (spaces or commas between them) -> the first n of them (n ≥ 1)."""
    values = parse_grid(text, "@mc.bias_name", max_size=max_n)
    if values.shape[0] != 1:
        raise GridError("mc.err.bias_rows")
    if values.shape[1] < n:
        raise GridError("mc.err.bias_count", n=n, got=values.shape[1])
    return values[0, :n]


def number_text(lang: str, v) -> str:
    """A value the language's way, up to 3 decimals; float round-off such as -1e-17 reads as 0."""
    v = float(v)
    return format_number(lang, 0.0 if abs(v) < 1e-9 else v)


def products_text(lang: str, window: np.ndarray, kernel: np.ndarray, value: float) -> str:
    """'a×b + c×d + … = value' with the language's numbers (format_numbers: number_text's, without Babel's cost
    per number; a page shows one such line per channel on every run)."""
    a, b = (format_numbers(lang, [0.0 if abs(v) < 1e-9 else v for v in np.ravel(x).astype(float).tolist()])
            for x in (window, kernel))
    terms = " + ".join(f"{x}×{y}" for x, y in zip(a, b))
    return f"{terms} = {number_text(lang, value)}"
