"""The Training screen's pieces: the server-wide training slots and limits, the browser session that owns a job,
a job's settings as the screen's settings, the test phase.

The job saves its run itself (`TrainingJob.autosave()`: once per state, when its worker ends); the screen only
shows what the job reports.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import streamlit as st

from ui.screens import BY_ID
from ui.widgets import class_name, class_names, plain, show_error

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


def settings_of(config) -> dict:
    """A job's TrainConfig as the Training screen's settings (name -> value)."""
    return dict(dataset=config.dataset, model=config.arch, loss=config.loss, lr=float(config.lr),
                momentum=float(config.momentum), batch=int(config.batch_size), epochs=int(config.epochs),
                subset=int(config.subset), seed=int(config.seed))


STATUS = {"idle": "train.status_idle", "running": "train.status_running", "stopped": "train.status_stopped",
          "finished": "train.status_finished", "diverged": "train.status_diverged",
          "failed": "train.status_failed", "closed": "train.status_closed"}


def draw_job(t, job, eval_limit: int) -> None:
    """The loss curve, the progress and the job's figures and messages (the live part of the screen)."""
    from cnnviz.figures import loss_figure
    from cnnviz.i18n import format_number
    from cnnviz.training import moving_average

    lang = t.lang
    snap, cfg = job.snapshot(), job.config
    marks = [e * snap.batches_per_epoch for e in range(1, snap.epoch + 1)]
    st.plotly_chart(loss_figure(snap.losses, moving_average(snap.losses), marks, lang=lang), key="train_loss_chart")
    st.progress(snap.progress, text=t("train.progress", epoch=min(snap.epoch + 1, cfg.epochs), epochs=cfg.epochs,
                                      batch=snap.batch, per_epoch=snap.batches_per_epoch, step=snap.step,
                                      total=snap.total_steps))
    m1, m2, m3, m4 = st.columns(4)
    m1.metric(t("train.last_loss"), format_number(lang, snap.losses[-1], ".4f") if snap.losses else "—")
    m2.metric(t("train.speed"), format_number(lang, snap.images_per_s, ".0f"))
    accs = snap.epoch_accuracy
    m3.metric(t("train.epoch_accuracy", n=eval_limit), format_number(lang, accs[-1][1], ".2%") if accs else "—",
              help=t("train.epoch_accuracy_help", list=", ".join(f"{e}: {format_number(lang, a, '.2%')}"
                                                                  for e, a in accs) or "—"))
    m4.metric(t("train.status"), t(STATUS.get(snap.status, "train.status_failed")))
    message = t(snap.code, **(snap.params or {})) if snap.code else ""
    if snap.status in ("diverged", "failed"):
        st.error(message, icon=":material/error:")
    elif message and snap.status != "running":
        st.info(message)
    if snap.saving:
        st.info(t("train.saving"), icon=":material/hourglass_top:")


def show_results(t, job, test) -> None:
    """The test phase of a job that is not running: the evaluation and the run it saved itself."""
    snap = job.snapshot()
    if snap.step == 0:
        return
    st.subheader(t("train.test_phase"))
    if snap.save_error is not None:
        show_error(snap.save_error)
    report = snap.evaluation
    if report is None:  # the job could not evaluate on its way out (the server stopping): once, here
        with st.spinner(t("train.evaluating")):
            report = job.test_report(test)
    if report is None:
        st.info(t("train.no_test_set"))
        return
    show_test_phase(t, report, test, Path(snap.saved_path) if snap.saved_path else None)


def _open_in_feature_maps(index: int, path) -> None:
    """The Inspect button: the feature-map screen on this test image (any class, its index), with the network
    just trained."""
    screen = BY_ID["feature_maps"]
    S = st.session_state
    for name, value in (("network", path.name), ("source", "test"), ("cls", "any"), ("idx", int(index))):
        S[screen.key(name)] = value
    st.switch_page(screen.file)


def show_test_phase(t, report, test, path) -> None:
    """Accuracy, classification report, confusion matrix and a gallery of mistakes, each opening in Feature maps."""
    import numpy as np

    from cnnviz.figures import confusion_figure, input_figure

    lang = t.lang
    n = len(report.y_true)
    st.metric(t("train.test_accuracy"), t("train.percent", value=report.accuracy),
              help=t("train.test_accuracy_help", n=n))
    left, right = st.columns([1, 1])
    with left:
        st.markdown(t("train.report"))
        st.code(report.report_text, language=None)
    right.plotly_chart(confusion_figure(report.confusion, class_names(test.classes), lang=lang),
                       key="train_confusion")
    if path is not None:
        st.caption(t("train.saved", name=plain(path.name)))

    wrong_all = np.flatnonzero(report.y_true != report.y_pred)
    wrong = wrong_all[:12]
    st.markdown(t("train.mistakes", n=len(wrong_all), shown=len(wrong)))
    cols = st.columns(6)
    for k, i in enumerate(wrong):
        with cols[k % 6]:
            st.plotly_chart(input_figure(test.images[i], height=150), key=f"train_wrong_{i}")
            st.caption(t("train.mistake", index=str(int(i)), true=class_name(test.classes[report.y_true[i]]),
                         pred=class_name(test.classes[report.y_pred[i]])))
            if path is not None and st.button(t("train.inspect"), icon=":material/map:", key=f"train_open_{i}",
                                              help=t("train.inspect_help")):
                _open_in_feature_maps(int(i), path)
