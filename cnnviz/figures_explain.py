"""Plotly figures of the "explain every number" panel (cnnviz.explain), with text in the reader's language.

    conv_unit_figure(expl, lang)            a conv unit: per input channel its window, kernel slice and
                                            partial sum; the total, the bias and the value
    pool_unit_figure(expl, lang)            a pooling unit: its window, the winner outlined
    linear_unit_figure(expl, lang)          a fully connected unit: its largest products w·x
    unit_figure(expl, lang)                 whichever of the three fits (None for element-wise stages)
    formula_text(expl, lang)                the unit's computation with its numbers, one line
    clickable_map_figure(fmap, lang, ...)   a feature map whose cells can be clicked (see clicked_cell)
    clicked_cell(event)                     st.plotly_chart's selection -> (row, col) or None
    receptive_field_figure(image, box, ...) the input with the unit's receptive field outlined
    gradcam_figure(image, cam, lang, ...)   Grad-CAM over the input
    top_activations_figure(images, tops, ...) the top-k images of a channel, each with its box

A clickable map in a page:

    event = st.plotly_chart(clickable_map_figure(fmap, lang, selected=cell), key="explain_map",
                            on_select="rerun", selection_mode="points")
    cell = clicked_cell(event) or cell

None of this imports Streamlit; the tests read the figures' data.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import plotly.graph_objects as go

from cnnviz.explain import GradCam, TopActivation, UnitExplanation
from cnnviz.figures_steps import clicked_cell  # noqa: F401 - read a click back (one checked reader)
from cnnviz.i18n import format_number, format_numbers, tr

WINDOW_COLOR = "#e4572e"
CELL_COLOR = "#17bebb"
PADDING_FILL = "rgba(160,160,160,0.45)"
DIVERGING = "RdBu_r"
MAX_TEXT_CELLS = 49  # a grid larger than 7×7 shows its values on hover only
MARGIN = dict(l=10, r=10, t=60, b=10)


def _fmt(lang: str, v: float) -> str:
    """Up to 3 decimals without trailing zeros ('-15', '0,125' in French); 3 significant digits below 0.01."""
    v = float(v)
    if not np.isfinite(v) or abs(v) < 5e-6:
        return "0" if np.isfinite(v) else str(v)
    return format_number(lang, v, ".3g" if abs(v) < 1e-2 else "")


def _fmt_all(lang: str, values: np.ndarray) -> list[str]:
    """[_fmt(lang, v) for v in values.ravel()], the common case at i18n.format_numbers' speed (a 28×28 map's hover
    is 784 numbers)."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    plain = np.isfinite(flat) & (np.abs(flat) >= 1e-2)
    fast = iter(format_numbers(lang, flat[plain]))
    return [next(fast) if ok else _fmt(lang, v) for v, ok in zip(flat, plain)]


def _grid_text(lang: str, values: np.ndarray, mask: np.ndarray | None = None) -> list[list[str]]:
    return [["" if (mask is not None and mask[i, j]) or not np.isfinite(v) else _fmt(lang, v)
             for j, v in enumerate(row)] for i, row in enumerate(values)]


def _axes(n: int, spacing: float, rows: int = 1, ticks: bool = False) -> tuple[dict, list[tuple[str, str]]]:
    """Layout with `rows` × n square grid axes (one dict, no make_subplots: it costs ~20 ms a figure)."""
    layout: dict = {}
    refs = []
    width = (1.0 - spacing * (n - 1)) / n
    height = (1.0 - 0.12 * (rows - 1)) / rows
    k = 0
    for r in range(rows):
        y1 = 1.0 - r * (height + 0.12)
        for c in range(n):
            k += 1
            suffix = "" if k == 1 else str(k)
            x0 = c * (width + spacing)
            layout[f"xaxis{suffix}"] = dict(domain=[x0, x0 + width], anchor=f"y{suffix}", showgrid=False,
                                            zeroline=False, constrain="domain", showticklabels=ticks)
            layout[f"yaxis{suffix}"] = dict(domain=[max(0.0, y1 - height), y1], anchor=f"x{suffix}",
                                            autorange="reversed", scaleanchor=f"x{suffix}", constrain="domain",
                                            showgrid=False, zeroline=False, showticklabels=ticks)
            refs.append((f"x{suffix}", f"y{suffix}"))
    return layout, refs


def _title(layout: dict, refs, i: int, text: str) -> None:
    xa = layout["xaxis" + refs[i][0][1:]]["domain"]
    ya = layout["yaxis" + refs[i][1][1:]]["domain"]
    layout.setdefault("annotations", []).append(dict(
        text=text, x=(xa[0] + xa[1]) / 2, y=ya[1], xref="paper", yref="paper", xanchor="center",
        yanchor="bottom", showarrow=False, font=dict(size=12)))


def _heatmap(values, ref, lang, name: str, mask=None, colorscale=DIVERGING, zmid=0.0, text=True,
             font: int = 11) -> go.Heatmap:
    values = np.asarray(values, dtype=np.float64)
    show = text and values.size <= MAX_TEXT_CELLS
    return go.Heatmap(z=values, xaxis=ref[0], yaxis=ref[1], colorscale=colorscale, zmid=zmid, showscale=False,
                      text=_grid_text(lang, values, mask) if show else None,
                      texttemplate="%{text}" if show else None, textfont=dict(size=font), xgap=1, ygap=1,
                      hovertemplate=f"{name}<br>(%{{y}}, %{{x}}): %{{z:.4f}}<extra></extra>")


def _rect(r0, r1, c0, c1, ref, color=WINDOW_COLOR, width=3, fill="rgba(0,0,0,0)") -> dict:
    return dict(type="rect", x0=c0 - 0.5, x1=c1 + 0.5, y0=r0 - 0.5, y1=r1 + 0.5, xref=ref[0], yref=ref[1],
                line=dict(color=color, width=width), fillcolor=fill)


def _padding_shapes(mask: np.ndarray, ref) -> list[dict]:
    return [dict(type="rect", x0=j - 0.5, x1=j + 0.5, y0=i - 0.5, y1=i + 0.5, xref=ref[0], yref=ref[1],
                 line=dict(width=0), fillcolor=PADDING_FILL)
            for i, j in zip(*np.nonzero(mask))]


def _unit_label(lang: str, expl: UnitExplanation) -> str:
    if not expl.spatial:
        return tr(lang, "explain.unit_flat", stage=expl.stage, channel=expl.channel)
    return tr(lang, "explain.unit", stage=expl.stage, channel=expl.channel, row=expl.row, col=expl.col)


KIND_LABELS = {  # kind -> catalogue id, for a screen's captions
    "conv": "explain.kind_conv", "batchnorm": "explain.kind_batchnorm", "relu": "explain.kind_relu",
    "activation": "explain.kind_activation", "identity": "explain.kind_identity", "flatten": "explain.kind_flatten",
    "pool": "explain.kind_pool", "linear": "explain.kind_linear",
}


def kind_label(lang: str, kind: str) -> str:
    """'conv' -> 'convolution' / 'convolution', 'batchnorm' -> 'batch normalisation' / 'normalisation par lot'..."""
    return tr(lang, KIND_LABELS[kind]) if kind in KIND_LABELS else kind


# ---------------------------------------------------------------- (a) one unit from the previous stage

def conv_unit_figure(expl: UnitExplanation, lang: str = "en", max_channels: int = 8, height: int = 460) -> go.Figure:
    """Per input channel (at most `max_channels`, the largest |partial| first): the previous stage's window
    (padding shaded) above the kernel slice, titled with the channel's partial sum; the title gives the sum
    of all C_in partials, the bias and the value, and how many channels are not drawn."""
    t = expl.terms
    n_in = len(t.partials)
    order = np.argsort(-np.abs(t.partials), kind="stable")[:max_channels] if n_in > max_channels else np.arange(n_in)
    n = len(order)
    layout, refs = _axes(n, spacing=0.02 if n > 4 else 0.05, rows=2)
    traces, shapes = [], []
    vmax = float(np.nanmax(np.abs(t.window))) or 1.0
    kmax = float(np.abs(t.kernel).max()) or 1.0
    font = 11 if n <= 3 else 9 if n <= 5 else 7  # values stay legible in narrow columns
    for col, c in enumerate(order):
        top, bottom = refs[col], refs[n + col]
        traces.append(_heatmap(np.where(t.padding_mask, 0.0, t.window[c]), top, lang,
                               tr(lang, "explain.window_of", stage=expl.previous, channel=int(t.in_channels[c])),
                               font=font))
        traces[-1].update(zmin=-vmax, zmax=vmax, zmid=None)
        shapes += _padding_shapes(t.padding_mask, top)
        traces.append(_heatmap(t.kernel[c], bottom, lang, tr(lang, "explain.kernel_slice", channel=int(c)),
                               font=font))
        traces[-1].update(zmin=-kmax, zmax=kmax, zmid=None)
        title_id = "explain.channel_partial" if n <= 4 else "explain.channel_partial_short"
        _title(layout, refs, col, tr(lang, title_id, channel=int(t.in_channels[c]), partial=_fmt(lang, t.partials[c])))
        _title(layout, refs, n + col, tr(lang, "explain.kernel_slice", channel=int(t.in_channels[c])))
    title = tr(lang, "explain.conv_total", n=n_in, total=_fmt(lang, t.partial_sum), bias=_fmt(lang, t.bias),
               value=_fmt(lang, expl.value))
    if n < n_in:
        rest = float(t.partials.sum() - t.partials[order].sum())
        title += "<br>" + tr(lang, "explain.others", n=n_in - n, sum=_fmt(lang, rest))
    layout.update(title=dict(text=f"{_unit_label(lang, expl)} — {title}", font=dict(size=13)), shapes=shapes,
                  height=height, margin=dict(l=10, r=10, t=110 if n < n_in else 90, b=10))
    return go.Figure(traces, layout)


def pool_unit_figure(expl: UnitExplanation, lang: str = "en", height: int = 300) -> go.Figure:
    t = expl.terms
    layout, refs = _axes(1, 0.0)
    mask = t.padding_mask
    values = np.where(mask, np.nan, t.window)
    trace = _heatmap(values, refs[0], lang, tr(lang, "explain.window_of", stage=expl.previous, channel=expl.channel),
                     colorscale="Viridis", zmid=None)
    trace.update(x=[int(c) for c in t.cols], y=[int(r) for r in t.rows])
    shapes = []
    if t.winner is not None:
        shapes.append(_rect(t.winner[0], t.winner[0], t.winner[1], t.winner[1], refs[0], CELL_COLOR, 4))
        layout["xaxis"].update(showticklabels=True, dtick=1)
        layout["yaxis"].update(showticklabels=True, dtick=1)
        what = tr(lang, "explain.pool_max", value=_fmt(lang, expl.value), row=t.winner[0], col=t.winner[1])
    else:
        what = tr(lang, "explain.pool_avg", value=_fmt(lang, expl.value), n=t.divisor)
    layout.update(title=dict(text=f"{_unit_label(lang, expl)} — {what}", font=dict(size=13)), shapes=shapes,
                  height=height, margin=MARGIN)
    return go.Figure([trace], layout)


def linear_unit_figure(expl: UnitExplanation, lang: str = "en", k: int = 12, height: int = 320) -> go.Figure:
    """The k largest products w_i·x_i of a fully connected unit, as bars, the rest summed in the title."""
    t = expl.terms
    top = t.top(k)
    labels = [tr(lang, "explain.input_feature", stage=expl.previous, i=int(i))
              + f"  {_fmt(lang, t.weights[i])} × {_fmt(lang, t.inputs[i])}" for i in top]
    fig = go.Figure(go.Bar(
        x=t.products[top], y=labels, orientation="h", marker_color=[CELL_COLOR if v >= 0 else WINDOW_COLOR
                                                                    for v in t.products[top]],
        hovertemplate="%{y} = %{x:.4f}<extra></extra>"))
    rest = float(t.products.sum() - t.products[top].sum())
    title = tr(lang, "explain.linear_total", n=len(t.products), total=_fmt(lang, t.products.sum()),
               bias=_fmt(lang, t.bias), value=_fmt(lang, expl.value))
    if len(top) < len(t.products):
        title += "<br>" + tr(lang, "explain.others_inputs", n=len(t.products) - len(top), sum=_fmt(lang, rest))
    fig.update_layout(title=dict(text=f"{_unit_label(lang, expl)} — {title}", font=dict(size=13)), height=height,
                      margin=dict(l=10, r=10, t=80, b=10), yaxis=dict(autorange="reversed"),
                      xaxis_title=tr(lang, "explain.product"))
    return fig


def unit_figure(expl: UnitExplanation, lang: str = "en", **kw) -> go.Figure | None:
    """The figure that fits the unit's kind; None for batch norm, ReLU, dropout, flatten (use formula_text)."""
    if expl.kind == "conv":
        return conv_unit_figure(expl, lang, **kw)
    if expl.kind == "pool":
        return pool_unit_figure(expl, lang, **kw)
    if expl.kind == "linear":
        return linear_unit_figure(expl, lang, **kw)
    return None


def formula_text(expl: UnitExplanation, lang: str = "en") -> str:
    """The computation of the unit with its numbers, in the reader's language (plain text, one line)."""
    t, f = expl.terms, (lambda v: _fmt(lang, v))
    if expl.kind == "conv":
        return tr(lang, "explain.formula_conv", n=len(t.partials), total=f(t.partial_sum), bias=f(t.bias),
                  value=f(expl.value))
    if expl.kind == "batchnorm":
        return tr(lang, "explain.formula_bn", x=f(t.x), mean=f(t.mean), var=f(t.var), eps=f"{t.eps:g}",
                  gamma=f(t.gamma), beta=f(t.beta), value=f(expl.value))
    if expl.kind == "relu":
        return tr(lang, "explain.formula_relu", x=f(t.x), value=f(expl.value))
    if expl.kind == "activation":
        return tr(lang, "explain.formula_activation", function=t.function, x=f(t.x), value=f(expl.value))
    if expl.kind == "identity":
        return tr(lang, "explain.formula_identity", x=f(t.x), value=f(expl.value))
    if expl.kind == "flatten":
        src = expl.follow
        return tr(lang, "explain.formula_flatten", stage=src.stage, channel=src.channel, row=src.row, col=src.col,
                  value=f(expl.value))
    if expl.kind == "pool":
        if t.mode == "max":
            return tr(lang, "explain.pool_max", value=f(expl.value), row=t.winner[0], col=t.winner[1])
        return tr(lang, "explain.pool_avg", value=f(expl.value), n=t.divisor)
    return tr(lang, "explain.formula_linear", n=len(t.products), total=f(t.products.sum()), bias=f(t.bias),
              value=f(expl.value))


# ---------------------------------------------------------------- (b) a clickable feature map

def clickable_map_figure(fmap: np.ndarray, lang: str = "en", title: str = "", selected: tuple[int, int] | None = None,
                         colorscale: str = DIVERGING, height: int = 360) -> go.Figure:
    """A feature map (H, W) as a heatmap, with an invisible marker at each cell centre carrying
    customdata [row, col], so that st.plotly_chart(..., on_select="rerun", selection_mode="points") reports
    the clicked cell (heatmaps themselves are not selectable). `selected` is outlined."""
    fmap = np.asarray(fmap, dtype=np.float64)
    h, w = fmap.shape
    m = float(np.abs(fmap).max()) or 1.0
    heat = go.Heatmap(z=fmap, colorscale=colorscale, zmin=-m if colorscale == DIVERGING else None,
                      zmax=m if colorscale == DIVERGING else None, showscale=True,
                      colorbar=dict(thickness=10), hoverinfo="skip",
                      text=_grid_text(lang, fmap) if fmap.size <= MAX_TEXT_CELLS else None,
                      texttemplate="%{text}" if fmap.size <= MAX_TEXT_CELLS else None)
    rr, cc = np.mgrid[0:h, 0:w]
    size = max(6, min(60, int((height - 80) / max(h, w))))
    hover = tr(lang, "explain.click_cell")
    points = go.Scatter(
        x=cc.ravel(), y=rr.ravel(), mode="markers", customdata=np.stack([rr.ravel(), cc.ravel()], 1),
        marker=dict(size=size, symbol="square", opacity=0, color="black"), showlegend=False,
        selected=dict(marker=dict(opacity=0)), unselected=dict(marker=dict(opacity=0)),
        hovertemplate="(%{customdata[0]}, %{customdata[1]}): %{text}<br>" + hover + "<extra></extra>",
        text=np.array(_fmt_all(lang, fmap)))  # arrays, not lists: plotly checks a list item by item
    shapes = []
    if selected is not None:
        shapes.append(_rect(selected[0], selected[0], selected[1], selected[1], ("x", "y"), CELL_COLOR, 3))
    # the layout given to the constructor: fig.update_layout went through plotly's batch updates (13 -> 5 ms)
    return go.Figure([heat, points], layout=dict(
        title=dict(text=title, font=dict(size=13)), height=height, margin=MARGIN, shapes=shapes,
        clickmode="event+select", dragmode=False, hovermode="closest",
        xaxis=dict(showgrid=False, zeroline=False, constrain="domain", range=[-0.5, w - 0.5]),
        yaxis=dict(showgrid=False, zeroline=False, autorange=False, range=[h - 0.5, -0.5], scaleanchor="x",
                   constrain="domain")))


# ---------------------------------------------------------------- (c) receptive field, (d) Grad-CAM, (e) top-k

def _png(img: np.ndarray) -> str:
    """uint8 (H, W) or (H, W, 3) -> a PNG data URI (a picture travels as an image, not as numbers)."""
    from PIL import Image

    img = np.asarray(img, dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img, "L" if img.ndim == 2 else "RGB").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _picture(img: np.ndarray, ref=("x", "y")) -> go.Image:
    return go.Image(source=_png(img), x0=0, y0=0, dx=1, dy=1, xaxis=ref[0], yaxis=ref[1], hoverinfo="skip")


def receptive_field_figure(image: np.ndarray, box: tuple[int, int, int, int], lang: str = "en",
                           unit: str = "", height: int = 320) -> go.Figure:
    """The input image with the receptive field (row0, row1, col0, col1), inclusive, outlined."""
    r0, r1, c0, c1 = box
    h, w = np.asarray(image).shape[:2]
    fig = go.Figure([_picture(image)])
    title = tr(lang, "explain.receptive_field", unit=unit, rows=r1 - r0 + 1, cols=c1 - c0 + 1)
    fig.update_layout(title=dict(text=title, font=dict(size=13)), height=height, margin=MARGIN,
                      shapes=[_rect(r0, r1, c0, c1, ("x", "y"), WINDOW_COLOR, 3, "rgba(228,87,46,0.15)")],
                      xaxis=dict(showgrid=False, zeroline=False, range=[-0.5, w - 0.5], constrain="domain"),
                      yaxis=dict(showgrid=False, zeroline=False, range=[h - 0.5, -0.5], scaleanchor="x",
                                 constrain="domain"))
    return fig


def gradcam_figure(image: np.ndarray, cam: GradCam, lang: str = "en", classes=None, opacity: float = 0.5,
                   height: int = 340) -> go.Figure:
    """The input in gray with Grad-CAM's map over it (transparent where it is 0)."""
    h, w = cam.heatmap.shape
    top = float(cam.heatmap.max()) or 1.0
    z = np.where(cam.heatmap > 0.02 * top, cam.heatmap / top, np.nan)  # no colour where Grad-CAM sees nothing
    name = classes[cam.target] if classes is not None else str(cam.target)
    heat = go.Heatmap(z=z, colorscale="Inferno", zmin=0, zmax=1, opacity=opacity, showscale=True,
                      colorbar=dict(thickness=10), hovertemplate="(%{y}, %{x}): %{z:.2f}<extra></extra>")
    title = tr(lang, "explain.gradcam_title", name=name, p=float(cam.probs[cam.target]), stage=cam.stage)
    fig = go.Figure([_picture(image), heat])
    fig.update_layout(title=dict(text=title, font=dict(size=13)), height=height, margin=MARGIN,
                      xaxis=dict(showgrid=False, zeroline=False, range=[-0.5, w - 0.5], constrain="domain"),
                      yaxis=dict(showgrid=False, zeroline=False, range=[h - 0.5, -0.5], scaleanchor="x",
                                 constrain="domain"))
    return fig


def top_activations_figure(images: np.ndarray, tops: list[TopActivation], lang: str = "en", stage: str = "",
                           channel: int = 0, labels=None, classes=None, cols: int = 3,
                           height: int | None = None) -> go.Figure:
    """The images that excite `channel` of `stage` most, each with the receptive field of its strongest unit
    outlined, titled with the image index, its max response and (when given) its class."""
    if not tops:
        fig = go.Figure()
        fig.update_layout(title=tr(lang, "explain.top_none"), height=120)
        return fig
    n = len(tops)
    rows = -(-n // cols)
    layout, refs = _axes(cols, 0.03, rows=rows)
    traces, shapes = [], []
    for i, top in enumerate(tops):
        img = np.asarray(images[top.index])
        traces.append(_picture(img, refs[i]))
        r0, r1, c0, c1 = top.box
        shapes.append(_rect(r0, r1, c0, c1, refs[i], WINDOW_COLOR, 2))
        h, w = img.shape[:2]
        layout["xaxis" + refs[i][0][1:]].update(range=[-0.5, w - 0.5])
        layout["yaxis" + refs[i][1][1:]].update(range=[h - 0.5, -0.5], autorange=False)
        label = ""
        if labels is not None:
            y = int(labels[top.index])
            label = " · " + (str(classes[y]) if classes is not None else str(y))
        _title(layout, refs, i, tr(lang, "explain.top_item", index=top.index, value=_fmt(lang, top.value)) + label)
    for j in range(n, rows * cols):  # empty cells of the last row
        layout["xaxis" + refs[j][0][1:]].update(visible=False)
        layout["yaxis" + refs[j][1][1:]].update(visible=False)
    layout.update(title=dict(text=tr(lang, "explain.top_title", n=n, stage=stage, channel=channel),
                             font=dict(size=13)),
                  shapes=shapes, height=height or 200 * rows + 60, margin=dict(l=10, r=10, t=70, b=10))
    return go.Figure(traces, layout)
