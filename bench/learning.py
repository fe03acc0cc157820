"""What "How the network learns" costs the server, on the shipped network: the work each part does once per
server (then every session reads the cache), in wall-clock and CPU seconds, with the machine's load.

    .venv/bin/python bench/learning.py              # 2 threads (a 2-core server), the screen's defaults
    .venv/bin/python bench/learning.py --threads 1 --repeat 3

Figures:
- per-example gradients of conv1.weight and fc2.weight on the 5,000 training images of the batch-gradient study
  (the full gradient's cost), then 200 draws of |B| = 1, 8, 64, 512 from them;
- the loss along a line (21 points: 32 training images, 128 test images) and on the plane at each resolution the
  screen offers (32 training images) — the issue's goal: a 2-D plane within 2 s on 2 cores;
- the test set's confident mistakes (one pass over the 10,000 test images).
CPU seconds over wall seconds near the thread count mean the machine was not shared; on a busy machine the wall
time is not the server's own cost: compare the CPU seconds.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from cnnviz import landscape  # noqa: E402
from cnnviz.checkpoints import SHIPPED, load_checkpoint  # noqa: E402
from cnnviz.data import load_dataset  # noqa: E402
from cnnviz.gradients import logits_of, per_example_gradients, study_batches, training_subset  # noqa: E402
from ui.learning_view import LINE_POINTS, PLANE_IMAGES, TEST_IMAGES  # noqa: E402
from ui.screens import LEARN_RESOLUTIONS  # noqa: E402


def timed(label: str, fn, repeat: int):
    """Run fn `repeat` times; print the best wall time and its CPU time; return the last result."""
    best = None
    for _ in range(repeat):
        w0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        wall, cpu = time.perf_counter() - w0, time.process_time() - c0
        if best is None or wall < best[0]:
            best = (wall, cpu)
    print(f"{label:58s} wall {best[0]:7.2f} s   cpu {best[1]:7.2f} s   load {os.getloadavg()[0]:.1f}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--skip-gradients", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), {os.cpu_count()} CPUs, load {os.getloadavg()}")
    model, meta = load_checkpoint(SHIPPED)
    train, test = load_dataset(meta["dataset"], "train"), load_dataset(meta["dataset"], "test")

    if not args.skip_gradients:
        idx = training_subset(len(train), 5000)
        for param in ("conv1.weight", "fc2.weight"):
            per = timed(f"per-example gradients, {param}, 5,000 images",
                        lambda p=param: per_example_gradients(model, train.images[idx], train.labels[idx], p),
                        args.repeat)
            timed(f"  200 draws of |B| = 1, 8, 64, 512 ({per.grads.shape[1]} numbers)",
                  lambda p=per: study_batches(p, draws=200), args.repeat)

    x_idx, t_idx = training_subset(len(train), PLANE_IMAGES, seed=1), training_subset(len(test), TEST_IMAGES, seed=2)
    x, y, xt, yt = train.images[x_idx], train.labels[x_idx], test.images[t_idx], test.labels[t_idx]
    d1, d2 = landscape.random_direction(model, 0), landscape.random_direction(model, 10_000)
    alphas = np.linspace(-1, 1, LINE_POINTS)
    timed(f"line: {LINE_POINTS} points × ({PLANE_IMAGES} train + {TEST_IMAGES} test images)",
          lambda: (landscape.loss_line(model, x, y, d1, alphas), landscape.loss_line(model, xt, yt, d1, alphas)),
          args.repeat)
    for res in LEARN_RESOLUTIONS:
        grid = np.linspace(-1, 1, res)
        timed(f"plane: {res} × {res} points × {PLANE_IMAGES} images",
              lambda g=grid: landscape.loss_plane(model, x, y, d1, d2, g, g), args.repeat)
    browse = test
    timed(f"confident mistakes: {len(browse):,} test images", lambda: logits_of(model, browse.images), args.repeat)


if __name__ == "__main__":
    main()
