"""What the Training screen's live views cost the training loop: images/s of a bare PyTorch loop, of the app's
TrainingJob polled like the page without the live views, and with them (conv1's weights copied by the loop every
--every seconds; the page's fragment, once a second, reads the copy, computes conv1's maps of a test image and
builds the loss chart, the two mosaics and the per-epoch chart, as ui/training_charts.py does).

    python bench/training_live.py                 # about 2 minutes on 2 busy cores
    python bench/training_live.py --batches 100 --pairs 2

Figures, not tests. The goal: app with live views / bare loop ≥ 0.9 (the views cost < 10 %).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from cnnviz.data import load_dataset  # noqa: E402
from cnnviz.models import CompactCNN  # noqa: E402
from cnnviz.training import TrainConfig, TrainingJob, moving_average  # noqa: E402

BS = 64


def bare(train, batches: int) -> float:
    torch.manual_seed(0)
    model = CompactCNN()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    labels = np.asarray(train.labels, dtype=np.int64)
    order = torch.randperm(len(labels)).numpy()
    t0 = time.perf_counter()
    for b in range(batches):
        rows = order[b * BS:(b + 1) * BS]
        x = torch.from_numpy(train.images[rows]).unsqueeze(1).float().div_(127.5).sub_(1.0)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), torch.from_numpy(labels[rows]))
        loss.item()
        loss.backward()
        opt.step()
    return batches * BS / (time.perf_counter() - t0)


def page_refresh(job, test, live: bool) -> None:
    """What the page's fragment does once a second (ui.training_charts.draw_job, draw_live, draw_epochs)."""
    from cnnviz.figures import loss_figure, mosaic_figure
    from cnnviz.figures_runs import conv1_maps, epoch_figure

    snap = job.snapshot()
    loss_figure(snap.losses, moving_average(snap.losses), lang="fr").to_json()
    if not live:
        return
    copy = job.live_weights()
    if copy is not None:
        _, w, b = copy
        maps = conv1_maps(w, b, test.images[0], padding=1)
        mosaic_figure(w.mean(axis=1), "w", max_maps=32, colorscale="RdBu_r", symmetric=True).to_json()
        mosaic_figure(maps, "m", max_maps=32, colorscale="RdBu_r", symmetric=True).to_json()
    if snap.history:  # drawn once an epoch has ended (draw_epochs)
        epoch_figure(snap.history, lang="fr").to_json()


def app(train, test, batches: int, live: bool, every: float) -> float:
    cfg = TrainConfig(batch_size=BS, epochs=1, max_steps=batches, eval_each_epoch=False,
                      live_every=every if live else 0.0)
    job = TrainingJob(cfg, train, device="cpu")
    t0 = time.perf_counter()
    job.start()
    while job.alive:
        page_refresh(job, test, live)
        job.wait(1.0)
    return batches * BS / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batches", type=int, default=200)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--every", type=float, default=1.0, help="seconds between two weight copies (the app's 1 s)")
    args = ap.parse_args()
    train, test = load_dataset("fashion-mnist", "train"), load_dataset("fashion-mnist", "test")
    print(f"{torch.get_num_threads()} threads, batch {BS}, {args.batches} batches per run, load "
          f"{' '.join(f'{v:.1f}' for v in os.getloadavg())}")
    loops = {"bare": lambda: bare(train, args.batches),
             "app": lambda: app(train, test, args.batches, False, args.every),
             "app+live": lambda: app(train, test, args.batches, True, args.every)}
    for fn in loops.values():
        fn()  # warm-up
    runs = {k: [] for k in loops}
    for i in range(args.pairs):  # in turns, alternating the order: a slow spell of the machine hits all three
        for name in (list(loops) if i % 2 == 0 else list(reversed(loops))):
            runs[name].append(loops[name]())
    for name, values in runs.items():
        print(f"{name:9s} {statistics.median(values):>8,.0f} images/s ({min(values):,.0f}–{max(values):,.0f})")
    for name in ("app", "app+live"):
        ratios = [a / b for a, b in zip(runs[name], runs["bare"])]
        print(f"ratio {name} / bare: {statistics.median(ratios):.2f} (runs {', '.join(f'{r:.2f}' for r in ratios)})"
              + ("   goal ≥ 0.9" if name == "app+live" else ""))


if __name__ == "__main__":
    main()
