"""Where the computations that pass many images through a network run: the GPU when PyTorch sees one, else the CPU
(`CNNVIZ_DEVICE`, read by cnnviz.config; `CNNVIZ_DEVICE=cpu` forces the CPU).

The networks the sessions share are loaded once on the CPU and never changed (DESIGN: never mutate a cached
model). `model_on(model, device)` hands out a copy of such a network on the device, made once per network and
kept as long as the network lives; on the CPU it is the network itself, so nothing changes on a machine
without a GPU.

    from cnnviz.device import compute_device, model_on
    net = model_on(model, compute_device())   # the same object for every session
    x = to_tensor(images).to(device_of(net)); out = net(x).cpu()
"""

from __future__ import annotations

import copy
import functools
import threading
import weakref

import torch
from torch import nn


@functools.cache
def compute_device() -> torch.device:
    """The server's device from CNNVIZ_DEVICE (once per process; a bad value falls back to the CPU, and
    cnnviz.config logs and shows why)."""
    from cnnviz.config import load_settings

    return torch.device(load_settings(log_warnings=False).device)


def device_of(model: nn.Module) -> torch.device:
    """The device of the model's parameters (the CPU for a model without any)."""
    return next((p.device for p in model.parameters()), torch.device("cpu"))


_copies: "weakref.WeakKeyDictionary[nn.Module, dict[torch.device, nn.Module]]" = weakref.WeakKeyDictionary()
_lock = threading.Lock()


def model_on(model: nn.Module, device: torch.device | str) -> nn.Module:
    """`model` itself when it is on `device` already; otherwise a copy of it there (same mode, same weights),
    made once and shared: the sessions of a class ask for it at the same moment."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    if device_of(model) == device:
        return model
    with _lock:
        on = _copies.setdefault(model, {})
        if device not in on:
            on[device] = copy.deepcopy(model).to(device)
        return on[device]
