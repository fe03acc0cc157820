"""Choosing the image a network looks at: a test image (by class and position, or at random), an upload, or
a drawing.

The choice is part of the calling screen's settings (`IMAGE_FIELDS` in ui/screens.py: source, cls, idx,
invert), so a link reproduces the image — all but an uploaded file or a drawing, which never go in a link.
"""

from __future__ import annotations

import hashlib

import numpy as np
import streamlit as st

from cnnviz import CnnvizError, shown_path
from ui.widgets import class_name, images_for, plain, upload_image

SOURCES = {"test": "picker.source.test", "upload": "picker.source.upload", "draw": "picker.source.draw"}
DATASET_TITLES = {"fashion-mnist": "Fashion-MNIST", "cifar10": "CIFAR-10"}
CANVAS_SIZE = 280  # pixels: ten times a 28×28 input
STROKE = 18


def pick_image(t, state, meta: dict):
    """The image picker of a network screen -> (uint8 image (H, W) or (H, W, 3) at the network's input
    size, true label or None, caption), or None with a message when there is no image yet.

    The caption is Markdown-safe: a file name in it is escaped. Without test images for the network's dataset
    on this server (a CIFAR-10 network, and neither CIFAR-10 nor its sample installed), the picker says so in
    the reader's language and offers what still works: an upload or a drawing."""
    sources = list(SOURCES)
    try:
        data = images_for(meta["dataset"])
    except CnnvizError:  # DatasetUnavailable: neither the test split nor the shipped sample is here
        data = None
        sources.remove("test")
        st.info(t("picker.no_test_images", dataset=DATASET_TITLES.get(meta["dataset"], "?")), icon=":material/info:")
        if state.source not in sources:
            state.source = "upload"
    if data is not None and tuple(data.input_shape) != tuple(meta["input_shape"]):
        st.error(t("picker.shape_mismatch", net="×".join(map(str, meta["input_shape"])),
                   data="×".join(map(str, data.input_shape))))
        return None
    source = st.radio(t("picker.source"), sources, horizontal=True, key=state.key("source"),
                      format_func=lambda s: t(SOURCES[s]))
    if source == "upload":
        return _upload(t, state, meta, has_test=data is not None)
    if source == "draw":
        return _draw(t, state, meta)
    return _test_image(t, state, data)


def drawn_key(state) -> str:
    """Session key of the converted drawing (uint8 at the input size); tests may set it directly."""
    return state.key("drawn")


def _draw(t, state, meta: dict):
    """A drawing area (white strokes on black), converted as an upload is (cnnviz.images.canvas_to_image)."""
    from cnnviz.images import canvas_to_image

    try:
        from streamlit_drawable_canvas import st_canvas
    except Exception:  # noqa: BLE001 — the component cannot load (missing package): no drawing, say so
        st.info(t("picker.draw_unavailable"))
        return None
    st.space("small")  # room for the canvas's toolbar, drawn just above it
    result = st_canvas(fill_color="rgba(0,0,0,0)", stroke_width=STROKE, stroke_color="#ffffff",
                       background_color="#000000", height=CANVAS_SIZE, width=CANVAS_SIZE, drawing_mode="freedraw",
                       return_image_data=True, update_streamlit=True, key=state.key("canvas"))
    st.caption(t("picker.draw_help"))
    objects = result.json_data.get("objects") if isinstance(result.json_data, dict) else None
    png = result.image_bytes  # None until the browser has sent a drawing
    key = drawn_key(state)
    shape = tuple(meta["input_shape"])
    if png is not None and objects:
        digest = (hashlib.sha1(png).hexdigest(), shape)
        if st.session_state.get(key + "_src") != digest:  # convert a new drawing once, not on every rerun
            st.session_state[key] = canvas_to_image(result.image_data, shape)
            st.session_state[key + "_src"] = digest
    elif png is not None:  # the browser sent an empty canvas: cleared
        st.session_state.pop(key, None)
    image = st.session_state.get(key)
    if image is not None and image.shape != (shape[1:] if shape[0] == 1 else (*shape[1:], shape[0])):
        image = None  # drawn for another network's input size: draw again (or move a stroke)
    if image is None:
        st.info(t("picker.draw_empty"))
        return None
    return image, None, t("picker.caption_draw")


def _upload(t, state, meta: dict, has_test: bool = True):
    from cnnviz.images import to_input

    gray = meta["input_shape"][0] == 1
    if gray:
        st.toggle(t("picker.invert"), key=state.key("invert"), help=t("picker.invert_help"))
    loaded = upload_image(t, state.key("upload"))
    if loaded is None:
        st.info(t("picker.choose_file") if has_test else t("picker.choose_file_only"))
        return None
    img, name = loaded
    image = to_input(img, meta["input_shape"], invert=gray and state.invert)
    return image, None, t("picker.caption_upload", name=plain(name))


def _test_image(t, state, data):
    classes = ["any", *map(str, range(len(data.classes)))]
    if state.cls not in classes:  # a link's class id beyond this dataset's classes
        state.cls = "any"
    a, b, c = st.columns([3, 2, 1])
    a.selectbox(t("picker.class"), classes, key=state.key("cls"), on_change=lambda: setattr(state, "idx", 0),
                format_func=lambda v: t("picker.any_class") if v == "any" else class_name(data.classes[int(v)]))
    pool = np.arange(len(data)) if state.cls == "any" else np.flatnonzero(data.labels == int(state.cls))
    if not len(pool):
        st.info(t("picker.empty_class"))
        return None
    state.idx = int(min(max(state.idx, 0), len(pool) - 1))

    def random_image():
        state.idx = int(np.random.default_rng().integers(len(pool)))

    c.button(t("picker.random"), icon=":material/casino:", key=state.key("random"), help=t("picker.random_help"),
             on_click=random_image, width="stretch")  # a name a screen reader can say (not "casino")
    b.number_input(t("picker.index", last=len(pool) - 1), 0, len(pool) - 1, key=state.key("idx"))
    i = int(pool[state.idx])
    sample = data.source.startswith("shipped sample")  # cnnviz.data.load_samples: the offline stand-in
    where = t("picker.from_sample") if sample else plain(shown_path(data.source))  # no absolute server path
    return data.images[i], int(data.labels[i]), t("picker.caption_test", i=str(i), source=where)


def keep_choice(t, state, name: str, options: list[str], default: str) -> None:
    """Keep the text setting `name` among `options` (a stage of this network): otherwise `default`, with a
    notice when the value was not empty (a link to a layer this network does not have)."""
    value = getattr(state, name)
    if value not in options:
        if value:
            st.toast(t("picker.unknown_layer", name=plain(value), default=default), icon=":material/info:")
        setattr(state, name, default)


def show_test_image(screen_id: str, index: int, network: str | None = None) -> None:
    """Point a network screen at test image `index` (and the checkpoint file `network`), e.g. before
    st.switch_page from Training's "Inspect" button. Call it before that screen's widgets are drawn."""
    from ui.screens import BY_ID

    screen = BY_ID[screen_id]
    values = {"source": "test", "cls": "any", "idx": int(index)}
    if network is not None:
        values["network"] = network
    for name, value in values.items():
        st.session_state[screen.key(name)] = value
