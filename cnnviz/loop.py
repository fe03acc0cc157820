"""The course's training loop as small plain functions, to read next to the slide.

    train_rows, val_rows = split_rows(len(train), subset=10_000, val_fraction=0.1, seed=0)
    criterion = make_criterion("cross-entropy", num_classes=10)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
    for epoch in range(epochs):
        for rows in epoch_batches(train_rows, batch_size=64, seed=0, epoch=epoch):   # the slide's trainloader
            x, y = gather(train.images, train.labels, rows)                          # (B, C, H, W), (B,)
            loss = sgd_step(model, optimizer, criterion, x, y)     # zero_grad, forward, loss, backward, step
        val_loss, val_accuracy = loss_and_accuracy(model, train.images[val_rows], train.labels[val_rows], criterion)

Nothing here knows about threads, stopping or saving: `cnnviz.training.TrainingJob` runs these functions in a
thread and adds those (Stop / Resume, divergence rollback, live weights, the saved run).
"""

from __future__ import annotations

import math
import threading
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from cnnviz.evaluate import predict_logits

# The cost functions of the slide (nn.CrossEntropyLoss, nn.MSELoss, nn.L1Loss): id -> message id of its label.
LOSSES = {"cross-entropy": "train.loss_ce", "mse": "train.loss_mse", "l1": "train.loss_l1"}
Criterion = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (logits (B, K), labels (B,)) -> mean loss


def make_criterion(name: str, num_classes: int) -> Criterion:
    """The cost `name` (a LOSSES id) of logits (B, K) and class labels (B,); MSE and L1 compare the logits with
    the one-hot targets, as nn.MSELoss / nn.L1Loss would with one-hot labels."""
    if name == "cross-entropy":
        return F.cross_entropy
    loss = F.mse_loss if name == "mse" else F.l1_loss
    return lambda out, y: loss(out, F.one_hot(y, num_classes).to(out.dtype))


def split_rows(n: int, subset: int = 0, val_fraction: float = 0.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(training rows, validation rows) of a training set of `n` images, both sorted and disjoint.

    `subset` (0: all) rows are drawn at random (seed); a share `val_fraction` of them is kept out for validation
    (never trained on; the test set is never used for it); at least one row is always left to train on."""
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.permutation(n)[:subset]) if 0 < subset < n else np.arange(n)
    n_val = min(len(rows) - 1, int(round(len(rows) * val_fraction)))
    if n_val <= 0:
        return rows, np.empty(0, dtype=np.int64)
    perm = np.random.default_rng(seed + 1).permutation(len(rows))
    return np.sort(rows[perm[n_val:]]), np.sort(rows[perm[:n_val]])


def epoch_batches(rows: np.ndarray, batch_size: int, seed: int, epoch: int, start: int = 0) -> Iterator[np.ndarray]:
    """The mini-batches of one epoch: `rows` shuffled, cut into groups of `batch_size` (the last one smaller).

    The order depends only on (seed, epoch), so a loop stopped after batch k continues exactly with
    `start=k`."""
    order = torch.randperm(len(rows), generator=torch.Generator().manual_seed(seed * 10007 + epoch)).numpy()
    for b in range(start, math.ceil(len(rows) / batch_size)):
        yield rows[order[b * batch_size:(b + 1) * batch_size]]


def gather(images: np.ndarray, labels: np.ndarray, rows: np.ndarray, device: str | torch.device = "cpu"
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """Batch `rows` of uint8 images (N, H, W[, 3]) and their labels (N,) -> x (B, C, H, W) in [-1, 1], y (B,).

    Only these B images are copied (the dataset's arrays are shared, read-only); on a GPU the uint8 values
    travel (4× fewer bytes) and are normalised there."""
    x = torch.from_numpy(images[rows])  # (B, H, W) or (B, H, W, 3): a fresh copy of B images
    x = x.unsqueeze(1) if x.ndim == 3 else x.permute(0, 3, 1, 2)  # (B, C, H, W)
    y = torch.from_numpy(np.asarray(labels[rows], dtype=np.int64))  # (B,)
    if torch.device(device).type != "cpu":
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
    return x.float().div_(127.5).sub_(1.0), y


def random_translate(x: torch.Tensor, k: int, fill: float = -1.0) -> torch.Tensor:
    """Each image of x (B, C, H, W) moved by its own random (dx, dy) in [−k, k]² (torch's generator);
    `fill` enters from the edges (−1 is a black pixel in the [−1, 1] normalisation: the zero fill of
    cnnviz.shift.shift_image)."""
    if k <= 0:
        return x
    _, _, h, w = x.shape
    padded = F.pad(x, (k, k, k, k), value=fill)
    d = torch.randint(-k, k + 1, (len(x), 2))  # (dx, dy) per image
    out = torch.empty_like(x)
    for i, (dx, dy) in enumerate(d.tolist()):  # content moves dx right, dy down
        out[i] = padded[i, :, k - dy:k - dy + h, k - dx:k - dx + w]
    return out


def augment(x: torch.Tensor, flip: bool = False, translate: int = 0) -> torch.Tensor:
    """Data augmentation of a batch x (B, C, H, W): random horizontal flips (half of the images), then random
    shifts of up to `translate` pixels (random_translate)."""
    if flip:
        flipped = torch.rand(len(x)) < 0.5
        x[flipped] = x[flipped].flip(-1)
    return random_translate(x, translate)


def sgd_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, criterion: Criterion,
             x: torch.Tensor, y: torch.Tensor) -> float:
    """One step of the slide's loop on the batch (x, y); returns the batch's loss before the step.

    A loss that is not finite (NaN, inf: the learning rate is too large) is returned without a step: the
    weights stay as they were and the caller decides what to do."""
    optimizer.zero_grad(set_to_none=True)  # forget the previous batch's gradients
    loss = criterion(model(x), y)  # forward pass, then the cost of this batch
    value = loss.item()
    if not math.isfinite(value):
        return value
    loss.backward()  # the gradient of the cost with respect to every weight
    optimizer.step()  # w <- w - lr * (gradient, smoothed by the momentum)
    return value


def loss_and_accuracy(model: torch.nn.Module, images: np.ndarray, labels: np.ndarray, criterion: Criterion,
                      cancel: threading.Event | None = None) -> tuple[float, float]:
    """(mean loss, accuracy) of the network on uint8 images and their labels, in eval mode (the slide's test
    phase); `cancel` is checked before every batch (cnnviz.evaluate.EvaluationCancelled)."""
    logits = predict_logits(model, images, cancel=cancel)  # (N, K) on the CPU
    y = np.asarray(labels, dtype=np.int64)
    with torch.no_grad():
        loss = float(criterion(logits, torch.tensor(y)))
    return loss, float((logits.argmax(1).numpy() == y).mean())
