"""Figures of the Training screen's runs: per-epoch curves of one run, several runs overlaid, and the live
views (conv1's filters and one image's conv1 maps) computed from a copy of the weights.

    epoch_figure(history, lang="fr")                   # training and validation loss, validation accuracy
    compare_figure([("run A", hist_a), ("run B", hist_b)], lang="fr")
    maps = conv1_maps(weights, bias, image)            # (F, H', W') from a weight copy, outside the loop
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import torch
import torch.nn.functional as F
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from cnnviz.figstyle import STACKABLE
from cnnviz.figures import SYMBOLS
from cnnviz.i18n import tr

COLORS = qualitative.Plotly


def _values(history: list[dict], key: str) -> tuple[list[int], list[float]]:
    pts = [(h["epoch"], h[key]) for h in history if h.get(key) is not None]
    return [p[0] for p in pts], [p[1] for p in pts]


def _two_panels(lang: str, height: int) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, subplot_titles=(tr(lang, "fig.runs_loss"), tr(lang, "fig.runs_val_acc")),
                        horizontal_spacing=0.12)
    fig.update_xaxes(title_text=tr(lang, "fig.runs_epoch"), dtick=1)
    fig.update_yaxes(title_text=tr(lang, "fig.runs_loss_axis"), row=1, col=1)
    fig.update_yaxes(title_text=tr(lang, "fig.runs_acc_axis"), tickformat=".0%", row=1, col=2)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=40, b=10),
                      legend=dict(orientation="h", y=-0.25, x=0), meta=STACKABLE)  # separators: cnnviz.figstyle
    return fig


def _accuracy_range(fig: go.Figure) -> None:
    """The accuracy axis spans the values shown with a margin (one point: ±5 points), within [0, 1]."""
    ys = [y for tr in fig.data if tr.xaxis == "x2" for y in (tr.y or ()) if y is not None]
    lo, hi = (min(ys), max(ys)) if ys else (0.0, 1.0)
    pad = max(0.05, (hi - lo) * 0.1)
    fig.update_yaxes(range=[max(0.0, lo - pad), min(1.0, hi + pad)], row=1, col=2)


def epoch_figure(history: list[dict], height: int = 320, lang: str = "en") -> go.Figure:
    """One run: training loss (solid) and validation loss (dashed) per epoch; validation accuracy (and the
    test accuracy measured each epoch on a sample, dotted)."""
    fig = _two_panels(lang, height)
    hover = "%{x}: %{y:.4f}<extra></extra>"
    for key, name, dash, color in (("train_loss", "fig.runs_train_loss", "solid", "#08519c"),
                                   ("val_loss", "fig.runs_val_loss", "dash", "#e4572e")):
        x, y = _values(history, key)
        fig.add_trace(go.Scatter(x=x, y=y, name=tr(lang, name), mode="lines+markers", hovertemplate=hover,
                                 line=dict(dash=dash, color=color)), row=1, col=1)
    for key, name, dash, color in (("val_accuracy", "fig.runs_val_accuracy", "solid", "#e4572e"),
                                   ("test_accuracy", "fig.runs_test_accuracy", "dot", "#636363")):
        x, y = _values(history, key)
        fig.add_trace(go.Scatter(x=x, y=y, name=tr(lang, name), mode="lines+markers",
                                 hovertemplate="%{x}: %{y:.2%}<extra></extra>", line=dict(dash=dash, color=color)),
                      row=1, col=2)
    _accuracy_range(fig)
    return fig


def compare_figure(runs: list[tuple[str, list[dict]]], height: int = 380, lang: str = "en") -> go.Figure:
    """Several runs overlaid: each run one colour; its training loss solid, validation loss dashed (left), its
    validation accuracy (right; the test-sample accuracy when it kept no validation images)."""
    fig = _two_panels(lang, height)
    for i, (label, history) in enumerate(runs):
        color = COLORS[i % len(COLORS)]
        x, y = _values(history, "train_loss")
        marker = dict(symbol=SYMBOLS[i % len(SYMBOLS)], size=8)  # runs told apart without colour too
        fig.add_trace(go.Scatter(x=x, y=y, name=label, legendgroup=str(i), mode="lines+markers", marker=marker,
                                 line=dict(color=color), hovertemplate=f"{label} · %{{x}}: %{{y:.4f}}<extra></extra>"),
                      row=1, col=1)
        x, y = _values(history, "val_loss")
        fig.add_trace(go.Scatter(x=x, y=y, name=label, legendgroup=str(i), showlegend=False, mode="lines",
                                 line=dict(color=color, dash="dash"),
                                 hovertemplate=f"{label} · %{{x}}: %{{y:.4f}}<extra></extra>"), row=1, col=1)
        x, y = _values(history, "val_accuracy")
        if not x:
            x, y = _values(history, "test_accuracy")
        fig.add_trace(go.Scatter(x=x, y=y, name=label, legendgroup=str(i), showlegend=False, mode="lines+markers",
                                 marker=marker, line=dict(color=color),
                                 hovertemplate=f"{label} · %{{x}}: %{{y:.2%}}<extra></extra>"),
                      row=1, col=2)
    _accuracy_range(fig)
    return fig


def conv1_maps(weights: np.ndarray, bias: np.ndarray, image: np.ndarray, padding: int = 0) -> np.ndarray:
    """conv1's maps (F, H', W') of one uint8 image (H, W[, 3]) for a copy of its weights (F, C, k, k) and biases,
    before ReLU, in the networks' [-1, 1] normalisation."""
    x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 127.5 - 1.0)
    x = x[None, None] if x.ndim == 2 else x.permute(2, 0, 1)[None]
    w = torch.from_numpy(np.asarray(weights, dtype=np.float32))
    with torch.no_grad():
        return F.conv2d(x, w, torch.from_numpy(np.asarray(bias, dtype=np.float32)),
                        padding=int(padding)).numpy()[0]
