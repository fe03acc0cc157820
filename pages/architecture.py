"""Screen: the course's Net, every layer's shape and parameters for any input, why a CNN, receptive fields."""

import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

import ui
from cnnviz.architecture import fc_equivalent, pytorch_code, receptive_field, seed_config, trace_config
from cnnviz.figures import params_comparison_figure, receptive_field_figure
from cnnviz.models import SEED_CONVS, ConvNetConfig, ConvSpec

ui.require_app()

S = st.session_state
PRESETS = {"1×28×28 (Fashion-MNIST)": (1, 28, 28), "3×32×32 (CIFAR-10)": (3, 32, 32),
           "3×210×310 (the slide's image)": (3, 210, 310), "custom": None}

st.title("Architecture")
st.markdown("The slide leaves `nn.Linear(___, 120)  # TODO`: the input size of the first linear layer depends "
            "on the image size and on every layer before it. Here it is computed, layer by layer.")

with st.expander("The course's Net"):
    st.code(pytorch_code(seed_config((3, 210, 310))), language="python")

preset = st.selectbox("Input shape", list(PRESETS), index=2, key="ar_preset")
if PRESETS[preset] is None:
    a, b, c = st.columns(3)
    shape = (a.number_input("C", 1, 4, 3, key="ar_c"), b.number_input("H", 1, 512, 64, key="ar_h"),
             c.number_input("W", 1, 512, 64, key="ar_w"))
else:
    shape = PRESETS[preset]

st.subheader("Layers (edit to explore)")
S.setdefault("ar_layers", pd.DataFrame([dict(out_channels=s.out_channels, kernel=s.kernel, padding=s.padding,
                                             pool=s.pool) for s in SEED_CONVS]))
edited = st.data_editor(S.ar_layers, num_rows="dynamic", key="ar_editor", column_config={
    "out_channels": st.column_config.NumberColumn("filters", min_value=1, max_value=1024, step=1, required=True),
    "kernel": st.column_config.NumberColumn("kernel k×k", min_value=1, max_value=15, step=1, required=True),
    "padding": st.column_config.NumberColumn("padding", min_value=0, max_value=10, step=1, required=True),
    "pool": st.column_config.CheckboxColumn("2×2 max-pool after", default=False)})
fc_width = st.number_input("fc1 width", 1, 4096, 120, key="ar_fc")
if st.button("Back to the course's Net"):
    S.pop("ar_layers"), S.pop("ar_editor", None)
    st.rerun()
rows = edited.dropna().to_dict("records")
if not rows:
    st.error("Add at least one convolution layer.")
    st.stop()
config = ConvNetConfig(tuple(int(v) for v in shape),
                       tuple(ConvSpec(int(r["out_channels"]), int(r["kernel"]), int(r["padding"]), bool(r["pool"]))
                             for r in rows), int(fc_width), 10)
trace = trace_config(config)

table = pd.DataFrame([dict(layer=r.name, operation=r.kind, output=" × ".join(map(str, r.out_shape)),
                           parameters=r.params, formula=r.formula) for r in trace.rows])
st.dataframe(table, hide_index=True, key="ar_table", height=36 * (len(table) + 1) + 2, column_config={
    "parameters": st.column_config.NumberColumn(format="localized")})
if trace.error:
    st.error(f"**The spatial size collapses.** {trace.error}")
    st.stop()
st.success(f"**The TODO:** `nn.Linear({' * '.join(map(str, trace.last_shape))}, {fc_width})` — fc1 receives "
           f"**{trace.fc1_in:,}** inputs. The network has **{trace.total_params:,}** parameters.")
st.code(pytorch_code(config, trace.last_shape), language="python")

st.subheader("Why a CNN?")
convs = [r for r in trace.rows if r.kind == "Conv2d"]
fc_eq = [fc_equivalent(r) for r in convs]
st.plotly_chart(params_comparison_figure([r.name for r in convs], [r.params for r in convs], fc_eq), key="ar_why")
linear = sum(r.params for r in trace.rows if r.kind == "Linear")
st.markdown(f"A convolution reuses the same small kernel at every position: **{sum(r.params for r in convs):,}** "
            f"parameters for the conv layers here. Fully connected layers producing the same maps from the same "
            f"inputs would need **{sum(fc_eq):,}** — with the same fc1 and fc2, an MLP of the same depth would have "
            f"**{sum(fc_eq) + linear:,}** parameters instead of {trace.total_params:,}.")

st.subheader("Receptive field")
spatial = [r for r in trace.rows if len(r.out_shape) == 3]
names = [r.name for r in spatial]
a, b, c = st.columns(3)
stage = a.selectbox("Layer", names, index=len(names) - 1, key="ar_rf_stage")
out = spatial[names.index(stage)].out_shape
row = b.number_input(f"Unit row (0–{out[1] - 1})", 0, out[1] - 1, out[1] // 2, key="ar_rf_row")
col = c.number_input(f"Unit column (0–{out[2] - 1})", 0, out[2] - 1, out[2] // 2, key="ar_rf_col")
rf = receptive_field(config, stage, int(row), int(col))
data = ui.images_for("fashion-mnist")
img = np.asarray(Image.fromarray(data.images[0]).resize((config.input_shape[2], config.input_shape[1])))
st.plotly_chart(receptive_field_figure(img, rf.rows, rf.cols, f"{stage}[{row}, {col}] sees rows {rf.rows[0]}–{rf.rows[1]}, "
                                       f"columns {rf.cols[0]}–{rf.cols[1]}"), key="ar_rf")
st.caption(f"Receptive field {rf.size}×{rf.size} pixels (clipped to the image where it reaches into the padding); "
           f"neighbouring units of {stage} are {rf.jump} pixel(s) apart. Image: a Fashion-MNIST test image, resized.")
