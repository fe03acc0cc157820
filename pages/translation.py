"""Screen: shift the image, watch the maps shift along (equivariance) and the prediction stay (invariance).

A network without convolution (an MLP) has no maps to shift: the screen then shows the shifted input,
the predictions and the measures, which apply to any network.
"""

import math
from pathlib import Path

import streamlit as st

import ui
from cnnviz import CnnvizError
from cnnviz.figures import input_figure, mosaic_figure, shift_curves_figure, shift_heatmap_figure
from cnnviz.i18n import format_number
from cnnviz.shift import consistency, equivariance_gap, relative_gap, shift_image, stage_scale
from ui import shared_cache
from ui.image_picker import keep_choice
from ui.remedies_view import show_remedies

t, state = ui.page("translation")
lang = t.lang


def show_maps(image, orig, moved, dx: int, dy: int, circular: bool) -> None:
    """One stage's maps for the original and the shifted image, and how far they are from a plain shift."""
    spatial = orig.spatial_stages()
    keep_choice(t, state, "stage", spatial, spatial[0])
    stage = st.selectbox(t("shift.stage"), spatial, key=state.key("stage"))
    n_show = st.slider(t("shift.channels"), 4, 32, step=4, key=state.key("channels"))
    m0, m1 = orig.maps[stage], moved.maps[stage]
    scale = stage_scale(image.shape[:2], m0.shape[1:])
    diff, expected = equivariance_gap(m1, m0, dx, dy, scale, circular)
    border = max(1, 3 // scale + abs(dx) // scale + abs(dy) // scale)
    inner, _ = equivariance_gap(m1, m0, dx, dy, scale, circular, border=border)
    for title, maps, key in [(t("shift.maps_orig", stage=stage), m0, "shift_m0"),
                             (t("shift.maps_shifted", stage=stage), m1, "shift_m1"),
                             (t("shift.maps_diff", scale=scale), diff, "shift_diff")]:
        narrow = ui.charts.view().narrow  # a phone: 4 maps a row, as tall as they need
        ui.chart(shared_cache.figure(mosaic_figure, maps[:n_show], title, symmetric=True,
                                     cols=min(4 if narrow else 16, n_show),
                                     height=None if narrow else 170 + 25 * (n_show // 16), lang=lang),
                 key=key)
    gap_id = "shift.gap_one" if scale == 1 else "shift.gap_many"
    st.markdown(t(gap_id, stage=stage, scale=scale, all=relative_gap(diff, expected), inner=relative_gap(inner, expected)))
    if scale > 1 and (dx % scale or dy % scale):
        st.caption(t("shift.not_multiple", scale=scale, dx=dx, dy=dy))


@st.cache_resource
def measured() -> dict:
    """Consistency already measured on this server: (checkpoint, its mtime, k, circular) -> (value, images).
    It is the same for every session, and takes a minute to measure."""
    return {}


def show_consistency(model, meta: dict, circular: bool) -> None:
    st.header(t("shift.measure_title"))
    st.markdown(t("shift.measure_intro"))
    kk = st.slider(t("shift.cons_k"), 1, 8, key=state.key("cons_k"))
    path = Path(meta["path"])
    key = (str(path), path.stat().st_mtime if path.exists() else 0.0, kk, circular)
    if key not in measured() and st.button(t("shift.measure"), key="shift_measure"):
        try:
            data = ui.images_for(meta["dataset"])
        except CnnvizError as exc:  # no test images of this network's dataset here (a CIFAR-10 network)
            ui.show_error(exc)
            return
        bar = st.progress(0.0, text=t("shift.progress", n=len(data)))
        value = consistency(model, data.images, kk, circular,
                            progress=lambda f: bar.progress(f, text=format_number(lang, f, ".0%")))
        measured()[key] = (value, len(data))
        bar.empty()
    if key in measured():
        value, n = measured()[key]
        x1, x2 = st.columns(2)
        x1.metric(t("shift.cons_circular" if circular else "shift.cons_metric", k=kk),
                  format_number(lang, value, ".2%"), help=t("shift.cons_help", n=n))
        acc = meta["test_accuracy"]
        x2.metric(t("shift.test_accuracy"), "—" if acc is None or math.isnan(acc) else format_number(lang, acc, ".2%"))


REMEDIES_K = state.key("remedies_k")  # the k the remedies below were drawn with (not a setting)


@st.fragment
def show_curves(model, meta: dict, image, classes, circular: bool) -> None:
    """The curves over shifts of up to k pixels: moving k reruns only this part (the probabilities are
    shared by the sessions, ui/shared_cache.py) — or the whole page when the remedies below show k too."""
    st.header(t("shift.curves_title"))
    k = st.slider(t("shift.k"), 1, 8, key=state.key("k"))
    if state.compare and st.session_state.get(REMEDIES_K) != k:
        st.rerun(scope="app")
    probs = shared_cache.shift_probabilities(model, meta, image, k, circular)
    ui.chart(shared_cache.figure(shift_curves_figure, probs, classes, k, lang=lang), key="shift_curves")
    ui.chart(shared_cache.figure(shift_heatmap_figure, probs, classes, k, lang=lang), key="shift_heatmap")
    state.sync()  # a fragment rerun does not reach the frame's own sync


ui.presenter.heading(t, "shift.title", "translation")
ui.intro(t("shift.intro"))

loaded = ui.pick_network(t, state.key("network"))
if loaded is None:
    ui.stop()
model, meta = loaded
with ui.secondary(t):  # in the presenter view the image comes from the link, the picker is folded away
    picked = ui.pick_image(t, state, meta)
if picked is None:
    ui.stop()
image, label, caption = picked
if not ui.presenting():
    st.caption(caption)
classes = ui.class_names(meta["classes"])

c1, c2, c3 = st.columns(3)
dx = c1.slider(t("shift.dx"), -8, 8, key=state.key("dx"))
dy = c2.slider(t("shift.dy"), -8, 8, key=state.key("dy"))
circular = c3.toggle(t("shift.circular"), key=state.key("circular"), help=t("shift.circular_help"))
shifted = shift_image(image, dx, dy, circular)
orig, moved = shared_cache.image_maps(model, meta, image), shared_cache.image_maps(model, meta, shifted)

a, b = st.columns(2)
ui.chart(shared_cache.figure(input_figure, image, t("shift.original", name=classes[orig.pred],
                                                    p=float(orig.probs.max())), lang=lang), key="shift_orig", container=a)
ui.chart(shared_cache.figure(input_figure, shifted, t("shift.shifted", dx=dx, dy=dy, name=classes[moved.pred],
                                                      p=float(moved.probs.max())), lang=lang),
         key="shift_shifted", container=b)
before, after = ui.plain(classes[orig.pred]), ui.plain(classes[moved.pred])
if orig.pred == moved.pred:
    st.success(t("shift.holds", name=before))
else:
    st.warning(t("shift.changes", before=before, after=after))

st.header(t("shift.maps_title"))
if orig.spatial_stages():
    show_maps(image, orig, moved, dx, dy, circular)
else:  # an MLP: every stage is a vector, nothing moves with the image
    st.info(t("shift.no_maps"))

st.session_state[REMEDIES_K] = state.k
show_curves(model, meta, image, classes, circular)
k = state.k

show_consistency(model, meta, circular)

st.header(t("remedies.ui_title"))
if st.toggle(t("remedies.ui_toggle"), key=state.key("compare")):
    ui.intro(t("remedies.ui_intro"))
    show_remedies(t, image, dx, dy, circular, k)
