"""The presenter view's page side (the figures' side is cnnviz.figstyle, through ui.charts): text that grows with
the projector, what a step is about first on the screen, "Next in the lecture", and the style sheet every page
gets (a folded sidebar takes no keyboard focus, captions readable).

    ui.presenter.style_sheet(present, t)       # the frame, once per run
    ui.presenter.heading(t, "conv.title", "convolution")   # the title, and "Next in the lecture" beside it
    with ui.presenter.ahead() or st.container():           # the step first on a projector, settings under it
        ...

Text sizes follow the viewport's height in CSS (`vh`): at 1280×720 and 1920×1080 alike every line of text is at
least 3 % of the screen's height, like the numbers in the figures.
"""

from __future__ import annotations

import streamlit as st

from ui.screens import BY_ID, LECTURE_PATH, query_for

TEXT = "max(22px, 3.1vh)"  # the presenter view's body text: 22 px at 720p, 33 px at 1080p
PRESENTER_CSS = f"""
<style>
[data-testid="stMain"] {{ font-size: {TEXT}; }}
[data-testid="stMain"] p, [data-testid="stMain"] li, [data-testid="stMain"] label,
[data-testid="stMain"] [data-testid="stMarkdownContainer"],
[data-testid="stMain"] [data-testid="stWidgetLabel"] p {{ font-size: {TEXT} !important; }}
[data-testid="stMain"] h1 {{ font-size: max(2.1rem, 5.2vh) !important; padding: 0 0 0.4rem 0 !important; }}
[data-testid="stMain"] h2, [data-testid="stMain"] h3 {{ font-size: max(1.6rem, 4vh) !important; }}
[data-testid="stMain"] code, [data-testid="stMain"] pre {{ font-size: max(20px, 2.9vh) !important; }}
[data-testid="stMainBlockContainer"] {{ padding-top: 1.4rem !important; padding-bottom: 2rem !important;
                                        max-width: 100% !important; }}
[data-testid="stHeader"], [data-testid="stHeader"] * {{ background: transparent; pointer-events: none; }}
[data-testid="stHeader"] button, [data-testid="stHeader"] a {{ pointer-events: auto; }}  /* only its buttons */
[data-testid="stMain"] button {{ font-size: {TEXT} !important; min-height: max(2.6rem, 6vh); }}
[data-testid="stMain"] button p {{ font-size: {TEXT} !important; }}
[data-testid="stMain"] input, [data-testid="stMain"] textarea,
[data-testid="stMain"] [data-baseweb="select"] {{ font-size: {TEXT} !important; }}
[data-testid="stMain"] [data-testid="stVerticalBlock"] {{ gap: 0.6rem; }}
/* A slider's value at the text's size, above its thumb (Streamlit places it 1.6em of its own small font up, so
   the large value sat on the thumb), the track moved down to make room under the label */
[data-testid="stMain"] [data-testid="stSliderThumbValue"] {{ font-size: {TEXT}; top: -1.45em; }}
[data-testid="stMain"] [data-testid="stSliderThumbValue"] p {{ line-height: 1.25; }}
[data-testid="stMain"] [data-testid="stSlider"] > [role="group"] {{ margin-top: calc({TEXT} * 1.2); }}
/* A toggle or a checkbox as large as its label, and level with it */
[data-testid="stMain"] [data-testid="stCheckbox"] label {{ align-items: center; }}
[data-testid="stMain"] [data-testid="stCheckbox"] label > div:first-of-type {{ transform: scale(1.7);
    transform-origin: left center; margin-right: 1.4rem; }}
</style>
"""
# Every view: a folded sidebar is out of the way of the keyboard too (Streamlit only slides it off screen, so
# Tab walked through its widgets); captions dark enough for 4.5:1 on white (Streamlit draws them at 60 % opacity:
# 2.8:1).
EVERY_PAGE_CSS = """
<style>
[data-testid="stSidebar"][data-collapsed="true"] { visibility: hidden; }
[data-testid="stCaptionContainer"] { opacity: 1 !important; color: rgba(49, 51, 63, 0.72) !important; }
[data-testid="stPageLink"] p { white-space: normal; }  /* "Next in the lecture: …" wraps, never cut */
/* Sections are h2 under the page's h1 (a screen reader's outline skips no level), drawn at the size of the
   subheaders they were */
[data-testid="stMain"] h2 { font-size: 1.5rem; }
</style>
"""


def _css_string(text: str) -> str:
    """Text as a CSS string literal (our catalogue's text, escaped all the same)."""
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ").replace("<", "\\3c ") + '"'


def uploader_css(t) -> str:
    """The file uploader's own texts ("Upload", "5MB per file • PNG, …") in the reader's language.

    Streamlit 1.67 lets an app set neither (streamlit/streamlit#13500): the English is hidden — visibility,
    so that a screen reader skips it too — and ours shown in its place. English keeps Streamlit's own."""
    if t.lang == "en":
        return ""
    from ui.widgets import UPLOAD_TYPES

    limit = t("upload.limit", mb=int(st.get_option("server.maxUploadSize")),
              types=", ".join(dict.fromkeys(x.upper().replace("JPEG", "JPG") for x in UPLOAD_TYPES)))
    drop = '[data-testid="stFileUploaderDropzone"]'
    return f"""<style>
{drop} [data-testid="stBaseButton-secondary"] p {{ visibility: hidden; font-size: 0; }}
{drop} [data-testid="stBaseButton-secondary"] p::after {{ visibility: visible; font-size: 1rem;
    content: {_css_string(t("upload.browse"))}; }}
[data-testid="stFileUploaderDropzoneInstructions"] span {{ visibility: hidden; font-size: 0; }}
[data-testid="stFileUploaderDropzoneInstructions"] div::after {{ visibility: visible; font-size: 0.875rem;
    content: {_css_string(limit)}; }}
</style>"""


def style_sheet(present: bool, t) -> None:
    """The app's own style sheets: constant, or our catalogue's text escaped (nothing from a user in them)."""
    st.html(EVERY_PAGE_CSS + uploader_css(t) + (PRESENTER_CSS if present else ""))  # style tags only: no room taken


def heading(t, title_id: str, screen_id: str) -> None:
    """The screen's title, with "Next in the lecture" beside it on a lecture step (no room taken below)."""
    if next_step(screen_id) is None:
        st.title(t(title_id))
        return
    left, right = st.columns([3, 2], vertical_alignment="center")
    left.title(t(title_id))
    next_in_lecture(t, screen_id, right)


def ahead():
    """In the presenter view, a container drawn now — above the settings the page draws next — for what the
    step is about; None in the normal view (the page keeps its own order: `with ahead() or st.container():`)."""
    return st.container() if st.session_state.get("present") else None


def next_step(screen_id: str) -> tuple[str, str, dict] | None:
    """(label id, screen id, settings) of the lecture's step after the one on `screen_id`, or None."""
    ids = [s for _, s, _ in LECTURE_PATH]
    if screen_id not in ids:
        return None
    i = ids.index(screen_id)
    return LECTURE_PATH[i + 1] if i + 1 < len(LECTURE_PATH) else None


def next_in_lecture(t, screen_id: str, container=None) -> None:
    """"Next in the lecture: …" — a link to the next step of ui.screens.LECTURE_PATH, set up as the home page's
    (the presenter view stays on: the frame keeps it across pages)."""
    step = next_step(screen_id)
    if step is None:
        return
    label_id, target, values = step
    params = query_for(target, t.lang, **values)
    if st.session_state.get("present"):
        params["present"] = "1"
    (container or st).page_link(BY_ID[target].file, label=t("lecture.next", step=t(BY_ID[target].title)),
                                icon=":material/skip_next:", query_params=params, help=t(label_id))
