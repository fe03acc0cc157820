"""Every chart of the app is shown here: `chart(fig, key=…)` styles the figure for this reader (cnnviz.figstyle:
language, presenter view, phone), gives it a text alternative and plotly's own texts in the reader's language,
then calls st.plotly_chart.

    ui.chart(shared_cache.figure(conv_view, image, kernel, …, lang=lang), key="conv_fig", share=0.6,
             on_select=go_to_clicked, selection_mode="points")

`share`: in the presenter view, the chart's height as a share of the screen's (the screen's main figure, so that
what the step is about fits a projector); otherwise the builder's height grows with the screen.
`ui.shared_cache.figure` already returns a styled figure (styling twice changes nothing), so a page that calls
st.plotly_chart(shared_cache.figure(...)) directly still gets the reader's numbers and sizes.

A shared figure (cnnviz.shared.FrozenFigure) is styled once per kind of reader (language, view, share) and kept
with the figure, its text alternative too: a rerun of a view costs no styling, only Streamlit's own work.
"""

from __future__ import annotations

import functools

import streamlit as st

from cnnviz import figstyle
from cnnviz.shared import FrozenFigure
from ui import browser as viewport
from ui.widgets import lang as current_lang
from ui.widgets import presenting


def view() -> figstyle.View:
    """This reader's screen (the presenter view's, a phone's, or a desktop's)."""
    return viewport.current(presenting())


def styled(fig, share: float | None = None) -> FrozenFigure:
    """`fig` (a go.Figure or a shared FrozenFigure) styled for this reader, as a FrozenFigure (never a copy of
    the shared one changed in place). A FrozenFigure's styled form is made once per (language, view, share) and
    shared: the same object for every session on that view."""
    if isinstance(fig, FrozenFigure):
        return fig.styled(current_lang(), view(), share)
    return FrozenFigure.wrap(figstyle.style(fig.to_dict(), current_lang(), view(), share))


@functools.lru_cache(maxsize=64)
def _config(lang: str, reader: figstyle.View) -> dict:
    """figstyle.plotly_config, made once per language and view (19 translated toolbar texts); only read."""
    return figstyle.plotly_config(lang, reader)


def chart(fig, *, key: str | None = None, alt: str | None = None, share: float | None = None, container=None, **kwargs):
    """st.plotly_chart of `fig` for this reader -> what st.plotly_chart returns (the selection, with on_select).

    `alt`: what the chart shows, for screen readers (default: from its titles, cnnviz.figstyle.alt_text)."""
    lang, reader = current_lang(), view().for_figures()
    shown = styled(fig, share)
    kwargs.setdefault("width", "stretch")
    config = {**_config(lang, reader), **(kwargs.pop("config", None) or {})}  # the page's own last
    alt = alt or shown.memo(f"alt:{lang}", lambda: figstyle.alt_text(shown.to_dict(), lang))
    return (container or st).plotly_chart(shown, key=key, alt=alt, config=config, **kwargs)
