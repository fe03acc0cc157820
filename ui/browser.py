"""Our own few lines of JavaScript in the reader's browser (st.components.v2, mounted once per run by the frame):

1. the browser window's size, so that figures can be sized for it — the presenter view's figures grow with the
   projector, a phone gets stacked grids;
2. a tap on a chart acts on the point tapped. plotly.js (3.8, Streamlit 1.67's) selects a clicked point from
   the hover data of the last pointer move, then updates that hover data: with a mouse the pointer moved
   there first, with a finger it did not — each tap selected the point tapped *before* (and a tap on the
   selected point unselected it). So on each touch we send plotly the pointer move a mouse would have made,
   at the touch's position, before its own touch handlers run.

Streamlit tells the server nothing about the viewport, and plotly draws text at fixed pixel sizes (CSS cannot
scale them without plotly's layout going wrong). So the browser reports its size, and only when the server's
belief is wrong for what this session shows: in the normal view only whether it is a phone (narrower than
NARROW px), in the presenter view the exact size. A desktop student therefore costs no extra run; a
projector or a phone costs one on arrival and one per resize.

    view = browser.current(present)     # View(present, width, height) for cnnviz.figstyle
"""

from __future__ import annotations

import streamlit as st

from cnnviz.figstyle import DEFAULT_PRESENTER, NARROW, View

KEY = "_viewport"  # session-state key of the component's state: {"size": [width, height]}
_JS = """
export default function (component) {
    const { data, setStateValue } = component;
    const known = (data && data.size) || null;
    const exact = !!(data && data.exact);
    const narrow = (w) => w < %(narrow)d;
    let timer = null;
    const report = () => {
        const size = [window.innerWidth, window.innerHeight];
        const same = exact ? !!known && known[0] === size[0] && known[1] === size[1]
                           : narrow(known ? known[0] : 100000) === narrow(size[0]);  // unknown: a desktop
        if (!same) setStateValue("size", size);
    };
    const onResize = () => { clearTimeout(timer); timer = setTimeout(report, 300); };
    window.addEventListener("resize", onResize);
    report();
    if (!window.__cnnvizTap) {  // once per page: a touch on a plotly chart hovers there first (see the docstring)
        window.__cnnvizTap = true;
        document.addEventListener("touchstart", (e) => {
            const t = e.touches && e.touches[0];
            const drag = t && e.target && e.target.closest && e.target.closest(".nsewdrag");
            if (!drag) return;
            drag.dispatchEvent(new MouseEvent("mousemove", {
                clientX: t.clientX, clientY: t.clientY, bubbles: true, cancelable: true, view: window}));
        }, { capture: true, passive: true });
    }
    return () => { window.removeEventListener("resize", onResize); clearTimeout(timer); };
}
""" % {"narrow": NARROW}

_component = st.components.v2.component("cnnviz_viewport", js=_JS)


def _noop() -> None:  # a state change must name a callback to be kept; the rerun itself is what we want
    pass


def report(present: bool) -> None:
    """Mount the reporter (once per run, in the sidebar: it draws nothing). `present`: report the exact size."""
    size = current_size()
    with st.sidebar:
        _component(key=KEY, data={"size": list(size) if size else None, "exact": bool(present)},
                   on_size_change=_noop, height=0, width="content")


def current_size() -> tuple[int, int] | None:
    """(width, height) the browser last reported, or None (not yet, or AppTest)."""
    state = st.session_state.get(KEY)
    try:
        w, h = (state or {}).get("size") or (None, None)
        w, h = int(w), int(h)
    except (TypeError, ValueError, AttributeError):
        return None
    if not (100 <= w <= 20000 and 100 <= h <= 20000):  # from a browser: range-checked
        return None
    return w, h


def current(present: bool) -> View:
    """The view figures are styled for: the reported size, or a projector's 1280×720 / a desktop by default."""
    size = current_size()
    if size is None:
        size = DEFAULT_PRESENTER if present else None
    return View(present=present, width=size[0] if size else None, height=size[1] if size else None)
