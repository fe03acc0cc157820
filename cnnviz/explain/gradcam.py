"""Grad-CAM (Selvaraju et al. 2017) with Captum: where in the image the network looked for a class; and the
plain input gradient, the simplest saliency map.

    grad_cam(model, image, target=None, stage=None)      -> GradCam(.heatmap (H, W) ≥ 0, ...)
    input_gradient(model, image, target=None)            -> (H, W) ≥ 0: |∂ logit / ∂ pixel|

Grad-CAM works on a private deep copy of the model: Captum's hooks live on the copy and vanish with it. The
input gradient needs no copy: only the image's gradient is asked for (no hook, no parameter's .grad).
cnnviz.explain.sanity tests both by scrambling the weights.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cnnviz.explain.stages import ELEMENTWISE, IDENTITY, ExplainError, in_eval_mode, normalised_input, stage_modules


@dataclass
class GradCam:
    heatmap: np.ndarray  # (H, W) float, ≥ 0, upsampled to the input size (bilinear)
    layer_map: np.ndarray  # (h, w) at the stage's own resolution
    stage: str
    target: int  # the class explained
    predicted: int
    probs: np.ndarray  # (classes,)


def last_conv_stage(model: nn.Module) -> str:
    """The name of the last Conv2d stage (Grad-CAM's default layer)."""
    staged = getattr(model, "stages", None)
    items = staged.items() if isinstance(staged, nn.ModuleDict) else model.named_modules()
    convs = [n for n, m in items if isinstance(m, nn.Conv2d)]
    if not convs:
        raise ExplainError("err.explain_no_conv")
    return convs[-1]


def gradcam_stage(model: nn.Module) -> str:
    """Grad-CAM's default stage: the last conv's block output before pooling (conv -> [bn] -> relu: the ReLU).

    The raw conv output comes before batch norm, whose γ may be negative, so its Grad-CAM is often all
    negative (then all zero after ReLU); the rectified maps are what Selvaraju et al. use (VGG's last ReLU).
    """
    staged = getattr(model, "stages", None)
    items = list(staged.items() if isinstance(staged, nn.ModuleDict) else model.named_modules())
    last = last_conv_stage(model)
    names = [n for n, _ in items]
    best = last
    for name, m in items[names.index(last) + 1:]:
        if not isinstance(m, (nn.BatchNorm2d, *ELEMENTWISE, *IDENTITY)):
            break
        best = name
    return best


def grad_cam(model: nn.Module, image: np.ndarray, target: int | None = None, stage: str | None = None,
             after_relu: bool = True) -> GradCam:
    """Grad-CAM (Selvaraju et al. 2017) of class `target` (default: the predicted one) over the input.

    Captum's LayerGradCam on `stage` (default: `gradcam_stage`, the last conv block's ReLU): the stage's maps weighted by the mean
    gradient of the class score over each map, summed over channels, then ReLU (`after_relu`), then
    upsampled bilinearly to the input size. Runs on a deep copy of the model (a few ms) so that Captum's
    temporary hooks never touch the shared model, with gradients enabled even when called inside
    `torch.inference_mode()`.
    """
    from captum.attr import LayerGradCam

    stage = stage or gradcam_stage(model)
    with torch.inference_mode(False), torch.enable_grad():
        net = copy.deepcopy(model).eval()
        for m in net.modules():
            if hasattr(m, "inplace"):
                m.inplace = False  # in-place ops break the backward hooks
        layer = stage_modules(net, [stage])[stage]
        x = normalised_input(net, image).clone().requires_grad_(True)
        logits = net(x)
        probs = torch.softmax(logits.detach(), 1)[0].numpy()
        predicted = int(probs.argmax())
        target = predicted if target is None else int(target)
        if not 0 <= target < logits.shape[1]:
            raise ExplainError("err.explain_bad_class", target=target, n=logits.shape[1])
        cam = LayerGradCam(net, layer).attribute(x, target=target, relu_attributions=after_relu)
        if cam.ndim != 4:
            raise ExplainError("err.explain_no_conv")
        layer_map = cam.detach()[0].sum(0)  # (h, w)
        up = F.interpolate(layer_map[None, None], size=tuple(x.shape[2:]), mode="bilinear", align_corners=False)
        heatmap = up[0, 0].numpy().astype(np.float64)
        if after_relu:
            heatmap = np.maximum(heatmap, 0.0)  # bilinear interpolation of ≥ 0 values stays ≥ 0; rounding aside
    return GradCam(heatmap, layer_map.numpy(), stage, target, predicted, probs)


def input_gradient(model: nn.Module, image: np.ndarray, target: int | None = None) -> np.ndarray:
    """(H, W) ≥ 0: |∂ logit_target / ∂ x| at each pixel (the largest over colour channels), x the normalised
    input; `target` defaults to the predicted class. Gradients are enabled even inside torch.inference_mode();
    the model is only read (a model in training mode is replaced by an eval-mode copy)."""
    net = in_eval_mode(model)
    with torch.inference_mode(False), torch.enable_grad():
        x = normalised_input(net, image).clone().requires_grad_(True)  # (1, C, H, W)
        logits = net(x)
        target = int(logits.detach().argmax(1)[0]) if target is None else int(target)
        if not 0 <= target < logits.shape[1]:
            raise ExplainError("err.explain_bad_class", target=target, n=logits.shape[1])
        (grad,) = torch.autograd.grad(logits[0, target], x)
    return grad[0].abs().amax(0).numpy().astype(np.float64)
