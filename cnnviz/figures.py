"""Plotly figure builders: annotated grids, convolution and pooling steps (with in-browser animation),
images with a colour bar, feature-map mosaics, probabilities, loss curves, confusion matrices.

Every builder takes numpy arrays or traces from `cnnviz.ops` and returns a `go.Figure`; none knows
about Streamlit, so each is tested by reading the figure's data.
"""

from __future__ import annotations

import base64
import io
import math
from functools import lru_cache

import numpy as np
import plotly.colors as pcolors
import plotly.graph_objects as go

from cnnviz.curves import MAX_POINTS, downsample_curve
from cnnviz.figstyle import STACKABLE, stackable
from cnnviz.i18n import format_number, format_numbers, format_power, tr
from cnnviz.ops import ConvTrace, PoolTrace, plain_number

WINDOW_COLOR = "#e4572e"  # the kernel's window on the input
CURRENT_COLOR = "#17bebb"  # the output cell being computed
PADDING_FILL = "rgba(160,160,160,0.35)"
DIVERGING = "RdBu_r"  # signed values (kernels, feature maps before ReLU): 0 is white
SEQUENTIAL = "Viridis"
# Curves told apart without colour too (a deuteranope sees two of three hues alike): a marker and a dash each.
SYMBOLS = ("circle", "square", "diamond", "triangle-up", "x", "star", "cross", "triangle-down")
DASHES = ("solid", "dash", "dot", "dashdot", "longdash", "longdashdot")


def _text(values: np.ndarray, lang: str = "en") -> list[list[str]]:
    """Cell texts in the reader's language: whole numbers as they are, others with up to 3 decimals (3
    significant digits below 0.01 and from 10 000), empty for NaN."""
    values = np.asarray(values, dtype=np.float64)
    flat = values.ravel()
    texts = format_numbers(lang, np.where(np.isfinite(flat), flat, 0.0))
    for i, v in enumerate(flat):
        if not math.isfinite(v):
            texts[i] = ""
        elif abs(v) < 1e-9:  # float round-off such as 2.8e-17 reads as 0
            texts[i] = "0"
        elif v != int(v) and (abs(v) < 1e-2 or abs(v) >= 1e4):
            texts[i] = (format_number(lang, float(plain_number(v))) if abs(v) >= 1e4 else
                        format_number(lang, v, ".3g") if abs(v) >= 1e-4 else format_power(lang, v, 3))
    return np.array(texts, dtype=object).reshape(values.shape).tolist()


def _cell_rect(r0: int, c0: int, r1: int, c1: int, color: str, xref="x", yref="y", width=3) -> dict:
    """A rectangle around cells r0..r1, c0..c1 (inclusive) of a heatmap drawn with y reversed."""
    return dict(type="rect", x0=c0 - 0.5, x1=c1 + 0.5, y0=r0 - 0.5, y1=r1 + 0.5, xref=xref, yref=yref,
                line=dict(color=color, width=width), fillcolor="rgba(0,0,0,0)")


def _row_layout(titles: list[str], widths: list[float] | None = None, spacing: float = 0.04,
                ticks: bool = True) -> dict:
    """The layout of len(titles) side-by-side square grid axes (x, x2, ...), rows downwards.

    Figures are built as one dict (layout and traces) and validated once: make_subplots, per-axis updates
    and add_trace each validate again (a step figure went from ~30 to ~8 ms).
    """
    n = len(titles)
    widths = np.asarray(widths if widths is not None else [1.0] * n, dtype=float)
    free = 1.0 - spacing * (n - 1)
    edges = np.concatenate([[0.0], np.cumsum(widths / widths.sum() * free)])
    layout: dict = {"annotations": []}
    for i in range(n):
        x0, x1 = edges[i] + spacing * i, edges[i + 1] + spacing * i
        suffix = "" if i == 0 else str(i + 1)
        layout[f"xaxis{suffix}"] = dict(domain=[x0, min(1.0, x1)], anchor=f"y{suffix}", showgrid=False,
                                        zeroline=False, constrain="domain", dtick=1, showticklabels=ticks)
        layout[f"yaxis{suffix}"] = dict(domain=[0.0, 1.0], anchor=f"x{suffix}", autorange="reversed",
                                        scaleanchor=f"x{suffix}", constrain="domain", showgrid=False,
                                        zeroline=False, dtick=1, showticklabels=ticks)
        layout["annotations"].append(dict(text=titles[i], x=(x0 + x1) / 2, y=1.0, xref="paper", yref="paper",
                                          xanchor="center", yanchor="bottom", showarrow=False,
                                          font=dict(size=14)))
    return stackable(layout)  # a phone shows the grids one under the other (cnnviz.figstyle)


def _on(trace: dict, col: int) -> dict:
    """The trace placed on the col-th grid (1-based) of a _row_layout."""
    suffix = "" if col == 1 else str(col)
    return {**trace, "xaxis": f"x{suffix}", "yaxis": f"y{suffix}"}


def _grid_heatmap(values: np.ndarray, colorscale=SEQUENTIAL, zmin=None, zmax=None, show_text=True,
                  name: str = "", showscale=False, text=None, lang: str = "en") -> dict:
    values = np.asarray(values, dtype=np.float64)
    return dict(
        type="heatmap", z=values, text=(text if text is not None else _text(values, lang)) if show_text else None,
        texttemplate="%{text}" if show_text else None, textfont=dict(size=14),
        colorscale=colorscale, zmin=zmin, zmax=zmax, showscale=showscale, name=name,
        hovertemplate=tr(lang, "fig.cell_hover", name=name) + "<extra></extra>", xgap=2, ygap=2,
    )


# ---------------------------------------------------------------- convolution, step by step

MAX_FRAMES = 400  # an animation carries at most this many frames (the screen's largest: 18 × 18 = 324 steps)


def _typed(a, dtype: str = "f4") -> dict:
    """A numpy array as plotly.js's typed-array JSON (what plotly.py itself writes for numpy data)."""
    a = np.ascontiguousarray(a, dtype=dtype)
    spec = {"dtype": dtype, "bdata": base64.b64encode(a.tobytes()).decode("ascii")}
    if a.ndim > 1:
        spec["shape"] = str(a.shape)[1:-1]
    return spec


class _LeanFigure(go.Figure):
    """A go.Figure whose animation frames and slider steps are kept as plain, already-encoded dicts.

    Plotly validates and deep-copies every frame (about 3 ms each): 324 frames cost seconds of server time.
    Here they are written once as the JSON plotly.js reads and joined in `to_dict()`, which is what
    `st.plotly_chart`, `plotly.io.to_json` and pickling use. Reading `fig.frames` still gives go.Frame
    objects (validated then, on demand).
    """

    def __init__(self, data=None, *args, plain: dict | None = None, **kwargs):
        if isinstance(data, dict) and ("frames" in data or plain is None):  # from to_dict(): a copy, unpickling
            data = dict(data)
            layout = dict(data.get("layout") or {})
            plain = {"frames": data.pop("frames", []), "sliders": layout.pop("sliders", [])}
            data["layout"] = layout
        super().__init__(data, *args, **kwargs)
        self._plain = plain or {"frames": [], "sliders": []}

    @classmethod
    def adopt(cls, fig: go.Figure, frames: list[dict], sliders: list[dict]) -> "_LeanFigure":
        """`fig` itself turned into a _LeanFigure (no copy: copying a figure validates it all again)."""
        fig.__class__ = cls
        fig._plain = {"frames": frames, "sliders": sliders}
        return fig

    @property
    def frames(self):
        return tuple(go.Frame(f) for f in self._plain["frames"])

    @frames.setter
    def frames(self, value):
        self._plain["frames"] = [f.to_plotly_json() if hasattr(f, "to_plotly_json") else dict(f) for f in value]

    def to_dict(self) -> dict:
        res = super().to_dict()
        if self._plain["frames"]:
            res["frames"] = list(self._plain["frames"])
        if self._plain["sliders"]:
            res["layout"]["sliders"] = list(self._plain["sliders"])
        return res


def _rect_path(r0: int, c0: int, r1: int, c1: int) -> tuple[list, list]:
    """A closed outline around cells r0..r1, c0..c1 (inclusive): x, y of a line trace (NaN ends it)."""
    x0, x1, y0, y1 = c0 - 0.5, c1 + 0.5, r0 - 0.5, r1 + 0.5
    return [x0, x1, x1, x0, x0, np.nan], [y0, y0, y1, y1, y0, np.nan]


def _window_path(rows, cols) -> tuple[list, list]:
    """The window's cells outlined as one line trace: a grid of kh + kw + 2 lines when the cells touch
    (dilation 1), else one square per cell."""
    rows, cols = [int(r) for r in rows], [int(c) for c in cols]
    xs: list = []
    ys: list = []
    if rows[-1] - rows[0] == len(rows) - 1 and cols[-1] - cols[0] == len(cols) - 1:
        top, bottom, left, right = rows[0] - 0.5, rows[-1] + 0.5, cols[0] - 0.5, cols[-1] + 0.5
        for c in range(cols[0], cols[-1] + 2):
            xs += [c - 0.5, c - 0.5, np.nan]
            ys += [top, bottom, np.nan]
        for r in range(rows[0], rows[-1] + 2):
            xs += [left, right, np.nan]
            ys += [r - 0.5, r - 0.5, np.nan]
        return xs, ys
    for r in rows:
        for c in cols:
            x, y = _rect_path(r, c, r, c)
            xs += x
            ys += y
    return xs, ys


def _conv_frame(trace: ConvTrace, k: int):
    """What changes at step k: the output so far (its rows 0..row of step k, the cells after step k NaN),
    the window's outline on the padded input (x, y), the output cell's outline (x, y)."""
    step = trace.steps[k]
    partial = trace.output[:step.out_row + 1].astype(np.float64)
    partial[step.out_row, step.out_col + 1:] = np.nan
    return (partial, _window_path(step.rows, step.cols),
            _rect_path(step.out_row, step.out_col, step.out_row, step.out_col))


def conv_step_figure(trace: ConvTrace, k: int = 0, animate: bool = False, height: int = 380,
                     lang: str = "en") -> go.Figure:
    """Padded input with the window of step k outlined, the kernel, the output filled up to step k.

    With `animate`, the figure carries one frame per step (at most MAX_FRAMES, evenly spread) and Play /
    Pause buttons: the animation runs in the browser, with no round trip to the server. A frame holds only
    what changes: the output so far (float32, its rows up to that step), the window's outline and the output
    cell's outline. The zero border is one translucent heatmap of the base figure, outlines are line traces
    (no layout shapes), and the frames are written as plain JSON (see _LeanFigure).
    """
    p = trace.padding
    h, w = trace.padded.shape
    kernel = trace.kernel
    ho, wo = trace.output.shape
    vmax = float(np.abs(trace.padded).max()) or 1.0
    out_abs = float(np.abs(trace.output).max()) or 1.0
    kabs = float(np.abs(kernel).max()) or 1.0

    layout = _row_layout([tr(lang, "fig.input_padded" if p else "fig.input", h=h - 2 * p, w=w - 2 * p, p=p),
                          tr(lang, "fig.kernel", h=kernel.shape[0], w=kernel.shape[1]),
                          tr(lang, "fig.output", h=ho, w=wo)],
                         [w + 1, kernel.shape[1] + 1, wo + 1], spacing=0.06)
    partial, (wx, wy), (cx, cy) = _conv_frame(trace, k)
    shown = np.full(trace.output.shape, np.nan)
    shown[:partial.shape[0]] = partial
    output = _grid_heatmap(shown, "Oranges", -out_abs * 0.1, out_abs * 1.6, name=tr(lang, "fig.output_name"),
                           show_text=not animate, lang=lang)
    if animate:  # the text follows each frame's values: no per-frame text array
        output.update(texttemplate="%{z:.3~f}", textfont=dict(size=14))
    data = [_on(_grid_heatmap(trace.padded, "Blues", -vmax * 0.1, vmax * 1.6, name=tr(lang, "fig.input_name"),
                              lang=lang), 1),
            _on(_grid_heatmap(kernel, DIVERGING, -kabs * 1.8, kabs * 1.8, name=tr(lang, "fig.kernel_name"),
                              lang=lang), 2),
            _on(output, 3)]
    if p:  # the zero border: one translucent heatmap over the padded cells
        border = np.ones((h, w), dtype=np.float32)
        border[p:h - p, p:w - p] = np.nan
        data.append(dict(type="heatmap", z=border, colorscale=[[0, "rgb(160,160,160)"], [1, "rgb(160,160,160)"]],
                         opacity=0.4, zmin=0, zmax=1, showscale=False, hoverinfo="skip", xgap=2, ygap=2))
    line = dict(type="scatter", mode="lines", hoverinfo="skip", showlegend=False)
    data.append(dict(x=wx, y=wy, line=dict(color=WINDOW_COLOR, width=3), **line))
    data.append(dict(x=cx, y=cy, line=dict(color=CURRENT_COLOR, width=4), xaxis="x3", yaxis="y3", **line))
    layout.update(height=height, margin=dict(l=10, r=10, t=60, b=10))
    for axis, (lo, hi) in {"xaxis": (-0.5, w - 0.5), "yaxis": (h - 0.5, -0.5),  # fixed ranges: outlines and
                           "xaxis3": (-0.5, wo - 0.5), "yaxis3": (ho - 0.5, -0.5)}.items():  # frames move nothing
        layout[axis].update(range=[lo, hi], autorange=False)
    n = len(trace.steps)
    if not animate or n < 2:
        return go.Figure(dict(data=data, layout=layout))
    changing = [2, len(data) - 2, len(data) - 1]  # output, window, output cell
    steps = np.arange(n) if n <= MAX_FRAMES else np.unique(np.linspace(0, n - 1, MAX_FRAMES).round().astype(int))
    frames = []
    for i in steps.tolist():
        part, (wx, wy), (cx, cy) = _conv_frame(trace, i)
        frames.append({"name": str(i), "traces": changing, "data": [
            {"type": "heatmap", "z": _typed(part)},
            {"type": "scatter", "x": _typed(wx), "y": _typed(wy)},
            {"type": "scatter", "x": _typed(cx), "y": _typed(cy)}]})
    slider = dict(active=int(np.searchsorted(steps, k, side="right")) - 1, x=0.18, len=0.8, y=-0.02, yanchor="top",
                  currentvalue=dict(prefix=tr(lang, "fig.step_prefix")),
                  steps=[dict(label=str(i + 1), method="animate",
                              args=[[str(i)], dict(mode="immediate", frame=dict(duration=0, redraw=True))])
                         for i in steps.tolist()])
    layout.update(updatemenus=[play_pause(lang, frame_ms=700, y=-0.02)], height=height + 70,
                  margin=dict(l=10, r=10, t=60, b=70))
    return _LeanFigure.adopt(go.Figure(dict(data=data, layout=layout)), frames, [slider])


def play_pause(lang: str, frame_ms: int, y: float) -> dict:
    """Play / Pause buttons (a layout `updatemenus` entry) for a figure's frames, at the bottom left: the
    animation runs in the browser, `frame_ms` per frame."""
    return dict(type="buttons", direction="left", x=0, y=y, xanchor="left", yanchor="top", showactive=False,
                buttons=[dict(label=tr(lang, "fig.play"), method="animate",
                              args=[None, dict(frame=dict(duration=frame_ms, redraw=True), fromcurrent=True,
                                               transition=dict(duration=0))]),
                         dict(label=tr(lang, "fig.pause"), method="animate",
                              args=[[None], dict(frame=dict(duration=0, redraw=False), mode="immediate")])])


IMAGE_CELLS = 64 * 64  # a map with more cells than this travels as a PNG, not as a heatmap of numbers
MOSAIC_CELLS = 32 * 32  # the same for a mosaic (kernels stay heatmaps with their values on hover)
_IMAGE_AXES = dict(constrain="domain", showticklabels=False)


@lru_cache(maxsize=64)
def _palette(colorscale) -> bytes:
    """The PNG palette of a plotly colour scale (a name such as "RdBu_r", or a tuple of (pos, colour)):
    255 colours interpolated in RGB between its stops as plotly.js does, then white (index 255, for NaN)."""
    scale = go.Heatmap(colorscale=colorscale).colorscale  # plotly's own reading of the name
    pos = np.array([float(p) for p, _ in scale])
    rgb = np.array([pcolors.unlabel_rgb(pcolors.convert_colors_to_same_type(c, "rgb")[0][0]) for _, c in scale],
                   dtype=np.float64)
    t = np.linspace(0.0, 1.0, 255)
    lut = np.stack([np.interp(t, pos, rgb[:, i]) for i in range(3)], 1).round().astype(np.uint8)
    return lut.tobytes() + bytes([255, 255, 255])


def _lut(colorscale) -> np.ndarray:
    """(255, 3) uint8 colours of a colour scale, lowest first."""
    key = colorscale if isinstance(colorscale, str) else tuple(map(tuple, colorscale))
    return np.frombuffer(_palette(key), dtype=np.uint8)[:255 * 3].reshape(255, 3)


def _png_uri(values: np.ndarray, colorscale, zmin: float, zmax: float) -> str:
    """A 2-D array coloured on the server with `colorscale` over [zmin, zmax] -> PNG data URI.

    A palette PNG (one byte per pixel, 255 colours + transparent for NaN): a 28×28×32 mosaic is ~20 kB.
    """
    from PIL import Image

    v = np.asarray(values, dtype=np.float64)
    span = (zmax - zmin) or 1.0
    with np.errstate(invalid="ignore"):
        idx = np.clip(np.round((v - zmin) / span * 254), 0, 254)
    idx = np.where(np.isfinite(v), idx, 255).astype(np.uint8)
    img = Image.fromarray(idx, mode="P")
    key = colorscale if isinstance(colorscale, str) else tuple(map(tuple, colorscale))
    img.putpalette(_palette(key))
    buf = io.BytesIO()
    img.save(buf, format="PNG", transparency=255, compress_level=6)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _scale_bar(colorscale, zmin: float, zmax: float, **heatmap) -> dict:
    """An invisible heatmap that carries the colour bar (and the hover) of an image coloured on the server."""
    return dict(type="heatmap", colorscale=colorscale, zmin=zmin, zmax=zmax, opacity=0,
                colorbar=dict(thickness=12), **heatmap)


def _image_layout(title: str, height, **extra) -> dict:
    """A picture's layout: square pixels, rows downwards, no ticks."""
    return dict(title=dict(text=title), height=height, margin=dict(l=10, r=10, t=40, b=10),
                yaxis=dict(autorange="reversed", scaleanchor="x", **_IMAGE_AXES), xaxis=dict(_IMAGE_AXES), **extra)


def image_figure(img: np.ndarray, title: str = "", colorscale="gray", zmid=None, height=300,
                 showscale=True, hover_name: str | None = None, lang: str = "en") -> go.Figure:
    """A 2-D array as an image with a colour bar (values on hover).

    Up to IMAGE_CELLS cells it is a heatmap (the value of each cell on hover); a larger map travels as a PNG
    coloured on the server (no hover values) with the same colour bar, so that a 128×128 map is kilobytes.
    """
    img = np.asarray(img, dtype=np.float64)
    hover = tr(lang, "fig.image_hover", name=tr(lang, "fig.value") if hover_name is None else hover_name)
    if img.size <= IMAGE_CELLS:
        data = [dict(type="heatmap", z=img, colorscale=colorscale, zmid=zmid, showscale=showscale,
                     hovertemplate=hover + "<extra></extra>", colorbar=dict(thickness=12))]
    else:
        finite = img[np.isfinite(img)]
        lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        if zmid is not None:  # as plotly does with zmid: a range symmetric about it
            half = max(abs(hi - zmid), abs(lo - zmid)) or 1.0
            lo, hi = zmid - half, zmid + half
        hi = hi if hi > lo else lo + 1.0
        h, w = img.shape
        data = [_scale_bar(colorscale, lo, hi, z=[[lo]], x0=(w - 1) / 2, dx=w, y0=(h - 1) / 2, dy=h,
                           showscale=showscale, hoverinfo="skip"),
                dict(type="image", source=_png_uri(img, colorscale, lo, hi), hoverinfo="skip")]
    return go.Figure(dict(data=data, layout=_image_layout(title, height)))


def rgb_figure(img: np.ndarray, title: str = "", height=260) -> go.Figure:
    """(H, W, 3) uint8 as a colour image (a PNG when it is larger than IMAGE_CELLS pixels)."""
    img = np.asarray(img, dtype=np.uint8)
    if img.shape[0] * img.shape[1] <= IMAGE_CELLS:
        trace = dict(type="image", z=img)
    else:
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(img[..., :3]), mode="RGB").save(buf, format="PNG")
        trace = dict(type="image", source="data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii"))
    return go.Figure(dict(data=[trace], layout=dict(
        title=dict(text=title), height=height, margin=dict(l=10, r=10, t=40, b=10),
        xaxis=dict(showticklabels=False), yaxis=dict(showticklabels=False))))


def maps_row(maps: np.ndarray, titles: list[str], colorscale=DIVERGING, height=260, symmetric=True,
             text=False, lang: str = "en") -> go.Figure:
    """Several 2-D maps side by side on one colour scale (shared colour bar)."""
    maps = np.asarray(maps, dtype=np.float64)
    n = len(maps)
    vmax = float(np.abs(maps).max()) or 1.0
    zmin, zmax = (-vmax, vmax) if symmetric else (float(maps.min()), float(maps.max()))
    layout = _row_layout(titles, spacing=0.05 if text else 0.02, ticks=text)
    layout.update(height=height, margin=dict(l=10, r=10, t=40, b=10))
    data = [_on(_grid_heatmap(m, colorscale, zmin, zmax, show_text=text, name=titles[i], showscale=(i == n - 1),
                              lang=lang), i + 1) for i, m in enumerate(maps)]
    return go.Figure(dict(data=data, layout=layout))


# ---------------------------------------------------------------- pooling

def pool_step_figure(trace: PoolTrace, x: np.ndarray, k: int = 0, height=340, lang: str = "en") -> go.Figure:
    """Input with window k outlined and its max marked; output filled up to step k."""
    step = trace.steps[k]
    partial = np.full(trace.output.shape, np.nan)
    for s in trace.steps[:k + 1]:
        partial[s.out_row, s.out_col] = s.value
    layout = _row_layout([tr(lang, "fig.input", h=x.shape[0], w=x.shape[1]),
                          tr(lang, "fig.pool_max" if trace.mode == "max" else "fig.pool_avg", size=trace.size,
                             stride=trace.stride, h=trace.output.shape[0], w=trace.output.shape[1])],
                         [x.shape[1] + 1, trace.output.shape[1] + 1], spacing=0.08)
    vmax = float(np.abs(x).max()) or 1.0
    data = [_on(_grid_heatmap(x, "Blues", -vmax * 0.1, vmax * 1.6, name=tr(lang, "fig.input_name"), lang=lang), 1),
            _on(_grid_heatmap(partial, "Oranges", -vmax * 0.1, vmax * 1.6, name=tr(lang, "fig.output_name"),
                              lang=lang), 2)]
    shapes = [_cell_rect(step.row, step.col, step.row + trace.size - 1, step.col + trace.size - 1, WINDOW_COLOR)]
    if step.argmax is not None:
        r, c = step.argmax
        shapes.append(dict(type="circle", x0=c - 0.4, x1=c + 0.4, y0=r - 0.4, y1=r + 0.4, xref="x", yref="y",
                           line=dict(color=CURRENT_COLOR, width=4)))
    shapes.append(_cell_rect(step.out_row, step.out_col, step.out_row, step.out_col, CURRENT_COLOR, "x2", "y2", 4))
    layout.update(shapes=shapes, height=height, margin=dict(l=10, r=10, t=60, b=10))
    (h, w), (ho, wo) = x.shape, trace.output.shape
    for axis, (lo, hi) in {"xaxis": (-0.5, w - 0.5), "yaxis": (h - 0.5, -0.5),  # fixed: the click markers
                           "xaxis2": (-0.5, wo - 0.5), "yaxis2": (ho - 0.5, -0.5)}.items():  # pad nothing
        layout[axis].update(range=[lo, hi], autorange=False)
    return go.Figure(dict(data=data, layout=layout))


# ---------------------------------------------------------------- networks

def mosaic_figure(maps: np.ndarray, title: str = "", max_maps: int = 64, cols: int = 8, height=None,
                  colorscale=SEQUENTIAL, symmetric=False, selected: int | None = None, lang: str = "en") -> go.Figure:
    """(C, H, W) feature maps tiled in a grid on one colour scale; channel number on hover.

    Up to MOSAIC_CELLS cells (kernels, small maps) it is a heatmap: each cell's channel and value on hover.
    Larger, the tiles travel as one PNG coloured on the server (a few kB instead of a heatmap of tens of
    thousands of numbers), over an invisible heatmap of one cell per channel that carries the hover (the
    channel and its largest value; a pixel's value is in the large map and the click-to-explain panel) and
    the colour bar. Either way data[0] is a heatmap with the colour range (zmin, zmax).
    """
    maps = np.asarray(maps, dtype=np.float64)[:max_maps]
    c, h, w = maps.shape
    cols = min(cols, c)
    rows = math.ceil(c / cols)
    gap = 1
    tile = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), np.nan)
    chan = np.full((rows, cols), np.nan)
    peak = np.full((rows, cols), np.nan)
    for i, m in enumerate(maps):
        r, q = divmod(i, cols)
        tile[r * (h + gap):r * (h + gap) + h, q * (w + gap):q * (w + gap) + w] = m
        chan[r, q] = i
        peak[r, q] = np.nanmax(m) if np.isfinite(m).any() else np.nan
    finite = maps[np.isfinite(maps)]
    vmax = float(np.abs(finite).max()) if finite.size else 0.0
    vmax = vmax or 1.0
    if symmetric:
        zmin, zmax = -vmax, vmax
    else:
        zmin = float(finite.min()) if finite.size else 0.0
        zmax = (float(finite.max()) if finite.size else 0.0) or 1.0
    scale = DIVERGING if symmetric else colorscale
    if tile.size <= MOSAIC_CELLS:
        chan_px = np.full(tile.shape, -1, dtype=np.int16)
        for i in range(c):
            r, q = divmod(i, cols)
            chan_px[r * (h + gap):r * (h + gap) + h, q * (w + gap):q * (w + gap) + w] = i
        data = [dict(type="heatmap", z=tile.astype(np.float32), customdata=chan_px, colorscale=scale, zmin=zmin,
                     zmax=zmax, colorbar=dict(thickness=12),
                     hovertemplate=tr(lang, "fig.channel_hover") + "<extra></extra>")]
    else:
        data = [_scale_bar(scale, zmin, zmax, z=peak, customdata=chan, x0=(w - 1) / 2, dx=w + gap, y0=(h - 1) / 2,
                           dy=h + gap, hovertemplate=tr(lang, "fig.mosaic_hover") + "<extra></extra>"),
                dict(type="image", source=_png_uri(tile, scale, zmin, zmax), hoverinfo="skip")]
    shapes = []
    if selected is not None and 0 <= selected < c:
        r, q = divmod(selected, cols)
        shapes.append(dict(type="rect", x0=q * (w + gap) - 0.5, x1=q * (w + gap) + w - 0.5, y0=r * (h + gap) - 0.5,
                           y1=r * (h + gap) + h - 0.5, line=dict(color=WINDOW_COLOR, width=3)))
    layout = _image_layout(title, height or max(180, 60 + 320 * rows / cols * (h / w)), plot_bgcolor="white",
                           shapes=shapes)
    layout["xaxis"]["showgrid"] = layout["yaxis"]["showgrid"] = False
    return go.Figure(dict(data=data, layout=layout))


def probability_figure(probs: np.ndarray, classes, true_label: int | None = None, height=320,
                       lang: str = "en") -> go.Figure:
    """Softmax probabilities of every class; the prediction in orange, the true class outlined."""
    probs = np.asarray(probs, dtype=np.float64)
    pred = int(probs.argmax())
    colors = [WINDOW_COLOR if i == pred else "#8da0cb" for i in range(len(classes))]
    widths = [3 if i == true_label else 0 for i in range(len(classes))]
    return go.Figure(go.Bar(x=probs, y=list(classes), orientation="h", marker=dict(
        color=colors, line=dict(color="black", width=widths)), text=[format_number(lang, float(p), ".1%") for p in probs],
        textposition="outside", hovertemplate="%{y}: %{x:.2%}<extra></extra>"), layout=dict(
        height=height, margin=dict(l=10, r=30, t=30, b=10), xaxis=dict(range=[0, 1.15], tickformat=".0%"),
        yaxis=dict(autorange="reversed"), title=dict(text=tr(lang, "fig.probabilities"))))


def loss_figure(losses: list[float], average: np.ndarray, epoch_marks: list[int] = (), height=340,
                lang: str = "en") -> go.Figure:
    """Loss of every batch and its moving average, with at most curves.MAX_POINTS points per curve.

    A long history is thinned to each bucket's smallest and largest loss (spikes stay visible) and the
    average, computed on the full history, is read at the same batches (cnnviz.curves.downsample_curve):
    the chart costs the same after ten batches or a hundred thousand.
    """
    v = np.asarray(losses, dtype=np.float64)
    avg = np.asarray(average, dtype=np.float64)
    x, y, y_avg = downsample_curve(v, MAX_POINTS, average=avg if avg.shape == v.shape else None)
    line = dict(mode="lines", hovertemplate="%{x}: %{y:.4f}<extra></extra>")
    fig = go.Figure([
        go.Scatter(x=x, y=y, name=tr(lang, "fig.batch_loss"), line=dict(width=1, color="#9ecae1"), **line),
        go.Scatter(x=x, y=y_avg, name=tr(lang, "fig.moving_average"), line=dict(width=3, color="#08519c"), **line)])
    marks = list(epoch_marks)
    if len(marks) > 200:  # one line per epoch: a bounded number of them too
        marks = marks[::-(-len(marks) // 200)]
    fig.update_layout(shapes=[dict(type="line", x0=m, x1=m, y0=0, y1=1, xref="x", yref="paper",
                                   line=dict(color="gray", dash="dot")) for m in marks],
                      height=height, margin=dict(l=10, r=10, t=30, b=10), xaxis_title=tr(lang, "fig.batch"), yaxis_title=tr(lang, "fig.loss"),
                      title=tr(lang, "fig.training_loss"), legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"))
    return fig


def confusion_figure(cm: np.ndarray, classes, height=520, lang: str = "en") -> go.Figure:
    """Annotated confusion matrix: rows are true classes, columns predicted."""
    cm = np.asarray(cm)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig = go.Figure(go.Heatmap(z=norm, x=list(classes), y=list(classes), text=cm, texttemplate="%{text}",
                               colorscale="Blues", zmin=0, zmax=1, colorbar=dict(title=tr(lang, "fig.row_share"), thickness=12),
                               hovertemplate=tr(lang, "fig.confusion_hover") + "<extra></extra>"))
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), title=tr(lang, "fig.confusion"),
                      xaxis_title=tr(lang, "fig.predicted"), yaxis_title=tr(lang, "fig.true"))
    fig.update_yaxes(autorange="reversed")
    return fig


def shift_curves_figure(probs: np.ndarray, classes, k: int, height=320, lang: str = "en") -> go.Figure:
    """probs (2k+1 [dy], 2k+1 [dx], classes): each class's probability along x (dy = 0) and along y (dx = 0).

    Two panels side by side sharing the y axis, laid out in one dict (make_subplots cost 15 ms a figure)."""
    probs = np.asarray(probs)
    shifts = np.arange(-k, k + 1)
    top = np.argsort(probs[k, k])[::-1][:3]  # the three likeliest classes of the unshifted image
    palette = ["#e4572e", "#17bebb", "#76b041"]
    data = []
    for rank, c in enumerate(top):
        style = dict(type="scatter", x=shifts, name=str(classes[c]), mode="lines+markers",
                     line=dict(color=palette[rank], dash=DASHES[rank]), marker=dict(symbol=SYMBOLS[rank], size=9))
        data.append(dict(style, y=probs[k, :, c], xaxis="x", yaxis="y"))  # along x
        data.append(dict(style, y=probs[:, k, c], xaxis="x2", yaxis="y2", showlegend=False))  # along y
    x_axis = dict(title=dict(text=tr(lang, "fig.pixels")), dtick=1 if k <= 6 else 2)
    y_axis = dict(range=[0, 1.02], tickformat=".0%")
    titles = [dict(text=tr(lang, msg), x=x, xref="paper", y=1.0, yref="paper", xanchor="center", yanchor="bottom",
                   showarrow=False, font=dict(size=16)) for msg, x in (("fig.shift_x", 0.225), ("fig.shift_y", 0.775))]
    layout = dict(xaxis=dict(x_axis, anchor="y", domain=[0.0, 0.45]), yaxis=dict(y_axis, anchor="x", domain=[0, 1]),
                  xaxis2=dict(x_axis, anchor="y2", domain=[0.55, 1.0]),
                  yaxis2=dict(y_axis, anchor="x2", domain=[0, 1], matches="y", showticklabels=False),
                  annotations=titles, height=height, margin=dict(l=10, r=10, t=40, b=10),
                  legend=dict(orientation="h", y=-0.25), meta=STACKABLE)
    return go.Figure(dict(data=data, layout=layout))


def shift_heatmap_figure(probs: np.ndarray, classes, k: int, height=380, lang: str = "en") -> go.Figure:
    """Probability of the unshifted prediction over (dx, dy); cells where the prediction changes are marked ×."""
    probs = np.asarray(probs)
    pred = int(probs[k, k].argmax())
    keep = probs.argmax(-1) == pred
    shifts = list(range(-k, k + 1))
    text = [["" if keep[i, j] else "×" for j in range(len(shifts))] for i in range(len(shifts))]
    return go.Figure(go.Heatmap(z=probs[..., pred], x=shifts, y=shifts, text=text, texttemplate="%{text}",
                                colorscale="Viridis", zmin=0, zmax=1, colorbar=dict(title=dict(text="p"), thickness=12),
                                hovertemplate="dx %{x}, dy %{y}: p(" + str(classes[pred]) + ") = %{z:.1%}<extra></extra>"),
                     layout=dict(title=dict(text=tr(lang, "fig.shift_heatmap", name=str(classes[pred]))),
                                 height=height, margin=dict(l=10, r=10, t=40, b=10),
                                 xaxis=dict(title=dict(text="dx"), constrain="domain"),
                                 yaxis=dict(title=dict(text="dy"), autorange="reversed", scaleanchor="x",
                                            constrain="domain")))


def input_figure(img: np.ndarray, title: str = "", height=260, lang: str = "en") -> go.Figure:
    """A network input as a picture: grayscale (H, W) or colour (H, W, 3) uint8."""
    if img.ndim == 2:
        return image_figure(img, title, showscale=False, height=height, lang=lang)
    return rgb_figure(img, title, height=height)


def params_comparison_figure(names: list[str], conv_params: list[int], fc_params: list[int], height=340,
                             lang: str = "en") -> go.Figure:
    """Parameters of each conv layer next to a fully connected layer with the same input and output sizes (log scale)."""
    fig = go.Figure([
        go.Bar(x=names, y=conv_params, name=tr(lang, "fig.conv_params"), marker_color="#17bebb",
               text=[format_number(lang, int(v)) for v in conv_params], textposition="outside"),
        go.Bar(x=names, y=fc_params, name=tr(lang, "fig.fc_params"), marker_color="#e4572e",
               text=[format_power(lang, v) for v in fc_params], textposition="outside"),
    ])
    fig.update_yaxes(type="log", title=tr(lang, "fig.params_log"))
    fig.update_layout(barmode="group", height=height, margin=dict(l=10, r=10, t=30, b=10),
                      legend=dict(orientation="h", y=1.1))
    return fig


def receptive_field_figure(img: np.ndarray, rows: tuple[int, int], cols: tuple[int, int], title: str,
                           height=360) -> go.Figure:
    """An image with a rectangle over the input region a unit depends on."""
    fig = input_figure(img, title, height=height)
    fig.add_shape(type="rect", x0=cols[0] - 0.5, x1=cols[1] + 0.5, y0=rows[0] - 0.5, y1=rows[1] + 0.5,
                  line=dict(color=WINDOW_COLOR, width=3), fillcolor="rgba(228,87,46,0.25)")
    return fig
