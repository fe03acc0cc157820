"""Long curves drawn with a bounded number of points: the live loss chart of the Training screen.

After ten minutes at batch size 1 a run has ~115,000 losses; sending them all every second costs the server
about a second and each viewer 5 MB. `downsample_curve` keeps at most `max_points` of them — the smallest
and the largest loss of each bucket of consecutive batches, so a spike stays visible — and the exact moving
average of the full history (O(n) with a cumulative sum), read at the same batches:

    x, y, avg = downsample_curve(losses, max_points=1000)   # len(x) == len(y) == len(avg) <= 1000

Buckets are aligned on multiples of a power of two, so a bucket's points do not move when the history
grows (the chart does not shimmer between two refreshes); only the last, partial bucket changes.

    python -m cnnviz.curves    # prints how 115,000 losses shrink
"""

from __future__ import annotations

import numpy as np

MAX_POINTS = 1000  # points of each curve of the live loss chart
WINDOW = 50  # batches in the moving average (cnnviz.training.moving_average's default)


def trailing_mean(values, window: int = WINDOW) -> np.ndarray:
    """Mean of the last `window` values at each position (fewer at the start): O(n) with a cumulative sum.

    Same numbers as cnnviz.training.moving_average on finite losses. A non-finite loss (a diverged run) makes the averages
    that include it NaN, not the whole rest of the curve.
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return v
    bad = ~np.isfinite(v)
    c = np.concatenate([[0.0], np.cumsum(np.where(bad, 0.0, v))])
    nbad = np.concatenate([[0], np.cumsum(bad)])
    idx = np.arange(1, v.size + 1)
    lo = np.maximum(0, idx - window)
    out = (c[idx] - c[lo]) / (idx - lo)
    out[nbad[idx] - nbad[lo] > 0] = np.nan
    return out


def bucket_size(n: int, max_points: int = MAX_POINTS) -> int:
    """The smallest power of two b such that ceil(n / b) buckets of 2 points fit in max_points."""
    buckets = max(1, max_points // 2)
    b = 1
    while -(-n // b) > buckets:
        b *= 2
    return b


def keep_indices(values, max_points: int = MAX_POINTS) -> np.ndarray:
    """Sorted indices of the points to draw: all of them when they fit, else each bucket's min and max."""
    v = np.asarray(values, dtype=np.float64)
    n = v.size
    if n <= max_points:
        return np.arange(n)
    b = bucket_size(n, max_points)
    full = n // b * b
    lo = np.where(np.isfinite(v), v, np.inf)
    hi = np.where(np.isfinite(v), v, -np.inf)
    starts = np.arange(0, full, b)
    picks = [starts + lo[:full].reshape(-1, b).argmin(1), starts + hi[:full].reshape(-1, b).argmax(1)]
    if full < n:  # the last, partial bucket
        picks += [np.array([full + lo[full:].argmin(), full + hi[full:].argmax()])]
    return np.unique(np.concatenate(picks))


def downsample_curve(losses, max_points: int = MAX_POINTS, window: int = WINDOW,
                     average=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, y_avg) with at most max_points points: x the batch numbers (1-based), y the losses there,
    y_avg the moving average of the full history at those batches (`average` if already computed)."""
    v = np.asarray(losses, dtype=np.float64)
    avg = trailing_mean(v, window) if average is None else np.asarray(average, dtype=np.float64)
    if avg.shape != v.shape:
        raise ValueError(f"average has {avg.size} values for {v.size} losses")
    idx = keep_indices(v, max_points)
    return idx + 1, v[idx], avg[idx]


if __name__ == "__main__":
    import time

    rng = np.random.default_rng(0)
    n = 115_000
    losses = 2.3 * np.exp(-np.arange(n) / 20_000) + rng.gamma(2.0, 0.1, n)
    t0 = time.perf_counter()
    x, y, avg = downsample_curve(list(losses))
    ms = (time.perf_counter() - t0) * 1000
    print(f"{n:,} losses -> {len(x)} points (bucket {bucket_size(n)} batches) in {ms:.1f} ms; "
          f"largest loss kept: {y.max() == losses.max()}")
