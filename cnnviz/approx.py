"""A neural network is a function: one hidden layer learns a 1-D function (universal approximation).

    f(x) = c + Σ_{i=1..N} a_i · σ(w_i · x/π + b_i),    σ = tanh or ReLU

`fit(...)` trains such a network on `N_TRAIN` evenly spaced points of [-π, π] with full-batch Adam on the mean
squared error, keeping snapshots of its output along the way; the errors (maximum and mean squared) are
measured on a dense grid of `N_GRID` points against the function itself (without the noise of "noisy").
`sweep(...)` does it for N = 1, 2, 4 … 64.

Everything is seeded with its own `torch.Generator` (never the global seed: several sessions train at once),
so (function, activation, neurons, steps, seed) always gives the same numbers on one machine. Plain torch on
the CPU with tensors of 200 × N numbers: a fit of 2 000 steps costs well under a second of CPU.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

FUNCTIONS = ("sine", "step", "abs", "noisy")
ACTIVATIONS = ("tanh", "relu")
SWEEP_NEURONS = (1, 2, 4, 8, 16, 32, 64)
MAX_NEURONS = 64
DEFAULT_STEPS = 2000
N_TRAIN = 200  # training points, evenly spaced on [-π, π]
N_GRID = 2001  # the dense grid the errors are measured on
N_PLOT = 401  # the grid the curves are drawn on
LR = 0.02  # Adam's learning rate
INIT_SLOPE = 3.0  # initial |w| ≤ 3: a unit's transition spans about a third of the interval or more
NOISE = 0.15  # standard deviation of the noise on the "noisy" curve's training points
NOISE_SEED = 12345  # the noisy points are the same whatever the network's seed
LO, HI = -math.pi, math.pi


def target(function: str, x: np.ndarray) -> np.ndarray:
    """The function to approximate (without noise) at x."""
    x = np.asarray(x, dtype=float)
    if function == "sine":
        return np.sin(2 * x)
    if function == "step":
        return (x >= 0).astype(float)
    if function == "abs":
        return np.abs(x)
    if function == "noisy":
        return np.sin(x) + 0.5 * np.sin(3 * x)
    raise ValueError(f"unknown function {function!r}")


def training_points(function: str) -> tuple[np.ndarray, np.ndarray]:
    """(x, y): the N_TRAIN points the network learns from (with noise for "noisy")."""
    x = np.linspace(LO, HI, N_TRAIN)
    y = target(function, x)
    if function == "noisy":
        y = y + np.random.default_rng(NOISE_SEED).normal(0.0, NOISE, size=x.shape)
    return x, y


def plot_grid() -> np.ndarray:
    """The N_PLOT points of [-π, π] the curves (and the snapshots) are drawn on."""
    return np.linspace(LO, HI, N_PLOT)


def errors(pred: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """(maximum absolute error, mean squared error)."""
    diff = np.asarray(pred, dtype=float) - np.asarray(truth, dtype=float)
    return float(np.abs(diff).max()), float(np.mean(diff ** 2))


def _tanh(z: torch.Tensor) -> torch.Tensor:
    """tanh(z) = 2·sigmoid(2z) − 1: the same function, but torch.tanh (like exp) splits even a 200 × 16 tensor
    over threads, which costs milliseconds a step on a busy server; sigmoid does not."""
    return 2 * torch.sigmoid(2 * z) - 1


class OneHiddenLayer:
    """x -> c + Σ a_i σ(w_i x/π + b_i), N hidden units; the parameters are plain tensors.

    Initialisation: slopes w uniform in [-3, 3], each unit's centre (where w x/π + b = 0, the kink of a ReLU)
    uniform over the interval, output weights a uniform in [-1/√N, 1/√N], c = 0.
    """

    def __init__(self, neurons: int, activation: str, seed: int):
        if activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {activation!r}")
        if not 1 <= neurons <= MAX_NEURONS:
            raise ValueError(f"neurons must be in 1..{MAX_NEURONS}")
        g = torch.Generator().manual_seed(int(seed))
        w = (torch.rand(neurons, generator=g) * 2 - 1) * INIT_SLOPE
        centre = torch.rand(neurons, generator=g) * 2 - 1
        self.w = w.requires_grad_()
        self.b = (-w.detach() * centre).requires_grad_()
        self.a = ((torch.rand(neurons, generator=g) * 2 - 1) / math.sqrt(neurons)).requires_grad_()
        self.c = torch.zeros(1).requires_grad_()
        self.act = _tanh if activation == "tanh" else torch.relu

    def parameters(self) -> list[torch.Tensor]:
        return [self.w, self.b, self.a, self.c]

    def hidden(self, x: torch.Tensor) -> torch.Tensor:
        """(len(x), N): the hidden units' outputs σ(w_i x/π + b_i)."""
        return self.act(torch.addcmul(self.b, x[:, None] / math.pi, self.w))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.hidden(x) @ self.a + self.c


@dataclass
class Fit:
    """A trained network and the way it got there (numpy arrays, small and picklable)."""

    function: str
    activation: str
    neurons: int
    steps: int
    seed: int
    x: np.ndarray  # the plot grid (N_PLOT points)
    truth: np.ndarray  # the function on it
    pred: np.ndarray  # the network's output on it, at the end
    units: np.ndarray  # (N, N_PLOT): each hidden unit's term a_i σ(w_i x/π + b_i), at the end
    max_error: float  # on the dense grid (N_GRID points)
    mse: float
    seconds: float  # wall-clock time of the fit
    snap_steps: list[int] = field(default_factory=list)  # snapshots along the training (step 0 first)
    snap_preds: list[np.ndarray] = field(default_factory=list)  # the output on the plot grid
    losses: list[float] = field(default_factory=list)  # the training loss at each snapshot


def fit(function: str, activation: str, neurons: int, steps: int = DEFAULT_STEPS, seed: int = 0,
        snapshots: int = 20, on_snapshot: Callable[[int, np.ndarray, float], None] | None = None) -> Fit:
    """Train a one-hidden-layer network on `function` with full-batch Adam for `steps` steps.

    Keeps `snapshots` outputs along the way (after step 0 and at evenly spaced steps up to the last); each
    is passed to `on_snapshot(step, pred, loss)` if given (e.g. to redraw a chart). They do not change the
    result: the same arguments give the same numbers with or without them.
    """
    if function not in FUNCTIONS:
        raise ValueError(f"unknown function {function!r}")
    steps = int(steps)
    if steps < 1:
        raise ValueError("steps must be at least 1")
    start = time.perf_counter()
    xs, ys = training_points(function)
    x_train, y_train = torch.tensor(xs, dtype=torch.float32), torch.tensor(ys, dtype=torch.float32)
    x_plot = plot_grid()
    t_plot = torch.tensor(x_plot, dtype=torch.float32)
    net = OneHiddenLayer(int(neurons), activation, seed)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    marks = {max(1, round(steps * k / snapshots)) for k in range(1, snapshots + 1)} if snapshots > 0 else set()
    snaps: tuple[list, list, list] = ([], [], [])

    def snapshot(step: int, loss: float) -> None:
        with torch.no_grad():
            pred = net(t_plot).numpy().astype(np.float64)
        for store, value in zip(snaps, (step, pred, loss)):
            store.append(value)
        if on_snapshot is not None:
            on_snapshot(step, pred, loss)

    if snapshots > 0:
        with torch.no_grad():
            snapshot(0, float(torch.mean((net(x_train) - y_train) ** 2)))
    for step in range(1, steps + 1):
        for group in opt.param_groups:  # cosine decay to LR/20: the last steps settle instead of jittering
            group["lr"] = LR * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * (step - 1) / steps)))
        opt.zero_grad(set_to_none=True)
        loss = torch.mean((net(x_train) - y_train) ** 2)
        loss.backward()
        opt.step()
        if step in marks:
            snapshot(step, loss.item())
    x_grid = np.linspace(LO, HI, N_GRID)
    with torch.no_grad():
        dense = net(torch.tensor(x_grid, dtype=torch.float32)).numpy()
        pred = net(t_plot).numpy().astype(np.float64)
        units = (net.hidden(t_plot) * net.a).numpy().astype(np.float64).T
    max_error, mse = errors(dense, target(function, x_grid))
    return Fit(function, activation, int(neurons), steps, int(seed), x_plot, target(function, x_plot), pred, units,
               max_error, mse, time.perf_counter() - start, *snaps)


def sweep(function: str, activation: str, seed: int = 0, steps: int = DEFAULT_STEPS,
          neurons: tuple[int, ...] = SWEEP_NEURONS) -> dict[str, list]:
    """Errors against the number of hidden neurons: {"neurons", "max_error", "mse", "seconds"} (plain lists)."""
    fits = [fit(function, activation, n, steps, seed, snapshots=0) for n in neurons]
    return {"neurons": list(neurons), "max_error": [f.max_error for f in fits], "mse": [f.mse for f in fits],
            "seconds": [f.seconds for f in fits]}


class FitStore:
    """The last `size` fits by their settings, shared by every session of a server (thread-safe)."""

    def __init__(self, size: int = 128):
        self.size = size
        self._fits: OrderedDict[tuple, Fit] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Fit | None:
        with self._lock:
            found = self._fits.get(key)
            if found is not None:
                self._fits.move_to_end(key)
            return found

    def put(self, key: tuple, value: Fit) -> None:
        with self._lock:
            self._fits[key] = value
            self._fits.move_to_end(key)
            while len(self._fits) > self.size:
                self._fits.popitem(last=False)
