"""Screen: convolution of a C-channel input with F filters: per-channel partial maps, their sum, the bias."""

import numpy as np
import streamlit as st
from PIL import Image

import ui
from cnnviz import CnnvizError
from cnnviz.data import synthetic_rgb
from cnnviz.figures import maps_row, rgb_figure
from cnnviz.images import open_image, to_input
from cnnviz.ops import conv2d_multi, filter_bank, format_filter, format_number, parse_filters

ui.require_app()

S = st.session_state
CHANNELS = ("red", "green", "blue")

st.title("Multi-channel convolution")
st.markdown("Each filter has **one kernel per input channel**. Every kernel convolves its own channel; the "
            "C partial maps are **summed** (plus an optional bias) into one output map per filter.")

c1, c2, c3 = st.columns(3)
sources = ["Colour test card", "Random integers", "Upload an image"]
try:
    cifar = ui.dataset("cifar10", "test", download=False)
    sources.insert(0, "CIFAR-10 test image")
except CnnvizError:
    cifar = None  # not installed: the other sources work without it
source = c1.radio("Input", sources, index=sources.index("Colour test card"), key="mc_source")
size = c2.slider("Input size", 4, 12, 8, key="mc_size")
n_filters = c3.slider("Filters (F)", 1, 4, 2, key="mc_filters")
k = c3.slider("Kernel size (k)", 1, 5, 3, key="mc_k")

if source == "CIFAR-10 test image":
    i = c2.number_input(f"CIFAR-10 test image (0–{len(cifar) - 1})", 0, len(cifar) - 1, 0, key="mc_cifar")
    rgb = to_input(Image.fromarray(cifar.images[i]), (3, size, size))
    c2.caption(f"class: {cifar.classes[cifar.labels[i]]}, resized from 32×32")
elif source == "Colour test card":
    rgb = synthetic_rgb(size)
elif source == "Random integers":
    rgb = None
    x = np.random.default_rng(S.get("mc_seed", 0)).integers(0, 4, size=(3, size, size))
else:
    rgb = synthetic_rgb(size)
    up = st.file_uploader("PNG, JPEG, GIF, BMP or WebP", type=["png", "jpg", "jpeg", "gif", "bmp", "webp"], key="mc_up")
    if up is not None:
        try:
            loaded = open_image(up.getvalue(), up.name)
            for note in loaded.notes:
                st.info(note)
            rgb = to_input(loaded.image, (3, size, size))
        except CnnvizError as exc:
            ui.show_error(exc)
if rgb is not None:
    x = np.round(rgb.transpose(2, 0, 1) / 255.0, 1)  # (3, H, W) in [0, 1], one decimal to stay readable

cols = st.columns([1, 3])
if rgb is not None:
    cols[0].plotly_chart(rgb_figure(rgb, "Input image"), key="mc_rgb")
cols[1].plotly_chart(maps_row(x, [f"channel {i + 1} ({c})" for i, c in enumerate(CHANNELS)], "Greys",
                              symmetric=False, text=size <= 8), key="mc_channels")

st.subheader("Filters")
p1, p2, p3 = st.columns(3)
preset = p1.selectbox("Preset", ["random", "channel pickers", "edges"], key="mc_preset",
                      help="channel pickers: filter f adds up channel f; edges: Sobel / Laplacian on every channel")
seed = p2.number_input("Random seed", 0, 9999, 0, key="mc_seed")
use_bias = p3.toggle("Add a bias", key="mc_use_bias", help="The course's slide is without bias.")
try:
    defaults = filter_bank(preset, n_filters, 3, k, seed)
except CnnvizError as exc:
    ui.show_error(exc)
    st.stop()
signature = (preset, n_filters, k, seed)
if S.get("mc_signature") != signature:  # a new preset replaces the edited filters
    S.mc_signature = signature
    for f in range(n_filters):
        S[f"mc_filter_{f}"] = format_filter(defaults[f])
with st.expander("Edit the filters (one kernel per channel, separated by a blank line)"):
    edit_cols = st.columns(n_filters)
    for f in range(n_filters):
        edit_cols[f].text_area(f"Filter {f + 1}", key=f"mc_filter_{f}", height=260)
bias = None
if use_bias:
    text = st.text_input("Bias, one value per filter", ", ".join(["1"] * n_filters), key="mc_bias")
    try:
        bias = np.array([float(v) for v in text.replace(",", " ").split()])
        if bias.shape != (n_filters,) or not np.isfinite(bias).all():
            raise ValueError
    except ValueError:
        st.error(f"The bias needs {n_filters} finite numbers, separated by commas.")
        st.stop()

try:
    weight = parse_filters([S[f"mc_filter_{f}"] for f in range(n_filters)], channels=3)
    trace = conv2d_multi(x, weight, bias, stride=1, padding=0)
except CnnvizError as exc:
    ui.show_error(exc)
    st.stop()

F_, C_, kh, kw = weight.shape
st.markdown(f"**Parameters:** F×C×k×k + F = {F_}×{C_}×{kh}×{kw} + {F_} = **{trace.parameter_count}** "
            f"({F_ * C_ * kh * kw} weights and {F_} biases" + ("" if use_bias else ", here left at 0") + ").")
show_text = trace.output.shape[-1] <= 8
for f in range(F_):
    st.markdown(f"**Filter {f + 1}** — the three kernels, the three partial maps, their sum"
                + (f" + bias {format_number(trace.bias[f])}" if use_bias else "") + " = output map")
    st.plotly_chart(maps_row(weight[f], [f"kernel for {c}" for c in CHANNELS], text=True, height=200),
                    key=f"mc_kernels_{f}")
    maps = np.concatenate([trace.partials[f], trace.output[f][None]])
    st.plotly_chart(maps_row(maps, [f"partial ({c})" for c in CHANNELS] + ["output"], text=show_text),
                    key=f"mc_maps_{f}")

st.subheader("One output cell, channel by channel")
h_out, w_out = trace.output.shape[1:]
d1, d2, d3 = st.columns(3)
f = d1.number_input("Filter", 1, F_, 1, key="mc_cell_f") - 1
i = d2.number_input("Output row", 0, h_out - 1, 0, key="mc_cell_i")
j = d3.number_input("Output column", 0, w_out - 1, 0, key="mc_cell_j")
terms, total = trace.cell(f, i, j)
st.plotly_chart(maps_row(np.stack([t.window for t in terms]), [f"window in {c}" for c in CHANNELS], "Greys",
                         symmetric=False, text=True, height=200), key="mc_windows")
shown = st.slider("Reveal", 1, C_ + 1, C_ + 1, key="mc_reveal", help="one channel at a time, then the total")
for t in terms[:shown]:
    prods = " + ".join(f"{format_number(a)}×{format_number(b)}" for a, b in zip(t.window.ravel(), t.kernel.ravel()))
    st.markdown(f"**{CHANNELS[t.channel]}**: window rows {i}–{i + kh - 1}, columns {j}–{j + kw - 1}: "
                f"`{prods} = {format_number(t.value)}`")
if shown > C_:
    parts = " + ".join(format_number(t.value) for t in terms)
    b = f" + {format_number(trace.bias[f])} (bias)" if use_bias else ""
    st.success(f"Output (filter {f + 1}, row {i}, column {j}) = {parts}{b} = **{format_number(total)}**")
