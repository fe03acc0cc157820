"""Command line: train a network with the course's SGD loop and save a checkpoint.

    python -m cnnviz.train --dry-run                       # a few batches, to check that it runs
    python -m cnnviz.train --epochs 12 --lr 0.1 --momentum 0.9 --batch-size 128 --schedule onecycle \
        --weight-decay 5e-4 --augment --seed 0 --out checkpoints/fashion_compact.pt   # the shipped network

The same `TrainingJob` runs behind the app's training screen.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time

import torch
from tqdm import tqdm

from cnnviz import CnnvizError
from cnnviz.checkpoints import load_checkpoint, save_checkpoint, save_run
from cnnviz.data import DATASETS, load_dataset, save_samples
from cnnviz.evaluate import evaluate
from cnnviz.loop import LOSSES
from cnnviz.models import ARCHITECTURES
from cnnviz.training import SCHEDULES, TrainConfig, TrainingJob


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m cnnviz.train", description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="fashion-mnist", choices=sorted(DATASETS))
    p.add_argument("--arch", default="compact", choices=sorted(ARCHITECTURES))
    p.add_argument("--loss", default="cross-entropy", choices=sorted(LOSSES))
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--subset", type=int, default=0, help="training images used (0: all)")
    p.add_argument("--schedule", default="constant", choices=SCHEDULES)
    p.add_argument("--augment", action="store_true", help="random horizontal flips")
    p.add_argument("--translate", type=int, default=0, metavar="K",
                   help="random shifts of the training images by up to K pixels, zero fill (0: none)")
    p.add_argument("--init", default=None, metavar="CHECKPOINT",
                   help="start from these weights (fine-tuning) instead of a random initialisation; the "
                        "architectures must have the same parameters (compact and compact_blur do)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--dry-run", action="store_true", help="train 5 batches, evaluate 500 images, save nothing")
    p.add_argument("--out", default=None, help="checkpoint path (default: runs/<dataset>_<arch>_<time>-<random>.pt)")
    p.add_argument("--samples", action="store_true", help="also write the shipped sample test images")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        return _main(args, argv)
    except CnnvizError as exc:  # a missing dataset, a bad setting, a file that cannot be written
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _main(args: argparse.Namespace, argv) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    config = TrainConfig(
        dataset=args.dataset, arch=args.arch, loss=args.loss, lr=args.lr, momentum=args.momentum,
        weight_decay=args.weight_decay, batch_size=args.batch_size, epochs=args.epochs, subset=args.subset,
        schedule=args.schedule, augment=args.augment, translate=args.translate, seed=args.seed,
        max_steps=5 if args.dry_run else 0, eval_each_epoch=not args.dry_run,
    )
    bar = tqdm(total=0, unit="batch", dynamic_ncols=True)

    def on_batch(job: TrainingJob) -> None:
        snap = job.snapshot()
        bar.total = snap.total_steps
        bar.n = snap.step
        bar.set_postfix(epoch=f"{snap.epoch + 1}/{config.epochs}", loss=f"{snap.losses[-1]:.4f}",
                        img_s=f"{snap.images_per_s:.0f}", refresh=False)
        bar.update(0)

    def on_epoch(job: TrainingJob) -> None:
        if job.progress.epoch_accuracy:
            epoch, acc = job.progress.epoch_accuracy[-1]
            bar.write(f"epoch {epoch}: test accuracy {acc:.4f}")

    t0 = time.perf_counter()
    train = load_dataset(config.dataset, "train", download=True)  # the command line may download
    test = load_dataset(config.dataset, "test", download=True)
    job = TrainingJob(config, train, test, on_batch=on_batch, on_epoch=on_epoch)
    if args.init:  # in place: the optimizer keeps the same parameter tensors
        job.model.load_state_dict(load_checkpoint(args.init)[0].state_dict())
        print(f"initialised from {args.init}")
    snap = job.run()
    bar.close()
    print(f"{snap.status}: {snap.message}")
    if snap.status in ("failed",):
        return 1
    report = evaluate(job.model, test, limit=500 if args.dry_run else 0)
    print(report.report_text)
    print(f"test accuracy {report.accuracy:.4f}; {snap.step} batches, {snap.train_seconds:.0f} s of training, "
          f"{time.perf_counter() - t0:.0f} s in all, {snap.images_per_s:.0f} images/s")
    if args.dry_run:
        return 0
    command = "python -m cnnviz.train " + shlex.join(argv if argv is not None else sys.argv[1:])
    meta = job.checkpoint_meta(command, report.accuracy)
    meta["wall_seconds"] = round(time.perf_counter() - t0, 1)
    if args.out:
        print(f"saved {save_checkpoint(args.out, job.model, config.arch, meta)}")
    else:  # runs/<dataset>_<arch>_<time>-<random>.pt, never over another run
        print(f"saved {save_run(job.model, config.arch, meta)}")
    if args.samples:
        print(f"saved {save_samples(config.dataset)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
