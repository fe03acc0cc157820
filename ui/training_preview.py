"""The Training screen before Start: the device it trains on, the chosen network's size and an estimate of an
epoch's time on this machine (measured once per network, batch size and data size, shared by the sessions)."""

from __future__ import annotations

import json

import streamlit as st

from ui.widgets import plain, show_error


def device_line(t) -> str:
    """"Device: cpu" or "cuda (NVIDIA H200)"; a CNNVIZ_DEVICE that cannot be used is said (then the CPU)."""
    from cnnviz.training import device_label, resolve_device

    device, warnings = resolve_device()
    label = device_label(device)  # "cpu" or "cuda (NVIDIA H200)": said in words, not as an id
    words = t("train.device_cpu") if label == "cpu" else \
        t("train.device_gpu", name=plain(label.partition("(")[2].rstrip(")") or label))
    for w in warnings:  # "cuda" on a machine without a GPU: said here too (the sidebar says it for the server)
        st.warning(t("train.device_fallback", value=plain(str(w.params.get("value", ""))), device=words),
                   icon=":material/memory:")
    st.caption(t("train.device", device=words))
    return device


@st.cache_data(show_spinner=False, max_entries=64)
def epoch_estimate(arch: str, net_json: str, input_shape: tuple, n_classes: int, batch: int, n_images: int,
                   eval_images: int, device: str) -> float:
    """Seconds per epoch, measured once per network, batch size and data size (cnnviz.training)."""
    from cnnviz.training import estimate_epoch_seconds

    net = json.loads(net_json) if net_json else None
    return estimate_epoch_seconds(arch, net, input_shape, n_classes, batch, n_images, device, eval_images=eval_images)


@st.cache_data(show_spinner=False, max_entries=64)
def parameter_count(arch: str, net_json: str, input_shape: tuple, n_classes: int) -> int:
    """Parameters of a network, built on PyTorch's meta device (no memory); ShapeError when it does not fit."""
    import torch

    from cnnviz.models import count_parameters
    from cnnviz.training import new_network

    net = json.loads(net_json) if net_json else None
    with torch.device("meta"):
        return count_parameters(new_network(arch, net, input_shape, n_classes))


def preview(t, config, train, device: str) -> None:
    """Before Start: the parameters of the network of `config` (a TrainConfig) and an estimate of an epoch's time
    on this machine (its training and validation images, then `config.eval_limit` test images)."""
    from cnnviz import CnnvizError
    from cnnviz.loop import split_rows
    from cnnviz.training import SettingError, network_cost

    shape, n_classes = tuple(train.input_shape), len(train.classes)
    if config.net is not None:  # a linked network is checked on the meta device first (its size, its shapes)
        try:
            network_cost(config.net, shape, n_classes)
        except SettingError as exc:
            from ui.frame import stop

            show_error(exc)
            stop()
    net_json = json.dumps(config.net, sort_keys=True) if config.net else ""
    params = parameter_count(config.arch, net_json, shape, n_classes)
    n_train, n_val = map(len, split_rows(len(train), config.subset, config.val_fraction, config.seed))
    try:
        seconds = epoch_estimate(config.arch, net_json, shape, n_classes, config.batch_size, n_train,
                                 n_val + config.eval_limit, device)
    except (CnnvizError, RuntimeError):
        seconds = float("nan")
    st.info(t("train.preview", params=params, seconds=seconds, train=n_train, val=n_val), icon=":material/timer:")
