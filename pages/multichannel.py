"""Screen: convolution of a C-channel input with F filters: per-channel partial maps, their sum, the bias."""

import numpy as np
import streamlit as st
from PIL import Image

import ui
from cnnviz import CnnvizError
from cnnviz.figures import maps_row, rgb_figure
from cnnviz.images import to_input
from cnnviz.multichannel import input_channels, number_text, parse_bias, products_text
from cnnviz.ops import conv2d_multi, parse_filters
from ui import shared_cache
from ui.exercise_view import check_yourself
from ui.screens import MC_MAX_FILTERS, mc_preset_texts

t, state = ui.page("multichannel")
lang = t.lang
CHANNELS = ("mc.red", "mc.green", "mc.blue")  # message ids of the input's channels
SOURCES = {"cifar": "mc.source.cifar", "card": "mc.source.card", "random": "mc.source.random",
           "upload": "mc.source.upload"}
PRESETS = {"random": "filters.random", "pickers": "filters.pickers", "edges": "filters.edges"}


def follow_preset():  # a new preset, kernel size or seed replaces the typed filters
    state.edited = False


def mark_edited():
    state.edited = True


def channel(c: int) -> str:
    return t(CHANNELS[c])


st.title(t("mc.title"))
st.markdown(t("mc.intro"))

try:
    cifar = ui.dataset("cifar10", "test")
except CnnvizError:
    cifar = None  # not installed: the other sources work without it
sources = [s for s in SOURCES if s != "cifar" or cifar is not None]
if state.source not in sources:  # a link to CIFAR-10 on a server without it
    state.source = "card"
c1, c2, c3 = st.columns(3)
source = c1.radio(t("mc.source"), sources, key=state.key("source"), format_func=lambda s: t(SOURCES[s]))
size = c2.slider(t("mc.size"), 4, 12, key=state.key("size"))
n_filters = c3.slider(t("mc.filters"), 1, MC_MAX_FILTERS, key=state.key("filters"))
k = c3.slider(t("mc.k"), 1, 5, key=state.key("k"), on_change=follow_preset, help=t("mc.k_help"))

rgb = None
if source == "cifar":
    state.cifar = min(state.cifar, len(cifar) - 1)
    i = c2.number_input(t("mc.cifar_index", last=len(cifar) - 1), 0, len(cifar) - 1, key=state.key("cifar"))
    rgb = to_input(Image.fromarray(cifar.images[i]), (3, size, size))
    c2.caption(t("mc.cifar_class", name=ui.class_name(cifar.classes[cifar.labels[i]])))
elif source == "upload":
    loaded = ui.upload_image(t, "mc_upload")
    if loaded is not None:
        rgb = to_input(loaded[0], (3, size, size))
x, rgb = input_channels(source, size, state.seed, rgb)

MAX_TEXT = 6 if ui.presenting() else 8  # grids this wide or less show their numbers (a projector's are bigger)
cols = st.columns([1, 3])
if rgb is not None:
    ui.chart(shared_cache.figure(rgb_figure, rgb, t("mc.input_image")), key="mc_rgb", container=cols[0])
ui.chart(shared_cache.figure(maps_row, x, [t("mc.channel", n=c + 1, name=channel(c)) for c in range(3)],
                             "Greys", symmetric=False, text=size <= MAX_TEXT, lang=lang), key="mc_channels",
         container=cols[1])

st.header(t("mc.filters_title"))
p1, p2, p3 = st.columns(3)
p1.selectbox(t("mc.preset"), list(PRESETS), key=state.key("preset"), format_func=lambda p: t(PRESETS[p]),
             on_change=follow_preset, help=t("mc.preset_help"))
p2.number_input(t("mc.seed"), 0, 9999, key=state.key("seed"), on_change=follow_preset, help=t("mc.seed_help"))
use_bias = p3.toggle(t("mc.use_bias"), key=state.key("use_bias"), help=t("mc.use_bias_help"))
if not state.edited:  # the filters follow the preset
    try:
        for f, text in enumerate(mc_preset_texts(state.preset, k, state.seed)):
            setattr(state, f"f{f}", text)
    except CnnvizError as exc:
        ui.show_error(exc)
        ui.stop()
with st.expander(t("mc.edit"), expanded=state.edited):
    edit_cols = st.columns(n_filters)
    for f in range(n_filters):
        edit_cols[f].text_area(t("mc.filter_n", n=f + 1), key=state.key(f"f{f}"), height=260, max_chars=2000,
                               on_change=mark_edited)
    if state.edited:
        st.button(t("mc.follow_preset"), on_click=follow_preset, key="mc_follow")
if use_bias:
    st.text_input(t("mc.bias", n=n_filters), key=state.key("bias"), max_chars=200, help=t("mc.bias_help"))

try:
    weight = parse_filters([getattr(state, f"f{f}") for f in range(n_filters)], channels=3)
    trace = conv2d_multi(x, weight, parse_bias(state.bias, n_filters) if use_bias else None)
except CnnvizError as exc:
    ui.show_error(exc)
    ui.stop()

F_, C_, kh, kw = weight.shape
st.markdown(t("mc.params_bias" if use_bias else "mc.params", f=F_, c=C_, kh=kh, kw=kw,
              total=trace.parameter_count, weights=F_ * C_ * kh * kw))
show_text = trace.output.shape[-1] <= MAX_TEXT
for f in range(F_):
    st.markdown(t("mc.filter_line_bias", n=f + 1, bias=float(trace.bias[f])) if use_bias
                else t("mc.filter_line", n=f + 1))
    ui.chart(shared_cache.figure(maps_row, weight[f], [t("mc.kernel_for", name=channel(c)) for c in range(C_)],
                                 text=True, height=200, lang=lang), key=f"mc_kernels_{f}")
    maps = np.concatenate([trace.partials[f], trace.output[f][None]])
    titles = [t("mc.partial", name=channel(c)) for c in range(C_)] + [t("mc.output")]
    ui.chart(shared_cache.figure(maps_row, maps, titles, text=show_text, lang=lang), key=f"mc_maps_{f}")

st.header(t("mc.cell_title"))
h_out, w_out = trace.output.shape[1:]
state.cell_f, state.cell_i, state.cell_j = min(state.cell_f, F_), min(state.cell_i, h_out - 1), min(state.cell_j, w_out - 1)
d1, d2, d3 = st.columns(3)
f = d1.number_input(t("mc.cell_filter"), 1, F_, key=state.key("cell_f")) - 1
i = d2.number_input(t("mc.cell_row"), 0, h_out - 1, key=state.key("cell_i"))
j = d3.number_input(t("mc.cell_col"), 0, w_out - 1, key=state.key("cell_j"))
terms, total = trace.cell(f, i, j)
ui.chart(shared_cache.figure(maps_row, np.stack([term.window for term in terms]),
                             [t("mc.window_in", name=channel(c)) for c in range(C_)], "Greys",
                             symmetric=False, text=True, height=200, lang=lang), key="mc_windows")
shown = st.slider(t("mc.reveal"), 1, C_ + 1, key=state.key("reveal"), help=t("mc.reveal_help"))
for term in terms[:shown]:
    st.markdown(t("mc.term", name=channel(term.channel), r0=i, r1=i + kh - 1, c0=j, c1=j + kw - 1,
                  products=products_text(lang, term.window, term.kernel, term.value)))
if shown > C_:
    parts = " + ".join(number_text(lang, term.value) for term in terms)
    where = dict(n=f + 1, row=i, col=j, parts=parts, value=float(total))
    st.success(t("mc.total_bias", bias=float(trace.bias[f]), **where) if use_bias else t("mc.total", **where))
check_yourself(t, "multichannel")  # a question about this layer, folded (not in the presenter view)
