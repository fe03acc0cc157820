"""Whose runs are whose. A run belongs to the browser that trained it; others may open, compare and download it,
not rename or delete it; the instructor (the key of the Class screen) may.

A browser is known by a random token kept in its session (`_run_owner`), never in a link. The Training screen also
writes it into a cookie (`cnnviz_owner`, SameSite=Strict, a year: Streamlit 1.67's st.context.cookies is read-only,
so a tiny script sets it), and a new session of the same browser (a reload, a second tab, another replica) takes the
token back from st.context.cookies: the student keeps their runs. A cookie is browser input like any other: only a
32-hex-digit value is taken. Runs record a hash of the token (cnnviz.runs.owner_id), never the token: a downloaded
run does not give it away.
"""

from __future__ import annotations

import re
import secrets

import streamlit as st

from ui.widgets import show_error

TOKEN = "_run_owner"  # this browser's token (a PIECE key of ui/screens.py: every network screen labels runs)
INSTRUCTOR = "_run_instructor"  # the instructor key was typed on the Training screen
COOKIE = "cnnviz_owner"
_TOKEN = re.compile(r"[0-9a-f]{32}")
YOURS, OTHERS, SERVERS = "yours", "others", "server"  # whose a run is (ids; labels in the catalogues)


def _cookie() -> str | None:
    """The owner cookie this browser sent when its session opened (None outside a server, or without one)."""
    try:
        value = st.context.cookies.get(COOKIE)
    except Exception:  # noqa: BLE001 - no server runtime (AppTest, bare mode): no cookies
        return None
    return value if isinstance(value, str) and _TOKEN.fullmatch(value) else None


def browser_token() -> str:
    """This browser's token: the session's, else its cookie's, else a new random one (128 bits)."""
    S = st.session_state
    token = S.get(TOKEN)
    if not (isinstance(token, str) and _TOKEN.fullmatch(token)):
        token = _cookie() or secrets.token_hex(16)
        S[TOKEN] = token
    return token


def my_owner_id() -> str:
    """What this browser's runs record as their owner (cnnviz.runs.owner_id of its token)."""
    from cnnviz.runs import owner_id

    return owner_id(browser_token())


def keep_in_cookie() -> None:
    """Write the token into the browser's cookie when it does not hold it yet (the token is hex digits: nothing of
    a user's text goes into the script)."""
    token = browser_token()
    if _cookie() != token:
        st.html(f"<script>document.cookie = '{COOKIE}={token}; path=/; max-age=31536000; SameSite=Strict';</script>",
                unsafe_allow_javascript=True, width="content")


def is_instructor() -> bool:
    """The session holds the instructor key: typed here, or as the teacher of a class (checked again)."""
    from cnnviz.classroom import instructor_key, same_key

    S = st.session_state
    if S.get(INSTRUCTOR) is True:
        return True
    teacher = S.get("_class_teacher")
    return isinstance(teacher, dict) and same_key(teacher.get("key"), instructor_key())


def requester():
    """Who this session is, for cnnviz.runs.rename_run / delete_run."""
    from cnnviz.runs import Requester

    return Requester(my_owner_id(), is_instructor())


def whose(owner: str | None) -> str:
    """YOURS, OTHERS or SERVERS for a run's recorded owner."""
    if owner is None:
        return SERVERS
    return YOURS if owner == my_owner_id() else OTHERS


@st.cache_data(show_spinner=False, max_entries=1024)
def run_owner(path: str, mtime: float) -> str | None:
    """The owner recorded in a run (read once per file version for the server)."""
    from cnnviz.runs import run_owner as read

    return read(path)


def instructor_form(t) -> None:
    """The instructor key, to rename or delete any run (wrong keys cost time and are counted, as on the Class
    screen)."""
    if is_instructor():
        st.caption(t("train.instructor_on"))
        return
    with st.popover(t("train.instructor"), icon=":material/key:"):
        st.text_input(t("train.instructor_key"), type="password", max_chars=200, key="train_instructor_key")
        st.button(t("train.instructor_unlock"), key="train_instructor_unlock", on_click=_unlock)
    error = st.session_state.pop("_run_key_error", None)
    if error is not None:
        show_error(error)


def _unlock() -> None:
    """The key's button (a callback: the typed key is wiped before the widgets are drawn again)."""
    import time

    from cnnviz import CnnvizError
    from cnnviz.classroom import instructor_key, same_key
    from ui.classroom_view import FAILS, MAX_KEY_FAILURES

    S = st.session_state
    key = S.get("train_instructor_key") or ""
    S["train_instructor_key"] = ""
    if S.get(FAILS, 0) >= MAX_KEY_FAILURES:
        S["_run_key_error"] = CnnvizError("err.run_key_tries")
        return
    if same_key(key, instructor_key()):
        S[INSTRUCTOR] = True
        return
    S[FAILS] = S.get(FAILS, 0) + 1
    time.sleep(0.3)  # a wrong key costs a little time: guessing one is slow
    S["_run_key_error"] = CnnvizError("err.class_key")
