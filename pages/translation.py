"""Screen: shift the image, watch the maps shift along (equivariance) and the prediction stay (invariance)."""

import numpy as np
import streamlit as st

import ui
from cnnviz.explore import inspect
from cnnviz.figures import input_figure, mosaic_figure, shift_curves_figure, shift_heatmap_figure
from cnnviz.shift import (
    consistency,
    equivariance_gap,
    probabilities_over_shifts,
    relative_gap,
    shift_image,
    stage_scale,
)

ui.require_app()

S = st.session_state
st.title("Translation invariance")
st.markdown("Move the image by a few pixels. A **convolution** moves its maps along with the image "
            "(it is *equivariant*); **pooling** keeps only one value per window, so the maps after it move "
            "by half as much and small shifts are partly absorbed — the prediction tends to stay the same "
            "(it is approximately *invariant*), but not exactly.")

loaded = ui.pick_network("network")
if loaded is None:
    st.stop()
model, meta = loaded
picked = ui.pick_image(meta, "tr")
if picked is None:
    st.stop()
image, label, caption = picked
classes = meta["classes"]

c1, c2, c3 = st.columns(3)
dx = c1.slider("Shift right (dx, pixels)", -8, 8, 2, key="tr_dx")
dy = c2.slider("Shift down (dy, pixels)", -8, 8, 0, key="tr_dy")
circular = c3.toggle("Circular shift (wrap around)", key="tr_circular",
                     help="Off: black pixels enter from the edge (zero fill).")
shifted = shift_image(image, dx, dy, circular)
orig, moved = inspect(model, image), inspect(model, shifted)

a, b = st.columns(2)
a.plotly_chart(input_figure(image, f"Original → {classes[orig.pred]} ({orig.probs.max():.1%})"), key="tr_orig")
b.plotly_chart(input_figure(shifted, f"Shifted ({dx}, {dy}) → {classes[moved.pred]} ({moved.probs.max():.1%})"),
               key="tr_shifted")
if orig.pred == moved.pred:
    st.success(f"The prediction holds: **{classes[orig.pred]}** for both.")
else:
    st.warning(f"The prediction changed: **{classes[orig.pred]}** → **{classes[moved.pred]}**.")

st.subheader("The maps move with the image")
spatial = orig.spatial_stages()
stage = st.selectbox("Layer", spatial, index=0, key="tr_stage")
n_show = st.slider("Channels shown", 4, 32, 8, step=4, key="tr_channels")
m0, m1 = orig.maps[stage], moved.maps[stage]
scale = stage_scale(image.shape[:2], m0.shape[1:])
diff, expected = equivariance_gap(m1, m0, dx, dy, scale, circular)
inner, _ = equivariance_gap(m1, m0, dx, dy, scale, circular, border=max(1, 3 // scale + abs(dx) // scale + abs(dy) // scale))
vmax = float(max(np.abs(m0[:n_show]).max(), np.abs(m1[:n_show]).max())) or 1.0
for title, maps, k in [(f"{stage} of the original image", m0, "tr_m0"), (f"{stage} of the shifted image", m1, "tr_m1"),
                       (f"difference: maps of the shifted image − shifted maps (shift ÷ {scale})", diff, "tr_diff")]:
    st.plotly_chart(mosaic_figure(maps[:n_show], title, symmetric=True, cols=min(16, n_show), height=170 + 25 * (n_show // 16)),
                    key=k)
st.markdown(f"Relative difference ‖maps(shift(x)) − shift(maps(x))‖ / ‖shift(maps(x))‖ at **{stage}** "
            f"(1 cell = {scale} pixel{'s' if scale > 1 else ''}): **{relative_gap(diff, expected):.1%}** in all, "
            f"**{relative_gap(inner, expected):.1%}** away from the borders.")
if scale > 1 and (dx % scale or dy % scale):
    st.caption(f"At this layer one cell covers {scale} pixels, and a shift of ({dx}, {dy}) is not a multiple of "
               f"{scale}: the maps cannot simply move — this is why pooling is only approximately invariant.")

st.subheader("Where does the prediction hold?")
k = st.slider("Shifts from −k to k", 1, 8, 5, key="tr_k")
probs = probabilities_over_shifts(model, image, k, circular)
st.plotly_chart(shift_curves_figure(probs, classes, k), key="tr_curves")
st.plotly_chart(shift_heatmap_figure(probs, classes, k), key="tr_heatmap")

st.subheader("Measure on the test set")
st.markdown("**Consistency** (Zhang, 2019): take each test image twice, shifted by two different random "
            "amounts in −k..k pixels; how often does the network give the same class to both?")
kk = st.slider("Largest shift k", 1, 8, 3, key="tr_cons_k")
if st.button("Measure", key="tr_measure"):
    data = ui.images_for(meta["dataset"])
    bar = st.progress(0.0, text=f"Shifting {len(data):,} test images…")
    value = consistency(model, data.images, kk, circular, progress=lambda f: bar.progress(f, text=f"{f:.0%}"))
    S.tr_consistency = (meta["path"], kk, circular, value, len(data))
if "tr_consistency" in S and S.tr_consistency[0] == meta["path"]:
    _, kk_, circ_, value, n = S.tr_consistency
    x1, x2 = st.columns(2)
    x1.metric(f"Consistency, shifts up to {kk_} px" + (" (circular)" if circ_ else ""), f"{value:.2%}",
              help=f"over {n:,} images")
    x2.metric("Test accuracy (unshifted)", f"{meta['test_accuracy']:.2%}")
