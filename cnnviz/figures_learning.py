"""Plotly figures of "How the network learns": one image's costs and their gradients, a batch's costs, batch
gradients against the full gradient, the loss around the trained weights, and SGD with momentum on toy costs.

Pure builders of plain arguments (arrays, numbers, text), built once per server through ui.shared_cache.figure.
Texts come from the catalogues (`lang`); numbers on the axes follow the language (`separators`); `big` is the
presenter view (larger fonts for a projector).
"""

from __future__ import annotations

import base64
import io

import numpy as np
import plotly.graph_objects as go

from cnnviz.descent import MINIMUM, START, VIEW, cost
from cnnviz.figures import DASHES
from cnnviz.i18n import format_number, tr

COST_COLORS = {"cross-entropy": "#e4572e", "mse": "#1f77b4", "l1": "#2ca02c"}
COST_NAMES = {"cross-entropy": "learn.fig.ce", "mse": "learn.fig.mse", "l1": "learn.fig.l1"}
TRUE_COLOR, OTHER_COLOR = "#e4572e", "#8da0cb"
BATCH_COLORS = ("#9467bd", "#1f77b4", "#2ca02c", "#e4572e", "#8c564b", "#17becf")
PLAIN_COLOR, MOMENTUM_COLOR = "#1f77b4", "#e4572e"  # plain SGD also dotted, momentum solid: not by colour alone
CLOUD_SYMBOLS = ("circle", "square", "triangle-up", "cross", "pentagon", "hexagon")  # not the legend's diamond/x/star


def _layout(fig: go.Figure, title: str, height: int, lang: str, big: bool, legend_below: bool = False,
            **extra) -> go.Figure:
    legend = (dict(orientation="h", y=-0.18, x=0, yanchor="top") if legend_below else
              dict(orientation="h", y=1.0, x=1, xanchor="right", yanchor="bottom"))
    fig.update_layout(title=dict(text=title, y=0.98, yanchor="top"), height=min(height, 360) if big else height,
                      margin=dict(l=10, r=10, t=70 if big else 60, b=10), font=dict(size=19 if big else 14),
                      separators=",\u202f" if lang == "fr" else ".,", legend=legend, **extra)
    # Streamlit's chart theme sizes ticks, titles and legends itself (12 px): set each, so a projector reads them
    size = 19 if big else 14
    fig.update_xaxes(tickfont_size=size, title_font_size=size)
    fig.update_yaxes(tickfont_size=size, title_font_size=size)
    fig.update_layout(title_font_size=size + 2, legend_font_size=size)
    fig.update_traces(textfont_size=size - 2, selector=dict(type="bar"))
    fig.update_traces(colorbar_tickfont_size=size, selector=dict(type="contour"))
    return fig


def _num(lang: str, value: float, spec: str = ".3g") -> str:
    return format_number(lang, float(value), spec)


SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def _tick(lang: str, value: float) -> str:
    """A log axis's tick: 0,5 or 20 as such, 10⁻⁴ for a power of ten far from 1."""
    exponent = int(np.floor(np.log10(value) + 1e-9))
    if -2 <= exponent <= 3:
        return format_number(lang, float(f"{value:.3g}"))
    mantissa = value / 10 ** exponent
    head = "" if abs(mantissa - 1) < 1e-9 else f"{format_number(lang, round(mantissa, 2))}×"
    return f"{head}10{str(exponent).translate(SUPERSCRIPT)}"


def _log_axis(lang: str, values, title: str, **extra) -> dict:
    """A logarithmic axis whose ticks are 1, 2, 5 × 10ᵏ (only 10ᵏ over more than 4 decades), in the reader's
    notation — plotly's own labels of a log axis ("2", "5" between decades) read badly."""
    v = np.asarray([x for x in np.ravel(np.asarray(values, dtype=np.float64)) if np.isfinite(x) and x > 0])
    lo, hi = (float(v.min()), float(v.max())) if v.size else (1.0, 10.0)
    k0, k1 = int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi)))
    steps = (1,) if k1 - k0 > 4 else (1, 2, 5)
    ticks = [m * 10.0 ** k for k in range(k0, k1 + 1) for m in steps if lo / 1.5 <= m * 10.0 ** k <= hi * 1.5]
    if k1 - k0 > 8:  # a very wide range: every other decade
        ticks = ticks[::2]
    return dict(type="log", tickvals=ticks, ticktext=[_tick(lang, x) for x in ticks], title=dict(text=title), **extra)


# ---------------------------------------------------------------- one image

def cost_figure(logits: np.ndarray, probs: np.ndarray, classes, label: int, lang: str = "en", big: bool = False,
                height: int = 340) -> go.Figure:
    """The logits z (left) and the softmax p = e^z / Σ e^z (right) of every class, the true class in orange."""
    colors = [TRUE_COLOR if i == label else OTHER_COLOR for i in range(len(classes))]
    classes = list(classes)
    fig = go.Figure([
        go.Bar(x=list(map(float, logits)), y=classes, orientation="h", marker_color=colors, showlegend=False,
               text=[_num(lang, v, ".2f") for v in logits], textposition="outside", cliponaxis=False,
               constraintext="none", xaxis="x", yaxis="y",  # outside, never shrunk into a short bar
               hovertemplate="%{y}: z = %{x:.3f}<extra></extra>"),
        go.Bar(x=list(map(float, probs)), y=classes, orientation="h", marker_color=colors, showlegend=False,
               text=[_num(lang, v, ".1%") for v in probs], textposition="outside", cliponaxis=False,
               constraintext="none", xaxis="x2", yaxis="y2",
               hovertemplate="%{y}: p = %{x:.2%}<extra></extra>"),
    ])
    low, high = min(0.0, float(np.min(logits))), max(0.0, float(np.max(logits)))
    room = 0.3 * (high - low or 1.0)  # the numbers outside the bars, on both sides
    return _layout(fig, tr(lang, "learn.fig.cost_title"), height, lang, big,
                   xaxis=dict(domain=[0, 0.42], title=dict(text=tr(lang, "learn.fig.logits")), zeroline=True,
                              range=[low - (room if low < 0 else 0), high + (room if high > 0 else 0)]),
                   xaxis2=dict(domain=[0.58, 1], range=[0, 1.3], tickvals=[0, 0.5, 1],
                               ticktext=[_num(lang, v, ".0%") for v in (0, 0.5, 1)],
                               title=dict(text=tr(lang, "learn.fig.softmax"))),
                   yaxis=dict(autorange="reversed", dtick=1), yaxis2=dict(autorange="reversed", anchor="x2", dtick=1))


def logit_gradient_figure(grads: dict, classes, label: int, lang: str = "en", big: bool = False,
                          height: int = 340) -> go.Figure:
    """d cost / d z_k for every class k and each cost (grouped bars); gradient descent moves z against it."""
    classes = list(classes)
    fig = go.Figure([go.Bar(x=classes, y=list(map(float, grads[name])), name=tr(lang, COST_NAMES[name]),
                            marker_color=COST_COLORS[name],
                            hovertemplate="%{x}: %{y:.4f}<extra>" + tr(lang, COST_NAMES[name]) + "</extra>")
                     for name in COST_NAMES if name in grads])
    fig.add_annotation(x=classes[label], y=0, yref="y", text=tr(lang, "learn.fig.true_class"), showarrow=True,
                       arrowhead=2, ay=-40 if float(grads["cross-entropy"][label]) <= 0 else 40)
    return _layout(fig, tr(lang, "learn.fig.grad_title"), height, lang, big, barmode="group",
                   yaxis=dict(title=dict(text=tr(lang, "learn.fig.grad_axis")), zeroline=True, zerolinewidth=2,
                              exponentformat="power"))


def _png(image: np.ndarray) -> str:
    """A uint8 image (H, W) or (H, W, 3) -> PNG data URI."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def batch_figure(images: np.ndarray, probs_true: np.ndarray, losses: np.ndarray, lang: str = "en",
                 big: bool = False, height: int = 340) -> go.Figure:
    """A batch: each image above the bar of its cost ℓ_i = −log p_i (p_i written on the bar)."""
    b = len(losses)
    x = list(range(1, b + 1))
    fig = go.Figure(go.Bar(x=x, y=list(map(float, losses)), marker_color=TRUE_COLOR, showlegend=False,
                           text=[f"p = {_num(lang, p, '.2f')}" for p in probs_true], textposition="outside",
                           hovertemplate=tr(lang, "learn.fig.batch_hover") + "<extra></extra>"))
    images_layout = [dict(source=_png(img), xref="x", yref="paper", x=i, y=1.0, sizex=0.85, sizey=0.26,
                          xanchor="center", yanchor="top", sizing="contain", layer="above")
                     for i, img in zip(x, images)]
    top = float(max(np.max(losses), 1e-3))
    return _layout(fig, tr(lang, "learn.fig.batch_title", b=b), height + 60, lang, big, images=images_layout,
                   xaxis=dict(tickvals=x, title=dict(text=tr(lang, "learn.fig.batch_image"))),
                   yaxis=dict(domain=[0, 0.7], range=[0, top * 1.3], title=dict(text="ℓ = −log p")))


# ---------------------------------------------------------------- batch gradients

def convergence_figure(batch_sizes, running: list, lang: str = "en", big: bool = False,
                       height: int = 380) -> go.Figure:
    """For each |B|: ‖mean of the first d batch gradients − full gradient‖ / ‖full gradient‖ against d (log-log)."""
    fig = go.Figure()
    for i, (b, rel) in enumerate(zip(batch_sizes, running)):
        d = np.arange(1, len(rel) + 1)
        fig.add_trace(go.Scatter(x=d, y=np.asarray(rel, dtype=np.float64), mode="lines",
                                 name=f"|B| = {b}", line=dict(color=BATCH_COLORS[i % len(BATCH_COLORS)], width=3,
                                                              dash=DASHES[i % len(DASHES)]),  # not by colour alone
                                 hovertemplate="d = %{x}: %{y:.3f}<extra>|B| = " + str(b) + "</extra>"))
    if running:  # the 1/√d law, through the first curve's last point
        rel = np.asarray(running[0], dtype=np.float64)
        d = np.arange(1, len(rel) + 1)
        fig.add_trace(go.Scatter(x=d, y=rel[-1] * np.sqrt(len(rel) / d), mode="lines", name="∝ 1/√d",
                                 line=dict(color="#777777", dash="dot", width=2), hoverinfo="skip"))
    return _layout(fig, tr(lang, "learn.fig.conv_title"), height, lang, big,
                   xaxis=_log_axis(lang, [1, max(len(r) for r in running)], tr(lang, "learn.fig.draws")),
                   yaxis=_log_axis(lang, [v for r in running for v in r], tr(lang, "learn.fig.rel_error")))


def spread_figure(batch_sizes, coords: list, full_norm: float, lang: str = "en", big: bool = False,
                  height: int = 420) -> go.Figure:
    """Every drawn batch's gradient on a plane: along the full gradient (x) and across it, where they spread most
    (y). The full gradient is the star, the zero gradient the cross."""
    fig = go.Figure()
    for i, (b, xy) in enumerate(zip(batch_sizes, coords)):
        xy = np.asarray(xy, dtype=np.float64)
        fig.add_trace(go.Scatter(x=xy[:, 0], y=xy[:, 1], mode="markers", name=f"|B| = {b}", opacity=0.6,
                                 marker=dict(color=BATCH_COLORS[i % len(BATCH_COLORS)], size=7,
                                             symbol=CLOUD_SYMBOLS[i % len(CLOUD_SYMBOLS)]),
                                 hovertemplate="(%{x:.3g}, %{y:.3g})<extra>|B| = " + str(b) + "</extra>"))
    for i, (b, xy) in enumerate(zip(batch_sizes, coords)):  # where each cloud's mean lands: on the star
        mean = np.asarray(xy, dtype=np.float64).mean(0)
        fig.add_trace(go.Scatter(x=[mean[0]], y=[mean[1]], mode="markers", showlegend=i == 0,
                                 name=tr(lang, "learn.fig.mean"), legendgroup="mean",
                                 marker=dict(symbol="diamond", size=13, color=BATCH_COLORS[i % len(BATCH_COLORS)],
                                             line=dict(color="black", width=1.5)),
                                 hovertemplate="|B| = " + str(b) + ": (%{x:.3g}, %{y:.3g})<extra></extra>"))
    fig.add_trace(go.Scatter(x=[0.0], y=[0.0], mode="markers", name=tr(lang, "learn.fig.zero"),
                             marker=dict(symbol="x", size=14, color="black"), hoverinfo="skip"))
    fig.add_trace(go.Scatter(x=[float(full_norm)], y=[0.0], mode="markers", name=tr(lang, "learn.fig.full"),
                             marker=dict(symbol="star", size=22, color="gold", line=dict(color="black", width=1.5)),
                             hoverinfo="skip"))
    second = np.asarray(coords[1] if len(coords) > 1 else coords[0], dtype=np.float64)  # frame |B| = 8's cloud
    half = 1.15 * float(np.percentile(np.abs(second - [full_norm, 0.0]), 98)) or 1.0
    return _layout(fig, tr(lang, "learn.fig.spread_title"), height, lang, big, legend_below=True,
                   xaxis=dict(title=dict(text=tr(lang, "learn.fig.along")), range=[full_norm - half, full_norm + half],
                              zeroline=True),
                   yaxis=dict(title=dict(text=tr(lang, "learn.fig.across")), range=[-half, half], scaleanchor="x",
                              zeroline=True))


def variance_figure(batch_sizes, variances, expected, slope: float, lang: str = "en", big: bool = False,
                    height: int = 380) -> go.Figure:
    """Measured variance of the batch gradient against |B| (log-log), the fitted line and σ²/|B|·(N−|B|)/(N−1)."""
    b = np.asarray(batch_sizes, dtype=np.float64)
    v = np.asarray(variances, dtype=np.float64)
    fit = np.polyfit(np.log(b), np.log(v), 1) if len(b) >= 2 else (slope, np.log(v[0]))
    fig = go.Figure([
        go.Scatter(x=b, y=np.asarray(expected, dtype=np.float64), mode="lines", name=tr(lang, "learn.fig.formula"),
                   line=dict(color="#777777", dash="dot", width=2), hovertemplate="%{y:.3g}<extra></extra>"),
        go.Scatter(x=b, y=np.exp(np.polyval(fit, np.log(b))), mode="lines",
                   name=tr(lang, "learn.fig.fit", slope=_num(lang, slope, ".2f")),
                   line=dict(color=TRUE_COLOR, width=2)),
        go.Scatter(x=b, y=v, mode="markers", name=tr(lang, "learn.fig.measured"),
                   marker=dict(size=14, color="#1f77b4", line=dict(color="black", width=1)),
                   hovertemplate="|B| = %{x}: %{y:.4g}<extra></extra>"),
    ])
    return _layout(fig, tr(lang, "learn.fig.var_title", slope=_num(lang, slope, ".2f")), height, lang, big,
                   legend_below=True,
                   xaxis=dict(type="log", title=dict(text="|B|"), tickvals=list(b), ticktext=[str(int(x)) for x in b]),
                   yaxis=_log_axis(lang, [*v, *np.asarray(expected, dtype=np.float64)], tr(lang, "learn.fig.variance")))


# ---------------------------------------------------------------- loss landscape

def line_figure(alphas, train_loss, test_loss, test_accuracy, lang: str = "en", big: bool = False,
                height: int = 380) -> go.Figure:
    """Cost (log scale, left) and test accuracy (right) at θ + α·d along a filter-normalised direction d."""
    a = np.asarray(alphas, dtype=np.float64)
    fig = go.Figure([
        go.Scatter(x=a, y=np.asarray(train_loss, dtype=np.float64), mode="lines+markers",
                   name=tr(lang, "learn.fig.train_loss"), line=dict(color=TRUE_COLOR, width=3)),
        go.Scatter(x=a, y=np.asarray(test_loss, dtype=np.float64), mode="lines+markers",
                   name=tr(lang, "learn.fig.test_loss"), line=dict(color="#ff9f80", width=2, dash="dash")),
        go.Scatter(x=a, y=np.asarray(test_accuracy, dtype=np.float64), mode="lines+markers", yaxis="y2",
                   name=tr(lang, "learn.fig.test_accuracy"), line=dict(color="#1f77b4", width=3)),
    ])
    fig.add_vline(x=0, line=dict(color="#444444", dash="dot"))
    return _layout(fig, tr(lang, "learn.fig.line_title"), height, lang, big, legend_below=True,
                   xaxis=dict(title=dict(text="α")),
                   yaxis=_log_axis(lang, [*np.ravel(train_loss), *np.ravel(test_loss)], tr(lang, "learn.fig.loss")),
                   yaxis2=dict(overlaying="y", side="right", range=[0, 1.02], tickvals=[0, 0.25, 0.5, 0.75, 1],
                               ticktext=[_num(lang, v, ".0%") for v in (0, 0.25, 0.5, 0.75, 1)], showgrid=False,
                               title=dict(text=tr(lang, "learn.fig.accuracy"))))


def plane_figure(alphas, betas, loss, path=None, lang: str = "en", big: bool = False, height: int = 460,
                 axis_ids: tuple = ("α", "β")) -> go.Figure:
    """Contours of the cost (log scale) at θ + α·d₁ + β·d₂; the trained weights at the centre; a path, if any."""
    z = np.log10(np.maximum(np.asarray(loss, dtype=np.float64), 1e-6))
    scale = _log_axis(lang, 10 ** z, "")  # 1, 2, 5 × 10ᵏ on the colour bar of log10(cost)
    fig = go.Figure(go.Contour(
        x=np.asarray(alphas, dtype=np.float64), y=np.asarray(betas, dtype=np.float64), z=z, colorscale="Viridis",
        ncontours=24, customdata=np.asarray(loss, dtype=np.float64),
        colorbar=dict(title=dict(text=tr(lang, "learn.fig.loss")), tickvals=np.log10(scale["tickvals"]).tolist(),
                      ticktext=scale["ticktext"]),
        hovertemplate=f"{axis_ids[0]} = %{{x:.2f}}, {axis_ids[1]} = %{{y:.2f}}: %{{customdata:.3f}}<extra></extra>"))
    if path is not None and len(path):
        p = np.asarray(path, dtype=np.float64)
        fig.add_trace(go.Scatter(x=p[:, 0], y=p[:, 1], mode="lines+markers+text", name=tr(lang, "learn.fig.path"),
                                 text=[str(i) for i in range(1, len(p) + 1)], textposition="top center",
                                 line=dict(color="white", width=3), marker=dict(size=9, color="white")))
    fig.add_trace(go.Scatter(x=[0.0], y=[0.0], mode="markers", name=tr(lang, "learn.fig.trained"),
                             marker=dict(symbol="star", size=20, color="gold", line=dict(color="black", width=1.5))))
    return _layout(fig, tr(lang, "learn.fig.plane_title"), height, lang, big,
                   xaxis=dict(title=dict(text=axis_ids[0]), constrain="domain"),
                   yaxis=dict(title=dict(text=axis_ids[1]), scaleanchor="x", constrain="domain"))


# ---------------------------------------------------------------- toy costs

def toy_figure(toy: str, paths: list, lang: str = "en", big: bool = False, height: int = 460) -> go.Figure:
    """Contours of a toy cost (log scale) and the paths of SGD: each path a dict(points=(T+1, 2), name, momentum,
    diverged_at)."""
    (x0, x1), (y0, y1) = VIEW[toy]
    xs, ys = np.linspace(x0, x1, 161), np.linspace(y0, y1, 121)
    z = np.log10(cost(toy, xs[None, :], ys[:, None]) + 1e-3)
    fig = go.Figure(go.Contour(x=xs, y=ys, z=z, colorscale="Blues", reversescale=True, ncontours=30,
                               showscale=False, hoverinfo="skip", contours=dict(showlines=True),
                               line=dict(width=0.5)))
    for path in paths:
        p = np.asarray(path["points"], dtype=np.float64)
        color = MOMENTUM_COLOR if path["momentum"] else PLAIN_COLOR
        fig.add_trace(go.Scatter(x=p[:, 0], y=p[:, 1], mode="lines+markers", name=path["name"],
                                 line=dict(color=color, width=2.5, dash="solid" if path["momentum"] else "dot"),
                                 marker=dict(size=4, color=color),
                                 hovertemplate="(%{x:.3f}, %{y:.3f})<extra>" + path["name"] + "</extra>"))
        if path["diverged_at"] is not None:
            fig.add_annotation(x=float(np.clip(p[-1, 0], x0, x1)), y=float(np.clip(p[-1, 1], y0, y1)),
                               text=tr(lang, "learn.fig.diverged", step=path["diverged_at"]), showarrow=True,
                               arrowhead=2, font=dict(color=color), bgcolor="white")
    for (x, y), name, marker in ((START[toy], "learn.fig.start", dict(symbol="circle", size=13, color="black")),
                                 (MINIMUM[toy], "learn.fig.minimum",
                                  dict(symbol="star", size=20, color="gold", line=dict(color="black", width=1.5)))):
        fig.add_trace(go.Scatter(x=[x], y=[y], mode="markers+text", text=[tr(lang, name)], textposition="top center",
                                 name=tr(lang, name), marker=marker, showlegend=False,
                                 textfont=dict(size=19 if big else 14)))
    return _layout(fig, tr(lang, "learn.fig.toy_title"), height, lang, big,
                   xaxis=dict(range=[x0, x1], title=dict(text="x")), yaxis=dict(range=[y0, y1], title=dict(text="y")))


def toy_cost_figure(paths: list, lang: str = "en", big: bool = False, height: int = 300) -> go.Figure:
    """The cost L(w_t) along each path against the step t (log scale)."""
    fig = go.Figure()
    for path in paths:
        c = np.asarray(path["costs"], dtype=np.float64)
        fig.add_trace(go.Scatter(x=np.arange(len(c)), y=np.maximum(c, 1e-12), mode="lines", name=path["name"],
                                 line=dict(color=MOMENTUM_COLOR if path["momentum"] else PLAIN_COLOR, width=3,
                                           dash="solid" if path["momentum"] else "dot")))
    return _layout(fig, tr(lang, "learn.fig.toy_cost_title"), height, lang, big,
                   xaxis=dict(title=dict(text=tr(lang, "learn.fig.step"))),
                   yaxis=_log_axis(lang, [max(float(c), 1e-12) for p in paths for c in p["costs"]],
                                   tr(lang, "learn.fig.loss")))
