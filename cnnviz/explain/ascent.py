"""The image a channel wants: gradient ascent on the input, from a small random image, with regularisers.

    channel_image(model, stage, channel, steps=256, seed=0)        -> uint8 (H, W) or (H, W, 3)
    channel_images(model, stage, channels, steps, seed, regularisers) -> Ascent(.images, .values, .seconds)
    MosaicJob(model, stage, n, ...)                                  every channel of a stage, in a thread

The objective is the channel's mean over its map at `stage` (for a flat stage, such as "logits", the unit's
value: a class logit), the input normalised to [-1, 1] as everywhere in cnnviz. Each step follows the
gradient of that objective, divided by its mean absolute value (normalised gradient ascent: the step does not
depend on the stage's scale, so one set of regulariser weights fits conv1 and the logits alike), and the
regularisers, each a switch, pull against it:

    jitter   the image is rolled by a random offset (up to 1/14 of its side) before each step: a pattern
             that works only at one exact position does not survive
    l2       a penalty on the pixels' squares: pixels stay near gray unless the channel needs them
    tv       total variation, a penalty on the differences of neighbours: no salt-and-pepper noise
    blur     a 3×3 Gaussian blur every BLUR_EVERY steps: the highest frequencies fade

Pixel values are kept in the input's range [-1, 1] after every step. Turned all off, the image is a noise
that excites the channel even more than the regularised one (tests/test_learned.py measures it) but shows
little a student can read. A channel behind a ReLU that is off everywhere on the gray start would get no
gradient at all: the ReLU stages let the gradient that would turn them on through in that case only
(_RedirectedReLU, as Lucid does). The ascent runs with one intra-op thread (one_thread: measured 40× faster on a
busy 2-core server than two).

On the shipped network's last conv stage (conv3), 256 steps beat the best of the 10,000 test images on 123 of
the 128 channels (median ratio 2.7); one channel's first view takes 0.4 to 1.6 s on this 2-core machine, busy
(bench/learned.py).

Nothing here changes the model it is given: no hooks, no training mode, no parameter's .grad (only the
image's gradient is asked for, with torch.autograd.grad). A model in training mode, or one with in-place
activations, is replaced by a private eval-mode copy.
"""

from __future__ import annotations

import copy
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from cnnviz.data import to_tensor, to_uint8
from cnnviz.device import compute_device, device_of, model_on
from cnnviz.explain.excite import _features_until
from cnnviz.explain.stages import LOGITS, ExplainError

LEARNING_RATE = 0.05  # pixels move at most this much per step (the gradient is normalised)
INIT_STD = 0.1  # the starting image: gray plus this much Gaussian noise
L2_WEIGHT = 0.02  # against a gradient of mean absolute value 1 per pixel
TV_WEIGHT = 0.05
BLUR_EVERY = 4  # steps
BLUR_SIGMA = 0.5  # pixels (a 3×3 kernel)
MAX_STEPS = 4096
MAX_BATCH = 16  # channels optimised together (one batch) by channel_images and a MosaicJob's chunks


@contextmanager
def one_thread():
    """Run the block with one intra-op thread in this thread, then restore the setting.

    Why: hundreds of small forward and backward passes gain nothing from a second thread, and on a busy server
    OpenMP's threads spin against each other's: measured at a load average of 6 on 2 cores (bench/learned.py),
    one channel's 256 steps took 0.43 s with one thread and 20 s with two. With PyTorch's OpenMP backend the
    setting is per thread, so the other sessions' threads keep theirs.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@dataclass(frozen=True)
class Regularisers:
    """The switches of the ascent (all on by default)."""

    jitter: bool = True
    l2: bool = True
    tv: bool = True
    blur: bool = True


REGULARISERS = ("jitter", "l2", "tv", "blur")  # Regularisers' fields, in order: the screen's switches
STEP_CHOICES = (64, 128, 256, 512)  # the step counts a screen offers


@dataclass
class Ascent:
    """The images gradient ascent found, one per channel asked for."""

    stage: str
    channels: tuple[int, ...]
    images: np.ndarray  # (K, H, W) or (K, H, W, 3) uint8, in the model's input shape
    values: np.ndarray  # (K,) float: each channel's mean activation on its own image (as uint8, normalised)
    seconds: float  # the time the ascent took


def _gauss_kernel(channels: int) -> torch.Tensor:
    """(C, 1, 3, 3) a separable 3×3 Gaussian of BLUR_SIGMA, one per input channel (a depthwise blur)."""
    r = torch.arange(-1.0, 2.0)
    k = torch.exp(-r ** 2 / (2 * BLUR_SIGMA ** 2))
    k = k / k.sum()
    return (k[:, None] * k[None, :]).expand(channels, 1, 3, 3).contiguous()


def _tv_gradient(x: torch.Tensor) -> torch.Tensor:
    """The gradient of the anisotropic total variation Σ|x[i+1, j] − x[i, j]| + |x[i, j+1] − x[i, j]|."""
    g = torch.zeros_like(x)
    down = torch.sign(x[..., 1:, :] - x[..., :-1, :])  # (K, C, H-1, W)
    right = torch.sign(x[..., :, 1:] - x[..., :, :-1])  # (K, C, H, W-1)
    g[..., 1:, :] += down
    g[..., :-1, :] -= down
    g[..., :, 1:] += right
    g[..., :, :-1] -= right
    return g


class _RedirectedReLU(torch.autograd.Function):
    """ReLU forward; backward as ReLU's, except for an image whose gradient ReLU stops entirely (every unit on
    its path below 0, as on a gray start): it then lets through the gradient that would raise a negative
    input, never one that pushes it lower (Lucid's "redirected ReLU"). Without it a channel behind a ReLU
    that is off on the starting image never moves."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        plain = grad * (x > 0)
        redirected = torch.where((x < 0) & (grad < 0), torch.zeros_like(grad), grad)  # ascent: grad > 0 raises x
        dead = (plain.flatten(1) == 0).all(1).view(-1, *([1] * (grad.ndim - 1)))  # (K, 1, ...) per image
        return torch.where(dead, redirected, plain)


def _stage_output(net: nn.Module, x: torch.Tensor, stage: str) -> torch.Tensor:
    """The output of `stage` for a batch, a StagedNet's ReLU stages run as _RedirectedReLU (the same values;
    only a gradient that would be zero everywhere differs), the modules themselves untouched."""
    staged = getattr(net, "stages", None)
    if isinstance(staged, nn.ModuleDict) and len(staged) and (stage in staged or stage == LOGITS):
        last = next(reversed(staged.keys())) if stage == LOGITS else stage
        for name, m in staged.items():
            x = _RedirectedReLU.apply(x) if type(m) is nn.ReLU else m(x)
            if name == last:
                return x
    return _features_until(net, x, stage)[0]


def channel_measure(out: torch.Tensor, channels: torch.Tensor) -> torch.Tensor:
    """(K, C, h, w) or (K, C) stage output, K channel indices -> (K,): image k's mean of channel k over the map
    (for a flat stage, the unit's value)."""
    picked = out[torch.arange(len(channels)), channels]  # (K, h, w) or (K,)
    return picked.flatten(1).mean(1) if picked.ndim > 1 else picked


def _ascent_net(model: nn.Module) -> nn.Module:
    """The network the ascent runs: the model itself (or its device copy) when it is in eval mode without
    in-place activations; otherwise a private copy, made so (the caller's model is never changed)."""
    inplace = any(getattr(m, "inplace", False) for m in model.modules())
    if model.training or inplace:
        model = copy.deepcopy(model).eval()
        for m in model.modules():
            if getattr(m, "inplace", False):
                m.inplace = False  # autograd needs the activations it saved
    return model_on(model, compute_device())


def _input_shape(net: nn.Module) -> tuple[int, int, int]:
    shape = getattr(net, "input_shape", None)
    if shape is None or len(shape) != 3:
        raise ExplainError("err.explain_no_input_shape")
    return tuple(int(v) for v in shape)


def channel_images(model: nn.Module, stage: str, channels, steps: int = 256, seed: int = 0,
                   regularisers: Regularisers = Regularisers()) -> Ascent:
    """The image each of `channels` of `stage` responds to most (its mean over the map), found together.

    Every channel starts from the same random image (seed) and sees the same jitter offsets, and each image
    follows its own channel's gradient only: the result of one channel does not depend on the others asked
    with it, up to floating-point rounding. Raises ExplainError for a stage or channel the model lacks.
    """
    channels = tuple(int(c) for c in channels)
    steps = int(steps)
    if not channels or not 1 <= steps <= MAX_STEPS:
        raise ExplainError("err.explain_ascent_steps", steps=steps, max=MAX_STEPS)
    start = time.perf_counter()
    net = _ascent_net(model)
    device = device_of(net)
    c, h, w = _input_shape(net)
    k = len(channels)
    index = torch.tensor(channels, device=device)
    generator = torch.Generator().manual_seed(int(seed))
    rng = np.random.default_rng(int(seed))
    reach = max(1, min(h, w) // 14)  # jitter: ±2 pixels on a 28×28 image
    blur = _gauss_kernel(c).to(device)
    with one_thread(), torch.inference_mode(False), torch.enable_grad():
        x0 = torch.randn((1, c, h, w), generator=generator) * INIT_STD
        x = x0.repeat(k, 1, 1, 1).to(device).requires_grad_(True)  # (K, C, H, W) in [-1, 1]
        out, _ = _features_until(net, x, stage)
        if not (out.ndim in (2, 4) and all(0 <= ch < out.shape[1] for ch in channels)):
            raise ExplainError("err.explain_out_of_range", stage=stage, channel=max(channels), row=0, col=0,
                               shape=" × ".join(map(str, out.shape[1:])))
        for step in range(steps):
            dy, dx = (int(v) for v in rng.integers(-reach, reach + 1, 2)) if regularisers.jitter else (0, 0)
            seen = torch.roll(x, (dy, dx), (2, 3)) if (dy or dx) else x
            objective = channel_measure(_stage_output(net, seen, stage), index)  # (K,)
            (grad,) = torch.autograd.grad(objective.sum(), x)  # only the image's gradient: no parameter's .grad
            with torch.no_grad():
                grad = grad / (grad.abs().flatten(1).mean(1).view(k, 1, 1, 1) + 1e-12)  # each image's own scale
                if regularisers.l2:
                    grad -= L2_WEIGHT * 2 * x  # the gradient of L2_WEIGHT · x² at each pixel
                if regularisers.tv:
                    grad -= TV_WEIGHT * _tv_gradient(x)
                x += LEARNING_RATE * grad
                if regularisers.blur and (step + 1) % BLUR_EVERY == 0 and step < steps - 1:
                    x.copy_(F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), blur, groups=c))
                x.clamp_(-1.0, 1.0)  # the input's range
    images = np.stack([to_uint8(im) for im in x.detach().cpu().numpy()])
    with one_thread(), torch.inference_mode():
        out, _ = _features_until(net, to_tensor(images).to(device), stage)  # what the uint8 images really do
        values = channel_measure(out, index).cpu().numpy().astype(np.float64)
    return Ascent(stage, channels, images, values, time.perf_counter() - start)


def channel_image(model: nn.Module, stage: str, channel: int, steps: int = 256, seed: int = 0,
                  jitter: bool = True, l2: bool = True, tv: bool = True, blur: bool = True) -> np.ndarray:
    """The image `channel` of `stage` responds to most: uint8 (H, W) or (H, W, 3) in the model's input shape.

    Gradient ascent of the channel's mean activation over its map (for "logits" or another flat stage, the
    value of that unit: a class logit), from a small random image fixed by `seed`, `steps` steps, with the
    regularisers switched on or off. The same arguments give the same image.
    """
    return channel_images(model, stage, [channel], steps, seed, Regularisers(jitter, l2, tv, blur)).images[0]


@dataclass
class MosaicProgress:
    done: int  # channels finished
    total: int
    finished: bool
    error: Exception | None


class MosaicJob:
    """Every channel of one stage (or every class logit), computed in a daemon thread MAX_BATCH channels at a
    time; `progress()` is read by a page polling it, `result()` once finished. Plain Python: the thread never
    calls Streamlit. `slots` (a semaphore shared by a server) keeps two mosaics from sharing the CPU at once.
    """

    def __init__(self, model: nn.Module, stage: str, n: int, steps: int = 256, seed: int = 0,
                 regularisers: Regularisers = Regularisers(), slots: threading.Semaphore | None = None):
        self.stage, self.n, self.steps, self.seed, self.regularisers = stage, int(n), int(steps), int(seed), regularisers
        self._model, self._slots = model, slots
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._parts: list[Ascent] = []
        self._done = 0
        self._error: Exception | None = None
        self._finished = threading.Event()
        self.seconds = 0.0
        self._thread = threading.Thread(target=self._run, name=f"mosaic-{stage}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        start = time.perf_counter()
        try:
            with self._slots if self._slots is not None else nullcontext():
                for first in range(0, self.n, MAX_BATCH):
                    if self._stop.is_set():
                        return
                    part = channel_images(self._model, self.stage, range(first, min(first + MAX_BATCH, self.n)),
                                          self.steps, self.seed, self.regularisers)
                    with self._lock:
                        self._parts.append(part)
                        self._done += len(part.channels)
        except Exception as exc:  # shown by the page (a CnnvizError in the reader's language)
            with self._lock:
                self._error = exc
        finally:
            self.seconds = time.perf_counter() - start
            self._model = None  # the job outlives nothing it does not need
            self._finished.set()

    def progress(self) -> MosaicProgress:
        with self._lock:
            return MosaicProgress(self._done, self.n, self._finished.is_set(), self._error)

    def wait(self, timeout: float | None = None) -> bool:
        return self._finished.wait(timeout)

    def stop(self) -> None:
        self._stop.set()

    def result(self) -> Ascent | None:
        """All channels' images in channel order once finished without error, else None."""
        if not self._finished.is_set() or self._error is not None or self._done < self.n:
            return None
        with self._lock:
            parts = list(self._parts)
        images = np.concatenate([p.images for p in parts])
        images.setflags(write=False)  # shared by every session
        values = np.concatenate([p.values for p in parts])
        values.setflags(write=False)
        return Ascent(self.stage, tuple(range(self.n)), images, values, self.seconds)
