"""Sanity checks for saliency maps (Adebayo et al. 2018): does an explanation change when the weights do?

    cascade = cascading_randomisation(model, image, target=None, seed=0)
    cascade.layers          ["fc2", "fc1", "bn3", "conv3", ...]: re-initialised in this order, from the last down
    cascade.gradcam         (L+1, H, W): Grad-CAM of the trained network, then after each step
    cascade.gradient        (L+1, H, W): |∂ logit / ∂ input| the same way
    cascade.rho_gradcam     (L+1,): Spearman rank correlation of each map with the trained network's (1 first)
    cascade.rho_gradient
    input_gradient(model, image, target)   -> (H, W) ≥ 0;   rank_correlation(a, b) -> float

The cascading randomisation re-initialises one more layer with parameters at a time, from the logits down,
each as at the start of training (PyTorch's default: weights and biases uniform in ±1/√fan_in for a conv or
linear layer; batch norm back to γ = 1, β = 0 and running statistics 0 and 1), drawn from a generator seeded
by `seed`: the same arguments give the same maps. It works on a private deep copy: the network it is given
is never changed. The class explained stays the one chosen on the trained network (its prediction by default).

An explanation that barely changes while the layers that make the decision become random shows something
about the image (its edges), not what the network uses: its correlation stays high. A faithful one falls.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cnnviz.explain.ascent import one_thread
from cnnviz.explain.gradcam import grad_cam, input_gradient
from cnnviz.explain.stages import normalised_input


@dataclass
class Cascade:
    layers: list[str]  # the layers re-initialised, in order (last layer first)
    target: int  # the class explained at every step
    gradcam: np.ndarray  # (L+1, H, W) ≥ 0: step 0 is the trained network
    gradient: np.ndarray  # (L+1, H, W) ≥ 0
    rho_gradcam: np.ndarray  # (L+1,) rank correlation with step 0 (NaN where a map is constant)
    rho_gradient: np.ndarray
    stage: str  # Grad-CAM's stage


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two maps (average ranks for ties); NaN when either map is constant
    (it orders nothing)."""
    from scipy.stats import rankdata

    ra, rb = rankdata(np.ravel(a)), rankdata(np.ravel(b))
    ra, rb = ra - ra.mean(), rb - rb.mean()
    norm = math.sqrt(float(ra @ ra) * float(rb @ rb))
    return float(ra @ rb) / norm if norm > 0 else float("nan")


def parameter_layers(model: nn.Module) -> list[str]:
    """The names of the modules that hold parameters of their own, in forward order (a StagedNet's stages;
    otherwise the order of registration)."""
    staged = getattr(model, "stages", None)
    items = staged.items() if isinstance(staged, nn.ModuleDict) else model.named_modules()
    return [name for name, m in items if name and any(True for _ in m.parameters(recurse=False))]


def _module(model: nn.Module, name: str) -> nn.Module:
    staged = getattr(model, "stages", None)
    if isinstance(staged, nn.ModuleDict) and name in staged:
        return staged[name]
    return dict(model.named_modules())[name]


@torch.no_grad()
def reinitialise(module: nn.Module, generator: torch.Generator) -> None:
    """`module` back to an untrained state, drawn from `generator` (see the module's docstring)."""
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)):
        fan_in = module.weight[0].numel()
        bound = 1.0 / math.sqrt(fan_in)
        module.weight.copy_(torch.rand(module.weight.shape, generator=generator) * 2 * bound - bound)
        if module.bias is not None:
            module.bias.copy_(torch.rand(module.bias.shape, generator=generator) * 2 * bound - bound)
    elif isinstance(module, nn.modules.batchnorm._NormBase):
        module.reset_parameters()  # γ = 1, β = 0, running mean 0, running variance 1: nothing random
    else:  # another layer with parameters (a user's): each tensor uniform in ±1/√fan_in, vectors too
        for p in module.parameters(recurse=False):
            fan_in = p[0].numel() if p.ndim > 1 else p.numel()
            bound = 1.0 / math.sqrt(max(fan_in, 1))
            p.copy_(torch.rand(p.shape, generator=generator) * 2 * bound - bound)


def cascading_randomisation(model: nn.Module, image: np.ndarray, target: int | None = None,
                            seed: int = 0) -> Cascade:
    """Grad-CAM and the input gradient of class `target` (default: the trained network's prediction), on
    the trained network then after re-initialising each layer with parameters in turn, from the last down
    (cumulative, on a deep copy), with each map's rank correlation to the trained network's."""
    net = copy.deepcopy(model).eval()
    layers = parameter_layers(net)[::-1]
    if target is None:
        with torch.inference_mode():
            target = int(net(normalised_input(net, image)).argmax(1)[0])
    generator = torch.Generator().manual_seed(int(seed))
    cams, grads = [], []
    stage = None
    with one_thread():  # small passes: see cnnviz.explain.ascent.one_thread
        for step in range(len(layers) + 1):
            if step:
                reinitialise(_module(net, layers[step - 1]), generator)
            cam = grad_cam(net, image, target)
            stage = stage or cam.stage
            cams.append(cam.heatmap)
            grads.append(input_gradient(net, image, target))
    cams, grads = np.stack(cams), np.stack(grads)
    rho_cam = np.array([rank_correlation(cams[0], m) for m in cams])
    rho_grad = np.array([rank_correlation(grads[0], m) for m in grads])
    return Cascade(layers, int(target), cams, grads, rho_cam, rho_grad, stage)
