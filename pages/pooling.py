"""Screen: pooling step by step (the seed's 4×4 max-pool example by default), then on a real image."""

import numpy as np
import streamlit as st

import ui
from cnnviz import CnnvizError
from cnnviz.checkpoints import SHIPPED
from cnnviz.explore import inspect
from cnnviz.figures import image_figure, pool_step_figure
from cnnviz.ops import SEED_POOL_INPUT, format_grid, format_number, parse_grid, pool2d, pool2d_steps

ui.require_app()

S = st.session_state
S.setdefault("pool_input", format_grid(SEED_POOL_INPUT))


def move(delta: int, n: int):
    S.pool_step = int(np.clip(S.get("pool_step", 1) + delta, 1, n))


st.title("Pooling")
st.markdown("Pooling summarises each window by one number — its **maximum** (max pooling) or its "
            "**mean** (average pooling). A 2×2 window with stride 2 halves the height and the width, "
            "and a small shift of the input often leaves the maximum where it was.")

left, right = st.columns([2, 1])
left.text_area("Input (one row per line, up to 12×12)", key="pool_input", height=160)
with right:
    mode = st.radio("Pooling", ["max", "avg"], format_func={"max": "Max", "avg": "Average"}.get,
                    horizontal=True, key="pool_mode")
    size = st.number_input("Window size", 1, 6, 2, key="pool_size")
    stride = st.number_input("Stride", 1, 6, 2, key="pool_stride")
    if st.button("Back to the course's example"):
        S.pool_input, S.pool_step = format_grid(SEED_POOL_INPUT), 1
        st.rerun()

try:
    x = parse_grid(S.pool_input, "Input")
    trace = pool2d_steps(x, int(size), int(stride), mode)
except CnnvizError as exc:
    ui.show_error(exc)
    st.stop()

n = len(trace.steps)
S.pool_step = int(np.clip(S.get("pool_step", 1), 1, n))
b1, b2, b3 = st.columns([1.3, 1.3, 7])
b1.button("◀ Previous", on_click=move, args=(-1, n), disabled=S.pool_step <= 1, width="stretch")
b2.button("Next ▶", on_click=move, args=(1, n), disabled=S.pool_step >= n, width="stretch")
if n > 1:
    b3.slider("Step", 1, n, key="pool_step", label_visibility="collapsed")
step = trace.steps[S.pool_step - 1]
st.plotly_chart(pool_step_figure(trace, x, step.index), key="pool_fig")
values = ", ".join(format_number(v) for v in step.window.ravel())
if mode == "max":
    r, c = step.argmax
    st.markdown(f"**Step {step.index + 1} of {n}** — max({values}) = **{format_number(step.value)}**, "
                f"found at row {r}, column {c} of the input.")
else:
    st.markdown(f"**Step {step.index + 1} of {n}** — mean({values}) = **{format_number(step.value)}**")
st.markdown(f"Output shape: ⌊({x.shape[0]} − {size}) / {stride}⌋ + 1 = {trace.output.shape[0]} rows, "
            f"⌊({x.shape[1]} − {size}) / {stride}⌋ + 1 = {trace.output.shape[1]} columns.")

st.divider()
st.subheader("Pooling a real image or a feature map")
data = ui.images_for("fashion-mnist")
a, b = st.columns(2)
idx = a.number_input(f"Fashion-MNIST test image (0–{len(data) - 1})", 0, len(data) - 1, 0, key="pool_idx")
what = b.radio("Pool", ["the image", "a feature map of the shipped network (relu1)"], key="pool_what")
times = st.slider("Apply the pooling this many times", 1, 3, 1, key="pool_times")
img, colors = data.images[idx] / 255.0, "gray"
if what != "the image" and SHIPPED.is_file():
    model, _ = ui.network(str(SHIPPED), SHIPPED.stat().st_mtime)
    maps = inspect(model, data.images[idx]).maps["relu1"]  # (32, 28, 28)
    channel = st.slider("Channel", 0, maps.shape[0] - 1, 0, key="pool_channel")
    img, colors = maps[channel], "Viridis"
out = img
try:
    for _ in range(times):
        out = pool2d(out, int(size), int(stride), mode)
except CnnvizError as exc:
    ui.show_error(exc)
else:
    a, b = st.columns(2)
    a.plotly_chart(image_figure(img, f"Input {img.shape[0]}×{img.shape[1]}", colors), key="pool_real_in")
    b.plotly_chart(image_figure(out, f"After {times}× {mode} pool {size}×{size}/{stride}: "
                                     f"{out.shape[0]}×{out.shape[1]}", colors), key="pool_real_out")
