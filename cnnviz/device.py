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


def for_output(model: nn.Module, device: torch.device | str) -> nn.Module:
    """A copy of `model` on `device` for forward passes whose only result is the network's output (e.g. 121
    shifted images' probabilities): each convolution followed by a batch norm becomes one convolution with the
    batch norm's affine map folded in (eval mode: the running statistics are constants), and the weights are
    stored channels-last, which PyTorch's CPU convolutions run faster. On a CPU, 121 Fashion-MNIST images
    through the shipped network take about half the time (python bench/first_views.py). The outputs agree with the
    network's to float rounding (tests/test_device.py). Intermediate stages are NOT the network's (a conv
    stage's output is its batch norm's): use model_on for feature maps. Made once per network and shared.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    from cnnviz.models import StagedNet

    base = model_on(model, device)
    if model.training or not isinstance(model, StagedNet) or type(model).forward is not StagedNet.forward:
        return base  # training mode (batch statistics) or a forward of its own: nothing to fold safely
    key = ("output", device_of(base))
    with _lock:
        on = _copies.setdefault(model, {})
        if key not in on:
            fast = copy.deepcopy(base).eval()
            names = list(fast.stages.keys())
            for conv, norm in zip(names, names[1:]):
                a, b = fast.stages[conv], fast.stages[norm]
                if (type(a) is nn.Conv2d and type(b) is nn.BatchNorm2d and b.track_running_stats
                        and b.running_mean is not None and a.out_channels == b.num_features):
                    fast.stages[conv] = fuse_conv_bn_eval(a, b)
                    fast.stages[norm] = nn.Identity()
            for p in fast.parameters():
                p.requires_grad_(False)
            on[key] = fast.to(memory_format=torch.channels_last)
        return on[key]

