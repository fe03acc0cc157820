"""Figure costs: server time to build a chart and the size of what Streamlit sends for it.

    python bench/figures.py            # the worst-case animation, a Feature maps run, the live loss chart
    python bench/figures.py --search   # also search every convolution setting of the screen for the worst case

The size is `len(plotly.io.to_json(fig, validate=False))`, the JSON that `st.plotly_chart` puts in its
message; the time is building the figure plus that serialisation (the server's whole share of a chart).
Figures, not tests: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import plotly.io as pio  # noqa: E402

# The Convolution screen's limits: input up to 12×12, kernel up to 7×7, stride 1..6, padding 0..3, dilation 1..3.
INPUT = 12
KERNELS = range(1, 8)
STRIDES = range(1, 7)
PADDINGS = range(0, 4)
DILATIONS = range(1, 4)


def chart_cost(build, repeat: int = 3) -> tuple[float, int]:
    """(median ms of build() + to_json, JSON bytes) over `repeat` calls after a warm-up."""
    size = len(pio.to_json(build(), validate=False))
    times = [float("nan")] if repeat < 1 else []
    for _ in range(repeat):
        t0 = time.perf_counter()
        pio.to_json(build(), validate=False)
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), size


def conv_settings():
    """Every (kh, kw, stride, padding, dilation) the screen accepts on a 12×12 input."""
    for kh, kw, s, p, d in itertools.product(KERNELS, KERNELS, STRIDES, PADDINGS, DILATIONS):
        if d * (kh - 1) + 1 <= INPUT + 2 * p and d * (kw - 1) + 1 <= INPUT + 2 * p:
            yield kh, kw, s, p, d


def conv_animation(kh: int, kw: int, stride: int, padding: int, dilation: int, repeat: int = 3):
    from cnnviz.figures import conv_step_figure
    from cnnviz.ops import conv2d_steps

    rng = np.random.default_rng(0)
    image = rng.integers(0, 10, (INPUT, INPUT)).astype(float)
    kernel = rng.integers(-2, 3, (kh, kw)).astype(float)
    trace = conv2d_steps(image, kernel, stride, padding, dilation)
    ms, size = chart_cost(lambda: conv_step_figure(trace, 0, animate=True), repeat)
    return ms, size, len(trace.steps)


def worst_conv_animation(search: bool = False) -> list[tuple[str, float, int, int]]:
    """The issue's two cases and the largest settings -> [(label, ms, bytes, frames)].

    With `search`, every setting of the screen is built once and the largest JSON is added (slow: minutes).
    """
    cases = [(1, 1, 1, 3, 1), (3, 3, 1, 1, 1), (7, 7, 1, 3, 1), (5, 5, 1, 3, 1), (2, 2, 1, 3, 1),
             (7, 7, 1, 3, 2)]
    if search:
        sizes = []
        for setting in conv_settings():
            if setting[2] > 1:  # a larger stride only removes frames
                continue
            _, size, _ = conv_animation(*setting, repeat=0)
            sizes.append((size, setting))
        sizes.sort(reverse=True)
        print("  largest animations:", ", ".join(f"{s} {b / 1e3:.0f} kB" for b, s in sizes[:5]))
        cases += [s for _, s in sizes[:2] if s not in cases]
    out = []
    for kh, kw, s, p, d in cases:
        ms, size, frames = conv_animation(kh, kw, s, p, d)
        out.append((f"{kh}×{kw}, stride {s}, padding {p}, dilation {d}", ms, size, frames))
    return out


def feature_maps_run(repeat: int = 3) -> tuple[float, int, int]:
    """The charts one run of the Feature maps screen draws for test image 0 -> (ms, bytes, charts).

    Mirrors the screen: input, probabilities, a mosaic per spatial stage, one map large, the kernel
    slices, the first layer's filters.
    """
    from cnnviz.checkpoints import SHIPPED, load_checkpoint
    from cnnviz.data import images_to_browse
    from cnnviz.explore import conv_groups, inspect, kernels_of
    from cnnviz.figures import image_figure, input_figure, mosaic_figure, probability_figure

    model, meta = load_checkpoint(SHIPPED)
    image = images_to_browse(meta["dataset"]).images[0]
    result = inspect(model, image)
    groups = conv_groups(model)
    first = next(iter(groups))
    w1 = model.stages[first].weight.detach().numpy()

    def charts():
        figs = [input_figure(image, "input", height=300), probability_figure(result.probs, meta["classes"])]
        for stages in groups.values():
            for stage in stages:
                maps = result.maps[stage]
                figs.append(mosaic_figure(maps, stage, symmetric=True, cols=min(16, maps.shape[0])))
        figs.append(image_figure(result.maps["relu1"][0], "big", colorscale="RdBu_r", zmid=0, height=420))
        kernel = kernels_of(model, "conv2", 0)
        figs.append(mosaic_figure(kernel, "kernel", symmetric=True, cols=8))
        figs.append(mosaic_figure(w1[:, 0], "filters", symmetric=True, cols=16, height=200))
        return figs

    def cost():
        return sum(len(pio.to_json(f, validate=False)) for f in charts())

    size = cost()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        cost()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times), size, len(charts())


def live_loss(n: int = 115_000, repeat: int = 3) -> tuple[float, int, int]:
    """The Training screen's live chart after `n` batches -> (ms, bytes, points drawn), as the page draws it."""
    from cnnviz.figures import loss_figure

    rng = np.random.default_rng(0)
    losses = list(2.3 * np.exp(-np.arange(n) / 20_000) + rng.gamma(2.0, 0.1, n))
    from cnnviz.training import moving_average

    def build():  # as the Training screen draws it every second
        return loss_figure(losses, moving_average(losses), [n // 2])

    ms, size = chart_cost(build, repeat)
    points = sum(len(t.x) for t in build().data)
    return ms, size, points


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--search", action="store_true", help="try every convolution setting for the worst case")
    args = ap.parse_args()
    for label, ms, size, frames in worst_conv_animation(args.search):
        print(f"convolution animation, {label}: {frames} frames, {ms:.0f} ms, {size / 1e3:,.0f} kB")
    ms, size, n = feature_maps_run()
    print(f"feature maps, one run ({n} charts): {ms:.0f} ms, {size / 1e3:,.0f} kB")
    ms, size, points = live_loss()
    print(f"live loss chart after 115,000 batches: {points:,} points, {ms:.0f} ms, {size / 1e3:,.0f} kB")


if __name__ == "__main__":
    main()
