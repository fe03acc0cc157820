"""The Architecture screen's "Train this network": Training opens with the network just designed, on the dataset
whose images have its input shape."""

from __future__ import annotations

import streamlit as st

from cnnviz.data import DATASETS
from cnnviz.training import CUSTOM_MODEL
from ui.screens import BY_ID

SHAPE_DATASETS = {tuple(shape): name for name, (_, shape) in DATASETS.items()}  # input shape (C, H, W) -> dataset


def train_this_network(t, shape, layers: str, fc: int, bn: bool, dropout: float, ok: bool) -> None:
    """The button, and what it does: Training's settings set to this network (model "custom" and its layers, fc, bn,
    dropout: a link reproduces it) on the dataset of its input shape, then Training opens."""
    training = BY_ID["training"]
    dataset = SHAPE_DATASETS.get(tuple(int(v) for v in shape))
    if st.button(t("arch.train_this"), icon=":material/model_training:", key="arch_train_this", type="primary",
                 disabled=dataset is None or not ok, help=t("arch.train_this_help")):
        values = dict(model=CUSTOM_MODEL, dataset=dataset, layers=layers, fc=int(fc), bn=bool(bn), dropout=float(dropout))
        for name, value in values.items():
            st.session_state[training.key(name)] = value
        st.switch_page(training.file)
    if dataset is None:
        st.caption(t("arch.train_shape"))
    elif st.session_state.get(training.key("job")) is not None:
        st.caption(t("arch.train_busy"))
