"""Inspecting a trained network on one image: every stage's maps, the class probabilities, the kernels.

    python -m cnnviz.explore 0    # prints the prediction and the stage shapes for test image 0
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from cnnviz.data import to_tensor
from cnnviz.device import device_of
from cnnviz.models import StagedNet


@dataclass
class Inspection:
    maps: "OrderedDict[str, np.ndarray]"  # stage -> (C, H, W) or (N,) for one image, in forward order
    probs: np.ndarray  # (classes,) softmax
    pred: int

    def spatial_stages(self) -> list[str]:
        return [name for name, m in self.maps.items() if m.ndim == 3]


@torch.inference_mode()
def inspect(model: StagedNet, image: np.ndarray) -> Inspection:
    """One uint8 image (H, W) or (H, W, 3) -> every stage's output, the softmax and the prediction."""
    feats = model.forward_features(to_tensor(image[None]).to(device_of(model)))  # on the model's device
    logits = feats.pop("logits")[0].cpu()
    probs = torch.softmax(logits, 0).numpy()
    maps = OrderedDict((name, t[0].cpu().numpy()) for name, t in feats.items())
    return Inspection(maps, probs, int(probs.argmax()))


def conv_groups(model: StagedNet) -> "OrderedDict[str, list[str]]":
    """conv layer -> the stages that belong to its block (conv1 -> [conv1, bn1, relu1, pool1])."""
    groups: OrderedDict[str, list[str]] = OrderedDict()
    current = None
    for name, module in model.stages.items():
        if isinstance(module, nn.Conv2d):
            current = name
            groups[current] = []
        elif isinstance(module, (nn.Flatten, nn.Linear)):
            current = None
        if current is not None:
            groups[current].append(name)
    return groups


def producing_conv(model: StagedNet, stage: str) -> str | None:
    """The conv layer whose block contains `stage`."""
    return next((conv for conv, stages in conv_groups(model).items() if stage in stages), None)


def kernels_of(model: StagedNet, conv: str, channel: int) -> np.ndarray:
    """The kernel that produced output channel `channel` of `conv`: (C_in, k, k)."""
    return model.stages[conv].weight[channel].detach().numpy()


if __name__ == "__main__":
    from cnnviz.checkpoints import SHIPPED, load_checkpoint
    from cnnviz.data import images_to_browse

    model, meta = load_checkpoint(SHIPPED)
    data = images_to_browse(meta["dataset"])
    i = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    result = inspect(model, data.images[i])
    print(f"true {data.classes[data.labels[i]]}, predicted {data.classes[result.pred]} ({result.probs.max():.1%})")
    for name, m in result.maps.items():
        print(f"  {name:8s} {tuple(m.shape)}")
