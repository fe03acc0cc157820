"""Training speed on whatever device is available: a bare PyTorch loop against the app's TrainingJob.

    python bench/gpu.py                  # CUDA when available, else the CPU; under 2 minutes
    python bench/gpu.py --device cpu     # force a device
    python bench/gpu.py --recipe         # also the shipped recipe's 12 epochs (make train), timed, with its accuracy

Model: the shipped CompactCNN on Fashion-MNIST at batch 128 (the shipped recipe's batch). Three loops over the
same batches, in turns (a slow spell of the machine hits all of them):
  bare       a plain loop: gather the batch from the uint8 array, normalise, copy to the device, SGD step;
  resident   the same with the whole training set on the device (an upper bound: no copy per batch);
  app        cnnviz.training.TrainingJob in its thread, polled once a second like the page does.
It prints images/s of each, the ratio app / bare, and (with --recipe) the 12 epochs' time and test accuracy.
Figures, not tests: nothing asserts a time. Needs the Fashion-MNIST files (make data / the dataset package).
"""

from __future__ import annotations

import argparse
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
from cnnviz.training import TrainConfig, TrainingJob, device_label  # noqa: E402

BATCH = 128


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def bare(train, dev: torch.device, batches: int) -> float:
    torch.manual_seed(0)
    model = CompactCNN().to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    images, labels = train.images, np.asarray(train.labels, dtype=np.int64)
    order = torch.randperm(len(labels)).numpy()
    sync(dev)
    t0 = time.perf_counter()
    for b in range(batches):
        rows = order[b * BATCH:(b + 1) * BATCH]
        x = torch.from_numpy(images[rows]).unsqueeze(1).to(dev, non_blocking=True).float().div_(127.5).sub_(1.0)
        y = torch.from_numpy(labels[rows]).to(dev, non_blocking=True)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.item()  # the app reads every loss too
        loss.backward()
        opt.step()
    sync(dev)
    return batches * BATCH / (time.perf_counter() - t0)


def resident(train, dev: torch.device, batches: int, batch: int = BATCH) -> float:
    """The whole training set on the device once, each batch gathered there (bench/run_all.py's bare loop)."""
    torch.manual_seed(0)
    model = CompactCNN().to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    x_all = torch.from_numpy(np.array(train.images)).unsqueeze(1).to(dev)
    y_all = torch.from_numpy(np.array(train.labels, dtype=np.int64)).to(dev)
    order = torch.randperm(len(y_all), device=dev)
    sync(dev)
    t0 = time.perf_counter()
    for b in range(batches):
        idx = order[b * batch:(b + 1) * batch]
        x = x_all[idx].float().div_(127.5).sub_(1.0)
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y_all[idx])
        loss.item()
        loss.backward()
        opt.step()
    sync(dev)
    return batches * batch / (time.perf_counter() - t0)


def app(train, dev: torch.device, batches: int) -> float:
    cfg = TrainConfig(batch_size=BATCH, epochs=1, max_steps=batches, eval_each_epoch=False)
    job = TrainingJob(cfg, train, device=str(dev))
    t0 = time.perf_counter()
    job.start()
    while job.alive:  # the page polls the job once a second
        job.snapshot()
        job.wait(1.0)
    return batches * BATCH / (time.perf_counter() - t0)


def recipe(train, test, dev: torch.device, epochs: int) -> None:
    """The shipped network's recipe (Makefile `train`), in the app's TrainingJob on `dev`."""
    cfg = TrainConfig(lr=0.1, momentum=0.9, weight_decay=5e-4, batch_size=BATCH, epochs=epochs, schedule="onecycle",
                      augment=True, seed=0, eval_each_epoch=False)
    job = TrainingJob(cfg, train, test, device=str(dev))
    t0 = time.perf_counter()
    snap = job.run()
    wall = time.perf_counter() - t0
    report = job.test_report(test)
    print(f"recipe ({epochs} epochs, batch {BATCH}, onecycle, augment): {wall:.1f} s wall, "
          f"{snap.train_seconds:.1f} s in the loop, {snap.images_per_s:,.0f} images/s, "
          f"test accuracy {report.accuracy:.2%} ({snap.status})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batches", type=int, default=0, help="batches per measure (default: 300 on a GPU, 30 on a CPU)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of the three loops (median reported)")
    ap.add_argument("--recipe", action="store_true", help="also time the shipped recipe's epochs")
    ap.add_argument("--epochs", type=int, default=12, help="epochs of --recipe")
    args = ap.parse_args()
    dev = torch.device(args.device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        print("CUDA is not available: using the CPU")
        dev = torch.device("cpu")
    batches = args.batches or (300 if dev.type == "cuda" else 30)
    batches = min(batches, 60000 // BATCH)
    print(f"device {device_label(dev)}; torch {torch.__version__}; {torch.get_num_threads()} CPU threads; "
          f"CompactCNN, batch {BATCH}, {batches} batches per measure, {args.rounds} rounds")
    train = load_dataset("fashion-mnist", "train")
    loops = {"bare": bare, "resident": resident, "app": app}
    for fn in loops.values():  # warm-up (CUDA context, cuDNN autotune, allocator)
        fn(train, dev, min(batches, 10))
    runs = {name: [] for name in loops}
    for r in range(args.rounds):
        names = list(loops) if r % 2 == 0 else list(reversed(loops))
        for name in names:
            runs[name].append(loops[name](train, dev, batches))
    for name, values in runs.items():
        print(f"{name:9s} {statistics.median(values):>10,.0f} images/s  ({min(values):,.0f}–{max(values):,.0f})")
    ratios = [a / b for a, b in zip(runs["app"], runs["bare"])]
    print(f"ratio app / bare: {statistics.median(ratios):.2f} (rounds {', '.join(f'{v:.2f}' for v in ratios)})")
    if args.recipe:
        recipe(train, load_dataset("fashion-mnist", "test"), dev, args.epochs)


if __name__ == "__main__":
    main()
