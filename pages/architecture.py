"""Screen: the course's Net, every layer's shape and parameters for any input, why a CNN, receptive fields."""

import re

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

import ui
from cnnviz.architecture import fc_equivalent, pytorch_code, receptive_field, seed_config, trace_config
from cnnviz.figures import params_comparison_figure, receptive_field_figure
from cnnviz.i18n import format_number
from cnnviz.models import ConvNetConfig, ConvSpec
from ui.exercise_view import check_yourself
from ui.layers_editor import layers_editor
from ui.screens import ARCH_SHAPES
from ui.train_this_network import SHAPE_DATASETS, train_this_network

t, state = ui.page("architecture")
lang = t.lang
TRAINABLE = set(SHAPE_DATASETS)  # input shapes a shipped dataset has
SHAPES = {"fmnist": "arch.shape_fmnist", "cifar": "arch.shape_cifar", "slide": "arch.shape_slide",
          "custom": "arch.shape_custom"}


def recentre():  # another layer or input shape: look at the centre of the map again
    state.rf_row = state.rf_col = -1


def number(value, spec: str = "") -> str:
    return format_number(lang, value, spec)


ui.presenter.heading(t, "arch.title", "architecture")
ui.intro(t("arch.intro"))
top = ui.presenter.ahead()  # the presenter view: the TODO's answer and the table first, the editor under them
with st.expander(t("arch.course_net")):
    st.code(pytorch_code(seed_config((3, 210, 310))), language="python")

preset = st.selectbox(t("arch.input_shape"), list(ARCH_SHAPES), format_func=lambda v: t(SHAPES[v]),
                      key=state.key("preset"), on_change=recentre)
if ARCH_SHAPES[preset] is None:
    a, b, c = st.columns(3)
    shape = tuple(col.number_input(name.upper(), 1, hi, key=state.key(name), on_change=recentre)
                  for col, name, hi in ((a, "c", 4), (b, "h", 512), (c, "w", 512)))
else:
    shape = ARCH_SHAPES[preset]

st.header(t("arch.layers"))
layers = layers_editor(t, state)
a, b, c = st.columns(3)
fc_width = a.number_input(t("arch.fc_width"), 1, 4096, key=state.key("fc"))
bn = b.checkbox(t("arch.bn"), key=state.key("bn"), help=t("arch.bn_help"))
dropout = c.number_input(t("arch.dropout"), 0.0, 0.9, step=0.05, key=state.key("dropout"), help=t("arch.dropout_help"))
ui.decimal_point_note(t)
if st.button(t("arch.back_to_course"), key="arch_reset"):
    state.reset("layers", "fc", "bn", "dropout")
    st.rerun()
config = ConvNetConfig(tuple(int(v) for v in shape), tuple(ConvSpec(f, k, p, bool(pool), batchnorm=bn)
                                                           for f, k, p, pool in layers), int(fc_width), 10, float(dropout))
trace = trace_config(config)
train_this_network(t, shape, state.layers, int(fc_width), bn, float(dropout), trace.error is None)
if tuple(shape) not in TRAINABLE:  # the slide's shape: no dataset has it — one click to one that has
    st.button(t("arch.use_cifar"), key="arch_use_cifar", icon=":material/swap_horiz:",
              on_click=lambda: (setattr(state, "preset", "cifar"), recentre()), help=t("arch.use_cifar_help"))


def formula(text: str) -> str:  # "params 64×3×11×11 + 64 = 23,296" in the reader's words and digits
    text = re.sub(r"\d{1,3}(?:,\d{3})+", lambda m: m.group().replace(",", ""), text)
    text = re.sub(r"\d{4,}", lambda m: number(int(m.group())), text)  # 836096 -> 836 096 in French
    return text.replace("params", t("arch.params_short"))


def formula_parts(text: str) -> dict:
    """A stage's formula as three columns: output rows, output columns, parameters (the table stays readable)."""
    text = re.sub(r" − 1·\((\d+)−1\) − 1\)", r" − \1)", text or "")  # dilation 1: ⌊(n + 2·p − k)/s⌋ + 1
    text = text.replace(" + 2·0 − ", " − ")  # no padding: ⌊(n − k)/s⌋ + 1, as in the course
    parts = [p.strip() for p in text.split(";")]
    size = [p for p in parts if "⌋" in p]
    rest = "; ".join(p for p in parts if "⌋" not in p)
    return dict(rows=formula(size[0]) if size else "", cols=formula(size[1]) if len(size) > 1 else "",
                formula=formula(rest))


# Parameters written by the app in the reader's language ("23 296"): a NumberColumn's "localized" follows the
# browser's locale, not the app's.
table = pd.DataFrame([dict(layer=r.name, operation=r.kind, output=" × ".join(number(v) for v in r.out_shape),
                           parameters=number(r.params), **formula_parts(r.formula)) for r in trace.rows])


def layer_table() -> None:
    st.dataframe(table, hide_index=True, key="arch_table", height=36 * (len(table) + 1) + 2, column_config={
        "layer": st.column_config.TextColumn(t("arch.col_layer"), width="small"),
        "operation": t("arch.col_operation"), "output": t("arch.col_output"),
        "parameters": st.column_config.TextColumn(t("arch.col_parameters"), alignment="right"),
        "rows": st.column_config.TextColumn(t("arch.col_rows"), width="medium"),
        "cols": st.column_config.TextColumn(t("arch.col_cols"), width="medium"),
        "formula": st.column_config.TextColumn(t("arch.col_formula"), width="large")})


def todo_answer() -> None:
    linear_code = f"nn.Linear({' * '.join(map(str, trace.last_shape))}, {fc_width})"
    st.success(t("arch.todo", code=linear_code, n=trace.fc1_in, total=trace.total_params))


if top is None:
    layer_table()
else:
    with top:
        if not trace.error:
            todo_answer()
        layer_table()


def summary_and_receptive_field() -> None:
    if top is None:
        todo_answer()
    st.code(pytorch_code(config, trace.last_shape, lang), language="python")

    st.header(t("arch.why"))
    convs = [r for r in trace.rows if r.kind == "Conv2d"]
    fc_eq = [fc_equivalent(r) for r in convs]
    ui.chart(params_comparison_figure([r.name for r in convs], [r.params for r in convs], fc_eq, lang=lang),
             key="arch_why")
    linear = sum(r.params for r in trace.rows if r.kind == "Linear")
    st.markdown(t("arch.why_text", conv=sum(r.params for r in convs), fc=sum(fc_eq), mlp=sum(fc_eq) + linear,
                  total=trace.total_params))

    st.header(t("arch.rf"))
    spatial = [r for r in trace.rows if len(r.out_shape) == 3]
    names = [r.name for r in spatial]
    if state.rf_stage not in names:
        state.rf_stage = names[-1]
    out = spatial[names.index(state.rf_stage)].out_shape
    for name, n in (("rf_row", out[1]), ("rf_col", out[2])):
        value = getattr(state, name)
        setattr(state, name, n // 2 if value < 0 else min(value, n - 1))
    a, b, c = st.columns(3)
    stage = a.selectbox(t("arch.rf_layer"), names, key=state.key("rf_stage"), on_change=recentre)
    row = b.number_input(t("arch.rf_row", last=out[1] - 1), 0, out[1] - 1, key=state.key("rf_row"))
    col = c.number_input(t("arch.rf_col", last=out[2] - 1), 0, out[2] - 1, key=state.key("rf_col"))
    rf = receptive_field(config, stage, int(row), int(col))
    data = ui.images_for("fashion-mnist")
    img = np.asarray(Image.fromarray(data.images[0]).resize((config.input_shape[2], config.input_shape[1])))
    title = t("arch.rf_title", stage=stage, row=str(row), col=str(col), r0=rf.rows[0], r1=rf.rows[1], c0=rf.cols[0],
              c1=rf.cols[1])
    ui.chart(receptive_field_figure(img, rf.rows, rf.cols, title), key="arch_rf")
    st.caption(t("arch.rf_caption", size=rf.size, stage=stage, jump=rf.jump))


if trace.error:
    ui.show_error(trace.exception or Exception(trace.error))  # names the layer whose output has no pixel left
else:
    summary_and_receptive_field()
check_yourself(t, "architecture")  # a question about this network, folded (not in the presenter view)
