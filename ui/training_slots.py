"""What one server shares among its trainings: how many run at once (slots) and for how long, and whether the
browser session that started a job is still there (asked through Streamlit's runtime, from the job's thread)."""

from __future__ import annotations

import os
import threading
import time

import streamlit as st

OWNER_GRACE_S = 30.0  # a session away longer than this (tab closed, not a network hiccup) has left


@st.cache_resource
def training_slots(max_jobs: int) -> threading.BoundedSemaphore:
    """At most `max_jobs` trainings at once on this server, whatever the number of sessions."""
    return threading.BoundedSemaphore(max_jobs)


def limits() -> tuple[int, float]:
    """(most trainings at once, longest training in seconds): CNNVIZ_MAX_JOBS, CNNVIZ_MAX_TRAIN_SECONDS."""
    try:
        from cnnviz.config import load_settings

        settings = load_settings()
        return int(settings.max_jobs), float(settings.max_train_seconds)
    except (ImportError, AttributeError):
        return int(os.environ.get("CNNVIZ_MAX_JOBS", 2)), float(os.environ.get("CNNVIZ_MAX_TRAIN_SECONDS", 600))


def owner_alive_check(grace: float = OWNER_GRACE_S):
    """A function telling a job whether the browser session that started it is still there, or None where
    there is no Streamlit server (AppTest, bare mode): such a job is stopped by its time limit only.

    It asks the server whether the session is active (Streamlit 1.67: Runtime.is_active_session, safe from
    any thread); a session disconnected for less than `grace` seconds (a network hiccup, which Streamlit
    resumes) still counts as there.
    """
    from streamlit.runtime import Runtime
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    if not Runtime.exists() or ctx is None:
        return None
    runtime, session_id = Runtime.instance(), ctx.session_id
    last_seen = [time.monotonic()]

    def alive() -> bool:
        if runtime.is_active_session(session_id):
            last_seen[0] = time.monotonic()
            return True
        return time.monotonic() - last_seen[0] < grace

    return alive
