"""Plotly figures of the remedies for translation (issue 13): how consistent each network is under
shifts of up to k pixels, and what it costs in accuracy.

    rows = cnnviz.shift.stored_table()            # or consistency_table(...): one ConsistencyRow per network
    consistency_figure(rows, lang="fr")           # consistency against k, zero fill (solid) and circular (dashed)
    tradeoff_figure(rows, k=3, lang="fr")         # accuracy against consistency at k, one point per network

Text comes from locales/<lang>/remedies.po; no Streamlit here.
"""

from __future__ import annotations

import plotly.graph_objects as go

from cnnviz.figstyle import STACKABLE
from cnnviz.figures import DASHES, SYMBOLS
from cnnviz.i18n import format_number, tr

# Network id (cnnviz.shift.REMEDY_NETWORKS) -> message id of its name; other ids are shown as they are.
NETWORK_LABELS = {
    "standard": "remedies.net_standard",
    "blur": "remedies.net_blur",
    "shift": "remedies.net_shift",
}
COLORS = {"standard": "#636efa", "blur": "#ef553b", "shift": "#00cc96"}
OTHER_COLORS = ("#ab63fa", "#ffa15a", "#19d3f3", "#ff6692")
FILL_LABELS = {False: "remedies.fill_zero", True: "remedies.fill_circular"}


def network_label(network: str, lang: str = "en") -> str:
    msg = NETWORK_LABELS.get(network)
    return tr(lang, msg) if msg else network


def _color(network: str, i: int) -> str:
    return COLORS.get(network, OTHER_COLORS[i % len(OTHER_COLORS)])


def consistency_figure(rows, lang: str = "en", height: int = 380, circular: bool | None = None) -> go.Figure:
    """Consistency (share of test images whose class is the same under two random shifts of up to k
    pixels) against k, one colour per network; zero fill solid, circular dashed (`circular` None: both)."""
    fig = go.Figure()
    modes = (False, True) if circular is None else (bool(circular),)
    for i, row in enumerate(rows):
        name = network_label(row.network, lang)
        for circ in modes:
            values = row.circular if circ else row.zero
            ks = sorted(values)
            ys = [values[k] for k in ks]
            fig.add_trace(go.Scatter(
                x=ks, y=ys, mode="lines+markers",
                name=tr(lang, "remedies.trace", network=name, fill=tr(lang, FILL_LABELS[circ])),
                legendgroup=row.network, marker=dict(symbol=SYMBOLS[i % len(SYMBOLS)], size=9),
                line=dict(color=_color(row.network, i), dash="dash" if circ else "solid", width=2),
                text=[format_number(lang, y, ".1%") for y in ys],
                hovertemplate="k = %{x}: %{text}<extra>%{fullData.name}</extra>"))
    fig.update_layout(
        height=height, margin=dict(l=10, r=10, t=40, b=10), title=tr(lang, "remedies.fig_title"),
        xaxis=dict(title=tr(lang, "remedies.axis_k"), dtick=1),
        yaxis=dict(title=tr(lang, "remedies.axis_consistency"), tickformat=".0%"),
        legend=dict(orientation="h", y=-0.2))
    return fig


def tradeoff_figure(rows, k: int = 3, lang: str = "en", height: int = 340) -> go.Figure:
    """Test accuracy (x) against consistency at k with zero fill (y): one labelled point per network."""
    fig = go.Figure()
    for i, row in enumerate(rows):
        if k not in row.zero:
            continue
        name = network_label(row.network, lang)
        fig.add_trace(go.Scatter(
            x=[row.accuracy], y=[row.zero[k]], mode="markers+text", name=name, text=[name],
            textposition="top center", marker=dict(size=14, color=_color(row.network, i),
                                                   symbol=SYMBOLS[i % len(SYMBOLS)]),
            hovertext=[tr(lang, "remedies.point", network=name, acc=row.accuracy, cons=row.zero[k], k=k)],
            hoverinfo="text"))
    fig.update_layout(
        height=height, margin=dict(l=10, r=10, t=40, b=10), showlegend=False,
        title=tr(lang, "remedies.tradeoff_title", k=k),
        xaxis=dict(title=tr(lang, "remedies.axis_accuracy"), tickformat=".1%"),
        yaxis=dict(title=tr(lang, "remedies.axis_consistency_k", k=k), tickformat=".0%"))
    return fig


def remedy_curves_figure(curves: dict, k: int, lang: str = "en", height: int = 320) -> go.Figure:
    """For each network (id -> (p along x, p along y), each (2k+1,)): the probability of the class it gives
    the unshifted image, as the image moves along x (dy = 0) and along y (dx = 0). Two panels side by side."""
    from plotly.subplots import make_subplots

    shifts = list(range(-k, k + 1))
    fig = make_subplots(1, 2, shared_yaxes=True, subplot_titles=(tr(lang, "fig.shift_x"), tr(lang, "fig.shift_y")))
    for i, (network, (along_x, along_y)) in enumerate(curves.items()):
        name = network_label(network, lang)
        for col, ys in ((1, along_x), (2, along_y)):
            fig.add_trace(go.Scatter(x=shifts, y=list(map(float, ys)), mode="lines+markers", name=name,
                                     legendgroup=network, showlegend=col == 1,
                                     marker=dict(symbol=SYMBOLS[i % len(SYMBOLS)], size=9),
                                     line=dict(color=_color(network, i), width=2, dash=DASHES[i % len(DASHES)])),
                          1, col)
    fig.update_yaxes(range=[0, 1.02], tickformat=".0%")
    fig.update_xaxes(title_text=tr(lang, "fig.pixels"), dtick=1 if k <= 6 else 2)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10), legend=dict(orientation="h", y=-0.3),
                      title=tr(lang, "remedies.curves_title"), meta=STACKABLE)
    return fig
