"""The Training screen's pieces: the server-wide training slots, saving a run, the test phase."""

from __future__ import annotations

import threading

import streamlit as st


@st.cache_resource
def training_slots(max_jobs: int) -> threading.BoundedSemaphore:
    """At most `max_jobs` trainings at once on this server, whatever the number of sessions."""
    return threading.BoundedSemaphore(max_jobs)


def save_run(job, test_accuracy: float):
    """Save a finished or stopped training as a user run in runs/ (never over the shipped network)."""
    from cnnviz.checkpoints import new_run_path, save_checkpoint

    cfg = job.config
    path = new_run_path(cfg.dataset, cfg.arch, tag=str(job.step))
    meta = job.checkpoint_meta(command=f"training screen: {cfg}", test_accuracy=test_accuracy)
    return save_checkpoint(path, job.model, cfg.arch, meta)


def show_test_phase(report, test, path) -> None:
    """Accuracy, classification report, confusion matrix and a gallery of mistakes, each opening in Feature maps."""
    import numpy as np

    from cnnviz.figures import confusion_figure, input_figure

    st.metric("Test accuracy", f"{report.accuracy:.2%}", help=f"{len(report.y_true):,} test images")
    left, right = st.columns([1, 1])
    with left:
        st.markdown("**Classification report** (scikit-learn)")
        st.code(report.report_text, language=None)
    right.plotly_chart(confusion_figure(report.confusion, test.classes), key="train_confusion")
    st.caption(f"Saved as {path.name} in runs/: the Feature maps and Translation screens offer it.")

    wrong = np.flatnonzero(report.y_true != report.y_pred)[:12]
    st.markdown(f"**Misclassified test images** ({int((report.y_true != report.y_pred).sum()):,} in all; the first {len(wrong)})")
    cols = st.columns(6)
    for n, i in enumerate(wrong):
        with cols[n % 6]:
            st.plotly_chart(input_figure(test.images[i], height=150), key=f"train_wrong_{i}")
            st.caption(f"#{i}: true **{test.classes[report.y_true[i]]}**, predicted **{test.classes[report.y_pred[i]]}**")
            if st.button("Inspect", icon=":material/map:", key=f"train_open_{i}", help="Open in Feature maps"):
                st.session_state.shared_image = {"index": int(i)}
                st.session_state.network = path
                st.session_state.fm_class, st.session_state.fm_source = "any class", "Test image"
                st.switch_page("pages/feature_maps.py")
