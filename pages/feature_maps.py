"""Screen: what every conv layer of a trained network makes of one image."""

import streamlit as st

import ui
from cnnviz.explore import conv_groups, inspect, kernels_of, producing_conv
from cnnviz.figures import image_figure, input_figure, mosaic_figure, probability_figure

ui.require_app()

st.title("Feature maps")
st.markdown("Pick an image and see what each stage of the trained network computes from it: every "
            "convolution produces one map per filter, ReLU keeps the positive part, pooling halves the size.")

loaded = ui.pick_network()
if loaded is None:
    st.stop()
model, meta = loaded
st.sidebar.caption(f"{meta['dataset']} · test accuracy {meta['test_accuracy']:.2%} · {meta.get('arch', '')}")

picked = ui.pick_image(meta, "fm")
if picked is None:
    st.stop()
image, label, caption = picked
result = inspect(model, image)

left, right = st.columns([1, 2])
with left:
    st.plotly_chart(input_figure(image, "Network input", height=300), key="fm_input")
    st.caption(caption)
with right:
    pred = meta["classes"][result.pred]
    verdict = "" if label is None else (" :green[:material/check_circle: correct]" if label == result.pred
                                    else f" :red[:material/cancel: wrong — true: {meta['classes'][label]}]")
    st.markdown(f"### Prediction: **{pred}** ({result.probs[result.pred]:.1%}){verdict}")
    st.plotly_chart(probability_figure(result.probs, meta["classes"], label), key="fm_probs")

groups = conv_groups(model)
if not groups:
    st.info("This network has no convolution layers (an MLP): it has no feature maps to show.")
    st.stop()

st.subheader("Every stage, layer by layer")
symmetric = st.toggle("Signed colour scale (blue < 0 < red)", value=True, key="fm_signed",
                      help="Before ReLU the maps have negative values; after ReLU they are ≥ 0.")
tabs = st.tabs(list(groups))
for tab, stages in zip(tabs, groups.values()):
    with tab:
        for stage in stages:
            maps = result.maps[stage]
            c, h, w = maps.shape
            st.plotly_chart(mosaic_figure(maps, f"{stage} · {c} × {h} × {w}", symmetric=symmetric,
                                          cols=min(16, c)), key=f"fm_mosaic_{stage}")

st.subheader("One map, large, with the kernel that produced it")
spatial = result.spatial_stages()
a, b = st.columns(2)
stage = a.selectbox("Stage", spatial, index=min(2, len(spatial) - 1), key="fm_stage")
maps = result.maps[stage]
channel = b.number_input(f"Channel (0–{maps.shape[0] - 1})", 0, maps.shape[0] - 1, 0, key="fm_channel")
conv = producing_conv(model, stage)
big, kern = st.columns([3, 2])
big.plotly_chart(image_figure(maps[channel], f"{stage}, channel {channel} · {maps.shape[1]}×{maps.shape[2]}",
                              colorscale="RdBu_r" if symmetric else "Viridis", zmid=0 if symmetric else None,
                              height=420), key="fm_big")
kernel = kernels_of(model, conv, channel)  # (C_in, k, k)
with kern:
    title = f"{conv}'s filter {channel}: {kernel.shape[0]} × {kernel.shape[1]}×{kernel.shape[2]}"
    if kernel.shape[0] <= 3 and conv == next(iter(groups)):
        st.plotly_chart(image_figure(kernel[0] if kernel.shape[0] == 1 else kernel.mean(0), title,
                                     colorscale="RdBu_r", zmid=0, height=300), key="fm_kernel")
    else:
        st.plotly_chart(mosaic_figure(kernel, title + " (one slice per input channel)", symmetric=True,
                                      cols=min(8, kernel.shape[0])), key="fm_kernel")
    if stage != conv:
        st.caption(f"{stage} comes after {conv}: the map is {conv}'s output for this filter, then "
                   + ", ".join(s for s in groups[conv][1:groups[conv].index(stage) + 1]) + ".")

first = next(iter(groups))
st.subheader(f"All of {first}'s filters, as images")
w1 = model.stages[first].weight.detach().numpy()  # (F, C, k, k)
st.plotly_chart(mosaic_figure(w1[:, 0] if w1.shape[1] == 1 else w1.mean(1), f"{first}: {w1.shape[0]} filters "
                              f"{w1.shape[2]}×{w1.shape[3]}", symmetric=True, cols=16, height=200), key="fm_filters")
