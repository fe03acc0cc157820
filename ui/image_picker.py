"""Choosing the image a network looks at: a test image (by class and index, or random) or an upload."""

from __future__ import annotations

import streamlit as st

from cnnviz import CnnvizError
from ui.widgets import images_for, show_error


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
