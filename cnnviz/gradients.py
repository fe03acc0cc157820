"""How a network learns, in numbers: the cost of one image and of a batch, and the batch gradient as an unbiased
estimate of the full gradient (the course's optimisation slides, on a real network).

- `image_cost(logits, label)`: softmax, cross-entropy −log p(true class), MSE and L1 on the one-hot target, and
  the gradient of each cost with respect to the logits (closed forms; tests/test_gradients.py checks them
  against torch's autograd).
- `batch_cost(model, images, labels)`: each image's ℓ = −log p, their sum L_B, and the likelihood Π p = e^(−L_B).
- `batch_gradient_study(model, images, labels, param, batch_sizes, draws, seed)`: the gradient of the mean
  cross-entropy over all the images (`.full`), then `draws` batches of each size drawn at random (uniformly,
  without replacement within a batch) and how their gradients scatter around it (`.rows`).

The network is used in evaluation mode (batch norm with its running statistics, no dropout): an image's cost then
depends on the weights alone, so the gradient of a batch's mean cost is the mean of its images' gradients. That
is how the study draws its batches cheaply and exactly: one pass computes every image's own gradient of the chosen
parameter (the "per-example" gradients, from the gradient of the cost with respect to the parameter's layer
output), and a batch's gradient is the mean of its rows. The cached model is never changed: the work is done on a
deep copy.

    python -m cnnviz.gradients          # the study on the shipped network, 5,000 training images
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cnnviz import CnnvizError
from cnnviz.data import to_tensor

COMPARED = ("probs", "logits")  # what MSE and L1 compare with the one-hot target
BATCH_SIZES = (1, 8, 64, 512)
MAX_GRADIENT_FLOATS = 2**26  # images × parameter size held at once (256 MB of float32)
CHUNK = 500  # images per forward/backward pass


# ---------------------------------------------------------------- the cost of one image

@dataclass(frozen=True)
class ImageCost:
    """One image's costs (cross-entropy, MSE, L1) and their gradients with respect to the logits."""

    logits: np.ndarray  # (K,)
    probs: np.ndarray  # (K,) softmax of the logits
    label: int  # the true class c
    compared: str  # "probs" or "logits": what MSE and L1 compare with the one-hot target
    costs: dict  # "cross-entropy" / "mse" / "l1" -> the cost
    grads: dict  # the same keys -> d cost / d logits, (K,)


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def image_cost(logits, label: int, compared: str = "probs") -> ImageCost:
    """The three costs of one image with true class `label`, and their gradients with respect to the logits z.

    Cross-entropy ℓ = −log p_c with p = softmax(z): dℓ/dz = p − t (t the one-hot target). MSE and L1 are the
    means over the K classes of (y − t)² and |y − t|, as nn.MSELoss and nn.L1Loss compute them, where y is the
    softmax output p (compared="probs") or the logits themselves ("logits", what the Training screen's MSE and
    L1 do). Through the softmax, dy/dz = diag(p) − p pᵀ: a confident output (p near one-hot) makes it nearly 0,
    so MSE and L1 barely move a confident mistake while cross-entropy's p − t stays near −1 on the true class.
    """
    if compared not in COMPARED:
        raise ValueError(f"compared must be one of {COMPARED}")
    z = np.asarray(logits, dtype=np.float64).ravel()  # (K,)
    k = z.size
    p = softmax(z)
    t = np.zeros(k)
    t[int(label)] = 1.0
    y = p if compared == "probs" else z
    d_mse = 2.0 * (y - t) / k  # d mse / dy
    d_l1 = np.sign(y - t) / k  # d l1 / dy (0 where y = t, as torch)

    def through(u: np.ndarray) -> np.ndarray:  # d cost / dz from d cost / dy
        return p * (u - p @ u) if compared == "probs" else u

    log_p = z - (z.max() + np.log(np.exp(z - z.max()).sum()))  # log-softmax, stable
    costs = {"cross-entropy": float(-log_p[int(label)]), "mse": float(np.mean((y - t) ** 2)),
             "l1": float(np.mean(np.abs(y - t)))}
    grads = {"cross-entropy": p - t, "mse": through(d_mse), "l1": through(d_l1)}
    return ImageCost(z, p, int(label), compared, costs, grads)


# ---------------------------------------------------------------- the cost of a batch

@dataclass(frozen=True)
class BatchCost:
    """L_B = Σ ℓ_i over a batch, with ℓ_i = −log p_W(d_i | x_i): the negative log-likelihood of independent images."""

    probs_true: np.ndarray  # (B,) p_W(d_i | x_i), the probability given to each image's true class
    losses: np.ndarray  # (B,) ℓ_i = −log p_i
    total: float  # L_B = Σ ℓ_i
    log_likelihood: float  # Σ log p_i = −L_B
    likelihood: float  # Π p_i = e^(−L_B) (0.0 where it underflows)


@torch.inference_mode()
def logits_of(model: nn.Module, images: np.ndarray, batch_size: int = CHUNK) -> np.ndarray:
    """uint8 images (N, H, W) or (N, H, W, 3) -> logits (N, K), the network in evaluation mode (it must be)."""
    out = [model(to_tensor(images[i:i + batch_size])) for i in range(0, len(images), batch_size)]
    return torch.cat(out).double().numpy()


def batch_cost(model: nn.Module, images: np.ndarray, labels) -> BatchCost:
    """Each image's cross-entropy and their sum (reduction="sum": the slide's L = Σ ℓ)."""
    z = logits_of(model, images)  # (B, K)
    labels = np.asarray(labels, dtype=np.int64)
    log_p = z - z.max(1, keepdims=True)
    log_p = log_p - np.log(np.exp(log_p).sum(1, keepdims=True))
    log_true = log_p[np.arange(len(labels)), labels]  # (B,)
    total = float(-log_true.sum())
    return BatchCost(np.exp(log_true), -log_true, total, -total, float(np.exp(-total)))


def draw_batch(n: int, size: int, seed: int) -> np.ndarray:
    """`size` distinct indices among n, drawn uniformly (a batch as a shuffled loader makes it)."""
    return np.random.default_rng(seed).choice(n, size=min(size, n), replace=False)


# ---------------------------------------------------------------- per-example gradients

SUPPORTED = (nn.Conv2d, nn.Linear, nn.BatchNorm2d)


def _short(name: str) -> str:
    return name[len("stages."):] if name.startswith("stages.") else name


def parameter_names(model: nn.Module, max_size: int | None = None) -> list[str]:
    """The parameters whose per-example gradients are computed here (those of Conv2d, Linear and BatchNorm2d
    layers), by their short names ("conv1.weight"), in the network's order; at most `max_size` numbers each."""
    names = []
    for mod_name, module in model.named_modules():
        if isinstance(module, SUPPORTED):
            for attr, p in module.named_parameters(recurse=False):
                if max_size is None or p.numel() <= max_size:
                    names.append(_short(f"{mod_name}.{attr}"))
    return names


def _owner(model: nn.Module, name: str) -> tuple[nn.Module, str]:
    """The layer holding parameter `name` ("conv1.weight" or "stages.conv1.weight") and its attribute."""
    modules = dict(model.named_modules())
    for full in (name, f"stages.{name}"):
        mod_name, _, attr = full.rpartition(".")
        module = modules.get(mod_name)
        if module is not None and isinstance(getattr(module, attr, None), nn.Parameter):
            if not isinstance(module, SUPPORTED):
                raise CnnvizError("err.grad_param_kind", name=name, kind=type(module).__name__)
            return module, attr
    raise CnnvizError("err.grad_param_unknown", name=name)


def _layer_gradients(module: nn.Module, attr: str, inp: torch.Tensor, d_out: torch.Tensor) -> torch.Tensor:
    """Each image's gradient of its own cost with respect to module.<attr>, from the layer's input and the
    gradient of the cost with respect to the layer's output -> (n, numel)."""
    n = len(inp)
    if isinstance(module, nn.Conv2d):
        if module.groups != 1 or module.padding_mode != "zeros" or isinstance(module.padding, str):
            raise CnnvizError("err.grad_param_kind", name=attr, kind="Conv2d")
        if attr == "bias":
            return d_out.sum((2, 3))  # (n, F)
        cols = F.unfold(inp, module.kernel_size, dilation=module.dilation, padding=module.padding,
                        stride=module.stride)  # (n, C·kh·kw, L): every window, in the weight's (C, kh, kw) order
        return torch.einsum("nfl,nkl->nfk", d_out.flatten(2), cols).reshape(n, -1)  # (n, F·C·kh·kw)
    if isinstance(module, nn.Linear):
        if inp.ndim != 2:
            raise CnnvizError("err.grad_param_kind", name=attr, kind="Linear")
        return d_out if attr == "bias" else torch.einsum("no,ni->noi", d_out, inp).reshape(n, -1)
    # BatchNorm2d in evaluation mode: y = γ·x̂ + β with x̂ from the running statistics
    if module.running_mean is None:
        raise CnnvizError("err.grad_param_kind", name=attr, kind="BatchNorm2d")
    if attr == "bias":
        return d_out.sum((2, 3))  # (n, C)
    x_hat = (inp - module.running_mean[None, :, None, None]) / torch.sqrt(module.running_var + module.eps)[None, :, None, None]
    return (d_out * x_hat).sum((2, 3))


@dataclass(frozen=True)
class PerExample:
    """Every image's own gradient of its cross-entropy with respect to one parameter tensor."""

    param: str
    shape: tuple  # the parameter's shape
    grads: np.ndarray  # (N, P) float32, read-only: row i is ∇_W ℓ(x_i, W), flattened
    full: np.ndarray  # (P,) float64: their mean, the gradient of the mean cost over the N images


def per_example_gradients(model: nn.Module, images: np.ndarray, labels, param: str = "conv1.weight",
                          chunk: int = CHUNK) -> PerExample:
    """∇_W ℓ(x_i, W) for every image, W = `param` (the network in evaluation mode, on a deep copy)."""
    labels = np.array(labels, dtype=np.int64)  # a writable copy: torch refuses read-only arrays
    if len(images) != len(labels) or len(images) == 0:
        raise CnnvizError("err.grad_no_images")
    net = copy.deepcopy(model).eval()  # hooks and modes on a copy: the shared model stays as it is
    for p in net.parameters():
        p.requires_grad_(False)  # only the layer's output needs a gradient
    module, attr = _owner(net, param)
    size = getattr(module, attr).numel()
    if size * len(images) > MAX_GRADIENT_FLOATS:
        raise CnnvizError("err.grad_too_large", name=param, size=size, n=len(images))
    seen: dict = {}

    def keep(mod, inputs, output):  # the layer's input, and its output as the leaf we differentiate against
        seen["calls"] = seen.get("calls", 0) + 1
        seen["input"] = inputs[0].detach()
        seen["output"] = output.detach().requires_grad_(True)
        return seen["output"]

    handle = module.register_forward_hook(keep)
    rows = []
    try:
        for i in range(0, len(images), chunk):
            seen.clear()
            with torch.enable_grad():
                logits = net(to_tensor(images[i:i + chunk]))  # (n, K)
                if seen.get("calls") != 1:  # a layer used twice: its gradient is not one output's
                    raise CnnvizError("err.grad_param_kind", name=param, kind=type(module).__name__)
                cost = F.cross_entropy(logits, torch.from_numpy(labels[i:i + chunk]), reduction="sum")
                (d_out,) = torch.autograd.grad(cost, seen["output"], allow_unused=True)
            if d_out is None:
                d_out = torch.zeros_like(seen["output"])
            rows.append(_layer_gradients(module, attr, seen["input"], d_out).float().numpy())
    finally:
        handle.remove()
    grads = np.concatenate(rows)  # (N, P)
    grads.setflags(write=False)
    full = grads.mean(0, dtype=np.float64)
    full.setflags(write=False)
    return PerExample(_short(param), tuple(getattr(module, attr).shape), grads, full)


# ---------------------------------------------------------------- batches drawn from them

@dataclass(frozen=True)
class BatchRow:
    """`draws` batches of one size, their gradients against the full gradient."""

    batch_size: int
    mean_rel_error: float  # ‖mean of the draws' gradients − full‖ / ‖full‖
    variance: float  # mean over the draws of ‖g − full‖²
    expected_variance: float  # σ²/|B| · (N − |B|)/(N − 1): the formula for batches without replacement
    running_rel_error: np.ndarray  # (draws,): the relative error of the mean of the first d draws
    coords: np.ndarray  # (draws, 2): each draw's gradient along the full gradient and across it


@dataclass(frozen=True)
class GradientStudy:
    param: str
    n_images: int
    full: np.ndarray  # the gradient of the mean cross-entropy over the n images, the parameter's shape
    rows: tuple  # BatchRow per batch size
    sigma2: float  # σ² = mean over the images of ‖∇ℓ(x_i) − full‖²
    slope: float  # fitted slope of log(variance) against log(|B|): −1 when the variance is ∝ 1/|B|
    axes: np.ndarray  # (2, P): the unit directions of `coords` (the full gradient's; the largest spread across it)
    full_norm: float

    @property
    def batch_sizes(self) -> list[int]:
        return [r.batch_size for r in self.rows]


def _spread_direction(centred: np.ndarray, along: np.ndarray, seed: int, iterations: int = 60) -> np.ndarray:
    """The unit direction orthogonal to `along` in which the rows of `centred` spread most (power iteration)."""
    v = np.random.default_rng(seed).standard_normal(centred.shape[1])
    for _ in range(iterations):
        v -= (v @ along) * along
        v = centred.T @ (centred @ v)
        v -= (v @ along) * along
        norm = np.linalg.norm(v)
        if norm == 0:
            break
        v /= norm
    v -= (v @ along) * along
    norm = np.linalg.norm(v)
    if norm == 0:  # no spread across `along` (one image): any orthogonal direction
        v = np.zeros_like(along)
        v[int(np.argmin(np.abs(along)))] = 1.0
        v -= (v @ along) * along
        norm = np.linalg.norm(v)
    v /= norm
    return v if v[np.argmax(np.abs(v))] > 0 else -v  # a fixed sign


def study_batches(per: PerExample, batch_sizes=BATCH_SIZES, draws: int = 200, seed: int = 0) -> GradientStudy:
    """Draw `draws` batches of each size from the images of `per` and compare their gradients with the full one."""
    grads, full = per.grads, per.full  # (N, P), (P,)
    n = len(grads)
    sizes = [int(b) for b in batch_sizes]
    if not sizes or min(sizes) < 1 or max(sizes) > n or int(draws) < 1:
        raise CnnvizError("err.grad_batch_sizes", n=n, sizes=", ".join(map(str, sizes)))
    full_norm = float(np.linalg.norm(full))
    along = full / full_norm if full_norm > 0 else np.eye(len(full))[0]
    centred = grads.astype(np.float64) - full  # (N, P)
    sigma2 = float(np.mean(np.einsum("np,np->n", centred, centred)))
    axes = np.stack([along, _spread_direction(centred, along, seed)])  # (2, P)
    rng = np.random.default_rng(seed)
    rows = []
    for b in sizes:
        g = np.stack([grads[rng.choice(n, size=b, replace=False)].mean(0, dtype=np.float64)
                      for _ in range(int(draws))])  # (draws, P): each batch's gradient of its mean cost
        running = np.cumsum(g, 0) / np.arange(1, len(g) + 1)[:, None]  # (draws, P)
        rel = np.linalg.norm(running - full, axis=1) / max(full_norm, 1e-300)
        variance = float(np.mean(np.sum((g - full) ** 2, axis=1)))
        expected = sigma2 / b * ((n - b) / (n - 1) if n > 1 else 0.0)
        rows.append(BatchRow(b, float(rel[-1]), variance, expected, rel, g @ axes.T))
    valid = [(r.batch_size, r.variance) for r in rows if r.variance > 0]
    slope = (float(np.polyfit(np.log([v[0] for v in valid]), np.log([v[1] for v in valid]), 1)[0])
             if len({v[0] for v in valid}) >= 2 else float("nan"))
    return GradientStudy(per.param, n, full.reshape(per.shape).copy(), tuple(rows), sigma2, slope, axes, full_norm)


def batch_gradient_study(model: nn.Module, images: np.ndarray, labels, param: str = "conv1.weight",
                         batch_sizes=BATCH_SIZES, draws: int = 200, seed: int = 0) -> GradientStudy:
    """The full gradient of the mean cross-entropy over `images` (uint8, as elsewhere in cnnviz) for `param`,
    and `draws` random batches of each size: how far the mean of their gradients is from it, and how much they
    vary (the network in evaluation mode; the model itself is not changed)."""
    return study_batches(per_example_gradients(model, images, labels, param), batch_sizes, draws, seed)


def training_subset(n_total: int, n: int = 5000, seed: int = 0) -> np.ndarray:
    """A fixed subset of n training images (sorted indices), the same on every server."""
    return np.sort(np.random.default_rng(seed).choice(n_total, size=min(n, n_total), replace=False))


if __name__ == "__main__":
    import time

    from cnnviz.checkpoints import SHIPPED, load_checkpoint
    from cnnviz.data import load_dataset

    model, meta = load_checkpoint(SHIPPED)
    train = load_dataset(meta["dataset"], "train")
    idx = training_subset(len(train))
    t0 = time.perf_counter()
    study = batch_gradient_study(model, train.images[idx], train.labels[idx])
    print(f"{len(idx)} images, conv1.weight, {time.perf_counter() - t0:.1f} s; slope {study.slope:.3f}")
    for r in study.rows:
        print(f"|B| = {r.batch_size:4d}: rel. error of the mean {r.mean_rel_error:.4f}, variance {r.variance:.4g} "
              f"(formula {r.expected_variance:.4g})")
