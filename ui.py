"""Streamlit glue shared by the pages: cached loaders, the network picker, error display.

It lives beside app.py, not in cnnviz/, because it imports Streamlit. Datasets and models are
`st.cache_resource` (one read-only copy shared by every session); nothing here mutates a model.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import streamlit as st
import torch

from cnnviz import CnnvizError
from cnnviz.checkpoints import SHIPPED, list_checkpoints, load_checkpoint
from cnnviz.data import Dataset, images_to_browse, load_dataset

SCREENS = {
    "cnnviz": [("pages/home.py", "Home", ":material/home:")],
    "Operations": [
        ("pages/convolution.py", "Convolution", ":material/grid_on:"),
        ("pages/multichannel.py", "Multi-channel convolution", ":material/layers:"),
        ("pages/pooling.py", "Pooling", ":material/compress:"),
    ],
    "Trained network": [
        ("pages/feature_maps.py", "Feature maps", ":material/map:"),
        ("pages/translation.py", "Translation invariance", ":material/open_with:"),
        ("pages/training.py", "Training", ":material/trending_down:"),
        ("pages/architecture.py", "Architecture", ":material/account_tree:"),
    ],
}
ROOT = Path(__file__).resolve().parent


@st.cache_resource
def _set_threads() -> int:
    # Once per server: every session shares these threads (training jobs included).
    torch.set_num_threads(int(os.environ.get("CNNVIZ_THREADS", min(4, os.cpu_count() or 1))))
    return torch.get_num_threads()


def app_frame():
    """Page config, threads, sidebar caption and st.navigation over the screens that exist -> the page to run."""
    st.set_page_config(page_title="cnnviz — look inside a CNN", page_icon=":material/visibility:", layout="wide")
    _set_threads()
    pages = {
        section: [st.Page(str(ROOT / path), title=title, icon=icon, default=(path == "pages/home.py"))
                  for path, title, icon in screens if (ROOT / path).exists()]
        for section, screens in SCREENS.items()
    }
    st.sidebar.caption("cnnviz · a course companion for *Machine learning for image processing*")
    return st.navigation(pages)


def require_app() -> None:
    """Make sure this page runs inside app.py's navigation.

    Streamlit keeps a legacy mode for apps with a pages/ folder: until st.navigation has been called
    in this process, a request for /training runs pages/training.py on its own — no page config, no
    sidebar, the folder's raw file list as navigation, and widget ids of another page context, so the
    first click after such a run would be lost. (A fresh server's first deep link does this; AppTest
    does it on every run.) Here the page hands over to app.py's frame, which runs this page again the
    normal way (st.navigation ends the legacy mode), then stops the legacy run.
    """
    from streamlit.runtime.pages_manager import PagesManager  # Streamlit internals: read defensively

    if getattr(PagesManager, "uses_pages_directory", False):
        app_frame().run()
        st.stop()


@st.cache_resource(show_spinner="Loading the dataset…")
def dataset(name: str, split: str, download: bool = True) -> Dataset:
    """One split, loaded once per server (raises DatasetUnavailable)."""
    return load_dataset(name, split, download)


@st.cache_resource(show_spinner=False)
def images_for(name: str) -> Dataset:
    """The test split, or the shipped sample images where the dataset is not installed."""
    return images_to_browse(name)


@st.cache_resource(show_spinner="Loading the network…", max_entries=8)
def network(path: str, mtime: float):
    """(model, meta) for a checkpoint; `mtime` makes a rewritten file load again."""
    return load_checkpoint(path)


def network_label(path: Path) -> str:
    return ("Shipped: " if path.parent == SHIPPED.parent else "Your run: ") + path.stem


def pick_network(key: str = "network"):
    """A select box of the shipped network and the user's runs -> (model, meta), or None with a message."""
    paths = list_checkpoints()
    if not paths:
        st.error("No trained network was found in checkpoints/ or runs/. Retrain one: "
                 "`python -m cnnviz.train --epochs 12 ...` (see the README).")
        return None
    if st.session_state.get(key) not in paths:  # a run that was deleted, or a first visit
        st.session_state[key] = paths[0]
    path = st.sidebar.selectbox("Network", paths, format_func=network_label, key=key)
    try:
        return network(str(path), path.stat().st_mtime)
    except (CnnvizError, OSError) as exc:
        st.error(f"This network could not be loaded: {exc}")
        return None


@st.cache_resource
def training_slots(max_jobs: int) -> threading.BoundedSemaphore:
    """At most `max_jobs` trainings at once on this server, whatever the number of sessions."""
    return threading.BoundedSemaphore(max_jobs)


def show_error(exc: Exception) -> None:
    st.error(str(exc), icon=":material/error:")


def pick_image(meta: dict, prefix: str = "img"):
    """Choose the image a network looks at: a test image (by class and index, or random) or an upload.

    Returns (uint8 image (H, W) or (H, W, 3) at the network's input size, true label or None, caption).
    The choice is kept in st.session_state["shared_image"] so every screen shows the same image.
    """
    import numpy as np

    from cnnviz.images import open_image, to_input

    S = st.session_state
    data = images_for(meta["dataset"])
    if tuple(data.input_shape) != tuple(meta["input_shape"]):
        st.error(f"This network expects {meta['input_shape']} inputs, the images are {data.input_shape}.")
        return None
    shared = S.setdefault("shared_image", {"index": 0})
    source = st.radio("Image", ["Test image", "Upload"], horizontal=True, key=f"{prefix}_source")
    if source == "Upload":
        up = st.file_uploader("PNG, JPEG, GIF, BMP or WebP (any size: it is resized)",
                              type=["png", "jpg", "jpeg", "gif", "bmp", "webp"], key=f"{prefix}_upload")
        invert = st.toggle("Invert (Fashion-MNIST is light on dark)", value=meta["input_shape"][0] == 1,
                           key=f"{prefix}_invert")
        if up is None:
            st.info("Choose a file, or go back to a test image.")
            return None
        try:
            loaded = open_image(up.getvalue(), up.name)
        except CnnvizError as exc:
            show_error(exc)
            return None
        for note in loaded.notes:
            st.info(note)
        return to_input(loaded.image, meta["input_shape"], invert), None, f"your image ({up.name}), converted"

    classes = ["any class", *data.classes]
    a, b, c = st.columns([3, 2, 1])
    wanted = a.selectbox("Class", classes, key=f"{prefix}_class")
    pool = np.arange(len(data)) if wanted == "any class" else np.flatnonzero(data.labels == classes.index(wanted) - 1)
    def choose(i: int):
        shared["index"] = int(i)

    c.button(":material/casino:", key=f"{prefix}_random", help="A random test image",
             on_click=lambda: choose(np.random.default_rng().choice(pool)))
    if shared["index"] not in pool:
        shared["index"] = int(pool[0])
    S[f"{prefix}_pos"] = int(np.searchsorted(pool, shared["index"]))
    b.number_input(f"Index (of {len(pool)})", 0, len(pool) - 1, key=f"{prefix}_pos",
                   on_change=lambda: choose(pool[S[f"{prefix}_pos"]]))
    i = shared["index"]
    return data.images[i], int(data.labels[i]), f"test image #{i} ({data.source})"


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
