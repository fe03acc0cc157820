"""Clickable, self-explaining cells for the step-by-step figures of cnnviz.figures (issue 11).

conv_step_figure and pool_step_figure draw grids as heatmaps, which Streamlit's plotly selection does not
report. `add_step_cells` adds, on top of such a figure (not animated), invisible markers at the cell centres:

- output cells carry customdata [row, col, step] (the step number, 1-based): a click selects them and
  `clicked_step(event)` reads the step back; their hover shows the step's arithmetic ("1×1 + 1×0 + … = 4",
  "max(12, 20, 8, 12) = 20");
- input cells show their value and which output cells use them (with the kernel weight for a convolution).

Hover texts are written only while the grids are small enough (`MAX_TERMS` products in all), so a figure
stays a few tens of kilobytes at the screens' largest settings.

    fig = conv_step_figure(trace, k, lang=lang)
    add_step_cells(fig, conv_cells(trace, lang))
    st.plotly_chart(fig, key="conv_fig", on_select=..., selection_mode="points")
    step = clicked_step(st.session_state["conv_fig"])

None of this imports Streamlit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go

from cnnviz.i18n import tr
from cnnviz.multichannel import number_text
from cnnviz.ops import ConvTrace, PoolTrace

MAX_TERMS = 1500  # products written in hover texts, all cells together (12×12 input, 3×3 kernel, no padding: 900)
MAX_USES = 9  # lines of an input cell's hover ("× w → output (i, j)"), then "…"


def _markers(rows, cols, axis: str, hover: list[str], customdata=None, size: int = 18) -> dict:
    """Invisible square markers at cell centres on grid `axis` ("" for x/y, "2" for x2/y2, ...)."""
    # arrays, not lists: plotly checks a list item by item (most of a figure's cost), an array at once
    trace = dict(type="scatter", mode="markers", x=np.asarray(cols, dtype=int), y=np.asarray(rows, dtype=int),
                 xaxis=f"x{axis}", yaxis=f"y{axis}", text=np.array(hover), hovertemplate="%{text}<extra></extra>",
                 marker=dict(size=size, symbol="square", opacity=0, color="black"), showlegend=False,
                 selected=dict(marker=dict(opacity=0)), unselected=dict(marker=dict(opacity=0)))
    if customdata is not None:
        trace["customdata"] = np.asarray(customdata, dtype=int)
    return trace


def _size(n: int, height: int = 380) -> int:
    return int(max(8, min(40, 0.7 * (height - 80) / max(n, 1))))


def _numbers(lang: str):
    """number_text for one figure, memoised (grids repeat their values)."""
    seen: dict = {}

    def f(v) -> str:
        v = float(v)
        if v not in seen:
            seen[v] = number_text(lang, v)
        return seen[v]
    return f


def _template(lang: str, msg_id: str, *names: str) -> str:
    """A message with its placeholders kept ("{row}"), to fill with str.format cell by cell (tr per cell is slow)."""
    return tr(lang, msg_id, **{n: "{" + n + "}" for n in names})


def _wrap(terms: list[str], per_line: int = 3) -> str:
    return "<br>".join(" + ".join(terms[i:i + per_line]) for i in range(0, len(terms), per_line))


def conv_cells(trace: ConvTrace, lang: str = "en", height: int = 380) -> list[dict]:
    """Markers of the padded input (hover: value and uses) and of the output (hover: products; click: step)."""
    f = _numbers(lang)
    out_t, in_t = _template(lang, "cells.out", "row", "col", "n"), _template(lang, "cells.in", "row", "col", "value")
    used_t = _template(lang, "cells.used", "w", "value", "row", "col")
    kernel = trace.kernel
    h, w = trace.padded.shape
    ho, wo = trace.output.shape
    detail = len(trace.steps) * kernel.size <= MAX_TERMS
    out_hover, out_data, uses = [], [], {}
    for s in trace.steps:
        head = out_t.format(row=s.out_row, col=s.out_col, n=s.index + 1)
        if detail:
            terms = [f"{f(a)}×{f(b)}" for a, b in zip(s.window.ravel(), kernel.ravel())]
            out_hover.append(f"{head}<br>{_wrap(terms)} = {f(s.value)}")
            for a, r in enumerate(s.rows):
                for b, c in enumerate(s.cols):
                    uses.setdefault((int(r), int(c)), []).append((s.out_row, s.out_col, kernel[a, b]))
        else:
            out_hover.append(f"{head}<br>= {f(s.value)}")
        out_data.append([s.out_row, s.out_col, s.index + 1])
    rr, cc = (a.ravel().tolist() for a in np.mgrid[0:h, 0:w])
    in_hover = []
    for r, c in zip(rr, cc):
        text = in_t.format(row=r, col=c, value=f(trace.padded[r, c]))
        if detail:
            used = uses.get((int(r), int(c)), [])
            lines = [used_t.format(w=f(k), value=f(trace.padded[r, c] * k), row=i, col=j)
                     for i, j, k in used[:MAX_USES]]
            if len(used) > MAX_USES:
                lines.append(tr(lang, "cells.more", n=len(used) - MAX_USES))
            text += "<br>" + ("<br>".join(lines) if lines else tr(lang, "cells.unused"))
        in_hover.append(text)
    return [_markers(rr, cc, "", in_hover, size=_size(max(h, w), height)),
            _markers([s.out_row for s in trace.steps], [s.out_col for s in trace.steps], "3", out_hover, out_data,
                     size=_size(max(ho, wo), height))]


def pool_cells(trace: PoolTrace, x: np.ndarray, lang: str = "en", height: int = 340) -> list[dict]:
    """Markers of the input (hover: value and the windows that read it) and of the output (hover: the
    window's max or mean; click: step)."""
    f = _numbers(lang)
    out_t, in_t = _template(lang, "cells.out", "row", "col", "n"), _template(lang, "cells.in", "row", "col", "value")
    use_t = {False: _template(lang, "cells.pool_used", "row", "col"),
             True: _template(lang, "cells.pool_used_max", "row", "col")}
    x = np.asarray(x, dtype=np.float64)
    h, w = x.shape
    name = "max" if trace.mode == "max" else tr(lang, "cells.mean")
    out_hover, out_data, uses = [], [], {}
    for s in trace.steps:
        values = ", ".join(f(v) for v in s.window.ravel())
        out_hover.append(out_t.format(row=s.out_row, col=s.out_col, n=s.index + 1)
                         + f"<br>{name}({values}) = {f(s.value)}")
        out_data.append([s.out_row, s.out_col, s.index + 1])
        for r in range(s.row, s.row + s.window.shape[0]):
            for c in range(s.col, s.col + s.window.shape[1]):
                uses.setdefault((r, c), []).append((s.out_row, s.out_col, s.argmax == (r, c)))
    rr, cc = (a.ravel().tolist() for a in np.mgrid[0:h, 0:w])
    in_hover = []
    for r, c in zip(rr, cc):
        used = uses.get((int(r), int(c)), [])
        lines = [use_t[won].format(row=i, col=j) for i, j, won in used]
        in_hover.append(in_t.format(row=r, col=c, value=f(x[r, c])) + "<br>"
                        + ("<br>".join(lines) if lines else tr(lang, "cells.unused")))
    ho, wo = trace.output.shape
    return [_markers(rr, cc, "", in_hover, size=_size(max(h, w), height)),
            _markers([s.out_row for s in trace.steps], [s.out_col for s in trace.steps], "2", out_hover, out_data,
                     size=_size(max(ho, wo), height))]


def add_step_cells(fig: go.Figure, cells: list[dict]) -> go.Figure:
    """The markers added on top of a (not animated) step figure, with click-to-select and closest hover."""
    fig.add_traces(cells)
    fig.update_layout(clickmode="event+select", dragmode=False, hovermode="closest")
    return fig


def conv_view(image: np.ndarray, kernel: np.ndarray, stride: int, padding: int, dilation: int, k: int,
              animate: bool, lang: str = "en") -> go.Figure:
    """The Convolution screen's figure from plain values (so that ui/shared_cache.py can key it): step k of
    the cross-correlation of `image` with `kernel`; still, with clickable output cells, or animated."""
    from cnnviz.figures import conv_step_figure
    from cnnviz.ops import conv2d_steps

    trace = conv2d_steps(image, kernel, stride, padding, dilation)
    fig = conv_step_figure(trace, k, animate=animate, lang=lang)
    return fig if animate else add_step_cells(fig, conv_cells(trace, lang))


def pool_view(x: np.ndarray, size: int, stride: int, mode: str, k: int, lang: str = "en") -> go.Figure:
    """The Pooling screen's figure from plain values: step k of pooling `x`, with clickable output cells."""
    from cnnviz.figures import pool_step_figure
    from cnnviz.ops import pool2d_steps

    trace = pool2d_steps(x, size, stride, mode)
    return add_step_cells(pool_step_figure(trace, x, k, lang=lang), pool_cells(trace, x, lang))


# ---------------------------------------------------------------- reading a click back (input from a browser)

MAX_POINTS = 100  # points of one selection event looked at: a click selects one
MAX_CELL = 10**6  # bound of a cell position when the caller does not give the map's shape


def event_points(event) -> list:
    """The points of a chart's selection, from st.plotly_chart's event or st.session_state[key] ({"selection":
    {"points": [...]}}, or the selection itself); [] for anything else. The event comes from a browser: its
    points are mappings or they are skipped."""
    if not isinstance(event, Mapping):
        return []
    selection = event.get("selection", event)
    points = selection.get("points") if isinstance(selection, Mapping) else None
    if not isinstance(points, (list, tuple)):
        return []
    return [p for p in points[:MAX_POINTS] if isinstance(p, Mapping)]


def event_int(value, lo: int, hi: int, rounded: bool = False) -> int | None:
    """One number of a chart event, checked as a link's value is: an int (not a bool) within [lo, hi], or a
    float with a whole value (any finite float when `rounded`: a position on an axis); None for anything else
    (NaN, ±Infinity, huge or negative numbers, strings, lists, None, a missing key)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float):
        if not math.isfinite(value) or not lo - 1 <= value <= hi + 1:
            return None
        if rounded:
            value = round(value)
        elif not value.is_integer():
            return None
    value = int(value)
    return value if lo <= value <= hi else None


def _customdata(point, n: int) -> list | None:
    """A point's customdata as a list of n items (a real browser sends an array as {"0": a, "1": b, ...}, AppTest
    as a list); None when the point has none (an input cell)."""
    data = point.get("customdata")
    if isinstance(data, Mapping):
        data = [data.get(str(i), data.get(i)) for i in range(n)]
    if isinstance(data, (list, tuple)) and len(data) >= n:
        return list(data[:n])
    return None


def clicked_cell(event, shape: tuple[int, int] | None = None) -> tuple[int, int] | None:
    """(row, col) of the cell clicked in a clickable_map_figure (cnnviz.figures_explain), from st.plotly_chart's
    event or st.session_state[key]; None when no cell of a map of `shape` (H, W) is selected.

    The point's customdata [row, col] is read (a real browser sends {"0": row, "1": col}), else its x and y."""
    h, w = shape if shape is not None else (MAX_CELL, MAX_CELL)
    for p in event_points(event):
        data = _customdata(p, 2)
        if data is not None:
            row, col = event_int(data[0], 0, h - 1), event_int(data[1], 0, w - 1)
        elif p.get("customdata") is None:
            row, col = event_int(p.get("y"), 0, h - 1, rounded=True), event_int(p.get("x"), 0, w - 1, rounded=True)
        else:
            continue
        if row is not None and col is not None:
            return row, col
    return None


def clicked_step(event, n: int | None = None) -> int | None:
    """The step number (1..n) of the output cell clicked in a figure with `add_step_cells`, from
    st.plotly_chart's event or st.session_state[key]; None when no output cell is selected.

    The point's customdata is [row, col, step] (a real browser sends {"0": row, "1": col, "2": step})."""
    for p in event_points(event):
        data = _customdata(p, 3)
        step = event_int(data[2], 1, n if n is not None else MAX_CELL) if data is not None else None
        if step is not None:
            return step
    return None
