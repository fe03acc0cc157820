"""Screen: 2-D convolution step by step (the course's example by default), then on a real image."""

import streamlit as st

import ui
from cnnviz import CnnvizError
from cnnviz.figures import image_figure
from cnnviz.figures_steps import clicked_step, conv_view
from cnnviz.images import to_gray
from cnnviz.ops import KERNEL_PRESETS, conv2d, conv2d_steps, format_grid, kernel_preset, parse_grid
from ui import shared_cache
from ui.exercise_view import check_yourself

t, state = ui.page("convolution")
lang = t.lang
PRESET_LABELS = {
    "seed": "preset.seed", "identity": "preset.identity", "box_blur": "preset.box_blur",
    "gaussian_blur": "preset.gaussian_blur", "sharpen": "preset.sharpen", "sobel_x": "preset.sobel_x",
    "sobel_y": "preset.sobel_y", "laplacian": "preset.laplacian", "outline": "preset.outline",
    "emboss": "preset.emboss", "random": "preset.random",
}
SOURCE_LABELS = {"test": "conv.real_source.test", "upload": "conv.real_source.upload"}


def apply_preset():
    state.kernel = format_grid(kernel_preset(state.preset, state.ksize, seed=0))
    state.step = 1
    st.session_state[PRESET_SHOWN] = state.preset


PRESET_SHOWN = state.key("preset_shown")  # the preset whose kernel the kernel field holds
shown = st.session_state.get(PRESET_SHOWN, "seed")
if state.preset != shown:  # a link (?preset=sobel_x) chose another preset: its kernel, unless one was typed
    if any(state.kernel.split() == format_grid(kernel_preset(shown, size, seed=0)).split() for size in range(1, 8)):
        apply_preset()
    st.session_state[PRESET_SHOWN] = state.preset

ui.presenter.heading(t, "conv.title", "convolution")
ui.intro(t("conv.intro"))
top = ui.presenter.ahead()  # the presenter view: the step first, the settings folded under it

with ui.secondary(t):  # folded away in the presenter view, so the figure fits the projector
    left, mid, right = st.columns([3, 3, 2])
    left.text_area(t("conv.input"), key=state.key("input"), height=200, max_chars=4000)
    mid.text_area(t("conv.kernel"), key=state.key("kernel"), height=200, max_chars=2000)
    with right:
        st.selectbox(t("conv.preset"), KERNEL_PRESETS, key=state.key("preset"), on_change=apply_preset,
                     format_func=lambda p: t(PRESET_LABELS[p]))
        st.slider(t("conv.preset_size"), 1, 7, key=state.key("ksize"), on_change=apply_preset,
                  help=t("conv.preset_size_help"))
        st.button(t("conv.reset"), key="conv_reset", on_click=state.reset)

    c1, c2, c3, c4 = st.columns([1, 1, 1, 1.5])
    stride = c1.number_input(t("conv.stride"), 1, 6, key=state.key("stride"))
    padding = c2.number_input(t("conv.padding"), 0, 3, key=state.key("padding"))
    dilation = c3.number_input(t("conv.dilation"), 1, 3, key=state.key("dilation"))
    flip = c4.toggle(t("conv.flip"), key=state.key("flip"), help=t("conv.flip_help"))

try:
    image = parse_grid(state.input, "@grid.input")
    kernel = parse_grid(state.kernel, "@grid.kernel", max_size=7)
    if flip:
        kernel = kernel[::-1, ::-1]
    trace = conv2d_steps(image, kernel, int(stride), int(padding), int(dilation))
except CnnvizError as exc:
    ui.show_error(exc)
    ui.stop()

size_line = ui.output_size_line(t, image.shape, kernel.shape, int(stride), int(padding), int(dilation))
if not ui.presenting():
    st.caption(t("conv.cross_correlation") + (" " + t("conv.flipped") if flip else ""))
    st.markdown(size_line)


def go_to_clicked():  # a click on an output cell jumps to its step (checked: one of the n steps, or ignored)
    state.step = clicked_step(st.session_state.get("conv_fig"), n) or state.step


with top or st.container():
    n = len(trace.steps)
    controls, anim = st.columns([7, 3], vertical_alignment="center")
    with controls:
        k = ui.step_controls(t, state, n)
    animate = anim.toggle(t("conv.animate"), key=state.key("animate"), help=t("conv.animate_help"))
    step = trace.steps[k - 1]
    # clickable output cells with their arithmetic on hover, or the animation; built once per server for a view
    fig = shared_cache.figure(conv_view, image, kernel, int(stride), int(padding), int(dilation), step.index,
                              bool(animate), lang=lang)
    ui.chart(fig, key="conv_fig", share=0.62 if animate else 0.43, on_select=go_to_clicked, selection_mode="points")
    where = t("conv.where_padded" if padding else "conv.where", n=step.index + 1, total=n, row=step.row,
              col=step.col, out_row=step.out_row, out_col=step.out_col)
    st.markdown(where)
    st.code(trace.products_text(step), language=None, wrap_lines=True)  # the sum in view, even on a phone
if ui.presenting():
    st.markdown(size_line)
check_yourself(t, "convolution")  # a question about this view, folded (not in the presenter view)

st.divider()
st.header(t("conv.real_title"))
source = st.radio(t("conv.real_source"), ["test", "upload"], horizontal=True, key=state.key("source"),
                  format_func=lambda s: t(SOURCE_LABELS[s]))
img = None
if source == "upload":
    loaded = ui.upload_image(t, "conv_upload")
    if loaded is not None:
        img = to_gray(loaded[0], 128)
else:
    data = ui.images_for("fashion-mnist")
    state.idx = min(state.idx, len(data) - 1)
    idx = st.number_input(t("conv.real_index", last=len(data) - 1), 0, len(data) - 1, key=state.key("idx"))
    img = data.images[idx] / 255.0
    st.caption(t("conv.real_class", name=ui.class_name(data.classes[data.labels[idx]])))
if img is not None:
    try:
        result = conv2d(img, kernel, int(stride), int(padding), int(dilation))
    except CnnvizError as exc:
        ui.show_error(exc)
    else:
        a, b = st.columns(2)
        ui.chart(shared_cache.figure(image_figure, img, t("conv.real_in", h=img.shape[0], w=img.shape[1]),
                                     lang=lang), key="conv_real_in", container=a)
        ui.chart(shared_cache.figure(image_figure, result, t("conv.real_out", h=result.shape[0], w=result.shape[1]),
                                     colorscale="RdBu_r", zmid=0, lang=lang), key="conv_real_out", container=b)
