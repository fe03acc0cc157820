"""The Training screen before Start: the device it trains on, the chosen network's size, the memory a training
step takes (from the shapes alone: a network or batch this server cannot hold is refused here, naming the limit)
and an estimate of an epoch's time on this machine. The estimate measures a few steps of a small batch (at most
32 images, less for a heavy network), scaled to the data, once per network for the whole server; it takes a
training slot while it measures, like a job, so links cannot pile measures up on the server."""

from __future__ import annotations

import json

import streamlit as st

from ui.training_slots import limits, training_slots
from ui.widgets import plain, show_error


class SlotsBusy(Exception):
    """Every training slot is taken: no measure now (an exception, so st.cache_data keeps nothing)."""


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
def per_image_seconds(arch: str, net_json: str, input_shape: tuple, n_classes: int, measure_batch: int,
                      device: str) -> float:
    """Seconds of a training step per image, measured once per network and (small) measured batch for the server,
    in a training slot (SlotsBusy when none is free: nothing cached)."""
    from cnnviz.training_cost import seconds_per_image

    slots = training_slots(limits()[0])
    if not slots.acquire(blocking=False):
        raise SlotsBusy
    try:
        net = json.loads(net_json) if net_json else None
        return seconds_per_image(arch, net, input_shape, n_classes, measure_batch, device)
    finally:
        slots.release()


def preview(t, config, train, device: str) -> None:
    """Before Start: the parameters of the network of `config` (a TrainConfig), the memory of a step at its batch
    size (refused beyond cnnviz.training_cost.MAX_TRAIN_BYTES: the page stops with the message) and an epoch's time on
    this machine (its training and validation images, then `config.eval_limit` test images)."""
    from cnnviz import CnnvizError, SettingError
    from cnnviz.loop import split_rows
    from cnnviz.training_cost import check_memory, network_cost

    shape, n_classes = tuple(train.input_shape), len(train.classes)
    try:
        if config.net is not None:  # a linked network is checked on the meta device first (its size, its shapes)
            network_cost(config.net, shape, n_classes)
        size = check_memory(config.arch, config.net, shape, n_classes, config.batch_size)
    except SettingError as exc:
        from ui.frame import stop

        show_error(exc)
        stop()
    net_json = json.dumps(config.net, sort_keys=True) if config.net else ""
    n_train, n_val = map(len, split_rows(len(train), config.subset, config.val_fraction, config.seed))
    measured = size.preview_batch(min(config.batch_size, n_train))
    try:
        per_image = per_image_seconds(config.arch, net_json, shape, n_classes, measured, device)
    except SlotsBusy:
        st.info(t("train.preview_busy", params=size.params, n=limits()[0], train=n_train, val=n_val),
                icon=":material/timer:")
        return
    except (CnnvizError, RuntimeError):
        per_image = float("nan")
    seconds = per_image * (n_train + (n_val + config.eval_limit) / 3)
    st.info(t("train.preview", params=size.params, seconds=seconds, train=n_train, val=n_val,
              mb=size.training_bytes(config.batch_size) / 2**20), icon=":material/timer:")
