"""Every chart of the app is shown here: `chart(fig, key=…)` styles the figure for this reader (cnnviz.figstyle:
language, presenter view, phone), gives it a text alternative and plotly's own texts in the reader's language,
then calls st.plotly_chart.

    ui.chart(shared_cache.figure(conv_view, image, kernel, …, lang=lang), key="conv_fig", share=0.6,
             on_select=go_to_clicked, selection_mode="points")

`share`: in the presenter view, the chart's height as a share of the screen's (the screen's main figure, so that
what the step is about fits a projector); otherwise the builder's height grows with the screen.
`ui.shared_cache.figure` already returns a styled figure (styling twice changes nothing), so a page that calls
st.plotly_chart(shared_cache.figure(...)) directly still gets the reader's numbers and sizes.
"""

from __future__ import annotations

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
    the shared one changed in place)."""
    return FrozenFigure.wrap(figstyle.style(fig.to_dict(), current_lang(), view(), share))


def chart(fig, *, key: str | None = None, alt: str | None = None, share: float | None = None, container=None, **kwargs):
    """st.plotly_chart of `fig` for this reader -> what st.plotly_chart returns (the selection, with on_select).

    `alt`: what the chart shows, for screen readers (default: from its titles, cnnviz.figstyle.alt_text)."""
    lang = current_lang()
    shown = styled(fig, share)
    spec = shown.to_dict()
    kwargs.setdefault("width", "stretch")
    config = {**figstyle.plotly_config(lang, view()), **(kwargs.pop("config", None) or {})}  # the page's own last
    return (container or st).plotly_chart(shown, key=key, alt=alt or figstyle.alt_text(spec, lang), config=config,
                                          **kwargs)
