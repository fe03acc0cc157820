"""Screen: 2-D convolution step by step (the seed's example by default), then on a real image."""

import numpy as np
import streamlit as st

import ui
from cnnviz import CnnvizError
from cnnviz.figures import conv_step_figure, image_figure
from cnnviz.images import open_image, to_gray
from cnnviz.ops import (
    KERNEL_PRESETS,
    SEED_IMAGE,
    SEED_KERNEL,
    conv2d,
    conv2d_steps,
    format_grid,
    kernel_preset,
    output_size_formula,
    parse_grid,
)

ui.require_app()

S = st.session_state
S.setdefault("conv_input", format_grid(SEED_IMAGE))
S.setdefault("conv_kernel", format_grid(SEED_KERNEL))


def apply_preset():
    S.conv_kernel = format_grid(kernel_preset(S.conv_preset, S.conv_ksize, seed=int(S.get("conv_seed", 0))))
    S.conv_step = 1


def move(delta: int, n: int):
    S.conv_step = int(np.clip(S.get("conv_step", 1) + delta, 1, n))


st.title("Convolution, step by step")
st.markdown("The kernel slides over the input; at each position the overlapping values are multiplied "
            "one by one and the products are summed into one output cell.")

left, mid, right = st.columns([3, 3, 2])
left.text_area("Input (one row per line, up to 12×12)", key="conv_input", height=200)
mid.text_area("Kernel (1×1 to 7×7)", key="conv_kernel", height=200)
with right:
    st.selectbox("Kernel preset", KERNEL_PRESETS, key="conv_preset", on_change=apply_preset)
    st.slider("Preset size", 1, 7, 3, key="conv_ksize", on_change=apply_preset,
              help="For identity, box blur, Gaussian blur and random; the others are 3×3.")
    if st.button("Back to the course's example"):
        S.conv_input, S.conv_kernel, S.conv_step = format_grid(SEED_IMAGE), format_grid(SEED_KERNEL), 1
        st.rerun()

c1, c2, c3, c4 = st.columns(4)
stride = c1.number_input("Stride", 1, 6, 1, key="conv_stride")
padding = c2.number_input("Zero padding", 0, 3, 0, key="conv_padding")
dilation = c3.number_input("Dilation", 1, 3, 1, key="conv_dilation")
flip = c4.toggle("Flip the kernel (true convolution)", key="conv_flip",
                 help="PyTorch's Conv2d computes a cross-correlation: the kernel is NOT flipped. "
                      "The mathematical convolution flips it by 180° first.")

try:
    image = parse_grid(S.conv_input, "Input")
    kernel = parse_grid(S.conv_kernel, "Kernel", max_size=7)
    if flip:
        kernel = kernel[::-1, ::-1]
    trace = conv2d_steps(image, kernel, int(stride), int(padding), int(dilation))
except CnnvizError as exc:
    ui.show_error(exc)
    st.stop()

st.caption("Note: deep-learning libraries call this a convolution, but it is a **cross-correlation** — "
           "the kernel is applied as written, not flipped. "
           + ("The kernel is shown flipped: this is the true convolution." if flip else ""))
(h, w), (kh, kw) = image.shape, kernel.shape
st.markdown(f"**Output size** — rows: {output_size_formula(h, kh, int(stride), int(padding), int(dilation))}; "
            f"columns: {output_size_formula(w, kw, int(stride), int(padding), int(dilation))}")

n = len(trace.steps)
S.conv_step = int(np.clip(S.get("conv_step", 1), 1, n))
b1, b2, b3, b4 = st.columns([1.3, 1.3, 5, 2.4])
b1.button("◀ Previous", on_click=move, args=(-1, n), disabled=S.conv_step <= 1, width="stretch")
b2.button("Next ▶", on_click=move, args=(1, n), disabled=S.conv_step >= n, width="stretch")
if n > 1:
    b3.slider("Step", 1, n, key="conv_step", label_visibility="collapsed")
animate = b4.toggle("Animate in the browser", key="conv_animate", help="Play every step without the server.")
step = trace.steps[S.conv_step - 1]

st.plotly_chart(conv_step_figure(trace, step.index, animate=animate), key="conv_fig", width="stretch")
st.markdown(f"**Step {step.index + 1} of {n}** — window at row {step.row}, column {step.col} of the "
            f"{'padded ' if padding else ''}input → output cell ({step.out_row}, {step.out_col}):")
st.code(trace.products_text(step), language=None)

st.divider()
st.subheader("The same kernel on a real image")
source = st.radio("Image", ["Fashion-MNIST test image", "Upload an image"], horizontal=True, key="conv_source")
img = None
if source == "Upload an image":
    up = st.file_uploader("PNG, JPEG, GIF, BMP or WebP", type=["png", "jpg", "jpeg", "gif", "bmp", "webp"],
                          key="conv_upload")
    if up is not None:
        try:
            loaded = open_image(up.getvalue(), up.name)
            for note in loaded.notes:
                st.info(note)
            img = to_gray(loaded.image, 128)
        except CnnvizError as exc:
            ui.show_error(exc)
else:
    data = ui.images_for("fashion-mnist")
    idx = st.number_input(f"Test image index (0–{len(data) - 1}; {data.source})", 0, len(data) - 1, 0, key="conv_idx")
    img = data.images[idx] / 255.0
    st.caption(f"Class: {data.classes[data.labels[idx]]}")
if img is not None:
    try:
        result = conv2d(img, kernel, int(stride), int(padding), int(dilation))
    except CnnvizError as exc:
        ui.show_error(exc)
    else:
        a, b = st.columns(2)
        a.plotly_chart(image_figure(img, f"Input {img.shape[0]}×{img.shape[1]}"), key="conv_real_in")
        b.plotly_chart(image_figure(result, f"Output {result.shape[0]}×{result.shape[1]}", colorscale="RdBu_r",
                                    zmid=0), key="conv_real_out")
