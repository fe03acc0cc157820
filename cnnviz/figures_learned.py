"""Plotly figures of "What the network learned" (issue 24), with text in the reader's language. Pure builders:
the same arguments give the same figure (ui.shared_cache.figure builds each once per server).

    wanted_figure(image, lang, title)                   the image a channel wants, large (a PNG, pixels on hover)
    images_mosaic_figure(images, values, lang, ...)     one image per channel tiled (one PNG); a tile's channel and
                                                        value on hover, its channel in a click (clicked_tile)
    clicked_tile(event)                                 st.plotly_chart's selection -> the tile's channel or None
    cascade_maps_figure(gradcam, gradient, labels, lang)    Grad-CAM and the input gradient, trained then scrambled
    cascade_correlation_figure(rho_gradcam, rho_gradient, labels, lang)   their rank correlation with the trained
                                                        network's maps (arrays of cnnviz.explain.Cascade)

Large pictures travel as PNGs coloured on the server (cnnviz.figures' way), never as heatmaps of numbers.
"""

from __future__ import annotations

import math

import numpy as np
import plotly.graph_objects as go

from cnnviz.figures import _png_uri
from cnnviz.figures_explain import _png
from cnnviz.i18n import format_number, tr

GAP = 2  # pixels between tiles
GAP_GRAY = 150  # their colour: a white or a black tile keeps its edges
MAP_SCALE = "Inferno"  # saliency maps: dark 0, bright the largest
GRADCAM_COLOR, GRADIENT_COLOR = "#e4572e", "#17bebb"
MARGIN = dict(l=10, r=10, t=50, b=10)


def _separators(lang: str) -> str:
    """Plotly's decimal and thousands separators: '0,5' in French."""
    return ",\u202f" if lang == "fr" else ".,"


def _picture_axes(w: int, h: int) -> dict:
    return dict(xaxis=dict(showgrid=False, zeroline=False, showticklabels=False, ticks="", range=[-0.5, w - 0.5],
                           constrain="domain"),
                yaxis=dict(showgrid=False, zeroline=False, showticklabels=False, ticks="", range=[h - 0.5, -0.5],
                           scaleanchor="x", constrain="domain"))


def wanted_figure(image: np.ndarray, lang: str = "en", title: str = "", height: int = 340) -> go.Figure:
    """The image a channel wants, (H, W) or (H, W, 3) uint8, as the network sees it (pixel values on hover)."""
    image = np.asarray(image, dtype=np.uint8)
    h, w = image.shape[:2]
    traces = [go.Image(source=_png(image), x0=0, y0=0, dx=1, dy=1, hoverinfo="skip")]
    if h * w <= 64 * 64:  # a small image: each pixel's value on hover (a large one stays a PNG only)
        traces.append(go.Heatmap(z=image if image.ndim == 2 else image.mean(2), opacity=0, showscale=False,
                                 hovertemplate=tr(lang, "learned.pixel_hover") + "<extra></extra>"))
    fig = go.Figure(traces)
    fig.update_layout(title=dict(text=title, font=dict(size=13)), height=height, margin=MARGIN,
                      **_picture_axes(w, h))
    return fig


def _tile(images: np.ndarray, cols: int) -> tuple[np.ndarray, int, int]:
    """(K, H, W[, 3]) uint8 -> one canvas with GAP gray pixels between tiles, its rows and cols of tiles."""
    k, h, w = images.shape[:3]
    cols = max(1, min(cols, k))
    rows = math.ceil(k / cols)
    shape = (rows * (h + GAP) - GAP, cols * (w + GAP) - GAP) + images.shape[3:]
    canvas = np.full(shape, GAP_GRAY, dtype=np.uint8)
    for i, img in enumerate(images):
        r, q = divmod(i, cols)
        canvas[r * (h + GAP):r * (h + GAP) + h, q * (w + GAP):q * (w + GAP) + w] = img
    return canvas, rows, cols


def images_mosaic_figure(images: np.ndarray, values: np.ndarray, lang: str = "en", title: str = "", cols: int = 16,
                         selected: int | None = None, item: str = "learned.tile_channel",
                         names: tuple[str, ...] = ()) -> go.Figure:
    """One image per channel (or class), tiled in one PNG; over it an invisible marker at each tile's centre
    carries the hover (which channel, its mean activation on its image) and the click (customdata = channel:
    heatmaps are not selectable in st.plotly_chart). `selected` is outlined. `names` (classes) title the tiles
    when there are few."""
    images = np.asarray(images, dtype=np.uint8)
    k, h, w = images.shape[:3]
    canvas, rows, cols = _tile(images, cols)
    r, q = np.divmod(np.arange(k), cols)
    labels = [tr(lang, item, channel=i, name=names[i] if i < len(names) else str(i)) + " · "
              + tr(lang, "learned.tile_value", value=format_number(lang, float(values[i]), ".3g")) for i in range(k)]
    size = max(8, min(80, int(900 / cols)))
    hover = go.Scatter(x=q * (w + GAP) + (w - 1) / 2, y=r * (h + GAP) + (h - 1) / 2, mode="markers",
                       customdata=np.arange(k), text=np.array(labels, dtype=object), showlegend=False,
                       marker=dict(size=size, symbol="square", opacity=0, color="black"),
                       selected=dict(marker=dict(opacity=0)), unselected=dict(marker=dict(opacity=0)),
                       hovertemplate="%{text}<extra></extra>")
    picture = go.Image(source=_png(canvas), x0=0, y0=0, dx=1, dy=1, hoverinfo="skip")
    shapes = []
    if selected is not None and 0 <= selected < k:
        sr, sq = divmod(selected, cols)
        shapes.append(dict(type="rect", x0=sq * (w + GAP) - 1, x1=sq * (w + GAP) + w, y0=sr * (h + GAP) - 1,
                           y1=sr * (h + GAP) + h, line=dict(color=GRADCAM_COLOR, width=3)))
    annotations = []
    if names and k <= 20:  # a few classes: each tile titled
        annotations = [dict(x=int(q[i]) * (w + GAP) - 0.5, y=int(r[i]) * (h + GAP) - 0.5, xref="x", yref="y",
                            text=str(names[i]), showarrow=False, xanchor="left", yanchor="top",
                            bgcolor="rgba(255,255,255,0.8)", font=dict(size=12, color="black"))
                       for i in range(k)]
    height = 70 + 900 * rows / cols * h / w if cols > 4 else 90 + 260 * rows
    fig = go.Figure([picture, hover])
    fig.update_layout(title=dict(text=title, font=dict(size=13)), height=int(min(max(height, 180), 900)),
                      margin=dict(l=10, r=10, t=40, b=10), shapes=shapes,
                      annotations=annotations, clickmode="event+select", dragmode=False, hovermode="closest",
                      **_picture_axes(canvas.shape[1], canvas.shape[0]))
    return fig


def clicked_tile(event) -> int | None:
    """The channel of the tile clicked in an images_mosaic_figure (st.plotly_chart's selection), or None."""
    try:
        points = event["selection"]["points"]
    except (KeyError, TypeError):
        try:
            points = event.selection.points
        except AttributeError:
            return None
    for p in points or ():
        try:
            data = p.get("customdata")
            if data is not None and not (isinstance(data, float) and math.isnan(data)):
                return int(data)
        except (TypeError, ValueError, AttributeError):
            continue
    return None


def _map_canvas(maps: np.ndarray) -> np.ndarray:
    """(S, H, W) maps ≥ 0 -> one row of tiles, each scaled to its own largest value (NaN gaps, transparent)."""
    s, h, w = maps.shape
    canvas = np.full((h, s * (w + GAP) - GAP), np.nan)
    for i, m in enumerate(maps):
        top = float(np.max(m))
        canvas[:, i * (w + GAP):i * (w + GAP) + w] = m / top if top > 0 else 0.0
    return canvas


def cascade_maps_figure(gradcam: np.ndarray, gradient: np.ndarray, labels: list[str], lang: str = "en",
                        height: int = 300) -> go.Figure:
    """Two rows of maps (S, H, W), Grad-CAM above the input gradient: the trained network, then after each step
    of the cascade (labels: one per step, the trained network first). Each map on its own scale (its largest
    value brightest), as Adebayo et al. show them."""
    gradcam, gradient = np.asarray(gradcam, dtype=np.float64), np.asarray(gradient, dtype=np.float64)
    s, h, w = gradcam.shape
    top, bottom = _map_canvas(gradcam), _map_canvas(gradient)
    row_gap = 10
    canvas = np.full((2 * h + row_gap, top.shape[1]), np.nan)
    canvas[:h], canvas[h + row_gap:] = top, bottom
    picture = dict(type="image", source=_png_uri(canvas, MAP_SCALE, 0.0, 1.0), hoverinfo="skip")
    label_room, side_room = 7, 9  # data pixels above the maps (step labels) and left of them (row labels)
    annotations = [dict(x=i * (w + GAP) + (w - 1) / 2, y=-1, xref="x", yref="y", text=label, showarrow=False,
                        yanchor="bottom", font=dict(size=11)) for i, label in enumerate(labels)]
    for y, key in ((0, "learned.row_gradcam"), (h + row_gap, "learned.row_gradient")):
        annotations.append(dict(x=-1.5, y=y + (h - 1) / 2, xref="x", yref="y", text=tr(lang, key), showarrow=False,
                                xanchor="right", textangle=-90, font=dict(size=11)))
    fig = go.Figure([picture])
    axes = _picture_axes(canvas.shape[1], canvas.shape[0])  # widened: labels outside the range are not drawn
    axes["xaxis"]["range"] = [-0.5 - side_room, canvas.shape[1] - 0.5]
    axes["yaxis"]["range"] = [canvas.shape[0] - 0.5, -0.5 - label_room]
    fig.update_layout(title=dict(text=tr(lang, "learned.cascade_maps_title"), font=dict(size=13)), height=height,
                      margin=dict(l=10, r=10, t=50, b=10), annotations=annotations, plot_bgcolor="white", **axes)
    return fig


def cascade_correlation_figure(rho_gradcam: np.ndarray, rho_gradient: np.ndarray, labels: list[str],
                               lang: str = "en", height: int = 340) -> go.Figure:
    """The rank correlation of each map with the trained network's, step by step down the network: Grad-CAM's
    and the input gradient's (a gap where a map is constant, its correlation undefined)."""
    hover = tr(lang, "learned.rho_hover") + "<extra>%{fullData.name}</extra>"

    def line(values, key, color, dash=None):
        y = [None if not np.isfinite(v) else round(float(v), 4) for v in values]
        return go.Scatter(x=labels, y=y, name=tr(lang, key), mode="lines+markers", hovertemplate=hover,
                          line=dict(color=color, width=3, dash=dash), marker=dict(size=8), connectgaps=False)

    fig = go.Figure([line(rho_gradcam, "learned.row_gradcam", GRADCAM_COLOR),
                     line(rho_gradient, "learned.row_gradient", GRADIENT_COLOR, "dot")])
    fig.update_layout(title=dict(text=tr(lang, "learned.rho_title"), font=dict(size=13)), height=height,
                      margin=dict(l=10, r=10, t=50, b=10), separators=_separators(lang),
                      yaxis=dict(range=[-1.05, 1.05], title=tr(lang, "learned.rho_axis"), zeroline=True,
                                 zerolinecolor="gray"),
                      xaxis=dict(title=tr(lang, "learned.steps_axis"), type="category"),
                      legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"))
    return fig


def timeline_accuracy_figure(runs: list[tuple[str, np.ndarray, np.ndarray]], marks: list[float], lang: str = "en",
                             height: int = 260) -> go.Figure:
    """The validation accuracy of each run at each moment of its timeline (runs: (label, epochs (M,),
    accuracies (M,))), a dotted line at each run's current moment (marks: one epoch per run)."""
    colors = (GRADCAM_COLOR, GRADIENT_COLOR)
    looks = (("solid", "circle"), ("dash", "diamond"))  # the two runs told apart without colour too
    traces, shapes = [], []
    for i, (label, epochs, acc) in enumerate(runs):
        y = [None if not np.isfinite(v) else round(float(v), 4) for v in acc]
        color, (dash, symbol) = colors[i % len(colors)], looks[i % len(looks)]
        traces.append(go.Scatter(x=np.asarray(epochs, dtype=float).round(4), y=y, name=label, mode="lines+markers",
                                 line=dict(color=color, width=3, dash=dash), marker=dict(size=7, symbol=symbol),
                                 hovertemplate=tr(lang, "learned.timeline_hover") + "<extra>%{fullData.name}</extra>"))
    for i, epoch in enumerate(marks):
        shapes.append(dict(type="line", x0=float(epoch), x1=float(epoch), y0=0, y1=1, xref="x", yref="paper",
                           line=dict(color=colors[i % len(colors)], dash="dot", width=2)))
    fig = go.Figure(traces)
    fig.update_layout(title=dict(text=tr(lang, "learned.timeline_accuracy"), font=dict(size=13)), height=height,
                      margin=dict(l=10, r=10, t=50, b=10), shapes=shapes, separators=_separators(lang),
                      xaxis=dict(title=tr(lang, "learned.timeline_epoch_axis")),
                      yaxis=dict(title=tr(lang, "learned.timeline_accuracy_axis"), tickformat=".0%", range=[0, 1.02]),
                      legend=dict(orientation="h", y=1.02, x=1, xanchor="right", yanchor="bottom"))
    return fig
