"""The loss around a trained network's weights, after Li et al. (2018), "Visualizing the loss landscape of neural
nets": the cost along a random direction of weight space and on the plane of two, and a training path projected
on a plane.

A direction has one tensor per weight. Each filter of it (a conv layer's output channel, a linear layer's output
unit) is rescaled to the norm of the same filter of the network ("filter normalisation"), so that a step of 1
changes every filter by as much as its own size — networks whose filters have different scales then compare.
Biases and batch-norm parameters (1-D tensors) are left out (direction 0), as in the paper.

    line = loss_line(model, x, y, d1, alphas)             # cost and accuracy at θ + α·d1
    plane = loss_plane(model, x, y, d1, d2, alphas, betas) # cost at θ + α·d1 + β·d2, (len(betas), len(alphas))

Every evaluation runs on a deep copy of the network in evaluation mode, on a fixed small subset of images in one
batch (what bench/learning.py measures: a 2-D plane in about 2 s on 2 cores). A saved run that kept its weights
after each epoch (`load_weight_history`) gives a path: `trajectory_plane` finds the plane where it moves most
(principal components of the weights minus the final ones, as the paper does: a random plane barely sees a path)
and `project_path` places each epoch on it.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cnnviz.checkpoints import WEIGHT_HISTORY
from cnnviz.data import to_tensor

HISTORY_KEY = WEIGHT_HISTORY  # a checkpoint's list of state_dicts (before the first step, then each epoch's end)


def perturbed(model: nn.Module) -> list[str]:
    """The names of the weights a direction moves: every parameter with 2 dimensions or more."""
    return [name for name, p in model.named_parameters() if p.ndim >= 2]


def weights_of(model: nn.Module) -> dict[str, torch.Tensor]:
    """The network's perturbed weights (copies)."""
    params = dict(model.named_parameters())
    return {name: params[name].detach().clone() for name in perturbed(model)}


def random_direction(model: nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """A filter-normalised random direction: Gaussian, then each filter d_i scaled to ‖θ_i‖ (Li et al., eq. 1)."""
    gen = torch.Generator().manual_seed(int(seed))
    out = {}
    for name, w in weights_of(model).items():
        d = torch.randn(w.shape, generator=gen, dtype=w.dtype)
        flat_d, flat_w = d.reshape(len(d), -1), w.reshape(len(w), -1)  # (filters, rest)
        scale = flat_w.norm(dim=1) / flat_d.norm(dim=1).clamp_min(1e-12)
        out[name] = (flat_d * scale[:, None]).reshape(w.shape)
    return out


class _Evaluator:
    """A deep copy of the network whose perturbed weights are set to θ + Σ aᵢ·dᵢ before each evaluation."""

    def __init__(self, model: nn.Module, images: np.ndarray, labels, center: dict | None = None):
        self.net = copy.deepcopy(model).eval()
        self.params = dict(self.net.named_parameters())
        self.center = weights_of(self.net) if center is None else {k: v.detach().clone() for k, v in center.items()}
        self.x = to_tensor(images)  # (n, C, H, W) in [-1, 1]
        self.y = torch.from_numpy(np.array(labels, dtype=np.int64))

    @torch.no_grad()
    def __call__(self, *steps: tuple[float, dict]) -> tuple[float, float]:
        """(mean cross-entropy, accuracy) at θ + Σ a·d over (a, d) in `steps`."""
        for name, w in self.center.items():
            value = w.clone()
            for a, d in steps:
                if a:
                    value.add_(d[name], alpha=float(a))
            self.params[name].copy_(value)
        logits = self.net(self.x)  # (n, K)
        return float(F.cross_entropy(logits, self.y)), float((logits.argmax(1) == self.y).float().mean())


@dataclass(frozen=True)
class Line:
    alphas: np.ndarray  # (L,)
    loss: np.ndarray  # (L,) mean cross-entropy at θ + α·d
    accuracy: np.ndarray  # (L,)


def loss_line(model: nn.Module, images: np.ndarray, labels, direction: dict, alphas) -> Line:
    """The mean cross-entropy and the accuracy of the network moved by α·direction, for each α."""
    evaluate = _Evaluator(model, images, labels)
    alphas = np.asarray(alphas, dtype=np.float64)
    values = np.array([evaluate((a, direction)) for a in alphas])  # (L, 2)
    return Line(alphas, values[:, 0], values[:, 1])


def loss_plane(model: nn.Module, images: np.ndarray, labels, d1: dict, d2: dict, alphas, betas,
               center: dict | None = None) -> np.ndarray:
    """The mean cross-entropy at center + α·d1 + β·d2 (center: the network's weights) -> (len(betas), len(alphas))."""
    evaluate = _Evaluator(model, images, labels, center)
    return np.array([[evaluate((a, d1), (b, d2))[0] for a in alphas] for b in betas])


# ---------------------------------------------------------------- a training path

def _flat(state: dict, names: list[str]) -> np.ndarray:
    return np.concatenate([np.asarray(state[n], dtype=np.float64).ravel() for n in names])


def _unflat(vector: np.ndarray, like: dict) -> dict:
    out, i = {}, 0
    for name, w in like.items():
        out[name] = torch.from_numpy(vector[i:i + w.numel()].reshape(w.shape)).to(w.dtype)
        i += w.numel()
    return out


def trajectory_plane(states: list[dict], final: dict) -> tuple[dict, dict]:
    """Two orthonormal directions in which the weights of `states` move most around `final` (the first two
    principal components of θ_epoch − θ_final; Li et al., section 7). `final` maps the perturbed weights' names
    to tensors (weights_of(model)); `states` are state_dicts of the same network (oldest first)."""
    names = list(final)
    diffs = np.stack([_flat(s, names) - _flat(final, names) for s in states])  # (E, D)
    _, _, vt = np.linalg.svd(diffs - diffs.mean(0), full_matrices=False)  # rows: principal directions
    if len(vt) < 2:  # one epoch: its own direction and, across, any other
        vt = np.linalg.svd(np.vstack([diffs, np.random.default_rng(0).standard_normal(diffs.shape[1])]),
                           full_matrices=False)[2]
    return _unflat(vt[0], final), _unflat(vt[1], final)


def project_path(states: list[dict], final: dict, d1: dict, d2: dict) -> np.ndarray:
    """Each state's position (a, b) on the plane final + a·d1 + b·d2 (least squares over the perturbed weights)
    -> (E, 2)."""
    names = list(final)
    basis = np.stack([_flat(d1, names), _flat(d2, names)], axis=1)  # (D, 2)
    diffs = np.stack([_flat(s, names) - _flat(final, names) for s in states]).T  # (D, E)
    coords, *_ = np.linalg.lstsq(basis, diffs, rcond=None)  # (2, E)
    return coords.T


def load_weight_history(path: str | Path) -> list[dict] | None:
    """The per-epoch weights a run kept (checkpoint key HISTORY_KEY: a list of state_dicts), or None when the
    run did not keep them. Read with weights_only=True, like every checkpoint."""
    from cnnviz import CnnvizError
    from cnnviz.checkpoints import read_payload

    try:
        payload = read_payload(path)  # read as runs/ is read: a regular file, bounded
    except CnnvizError:  # not a readable checkpoint: no history (load_checkpoint says why)
        return None
    history = payload.get(HISTORY_KEY)
    if not isinstance(history, list) or not history:
        return None
    if not all(isinstance(s, dict) and all(isinstance(v, torch.Tensor) for v in s.values()) for s in history):
        return None
    return history
