"""Translation: shifting images and maps, equivariance of the maps, invariance of the prediction.

A convolution commutes with a shift of its input (equivariance) away from the borders; pooling
subsamples, so after it a shift of s pixels becomes a shift of s/2 — exact only for even s — and the
output is only approximately invariant. `consistency` measures that on a whole test set as in
Zhang (2019), "Making convolutional networks shift-invariant again": how often two random shifts of
the same image get the same top-1 class.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from cnnviz.data import to_tensor


def shift(a: np.ndarray, dx: int, dy: int, circular: bool = False, axes=(0, 1)) -> np.ndarray:
    """Move an array's content dx columns right and dy rows down (zero fill, or wrap around)."""
    ry, rx = axes
    out = np.roll(a, (dy, dx), axis=(ry, rx))
    if circular:
        return out
    for axis, d in ((ry, dy), (rx, dx)):  # blank what wrapped around
        if d:
            index = [slice(None)] * a.ndim
            index[axis] = slice(0, d) if d > 0 else slice(d, None)
            out[tuple(index)] = 0
    return out


def shift_image(img: np.ndarray, dx: int, dy: int, circular: bool = False) -> np.ndarray:
    """uint8 image (H, W) or (H, W, 3) shifted by (dx, dy) pixels; black enters from the edge."""
    return shift(img, dx, dy, circular, axes=(0, 1))


def equivariance_gap(maps_of_shifted: np.ndarray, maps: np.ndarray, dx: int, dy: int, scale: int,
                     circular: bool = False, border: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(difference maps, shifted original maps): maps(shift(x)) − shift(maps(x)) at a layer whose
    resolution is 1/scale of the input. Shifts are divided by `scale` (rounded); `border` cells on
    each side are set to 0 in the difference (they see the zero fill)."""
    sx, sy = int(round(dx / scale)), int(round(dy / scale))
    expected = shift(maps, sx, sy, circular, axes=(1, 2))  # (C, H, W)
    diff = maps_of_shifted - expected
    if border:
        diff = diff.copy()
        diff[:, :border], diff[:, -border:], diff[:, :, :border], diff[:, :, -border:] = 0, 0, 0, 0
    return diff, expected


def relative_gap(diff: np.ndarray, reference: np.ndarray) -> float:
    """‖difference‖ / ‖reference‖: 0 for exact equivariance."""
    return float(np.linalg.norm(diff) / (np.linalg.norm(reference) or 1.0))


@torch.inference_mode()
def probabilities_over_shifts(model, img: np.ndarray, k: int, circular: bool = False) -> np.ndarray:
    """Softmax for every shift (dx, dy) in −k..k: (2k+1 [dy], 2k+1 [dx], classes)."""
    shifts = [(dx, dy) for dy in range(-k, k + 1) for dx in range(-k, k + 1)]
    batch = np.stack([shift_image(img, dx, dy, circular) for dx, dy in shifts])
    probs = torch.softmax(model(to_tensor(batch)), 1).numpy()
    return probs.reshape(2 * k + 1, 2 * k + 1, -1)


@torch.inference_mode()
def consistency(model, images: np.ndarray, max_shift: int = 3, circular: bool = False, seed: int = 0,
                batch_size: int = 1000, progress: Callable[[float], None] | None = None) -> float:
    """Share of images whose top-1 class is the same under two different random shifts in [−k, k]²."""
    rng = np.random.default_rng(seed)
    n = len(images)
    s1 = rng.integers(-max_shift, max_shift + 1, size=(n, 2))
    s2 = rng.integers(-max_shift, max_shift + 1, size=(n, 2))
    same = np.all(s1 == s2, axis=1)
    while same.any():  # two *different* shifts, as in the paper
        s2[same] = rng.integers(-max_shift, max_shift + 1, size=(int(same.sum()), 2))
        same = np.all(s1 == s2, axis=1)
    agree = 0
    for start in range(0, n, batch_size):
        stop = min(n, start + batch_size)
        chunk = images[start:stop]
        a = np.stack([shift_image(im, *s, circular) for im, s in zip(chunk, s1[start:stop])])
        b = np.stack([shift_image(im, *s, circular) for im, s in zip(chunk, s2[start:stop])])
        preds = model(to_tensor(np.concatenate([a, b]))).argmax(1)
        agree += int((preds[:len(chunk)] == preds[len(chunk):]).sum())
        if progress:
            progress(stop / n)
    return agree / n


def stage_scale(input_hw: tuple[int, int], map_hw: tuple[int, int]) -> int:
    """How many input pixels one cell of a map spans (1 before any pooling, 2 after one, ...)."""
    return 2 ** max(0, int(round(np.log2(input_hw[1] / map_hw[1]))))  # 28/3 after three poolings -> 8
