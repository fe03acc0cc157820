"""Learning rate and momentum on 2-D toy costs: the slide's update, step by step, where it can be drawn.

Two costs of w = (x, y):
- "quadratic": L(w) = ½(λ₁x² + λ₂y²) with λ₁ = 4, λ₂ = 400 — a valley 100 times steeper across than along, as
  the cost of a network is in some directions;
- "rosenbrock": L(w) = (1 − x)² + 100(y − x²)², a curved valley whose minimum is (1, 1).

The update is PyTorch's `optim.SGD(params, lr=γ, momentum=μ)` (dampening 0, no Nesterov):
    v ← μ·v + ∇L(w)      (v = 0 before the first step)
    w ← w − γ·v
with μ = 0 it is the slide's W ← W − γ·g. A path stops, marked as diverged, when w leaves any reasonable range.

    python -m cnnviz.descent quadratic 0.001 0.9    # prints the path's last point and cost
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TOYS = ("quadratic", "rosenbrock")
CURVATURES = (4.0, 400.0)  # λ₁, λ₂ of the quadratic: condition number 100
START = {"quadratic": (-2.5, 0.8), "rosenbrock": (-1.2, 1.0)}
MINIMUM = {"quadratic": (0.0, 0.0), "rosenbrock": (1.0, 1.0)}
VIEW = {"quadratic": ((-3.0, 3.0), (-1.2, 1.2)), "rosenbrock": ((-2.0, 2.0), (-1.0, 3.0))}  # (x range, y range)
DIVERGED = 1e6  # |x| or |y| beyond this: the path has diverged


def cost(toy: str, x, y):
    """L at (x, y); x and y may be arrays (a grid) or torch tensors (tests/test_gradients.py differentiates it)."""
    if toy == "quadratic":
        return 0.5 * (CURVATURES[0] * x * x + CURVATURES[1] * y * y)
    return (1 - x) ** 2 + 100 * (y - x * x) ** 2


def gradient(toy: str, w: np.ndarray) -> np.ndarray:
    x, y = float(w[0]), float(w[1])
    if toy == "quadratic":
        return np.array([CURVATURES[0] * x, CURVATURES[1] * y])
    return np.array([-2 * (1 - x) - 400 * x * (y - x * x), 200 * (y - x * x)])


def hessian_top(toy: str) -> float:
    """The largest curvature at the minimum: λ₂ for the quadratic, 1001.6 for Rosenbrock's valley at (1, 1)."""
    if toy == "quadratic":
        return max(CURVATURES)
    return float(np.linalg.eigvalsh(np.array([[802.0, -400.0], [-400.0, 200.0]])).max())


def stability_limit(toy: str, momentum: float) -> float:
    """The largest learning rate for which the update still converges near the minimum: 2(1 + μ)/λ_max (the
    heavy-ball method on a quadratic; μ = 0 gives gradient descent's 2/λ_max)."""
    return 2.0 * (1.0 + momentum) / hessian_top(toy)


@dataclass(frozen=True)
class Path:
    toy: str
    lr: float
    momentum: float
    points: np.ndarray  # (T + 1, 2): the start, then w after each step
    costs: np.ndarray  # (T + 1,)
    diverged_at: int | None  # the step after which w left the range (None: it did not)


def sgd_path(toy: str, lr: float, momentum: float = 0.0, steps: int = 300, start=None) -> Path:
    """The updates of optim.SGD(lr=lr, momentum=momentum) from `start` (default: START[toy]), exact gradients."""
    if toy not in TOYS:
        raise ValueError(f"toy must be one of {TOYS}")
    w = np.array(START[toy] if start is None else start, dtype=np.float64)
    v = np.zeros(2)
    points, diverged = [w.copy()], None
    for step in range(1, int(steps) + 1):
        v = momentum * v + gradient(toy, w)
        w = w - lr * v
        if not np.all(np.isfinite(w)) or np.abs(w).max() > DIVERGED:
            diverged = step
            break
        points.append(w.copy())
    points = np.array(points)
    return Path(toy, float(lr), float(momentum), points, cost(toy, points[:, 0], points[:, 1]), diverged)


def optimizer_code(lr: float, momentum: float) -> str:
    """The same update written with PyTorch, as on the slide."""
    return f"optimizer = optim.SGD(net.parameters(), lr={lr!r}, momentum={momentum!r})"


def steps_to(path: Path, tolerance: float = 1e-3) -> int | None:
    """The first step at which the cost is below `tolerance` (above the minimum, 0 for both toys), or None."""
    below = np.flatnonzero(path.costs < tolerance)
    return int(below[0]) if len(below) else None


if __name__ == "__main__":
    import sys

    toy, lr, mu = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
    path = sgd_path(toy, lr, mu)
    print(f"{toy}: lr {lr}, momentum {mu}: last point {path.points[-1]}, cost {path.costs[-1]:.3g}, "
          f"diverged at {path.diverged_at}; limit {stability_limit(toy, mu):.4g}; {optimizer_code(lr, mu)}")
