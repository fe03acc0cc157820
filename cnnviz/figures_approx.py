"""Plotly figures of the approximation screen: a network's fit over its target (with the training replayed in
the browser), and the errors against the number of hidden neurons. Texts come from the catalogues (`lang`)."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from cnnviz.approx import Fit, plot_grid, target, training_points
from cnnviz.figures import play_pause
from cnnviz.i18n import tr

TARGET_COLOR = "#444444"
NETWORK_COLOR = "#e4572e"
POINT_COLOR = "rgba(31,119,180,0.45)"
UNIT_COLOR = "rgba(23,190,187,0.55)"
MAX_COLOR = "#d62728"
MSE_COLOR = "#1f77b4"


def _y_range(function: str, truth: np.ndarray) -> list[float]:
    _, ys = training_points(function)
    lo, hi = float(min(truth.min(), ys.min())), float(max(truth.max(), ys.max()))
    pad = 0.25 * (hi - lo) + 0.1
    return [lo - pad, hi + pad]


def _curves(function: str, x: np.ndarray, truth: np.ndarray, neurons: int, pred: np.ndarray, title: str,
            height: int, lang: str) -> go.Figure:
    xs, ys = training_points(function)
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=x, y=truth, mode="lines", name=tr(lang, "ua.fig.target"),
                             line=dict(color=TARGET_COLOR, width=2, dash="dash")))
    fig.add_trace(go.Scatter(x=xs, y=ys, mode="markers", name=tr(lang, "ua.fig.points"),
                             marker=dict(color=POINT_COLOR, size=4)))
    fig.add_trace(go.Scatter(x=x, y=pred, mode="lines", name=tr(lang, "ua.fig.network", n=neurons),
                             line=dict(color=NETWORK_COLOR, width=3)))
    fig.update_layout(
        height=height, margin=dict(l=10, r=10, t=80, b=10), title=dict(text=title, y=0.99, yanchor="top"),
        xaxis=dict(title=dict(text="x"), range=[float(x[0]), float(x[-1])]),
        yaxis=dict(range=_y_range(function, truth)),
        legend=dict(orientation="h", y=1.0, x=1, xanchor="right", yanchor="bottom"),
    )
    return fig


def training_figure(function: str, neurons: int, steps: int, step: int, pred: np.ndarray, height: int = 420,
                    lang: str = "en") -> go.Figure:
    """The network's output on `plot_grid()` while it trains (after `step` of `steps` steps), over its target."""
    x = plot_grid()
    return _curves(function, x, target(function, x), neurons, pred,
                   tr(lang, "ua.fig.fit_title", step=step, steps=steps), height, lang)


def fit_figure(fit: Fit, show_units: bool = False, animate: bool = True, height: int = 420,
               lang: str = "en") -> go.Figure:
    """A finished fit over its target; with `animate`, a slider and a Play button replay its snapshots."""
    fig = _curves(fit.function, fit.x, fit.truth, fit.neurons, fit.pred,
                  tr(lang, "ua.fig.fit_title", step=fit.steps, steps=fit.steps), height, lang)
    if show_units:
        for i, term in enumerate(fit.units):
            fig.add_trace(go.Scatter(x=fit.x, y=term, mode="lines", line=dict(color=UNIT_COLOR, width=1),
                                     name=tr(lang, "ua.fig.units"), legendgroup="units", showlegend=i == 0,
                                     hovertemplate=tr(lang, "ua.fig.unit_hover", i=i + 1) + "<extra></extra>"))
    if not animate or len(fit.snap_steps) < 2:
        return fig
    prefix = tr(lang, "ua.fig.iteration")
    frames = [go.Frame(name=str(s), data=[go.Scatter(y=p)], traces=[2],
                       layout=dict(title=dict(text=tr(lang, "ua.fig.fit_title", step=s, steps=fit.steps))))
              for s, p in zip(fit.snap_steps, fit.snap_preds)]
    fig.frames = frames
    fig.update_layout(
        height=height + 80, margin=dict(l=10, r=10, t=80, b=90),
        updatemenus=[play_pause(lang, frame_ms=250, y=-0.12)],
        sliders=[dict(active=len(frames) - 1, x=0.22, len=0.78, y=-0.1, yanchor="top",
                      currentvalue=dict(prefix=prefix),
                      steps=[dict(label=str(s), method="animate",
                                  args=[[str(s)], dict(mode="immediate", frame=dict(duration=0, redraw=True),
                                                       transition=dict(duration=0))])
                             for s in fit.snap_steps])],
    )
    return fig


def sweep_figure(sweep: dict, current: Fit | None = None, height: int = 380, lang: str = "en") -> go.Figure:
    """Maximum and mean squared errors against N (both axes logarithmic), and the current network's."""
    fig = go.Figure()
    for key, name_id, color, symbol, dash in (("max_error", "ua.max_error", MAX_COLOR, "square", "solid"),
                                              ("mse", "ua.mse", MSE_COLOR, "circle", "dash")):
        fig.add_trace(go.Scatter(x=sweep["neurons"], y=sweep[key], mode="lines+markers", name=tr(lang, name_id),
                                 line=dict(color=color, width=2, dash=dash), marker=dict(size=8, symbol=symbol)))
    if current is not None:
        fig.add_trace(go.Scatter(x=[current.neurons, current.neurons], y=[current.max_error, current.mse],
                                 mode="markers", name=tr(lang, "ua.fig.current", steps=current.steps),
                                 marker=dict(symbol="star", size=15, color=[MAX_COLOR, MSE_COLOR],
                                             line=dict(color="black", width=1))))
    fig.update_layout(
        height=height, margin=dict(l=10, r=10, t=80, b=10),
        title=dict(text=tr(lang, "ua.fig.sweep_title"), y=0.99, yanchor="top"),
        xaxis=dict(type="log", title=dict(text=tr(lang, "ua.neurons")), tickvals=sweep["neurons"],
                   ticktext=[str(n) for n in sweep["neurons"]]),
        yaxis=dict(type="log", title=dict(text=tr(lang, "ua.fig.error")), exponentformat="power", dtick=1),
        legend=dict(orientation="h", y=1.0, x=1, xanchor="right", yanchor="bottom"),
    )
    return fig
