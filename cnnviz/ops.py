"""Step engines: convolution, multi-channel convolution and pooling in numpy, traced step by step.

These are the point of the project, so they are written by hand and checked against
torch.nn.functional (tests/test_ops.py). Conventions are PyTorch's: a "convolution" is a
cross-correlation (the kernel is not flipped), zero padding, stride and dilation as in F.conv2d.
Integer inputs stay integer (exact results); anything else is computed in float64.

    conv2d_steps(image, kernel, stride, padding, dilation)  -> .output (H', W'), .steps
    conv2d_multi(x, weight, bias, stride, padding, dilation) -> .output (F, H', W'), .partials (F, C, H', W')
    pool2d_steps(x, size, stride, mode)                      -> .output, .steps (window, value, argmax)
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from cnnviz import ShapeError
from cnnviz.geometry import extent, output_size
from cnnviz.i18n import Msg

MAX_ABS_VALUE = 1e6  # larger grid values are refused: they only make the display unreadable


class GridError(ShapeError):
    """A grid typed by a user cannot be used; the message says which cell and why."""


def _as_array(a, name: str, ndim: int) -> np.ndarray:
    arr = np.asarray(a)
    if arr.dtype == bool:
        arr = arr.astype(np.int64)
    if arr.ndim != ndim:
        raise ShapeError("err.array_ndim", name=name, ndim=ndim, shape=str(arr.shape))
    if arr.size == 0:
        raise ShapeError("err.array_empty", name=name)
    if not np.issubdtype(arr.dtype, np.number):
        raise ShapeError("err.array_not_numbers", name=name, dtype=str(arr.dtype))
    if np.issubdtype(arr.dtype, np.integer):
        return arr.astype(np.int64)
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ShapeError("err.array_not_finite", name=name)
    return arr


def _check_settings(stride: int, padding: int, dilation: int) -> None:
    for name, v, lo in (("@setting.stride", stride, 1), ("@setting.padding", padding, 0),
                        ("@setting.dilation", dilation, 1)):
        if not isinstance(v, (int, np.integer)) or v < lo:
            raise ShapeError("err.setting_whole_number", name=name, lo=lo, value=repr(v))


def _window_index(n_in: int, k: int, stride: int, dilation: int) -> np.ndarray:
    """(n_out, k) indices into the padded input: row i of the result holds window i's positions."""
    n_out = output_size(n_in, k, stride, 0, dilation)
    return np.arange(n_out)[:, None] * stride + np.arange(k)[None, :] * dilation


def _windows(padded: np.ndarray, kh: int, kw: int, stride: int, dilation: int) -> np.ndarray:
    """(..., H, W) padded input -> (..., H', W', kh, kw): every window, dilation applied."""
    rows = _window_index(padded.shape[-2], kh, stride, dilation)  # (H', kh)
    cols = _window_index(padded.shape[-1], kw, stride, dilation)  # (W', kw)
    return padded[..., rows[:, None, :, None], cols[None, :, None, :]]


def _check_fits(h: int, w: int, kh: int, kw: int, stride: int, padding: int, dilation: int) -> None:
    eh, ew = extent(kh, dilation), extent(kw, dilation)  # the kernel's span once dilated
    if eh > h + 2 * padding or ew > w + 2 * padding:
        raise ShapeError("err.kernel_too_large", eh=eh, ew=ew, kh=kh, kw=kw, dilation=dilation,
                         ph=h + 2 * padding, pw=w + 2 * padding)


@dataclass
class ConvStep:
    """One output cell of a 2-D convolution."""

    index: int  # raster order
    out_row: int
    out_col: int
    row: int  # top-left of the window in padded-input coordinates
    col: int
    rows: np.ndarray  # (kh,) padded-input rows the kernel touches (dilation applied)
    cols: np.ndarray  # (kw,)
    window: np.ndarray  # (kh, kw) input values under the kernel
    products: np.ndarray  # (kh, kw) window * kernel
    value: float  # products.sum()


@dataclass
class ConvTrace:
    output: np.ndarray  # (H', W')
    steps: list[ConvStep]
    padded: np.ndarray  # (H + 2p, W + 2p) the input with its zero border
    kernel: np.ndarray
    stride: int
    padding: int
    dilation: int

    def products_text(self, step: ConvStep) -> str:
        """'1×1 + 1×0 + 1×1 + ... = 4': input value × kernel weight for each position, then the sum."""
        terms = [f"{plain_number(a)}×{plain_number(b)}" for a, b in zip(step.window.ravel(), self.kernel.ravel())]
        return " + ".join(terms) + f" = {plain_number(step.value)}"


def conv2d_steps(image, kernel, stride: int = 1, padding: int = 0, dilation: int = 1) -> ConvTrace:
    """Cross-correlate a 2-D image (H, W) with a kernel (kh, kw), keeping every step (as F.conv2d)."""
    image, kernel = _as_array(image, "image", 2), _as_array(kernel, "kernel", 2)
    _check_settings(stride, padding, dilation)
    (h, w), (kh, kw) = image.shape, kernel.shape
    _check_fits(h, w, kh, kw, stride, padding, dilation)
    padded = np.pad(image, padding)  # zeros around
    windows = _windows(padded, kh, kw, stride, dilation)  # (H', W', kh, kw)
    products = windows * kernel  # (H', W', kh, kw)
    output = products.sum(axis=(-2, -1))  # (H', W')
    rows = _window_index(padded.shape[0], kh, stride, dilation)
    cols = _window_index(padded.shape[1], kw, stride, dilation)
    steps = [
        ConvStep(i * output.shape[1] + j, i, j, int(rows[i, 0]), int(cols[j, 0]), rows[i], cols[j],
                 windows[i, j], products[i, j], output[i, j].item())
        for i in range(output.shape[0]) for j in range(output.shape[1])
    ]
    return ConvTrace(output, steps, padded, kernel, stride, padding, dilation)


def conv2d(image, kernel, stride: int = 1, padding: int = 0, dilation: int = 1) -> np.ndarray:
    """The output alone, for a large image (no steps kept)."""
    image, kernel = _as_array(image, "image", 2), _as_array(kernel, "kernel", 2)
    _check_settings(stride, padding, dilation)
    _check_fits(*image.shape, *kernel.shape, stride, padding, dilation)
    windows = _windows(np.pad(image, padding), *kernel.shape, stride, dilation)
    return np.einsum("hwij,ij->hw", windows, kernel)


@dataclass
class ChannelTerm:
    """One input channel's share of one output cell: its window, its kernel slice and their dot product."""

    channel: int
    window: np.ndarray  # (kh, kw)
    kernel: np.ndarray  # (kh, kw)
    products: np.ndarray  # (kh, kw)
    value: float


@dataclass
class MultiConvTrace:
    output: np.ndarray  # (F, H', W')
    partials: np.ndarray  # (F, C, H', W'): each input channel's contribution before the sum
    bias: np.ndarray  # (F,)
    weight: np.ndarray  # (F, C, kh, kw)
    padded: np.ndarray  # (C, H + 2p, W + 2p)
    windows: np.ndarray  # (C, H', W', kh, kw)
    stride: int
    padding: int
    dilation: int

    def cell(self, f: int, i: int, j: int) -> tuple[list[ChannelTerm], float]:
        """The C per-channel dot products of output cell (f, i, j) and the total (with the bias)."""
        terms = []
        for c in range(self.weight.shape[1]):
            win, ker = self.windows[c, i, j], self.weight[f, c]
            terms.append(ChannelTerm(c, win, ker, win * ker, self.partials[f, c, i, j].item()))
        return terms, self.output[f, i, j].item()

    @property
    def parameter_count(self) -> int:
        f, c, kh, kw = self.weight.shape
        return f * c * kh * kw + f


def conv2d_multi(x, weight, bias=None, stride: int = 1, padding: int = 0, dilation: int = 1) -> MultiConvTrace:
    """x (C, H, W), weight (F, C, kh, kw), bias (F,) or None -> output (F, H', W') and partials (F, C, H', W')."""
    x, weight = _as_array(x, "input", 3), _as_array(weight, "weight", 4)
    _check_settings(stride, padding, dilation)
    (c, h, w), (f, cw, kh, kw) = x.shape, weight.shape
    if cw != c:
        raise ShapeError("err.filter_channels", cw=cw, c=c)
    bias = np.zeros(f, dtype=weight.dtype) if bias is None else _as_array(bias, "bias", 1)
    if bias.shape != (f,):
        raise ShapeError("err.bias_shape", f=f, shape=str(bias.shape))
    _check_fits(h, w, kh, kw, stride, padding, dilation)
    padded = np.pad(x, ((0, 0), (padding, padding), (padding, padding)))
    windows = _windows(padded, kh, kw, stride, dilation)  # (C, H', W', kh, kw)
    partials = np.einsum("chwij,fcij->fchw", windows, weight)  # (F, C, H', W')
    output = partials.sum(axis=1) + bias[:, None, None]  # (F, H', W')
    return MultiConvTrace(output, partials, bias, weight, padded, windows, stride, padding, dilation)


POOL_MODES = ("max", "avg")  # ids; their labels are the catalogue's "pool.mode.<id>"
_POOL_MODE_ALIASES = {"average": "avg", "mean": "avg", "maximum": "max"}  # other names callers may use


@dataclass
class PoolStep:
    index: int
    out_row: int
    out_col: int
    row: int  # top-left of the window in input coordinates
    col: int
    window: np.ndarray  # (size, size)
    value: float
    argmax: tuple[int, int] | None  # (row, col) of the max in input coordinates; None for average


@dataclass
class PoolTrace:
    output: np.ndarray  # (H', W')
    steps: list[PoolStep]
    size: int
    stride: int
    mode: str


def pool2d_steps(x, size: int = 2, stride: int | None = None, mode: str = "max") -> PoolTrace:
    """Max or average pooling of a 2-D array (H, W), keeping every window (as F.max_pool2d / avg_pool2d)."""
    x = _as_array(x, "input", 2)
    stride = size if stride is None else stride
    mode = _POOL_MODE_ALIASES.get(mode, mode)
    if mode not in POOL_MODES:
        raise ShapeError("err.pool_mode", mode=repr(mode))
    _check_settings(stride, 0, 1)
    _check_settings(size, 0, 1)
    if size > min(x.shape):
        raise ShapeError("err.pool_too_large", size=size, h=x.shape[0], w=x.shape[1])
    windows = _windows(x, size, size, stride, 1)  # (H', W', size, size)
    flat = windows.reshape(*windows.shape[:2], -1)
    if mode == "max":
        output = flat.max(axis=-1)
        first_max = flat.argmax(axis=-1)  # the first maximum in raster order, as torch
    else:
        output = flat.astype(np.float64).mean(axis=-1)
    steps = []
    for i in range(output.shape[0]):
        for j in range(output.shape[1]):
            r, c = i * stride, j * stride
            arg = None
            if mode == "max":
                a = int(first_max[i, j])
                arg = (r + a // size, c + a % size)
            steps.append(PoolStep(i * output.shape[1] + j, i, j, r, c, windows[i, j], output[i, j].item(), arg))
    return PoolTrace(output, steps, size, stride, mode)


def pool2d(x: np.ndarray, size: int = 2, stride: int | None = None, mode: str = "max") -> np.ndarray:
    """Pooling over the last two axes of (..., H, W), no steps kept (for real images and feature maps)."""
    x = np.asarray(x, dtype=np.float64)
    stride = size if stride is None else stride
    mode = _POOL_MODE_ALIASES.get(mode, mode)
    _check_settings(stride, 0, 1)
    if size < 1 or size > min(x.shape[-2:]):
        raise ShapeError("err.pool_too_large", size=size, h=x.shape[-2], w=x.shape[-1])
    windows = _windows(x, size, size, stride, 1)
    return windows.max(axis=(-2, -1)) if mode == "max" else windows.mean(axis=(-2, -1))


# ---------------------------------------------------------------- grids typed by a user

_SPLIT = re.compile(r"[,\s;]+")


def parse_grid(text: str, name: str = "grid", max_size: int = 12) -> np.ndarray:
    """Rows of numbers (spaces, commas or semicolons between them) -> 2-D array; GridError says what is wrong."""
    lines = [ln.strip() for ln in (text or "").strip().splitlines() if ln.strip()]
    if not lines:
        raise GridError("err.grid_empty", name=name)
    rows = []
    for r, line in enumerate(lines, start=1):
        cells = [c for c in _SPLIT.split(line.strip("[] ")) if c.strip("[]")]
        row = []
        for c, cell in enumerate(cells, start=1):
            cell = cell.strip("[]")
            try:
                value = float(cell)
            except ValueError:
                raise GridError("err.grid_not_number", name=name, row=r, col=c, cell=cell[:20]) from None
            if not math.isfinite(value):
                raise GridError("err.grid_not_finite", name=name, row=r, col=c, cell=cell[:20])
            if abs(value) > MAX_ABS_VALUE:
                raise GridError("err.grid_too_large_value", name=name, row=r, col=c, cell=cell[:20], limit=MAX_ABS_VALUE)
            row.append(value)
        rows.append(row)
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise GridError("err.grid_ragged", name=name, widths=", ".join(map(str, sorted(widths))))
    if len(rows) > max_size or len(rows[0]) > max_size:
        raise GridError("err.grid_too_big", name=name, h=len(rows), w=len(rows[0]), max=max_size)
    arr = np.array(rows)
    return arr.astype(np.int64) if np.all(arr == np.round(arr)) else arr


def format_grid(a: np.ndarray) -> str:
    return "\n".join(" ".join(plain_number(v) for v in row) for row in np.asarray(a))


def plain_number(v) -> str:
    """A grid value as text, the same in every language (what `parse_grid` reads back; a screen's numbers in the
    reader's language are cnnviz.i18n.format_number's): whole numbers without a decimal point, others with up
    to 3 significant decimals."""
    v = float(v)
    if abs(v) < 1e-9:  # float round-off such as 2.8e-17 reads as 0
        return "0"
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return f"{v:.3g}" if abs(v) < 1e-2 or abs(v) >= 1e4 else f"{v:.3f}".rstrip("0").rstrip(".")


# ---------------------------------------------------------------- kernel presets

KERNEL_PRESETS = (  # ids; their labels are the catalogue's "preset.<id>"
    "seed", "identity", "box_blur", "gaussian_blur", "sharpen", "sobel_x", "sobel_y",
    "laplacian", "outline", "emboss", "random",
)


def kernel_preset(name: str, size: int = 3, seed: int = 0) -> np.ndarray:
    """A named kernel. identity, box blur, Gaussian blur and random take any odd or even size; the others are 3×3."""
    if name == "identity":
        k = np.zeros((size, size), dtype=np.int64)
        k[size // 2, size // 2] = 1
        return k
    if name == "box_blur":
        return np.full((size, size), 1.0 / size**2)
    if name == "gaussian_blur":
        row = np.array([math.comb(size - 1, i) for i in range(size)], dtype=np.float64)  # binomial ≈ Gaussian
        k = np.outer(row, row)
        return k / k.sum()
    if name == "random":
        return np.random.default_rng(seed).integers(-2, 3, size=(size, size))
    fixed = {
        "seed": [[1, 0, 1], [0, 1, 0], [1, 0, 1]],
        "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
        "sobel_x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
        "sobel_y": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
        "laplacian": [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
        "outline": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
        "emboss": [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]],
    }
    if name not in fixed:
        raise ValueError(f"unknown kernel preset {name!r}; choose one of {KERNEL_PRESETS}")  # a programming error
    return np.array(fixed[name], dtype=np.int64)


SEED_IMAGE = np.array([[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]])
SEED_KERNEL = kernel_preset("seed")
SEED_OUTPUT = np.array([[4, 3, 4], [2, 4, 3], [2, 3, 4]])
SEED_POOL_INPUT = np.array([[12, 20, 30, 0], [8, 12, 2, 0], [34, 70, 37, 4], [112, 100, 25, 12]])
SEED_POOL_OUTPUT = np.array([[20, 30], [112, 37]])


# ---------------------------------------------------------------- multi-channel examples

FILTER_PRESETS = ("random", "pickers", "edges")  # filter_bank's ids; labels: the catalogue's "filters.<id>"


def filter_bank(preset: str, n_filters: int, channels: int, size: int, seed: int = 0) -> np.ndarray:
    """(F, C, k, k) example filters: 'random' integers, 'pickers' (filter f sums channel f % C),
    or 'edges' (Sobel x / Sobel y / Laplacian applied to every channel)."""
    if preset == "random":
        return np.random.default_rng(seed).integers(-1, 2, size=(n_filters, channels, size, size))
    w = np.zeros((n_filters, channels, size, size), dtype=np.int64)
    if preset == "pickers":
        for f in range(n_filters):
            w[f, f % channels] = 1
        return w
    if preset == "edges":
        if size != 3:
            raise ShapeError("err.edges_size")
        bank = [kernel_preset(n) for n in ("sobel_x", "sobel_y", "laplacian", "outline")]
        for f in range(n_filters):
            w[f, :] = bank[f % len(bank)]
        return w
    raise ValueError(f"unknown filter preset {preset!r}")  # a programming error


def parse_filters(texts: list[str], channels: int, size_limit: int = 5) -> np.ndarray:
    """One text per filter, its C kernels separated by blank lines -> (F, C, k, k)."""
    filters = []
    for f, text in enumerate(texts, start=1):
        blocks = [b for b in re.split(r"\n\s*\n", (text or "").strip()) if b.strip()]
        if len(blocks) != channels:
            raise GridError("err.filter_kernel_count", f=f, channels=channels, n=len(blocks))
        kernels = [parse_grid(b, Msg("grid.filter_channel", f=f, c=c), max_size=size_limit) for c, b in enumerate(blocks, 1)]
        if len({k.shape for k in kernels}) != 1 or kernels[0].shape[0] != kernels[0].shape[1]:
            raise GridError("err.filter_not_square", f=f)
        filters.append(np.stack(kernels))
    if len({f.shape for f in filters}) != 1:
        raise GridError("err.filters_sizes")
    return np.stack(filters)


def format_filter(weight: np.ndarray) -> str:
    """(C, k, k) -> the text parse_filters reads back."""
    return "\n\n".join(format_grid(k) for k in weight)
