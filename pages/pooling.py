"""Screen: pooling step by step (the course's 4×4 max-pool example by default), then on a real image."""

import streamlit as st

import ui
from cnnviz import CnnvizError
from cnnviz.checkpoints import SHIPPED
from cnnviz.explore import inspect
from cnnviz.figures import image_figure
from cnnviz.figures_steps import clicked_step, pool_view
from cnnviz.multichannel import number_text
from cnnviz.ops import parse_grid, pool2d, pool2d_steps
from ui import shared_cache
from ui.exercise_view import check_yourself

t, state = ui.page("pooling")
lang = t.lang
MODES = {"max": "pool.mode.max", "avg": "pool.mode.avg"}
WHAT = {"image": "pool.what.image", "feature_map": "pool.what.feature_map"}

ui.presenter.heading(t, "pool.title", "pooling")
ui.intro(t("pool.intro"))
top = ui.presenter.ahead()  # the presenter view: the step first, the settings folded under it

with ui.secondary(t):  # folded away in the presenter view, so the figure fits the projector
    left, right = st.columns([2, 1])
    left.text_area(t("pool.input"), key=state.key("input"), height=160, max_chars=4000)
    with right:
        mode = st.radio(t("pool.mode"), list(MODES), format_func=lambda m: t(MODES[m]), horizontal=True,
                        key=state.key("mode"))
        size = st.number_input(t("pool.size"), 1, 6, key=state.key("size"))
        stride = st.number_input(t("pool.stride"), 1, 6, key=state.key("stride"))
        st.button(t("pool.reset"), key="pool_reset", on_click=state.reset,
                  args=("input", "mode", "size", "stride", "step"))

try:
    x = parse_grid(state.input, "@grid.input")
    trace = pool2d_steps(x, int(size), int(stride), mode)
except CnnvizError as exc:
    ui.show_error(exc)
    ui.stop()


def go_to_clicked():  # a click on an output cell jumps to its step (checked: one of the n steps, or ignored)
    state.step = clicked_step(st.session_state.get("pool_fig"), n) or state.step


with top or st.container():
    n = len(trace.steps)
    step = trace.steps[ui.step_controls(t, state, n) - 1]
    fig = shared_cache.figure(pool_view, x, int(size), int(stride), mode, step.index, lang=lang)  # once per server
    ui.chart(fig, key="pool_fig", share=0.5, on_select=go_to_clicked, selection_mode="points")
    values = ", ".join(number_text(lang, v) for v in step.window.ravel())
    if mode == "max":
        r, c = step.argmax
        st.markdown(t("pool.step_max", n=step.index + 1, total=n, values=values,
                      value=number_text(lang, step.value), row=r, col=c))
    else:
        st.markdown(t("pool.step_avg", n=step.index + 1, total=n, values=values,
                      value=number_text(lang, step.value)))
st.markdown(ui.output_size_line(t, x.shape, (int(size), int(size)), int(stride)))
check_yourself(t, "pooling")  # a question about this view, folded (not in the presenter view)

st.divider()
st.header(t("pool.real_title"))
data = ui.images_for("fashion-mnist")
state.idx = min(state.idx, len(data) - 1)
a, b = st.columns(2)
idx = a.number_input(t("pool.real_index", last=len(data) - 1), 0, len(data) - 1, key=state.key("idx"))
a.caption(t("pool.real_class", name=ui.class_name(data.classes[data.labels[idx]])))
what = b.radio(t("pool.what"), list(WHAT), format_func=lambda w: t(WHAT[w]), key=state.key("what"))
times = st.slider(t("pool.times"), 1, 3, key=state.key("times"))
img, colors = data.images[idx] / 255.0, "gray"
if what == "feature_map":
    if SHIPPED.is_file():
        model, _ = ui.network(str(SHIPPED), SHIPPED.stat().st_mtime)
        maps = inspect(model, data.images[idx]).maps["relu1"]  # (32, 28, 28)
        state.channel = min(state.channel, maps.shape[0] - 1)
        channel = st.slider(t("pool.channel"), 0, maps.shape[0] - 1, key=state.key("channel"))
        img, colors = maps[channel], "Viridis"
    else:
        st.info(t("pool.no_network"))
out = img
try:
    for _ in range(times):
        out = pool2d(out, int(size), int(stride), mode)
except CnnvizError as exc:
    ui.show_error(exc)
else:
    a, b = st.columns(2)
    ui.chart(shared_cache.figure(image_figure, img, t("pool.real_in", h=img.shape[0], w=img.shape[1]), colors,
                                 lang=lang), key="pool_real_in", container=a)
    title = t("pool.real_out_max" if mode == "max" else "pool.real_out_avg", times=times, size=int(size),
              stride=int(stride), h=out.shape[0], w=out.shape[1])
    ui.chart(shared_cache.figure(image_figure, out, title, colors, lang=lang), key="pool_real_out", container=b)
