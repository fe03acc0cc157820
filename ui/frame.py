"""The app's frame: page config, language, navigation over the registry, settings <-> URL, "Copy link".

`app_frame()` runs first on every script run (app.py). It picks the language, builds st.navigation from
`ui.screens.SCREENS`, and for the screen about to run: applies the settings found in the URL (a link
someone shared), gives every setting of every screen a value (so a screen's settings survive a visit to
another screen), and writes the current screen's settings back into the URL.

A page starts with `t, state = ui.page("convolution")`.
"""

from __future__ import annotations

import threading
from urllib.parse import urlencode, urlsplit

import streamlit as st

from cnnviz.i18n import LANGUAGES, normalize, translator
from ui import browser, classroom_view, presenter
from ui.screens import BY_ID, GLOBAL_PARAMS, LANG_KEY, PRESENT_KEY, ROOT, SCREENS, SECTIONS, Screen
from ui.widgets import lang

_RUN = threading.local()  # .framed: this script thread runs a page inside run_app (require_app reads it)
# .pending: {session key: value} of this run's settings whose widget value the browser sent to a new session


def _language() -> str:
    """?lang=…, else the choice already made in this session, else the browser's language, else English."""
    S = st.session_state
    from_url = st.query_params.get(LANG_KEY)
    if from_url is not None and S.get("_lang_url") != from_url:  # a link (or a typed URL) asks for a language
        S["_lang_url"] = from_url
        if normalize(from_url):
            S[LANG_KEY] = normalize(from_url)
        else:
            S.setdefault("_notices", []).append(("notice.bad_lang", {}))
    if normalize(S.get(LANG_KEY)) is None:  # st.switch_page resets every widget's state, the language's too
        S[LANG_KEY] = normalize(S.get("_lang_kept")) or normalize(getattr(st.context, "locale", None)) or "en"
    S["_lang_kept"] = S[LANG_KEY]
    return S[LANG_KEY]


def _presenter() -> bool:
    """?present=1 (or 0) from a link, else the sidebar switch."""
    S = st.session_state
    from_url = st.query_params.get(PRESENT_KEY)
    if from_url is not None and S.get("_present_url") != from_url:
        S["_present_url"] = from_url
        S[PRESENT_KEY] = from_url in ("1", "true")
    S[PRESENT_KEY] = bool(S.get(PRESENT_KEY, S.get("_present_kept", False)))  # kept across st.switch_page
    S["_present_kept"] = S[PRESENT_KEY]
    return S[PRESENT_KEY]


KEPT = "_settings_kept"  # the settings of the screens not shown: {session key: value}
FIELD_KEYS = {s.key(f.name): s for s in SCREENS for f in s.fields}  # every screen's settings, by session key


def _sent_by_browser(screen: Screen) -> frozenset[str]:
    """The screen's settings whose widget values the browser sent with this run, when it is a session's first run.

    A page whose server went away (a replica killed behind the balancer) reconnects to another server and,
    at the next click, sends its widgets' values with the run: that new session's first run. Those values
    are newer than the URL (which lags them by the click), so the URL must not overwrite them. Streamlit
    names a keyed widget's value `$$ID-<hash>-<key>`; it reads the value itself when the widget is drawn.
    A link opened in a new tab sends no widget values.
    """
    if "_url_last" in st.session_state:  # not the session's first run
        return frozenset()
    from streamlit.runtime.scriptrunner import get_script_run_ctx
    from streamlit.runtime.state.common import is_keyed_element_id, user_key_from_element_id

    ctx = get_script_run_ctx()
    try:  # Streamlit's internals (1.67): the widget values this run came with
        ids = list(ctx.session_state._state._new_widget_state.states)
    except AttributeError:
        return frozenset()
    mine = {screen.key(f.name) for f in screen.fields}
    return frozenset(key for key in (user_key_from_element_id(i) for i in ids if is_keyed_element_id(i)) if key in mine)


_MISSING = object()


def setting(key: str, default=_MISSING):
    """A setting's value: session state, or, until its widget is drawn, the value kept for a reconnecting page."""
    S = st.session_state
    pending = getattr(_RUN, "pending", {})
    if key in S or (key not in pending and default is _MISSING):
        return S[key]  # (KeyError for a setting that has no value at all, as before)
    return pending.get(key, default)


def _keep_settings(screen: Screen, sent: frozenset = frozenset()) -> None:
    """Give every setting of every screen a value, and keep it while its screen is not shown.

    Streamlit forgets a widget's value at the end of a run that did not draw it (another screen); writing
    the value back at the start of each run makes it ordinary session state, which is kept (the documented
    "interrupt the widget clean-up" pattern). Widgets are then created without `value=`.

    Only the shown screen's settings are entries of st.session_state; the other screens' wait in one entry
    (KEPT) until their screen is shown again. Streamlit reads every entry for each widget it draws
    (SessionState.filtered_state): the 136 settings of all screens as entries cost a sixth of a rerun's CPU.
    A value written for another screen (e.g. before st.switch_page to it) is kept the same way.
    Settings in `sent` (_sent_by_browser) are left to their widgets; their old value waits in _RUN.pending.
    """
    S = st.session_state
    kept = dict(S.get(KEPT) or {})
    for key in [k for k in S.keys() if FIELD_KEYS.get(k, screen) is not screen]:
        kept[key] = S[key]
        del S[key]
    _RUN.pending = {}
    for f in screen.fields:
        key = screen.key(f.name)
        if key in sent:
            _RUN.pending[key] = kept.pop(key, f.default)
        else:
            S[key] = S[key] if key in S else kept.pop(key, f.default)
    S[KEPT] = kept


def apply_url(screen: Screen, sent: frozenset = frozenset()) -> None:
    """Settings present in the URL, when it is not the URL this session wrote itself, replace the current ones
    (those the browser sent as widget values with this run keep them: see _sent_by_browser)."""
    S = st.session_state
    raw = {k: st.query_params.get(k) for k in st.query_params.keys()}
    mine = {k: v for k, v in raw.items() if k not in GLOBAL_PARAMS}
    if not mine or S.get("_url_last") == mine:  # nothing asked, or what this session wrote (on any screen)
        return
    names = {f.name: f for f in screen.fields}
    bad, unknown = [], 0
    for name, value in mine.items():
        f = names.get(name)
        if f is None:
            unknown += 1
            continue
        try:
            if screen.key(name) in sent:
                _RUN.pending[screen.key(name)] = f.parse(value)
            else:
                S[screen.key(name)] = f.parse(value)
        except (ValueError, TypeError, OverflowError):
            bad.append(name)
    if bad:
        S.setdefault("_notices", []).append(("notice.bad_values", {"names": ", ".join(sorted(bad))}))
    if unknown:
        S.setdefault("_notices", []).append(("notice.unknown_params", {"n": unknown}))


def url_params(screen: Screen) -> dict[str, str]:
    """The current screen's settings that differ from their defaults, as query parameters."""
    out = {}
    for f in screen.fields:
        value = setting(screen.key(f.name), f.default)
        if value != f.default:
            out[f.name] = f.dump(value)
    return out


def sync_url(screen: Screen) -> None:
    """Mirror the screen's settings (and the language) in the address bar."""
    S = st.session_state
    params = url_params(screen)
    S["_url_last"] = params
    wanted = {LANG_KEY: S[LANG_KEY], **({PRESENT_KEY: "1"} if S.get(PRESENT_KEY) else {}), **params}
    current = {k: st.query_params.get(k) for k in st.query_params.keys()}
    if current != wanted:
        st.query_params.from_dict(wanted)
        S["_lang_url"] = S[LANG_KEY]
        S["_present_url"] = wanted.get(PRESENT_KEY, "0")


def share_link(screen: Screen) -> str:
    """The full link to this view: the server's address as the browser sees it, the screen and its settings."""
    url = getattr(st.context, "url", None) or ""
    parts = urlsplit(url)
    base = f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""
    path = "/" if screen.id == "home" else f"/{screen.id}"
    S = st.session_state
    query = urlencode({LANG_KEY: S[LANG_KEY], **({PRESENT_KEY: "1"} if S.get(PRESENT_KEY) else {}), **url_params(screen)})
    return f"{base}{path}?{query}"


@st.cache_resource
def _startup() -> list:
    """Once per server: thread count and the other environment settings (with their warnings), a clean stop
    of the training jobs on SIGTERM, a check of the server's own model (CNNVIZ_MODEL), and the warm-up of the
    lecture's views (deploy/warmup.py)."""
    import torch

    from cnnviz.config import load_settings
    from cnnviz.training import install_clean_shutdown
    from cnnviz.usermodel import check_in_background

    settings = load_settings()
    torch.set_num_threads(settings.threads)
    install_clean_shutdown()  # never raises; off the main thread it installs an exit hook only
    check_in_background()  # CNNVIZ_MODEL loaded once, in a bounded time: the owner reads the result on the console
    _collect_less()
    _warm_up()
    return list(settings.warnings)


def _collect_less() -> None:
    """Python's cyclic garbage collector, tuned for a server that keeps half a million objects (modules, networks,
    datasets, shared figures). Each full collection walked all of them, 200-300 ms during which no session ran
    (the GIL), several times a minute under a class (bench/load.py, timed with gc.callbacks). The objects alive
    now — the imports — are frozen out of later collections (gc.freeze: still freed by reference counting when
    no longer used; deploy/warmup.py freezes the warmed caches too), and the young generation is collected every
    10,000 allocations instead of 700 (a page run makes thousands of short-lived objects): with both, thirty
    sessions on thirty views saw one full collection of 140 ms instead of four of 200-280 ms."""
    import gc

    gc.freeze()
    gc.set_threshold(10_000, 20, 20)


def _warm_up() -> None:
    """The lecture's views opened on this server in the background (deploy/warmup.py), so that the first students
    do not pay for them; this run does not wait. Off with CNNVIZ_WARM=0 (the tests), and where the server cannot
    be reached over plain HTTP."""
    from streamlit.runtime import Runtime

    from deploy import warmup

    langs = warmup.languages()
    served = Runtime.exists() and type(Runtime.instance()) is Runtime  # AppTest: a stand-in runtime, no server
    base = warmup.own_url() if langs and served else None
    if base is not None:
        warmup.in_background(base, langs)


def _sidebar(t, screen: Screen | None) -> None:
    S = st.session_state
    with st.sidebar:
        st.segmented_control(t("common.language"), list(LANGUAGES), format_func=LANGUAGES.get, key=LANG_KEY,
                             required=True)
        st.toggle(t("common.presenter"), key=PRESENT_KEY, help=t("common.presenter_help"))
        if screen is not None:
            with st.popover(t("common.copy_link"), icon=":material/link:", width="stretch"):
                st.caption(t("common.copy_link_help"))
                st.code(share_link(screen), language=None, wrap_lines=True)
        classroom_view.ask_button(t, screen)  # "Ask the class about this view": only for a class's instructor
        st.caption(t("common.tagline"))
    for msg_id, params in S.pop("_notices", []):
        st.toast(t(msg_id, **params), icon=":material/info:")


def app_frame():
    """Page config, language, navigation, this screen's settings from/to the URL, sidebar -> the page to run."""
    S = st.session_state
    lang = _language()
    present = _presenter()
    t = translator(lang)
    st.set_page_config(page_title=t("app.title"), page_icon=":material/visibility:", layout="wide",
                       initial_sidebar_state="collapsed" if present else "auto")
    presenter.style_sheet(present, t)  # our own constant style sheets (ui/presenter.py), nothing from a user
    for warning in _startup():  # bad CNNVIZ_* values: the operator's concern, said once per page in the sidebar
        text = warning.message(lang) if hasattr(warning, "message") else str(warning)
        st.sidebar.warning(text, icon=":material/warning:")
    pages = {t(section): [st.Page(str(ROOT / s.file), title=t(s.title), icon=s.icon, url_path=s.id,
                                  default=(s.id == "home"))
                          for s in SCREENS if s.section == section]
             for section in SECTIONS}
    page = st.navigation(pages)
    screen = BY_ID.get(page.url_path or "home", BY_ID["home"])
    sent = _sent_by_browser(screen)
    _keep_settings(screen, sent)
    apply_url(screen, sent)
    sync_url(screen)
    S["_screen"] = screen.id
    _sidebar(t, screen)
    browser.report(present)  # the window's size for the figures (ui/browser.py); a tap on a chart acts where it lands
    return page


def run_app() -> None:
    """app.py's body: the frame, the chosen page, then the URL once more (the page may have changed a setting,
    e.g. clipped a step to the steps that exist, or run st.stop() after an error)."""
    from ui.uploads import limit_uploads

    limit_uploads()  # each session keeps its 2 newest uploads (Streamlit has no per-session limit)
    page = app_frame()
    _RUN.framed = True
    try:
        page.run()
    finally:
        _RUN.framed = False
        screen = BY_ID.get(st.session_state.get("_screen", "home"))
        if screen is not None:
            sync_url(screen)


def stop() -> None:
    """st.stop() for a page: first write the settings into the URL (after st.stop nothing more is sent, so
    run_app's final sync would not reach the browser when the page changed a setting before stopping)."""
    screen = BY_ID.get(st.session_state.get("_screen", "home"))
    if screen is not None:
        sync_url(screen)
    st.stop()


def require_app() -> None:
    """Make sure this page runs inside app.py's navigation.

    Streamlit keeps a legacy mode for apps with a pages/ folder: until st.navigation has been called
    in this process, a request for /training runs pages/training.py on its own — no page config, no
    sidebar, the folder's raw file list as navigation, and widget ids of another page context, so the
    first click after such a run would be lost. (A fresh server's first deep links do this; AppTest
    does it on every run.) Here the page hands over to app.py's frame, which runs this page again the
    normal way (st.navigation ends the legacy mode), then stops the legacy run. No setting or public API
    of Streamlit 1.67 turns the legacy mode off, hence this guard.

    It asks whether this script thread is inside run_app, not whether Streamlit is still in legacy mode: with
    several first visitors at once, another session's st.navigation ends the legacy mode while this run is
    already in it (the page then ran without its frame: KeyError on its settings).
    """
    if not getattr(_RUN, "framed", False):
        run_app()
        st.stop()


class State:
    """Attribute access to a screen's settings in st.session_state: state.stride is S["conv_stride"]."""

    def __init__(self, screen: Screen):
        object.__setattr__(self, "_screen", screen)

    def key(self, name: str) -> str:
        return self._screen.key(name)

    def __getattr__(self, name: str):
        return setting(self._screen.key(name))

    def __setattr__(self, name: str, value) -> None:
        key = self._screen.key(name)
        pending = getattr(_RUN, "pending", {})
        if key in pending and key not in st.session_state:  # its widget, not yet drawn, holds the browser's value
            pending[key] = value
        else:
            st.session_state[key] = value

    def reset(self, *names: str) -> None:
        """Back to the defaults (all settings, or the ones named)."""
        for f in self._screen.fields:
            if not names or f.name in names:
                st.session_state[self._screen.key(f.name)] = f.default

    def choices(self, name: str) -> tuple:
        """The values a choice setting may take (the registry's, i.e. the library's list)."""
        return self._screen.field(name).choices

    def settings(self) -> dict:
        """Every setting of the screen: name -> value."""
        return {f.name: setting(self._screen.key(f.name)) for f in self._screen.fields}

    def update(self, values: dict) -> None:
        """Set several settings at once (name -> value)."""
        for name, value in values.items():
            setattr(self, name, value)

    def sync(self) -> None:
        """Write the screen's settings into the URL now: for a fragment, whose rerun does not reach the frame's
        own sync at the end of the page."""
        sync_url(self._screen)


def page(screen_id: str):
    """The first line of every page: the legacy-mode guard, then (translator, the screen's State)."""
    require_app()
    return translator(lang()), State(BY_ID[screen_id])
