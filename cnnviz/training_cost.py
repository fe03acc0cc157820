"""What a training will cost, checked before Start: a network's size, its memory, an epoch's time.

A network described by the Training or Architecture screen's settings (arch CUSTOM_ARCH, a ConvNetConfig dict) is
checked from its settings alone (`network_cost`: parameters and multiply-adds, refused beyond MAX_NET_PARAMS /
MAX_NET_MACS) before any memory is taken; `network_size` traces any network on PyTorch's meta device (its
activations per image, no memory), `check_memory` refuses a training step beyond MAX_TRAIN_BYTES, and
`estimate_epoch_seconds` measures a few SGD steps of a small batch and scales them to the epoch. `new_network` builds
a checked, freshly initialised network: what cnnviz.training's jobs train.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from cnnviz import SettingError
from cnnviz.loop import sgd_step
from cnnviz.models import ARCHITECTURES, StagedNet, build_model

CUSTOM_ARCH = "convnet"  # a network described by TrainConfig.net (a ConvNetConfig dict: the Architecture screen's)
MAX_NET_PARAMS = 20_000_000  # a network from a browser (arch "convnet"): parameters ...
MAX_NET_MACS = 500_000_000  # ... and multiply-adds per image (the shipped CompactCNN: ~0.24 M and ~7.5 M)
# Memory one training may take (weights, their gradients and momentum, and a batch's activations kept for the
# backward pass): a lecture-hall server (24 GiB, 2 trainings at once and every student's pages) cannot give more.
# The shipped CompactCNN at batch 1024 needs about 1.2 GB; 16 layers of 64 filters on 28×28 images, 20 GB.
MAX_TRAIN_BYTES = 2 * 2**30
ACTIVATION_FACTOR = 2.0  # measured peak / activation bytes of one SGD step: 1.2-1.95 (bench/training_preview.py)
# The time estimate measures a few SGD steps of a small batch and scales them to the epoch: at most 32 images, at most
# 2e9 multiply-adds (forward + backward) and 256 MB of activations, but 8 images when the memory allows (a step of one
# image is mostly the step's fixed cost: scaled, 1 image overestimated the 16-layer network's epoch 30 times).
PREVIEW_MAX_BATCH, PREVIEW_MIN_BATCH = 32, 8
PREVIEW_FLOPS = 2e9
PREVIEW_MAX_BYTES = 256 * 2**20


def net_for_data(net: dict | None, input_shape, num_classes: int) -> dict | None:
    """A ConvNetConfig dict for arch "convnet" with the data's input shape and number of classes."""
    if net is None:
        return None
    return dict(net, input_shape=list(input_shape), num_classes=int(num_classes))


def new_network(arch: str, net: dict | None, input_shape, num_classes: int) -> StagedNet:
    """A freshly initialised network `arch` for this data. A network described by settings (arch CUSTOM_ARCH, `net`)
    is checked first on PyTorch's meta device (network_cost), before any memory is taken."""
    if arch == CUSTOM_ARCH:
        network_cost(net, input_shape, num_classes)
    return build_model(arch, input_shape, num_classes, net_for_data(net, input_shape, num_classes))


def network_cost(net: dict, input_shape, num_classes: int) -> tuple[int, int]:
    """(parameters, multiply-adds per image) of a ConvNetConfig dict for this data, computed from the settings
    alone (no memory); SettingError when it is beyond MAX_NET_PARAMS / MAX_NET_MACS, or ShapeError when a
    layer's output has no pixel left."""
    from cnnviz.architecture import trace_config
    from cnnviz.models import ConvNetConfig

    try:
        config = ConvNetConfig.from_dict(net_for_data(net, input_shape, num_classes))
    except (KeyError, TypeError, ValueError):
        raise SettingError("err.cfg_arch", choices=", ".join(sorted(ARCHITECTURES))) from None
    trace = trace_config(config)
    if trace.exception is not None:
        raise trace.exception
    params = trace.total_params
    macs = sum(r.params * (r.out_shape[1] * r.out_shape[2] if len(r.out_shape) == 3 else 1)
               for r in trace.rows if r.kind in ("Conv2d", "Linear"))
    if params > MAX_NET_PARAMS or macs > MAX_NET_MACS:
        raise SettingError("err.cfg_net_too_big", params=params, macs=macs, max_params=MAX_NET_PARAMS,
                           max_macs=MAX_NET_MACS)
    return params, macs


@dataclass(frozen=True)
class NetworkSize:
    """What a network costs per image, from its shapes alone (traced on PyTorch's meta device: no memory)."""

    activations: int  # values every stage outputs for one image (what a training step keeps for its backward pass)
    params: int
    macs: int  # multiply-adds of one image's forward pass (convolutions and linear layers)

    def training_bytes(self, batch: int) -> int:
        """Memory of one SGD step at `batch`: the activations (x ACTIVATION_FACTOR) and five copies of the weights
        (weights, gradients, momentum, the last good weights, a live copy)."""
        return int(ACTIVATION_FACTOR * batch * self.activations * 4 + 5 * self.params * 4)

    def largest_batch(self, limit: int = MAX_TRAIN_BYTES) -> int:
        """The largest batch whose step fits in `limit` bytes (0: none)."""
        return max(0, int((limit - 5 * self.params * 4) // (ACTIVATION_FACTOR * self.activations * 4)))

    def preview_batch(self, batch: int) -> int:
        """The batch a time estimate measures: `batch`, at most PREVIEW_MAX_BATCH images and PREVIEW_FLOPS of work,
        at least PREVIEW_MIN_BATCH images where PREVIEW_MAX_BYTES of activations allow it."""
        by_work = int(PREVIEW_FLOPS // max(1, 3 * self.macs))
        by_memory = int(PREVIEW_MAX_BYTES // max(1, ACTIVATION_FACTOR * self.activations * 4))
        return max(1, min(batch, PREVIEW_MAX_BATCH, max(by_work, min(PREVIEW_MIN_BATCH, by_memory))))


def network_size(arch: str, net: dict | None, input_shape, num_classes: int) -> NetworkSize:
    """NetworkSize of a network for this data (SettingError / ShapeError as new_network)."""
    with torch.device("meta"):
        model = new_network(arch, net, input_shape, num_classes)
        feats = model.forward_features(torch.empty(1, *input_shape))  # (1, ...) per stage, shapes only
    acts = macs = 0
    for name, out in feats.items():
        if name == "logits":  # the last stage's output again
            continue
        acts += out.numel()
        m = model.stages[name] if name in model.stages else None
        if isinstance(m, torch.nn.Conv2d):
            macs += out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        elif isinstance(m, torch.nn.Linear):
            macs += out.numel() * m.in_features
    return NetworkSize(int(acts), sum(p.numel() for p in model.parameters()), int(macs))


def check_memory(arch: str, net: dict | None, input_shape, num_classes: int, batch: int,
                 limit: int = MAX_TRAIN_BYTES) -> NetworkSize:
    """The network's NetworkSize when a training step at `batch` fits in `limit` bytes; SettingError otherwise,
    naming the need, the limit and the largest batch that fits ("err.cfg_memory"), or saying that no batch fits
    ("err.cfg_memory_net")."""
    size = network_size(arch, net, input_shape, num_classes)
    need = size.training_bytes(batch)
    if need > limit:
        fits = size.largest_batch(limit)
        gb = dict(need=round(need / 2**30, 1), limit=round(limit / 2**30, 1), batch=batch)
        if fits < 1:
            raise SettingError("err.cfg_memory_net", **gb)
        raise SettingError("err.cfg_memory", fits=fits, **gb)
    return size


def seconds_per_image(arch: str, net: dict | None, input_shape, num_classes: int, measure_batch: int,
                      device: str = "cpu", batches: int = 8, budget: float = 1.5) -> float:
    """Seconds of one SGD step per training image, measured: the median time of 1 to `batches` steps of
    `measure_batch` random images (after one warm-up step; more steps while `budget` seconds last) divided by the
    batch.
    Keep `measure_batch` small (NetworkSize.preview_batch): the measure's memory and time grow with it."""
    torch.manual_seed(0)
    dev = torch.device(device)
    model = new_network(arch, net, input_shape, num_classes).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    x = torch.randn(measure_batch, *input_shape, device=dev)  # (B, C, H, W)
    y = torch.randint(0, num_classes, (measure_batch,), device=dev)

    def step() -> float:
        t0 = time.perf_counter()
        sgd_step(model, opt, F.cross_entropy, x, y)  # its loss.item() waits for the device, as in the loop
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        return time.perf_counter() - t0

    step()  # a warm-up (allocations, kernel choices)
    times, start = [step()], time.perf_counter()  # then at least one step, more while the budget lasts
    while len(times) < batches and time.perf_counter() - start < budget:
        times.append(step())
    return float(np.median(times)) / measure_batch


def estimate_epoch_seconds(arch: str, net: dict | None, input_shape, num_classes: int, batch_size: int,
                           n_images: int, device: str = "cpu", batches: int = 8, budget: float = 1.5,
                           eval_images: int = 0, measure_batch: int | None = None) -> float:
    """Seconds of one epoch of `n_images` at `batch_size`: the time per image of a few SGD steps of a small batch
    (`measure_batch`, default NetworkSize.preview_batch: 8 to 32 images), times the images, plus the forward
    passes of `eval_images` (validation and test after the epoch, about a third of a training step per image).
    Per image, a larger batch is as fast or faster on a CPU: the estimate errs on the long side."""
    if measure_batch is None:
        measure_batch = network_size(arch, net, input_shape, num_classes).preview_batch(min(batch_size, n_images))
    per_image = seconds_per_image(arch, net, input_shape, num_classes, measure_batch, device, batches, budget)
    return per_image * n_images + per_image / 3 * eval_images
