"""Figures of the exercises: one grid of numbers per figure, large enough for a projector and a phone.

Each grid is its own figure, so that the page can set them in columns that Streamlit stacks on a narrow screen.
The cell asked about is outlined and shows "?"; cells not computed yet are blank. Pure builders of plain values
(ui/shared_cache.figure keys them by their arguments):

    grid_figure([[1, 2], [3, 4]], "Input 2×2", lang="fr")
    grid_figure(np.full((3, 3), np.nan), "Output 3×3", ask=(0, 1))
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from cnnviz.figures import CURRENT_COLOR, _cell_rect
from cnnviz.i18n import format_numbers, tr

PALETTES = {"input": "Blues", "kernel": "RdBu_r", "output": "Oranges"}
CELL_PX = 46  # a cell's height in pixels: numbers of 20 px stay readable at the back of a lecture hall


def grid_figure(values, title: str, role: str = "input", ask: tuple[int, int] | None = None,
                cell_px: int = CELL_PX, lang: str = "en") -> go.Figure:
    """A 2-D grid of numbers (NaN: a blank cell) with the numbers written the `lang` way; `ask` (row, col) is
    outlined and shows "?". `cell_px`: a row's height (smaller in the presenter view, to fit 1280×720)."""
    z = np.asarray(values, dtype=np.float64)  # (H, W)
    h, w = z.shape
    finite = z[np.isfinite(z)]
    vmax = float(np.abs(finite).max()) if finite.size else 1.0
    vmax = vmax or 1.0
    text = np.array(format_numbers(lang, np.nan_to_num(z).ravel()), dtype=object).reshape(h, w)
    text[~np.isfinite(z)] = ""
    if ask is not None:
        text[ask] = "?"
    zmin, zmax = (-vmax * 1.8, vmax * 1.8) if role == "kernel" else (-vmax * 0.1, vmax * 1.6)
    blank = np.where(np.isfinite(z), z, zmin)  # cells not computed yet: the palette's lightest colour, no number
    heat = dict(type="heatmap", z=blank,
                text=text.tolist(), texttemplate="%{text}", textfont=dict(size=20), colorscale=PALETTES[role],
                zmin=zmin, zmax=zmax, showscale=False, xgap=3, ygap=3,
                hovertemplate=tr(lang, "ex.fig.cell_hover") + "<extra></extra>")
    shapes = [] if ask is None else [dict(_cell_rect(*ask, *ask, CURRENT_COLOR, width=5),
                                          fillcolor="rgba(23,190,187,0.15)")]
    axis = dict(showgrid=False, zeroline=False, dtick=1, tickfont=dict(size=14), fixedrange=True)
    layout = dict(title=dict(text=title, font=dict(size=18), y=0.99, yref="container", yanchor="top"),
                  height=int(cell_px * h + 110), margin=dict(l=30, r=10, t=80, b=10), shapes=shapes,
                  plot_bgcolor="rgba(0,0,0,0)",
                  xaxis=dict(axis, side="top", range=[-0.5, w - 0.5], constrain="domain"),
                  yaxis=dict(axis, range=[h - 0.5, -0.5], scaleanchor="x", constrain="domain"))
    return go.Figure(dict(data=[heat], layout=layout))
