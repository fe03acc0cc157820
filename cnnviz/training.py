"""Training: the course's SGD loop as an observable, stoppable, resumable job.

One loop serves every front end. For each epoch, the training images are shuffled and cut into
mini-batches; for each batch: zero_grad, forward, loss, backward, SGD step (with momentum). A
`TrainingJob` owns its model and optimizer; it runs the loop either in the caller's thread (`run()`,
the command line) or in a daemon thread (`start()`, the app), checks a stop event before every batch,
and publishes its progress under a lock (`snapshot()`), so a UI can poll it without touching the model.

The command-line front end is `python -m cnnviz.train --help`.
"""

from __future__ import annotations

import copy
import math
import threading
import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from cnnviz.data import DATASETS, Dataset, load_dataset
from cnnviz.evaluate import accuracy
from cnnviz.models import ARCHITECTURES, StagedNet, build_model

LOSSES = {
    "cross-entropy": "Cross-entropy (nn.CrossEntropyLoss)",
    "mse": "Mean squared error on one-hot targets (nn.MSELoss)",
    "l1": "L1 on one-hot targets (nn.L1Loss)",
}
SCHEDULES = ("constant", "onecycle")


@dataclass
class TrainConfig:
    dataset: str = "fashion-mnist"
    arch: str = "compact"
    loss: str = "cross-entropy"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 64
    epochs: int = 1
    subset: int = 0  # number of training images used (0: all)
    schedule: str = "constant"  # or "onecycle" (learning rate warm-up then annealing to ~0)
    augment: bool = False  # random horizontal flips
    seed: int = 0
    max_steps: int = 0  # stop after this many batches in all (0: no limit); --dry-run uses it
    max_seconds: float = 0.0  # stop after this much training time (0: no limit); the app sets one
    eval_each_epoch: bool = True  # test accuracy after each epoch
    eval_limit: int = 0  # test images used for that accuracy (0: all)

    def validate(self) -> "TrainConfig":
        """Raise ValueError with a clear message for a setting that cannot work."""
        checks = [
            (self.dataset in DATASETS, f"dataset must be one of {sorted(DATASETS)}"),
            (self.arch in ARCHITECTURES, f"model must be one of {sorted(ARCHITECTURES)}"),
            (self.loss in LOSSES, f"loss must be one of {sorted(LOSSES)}"),
            (self.schedule in SCHEDULES, f"schedule must be one of {SCHEDULES}"),
            (math.isfinite(self.lr) and 0 < self.lr <= 1e3, "learning rate must be a finite number in (0, 1000]"),
            (math.isfinite(self.momentum) and 0 <= self.momentum < 1, "momentum must be in [0, 1)"),
            (math.isfinite(self.weight_decay) and self.weight_decay >= 0, "weight decay must be ≥ 0"),
            (isinstance(self.batch_size, int) and 1 <= self.batch_size <= 4096, "batch size must be 1 to 4096"),
            (isinstance(self.epochs, int) and 1 <= self.epochs <= 1000, "epochs must be 1 to 1000"),
            (self.subset >= 0, "training subset size must be ≥ 0 (0 means all)"),
            (self.max_steps >= 0 and self.max_seconds >= 0, "limits must be ≥ 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        return self


@dataclass
class Snapshot:
    """What a front end may show of a job, copied under the job's lock."""

    status: str  # idle, running, stopped, finished, diverged, failed
    step: int  # batches done in all
    epoch: int  # epochs completed
    batch: int  # batches done in the current epoch
    batches_per_epoch: int
    total_steps: int
    losses: list[float]
    images_per_s: float
    epoch_accuracy: list[tuple[int, float]]  # (epoch, test accuracy)
    train_seconds: float
    message: str = ""

    @property
    def progress(self) -> float:
        return min(1.0, self.step / max(1, self.total_steps))


def moving_average(values: list[float], window: int = 50) -> np.ndarray:
    """Trailing mean over `window` points (shorter at the start), same length as `values`."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return v
    c = np.cumsum(np.insert(v, 0, 0.0))
    idx = np.arange(1, v.size + 1)
    lo = np.maximum(0, idx - window)
    return (c[idx] - c[lo]) / (idx - lo)


def _criterion(name: str, num_classes: int) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    if name == "cross-entropy":
        return F.cross_entropy
    loss = F.mse_loss if name == "mse" else F.l1_loss
    return lambda out, y: loss(out, F.one_hot(y, num_classes).to(out.dtype))


class TrainingJob:
    """The training loop of one model, observable through snapshot() and callbacks."""

    def __init__(self, config: TrainConfig, train: Dataset | None = None, test: Dataset | None = None,
                 model: StagedNet | None = None, on_batch=None, on_epoch=None):
        self.config = config.validate()
        torch.manual_seed(config.seed)
        self.train_set = train if train is not None else load_dataset(config.dataset, "train")
        self.test_set = test
        if test is None and config.eval_each_epoch:
            self.test_set = load_dataset(config.dataset, "test")
        n_classes = len(self.train_set.classes)
        self.model = model if model is not None else build_model(config.arch, self.train_set.input_shape, n_classes)
        self.model.train()
        self.criterion = _criterion(config.loss, n_classes)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=config.lr, momentum=config.momentum,
                                         weight_decay=config.weight_decay)

        # The training images as one uint8 tensor (N, C, H, W); each batch is normalised when drawn.
        rng = np.random.default_rng(config.seed)
        n = len(self.train_set)
        keep = np.sort(rng.permutation(n)[:config.subset]) if 0 < config.subset < n else np.arange(n)
        images = torch.from_numpy(np.array(self.train_set.images[keep]))
        self.x_uint8 = images.unsqueeze(1) if images.ndim == 3 else images.permute(0, 3, 1, 2).contiguous()
        self.y = torch.from_numpy(np.array(self.train_set.labels[keep]))
        self.batches_per_epoch = math.ceil(len(self.y) / config.batch_size)
        self.total_steps = self.batches_per_epoch * config.epochs
        if config.max_steps:
            self.total_steps = min(self.total_steps, config.max_steps)
        self.scheduler = None
        if config.schedule == "onecycle":
            self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
                self.optimizer, max_lr=config.lr, total_steps=self.batches_per_epoch * config.epochs)

        self.on_batch, self.on_epoch = on_batch, on_epoch
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._good_state = copy.deepcopy(self.model.state_dict())
        self.status, self.message = "idle", ""
        self.step = self.epoch = self.batch = 0
        self.losses: list[float] = []
        self.epoch_accuracy: list[tuple[int, float]] = []
        self.train_seconds = 0.0
        self._images_seen = 0

    # ------------------------------------------------------------ control
    def start(self, slot: threading.Semaphore | None = None) -> "TrainingJob":
        """Run (or resume) the loop in a daemon thread. `slot`, already acquired, is released at its end."""
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("this job is already running")
        if self.status not in ("idle", "stopped"):
            raise RuntimeError(f"a {self.status} job cannot be started again; reset it")
        with self._lock:
            self.status, self.message = "running", ""
        self._stop.clear()
        def target():
            try:
                self.run()
            finally:
                if slot is not None:
                    slot.release()

        self._thread = threading.Thread(target=target, name="cnnviz-training", daemon=True)
        self._thread.start()
        return self

    resume = start

    def stop(self) -> None:
        """Ask the loop to stop before its next batch."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end; True when it has."""
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def snapshot(self) -> Snapshot:
        with self._lock:
            ips = self._images_seen / self.train_seconds if self.train_seconds > 0 else 0.0
            return Snapshot(self.status, self.step, self.epoch, self.batch, self.batches_per_epoch,
                            self.total_steps, list(self.losses), ips, list(self.epoch_accuracy),
                            self.train_seconds, self.message)

    # ------------------------------------------------------------ the loop
    def _finish(self, status: str, message: str = "") -> None:
        with self._lock:
            self.status, self.message = status, message

    def run(self) -> Snapshot:
        """The loop itself, in the calling thread; returns the final snapshot."""
        cfg = self.config
        with self._lock:
            self.status = "running"
        self.model.train()
        try:
            while self.epoch < cfg.epochs:
                # The same permutation for an epoch whatever the stops, so Resume continues exactly.
                order = torch.randperm(len(self.y), generator=torch.Generator().manual_seed(cfg.seed * 10007 + self.epoch))
                while self.batch < self.batches_per_epoch:
                    reason = self._should_stop()
                    if reason is not None:
                        self._finish("stopped", reason)
                        return self.snapshot()
                    if not self._train_batch(order):
                        return self.snapshot()
                with self._lock:
                    self.epoch, self.batch = self.epoch + 1, 0
                if cfg.eval_each_epoch and self.test_set is not None:
                    acc = accuracy(self.model, self.test_set, cfg.eval_limit)
                    with self._lock:
                        self.epoch_accuracy.append((self.epoch, acc))
                if self.on_epoch:
                    self.on_epoch(self)
            self._finish("finished", f"finished {cfg.epochs} epoch(s), {self.step} batches")
        except Exception as exc:  # noqa: BLE001 - reported to the front end, never lost in a thread
            self._finish("failed", f"{type(exc).__name__}: {exc}")
        return self.snapshot()

    def _should_stop(self) -> str | None:
        cfg = self.config
        if self._stop.is_set():
            return "stopped by the user"
        if cfg.max_steps and self.step >= cfg.max_steps:
            return f"reached the limit of {cfg.max_steps} batches"
        if cfg.max_seconds and self.train_seconds >= cfg.max_seconds:
            return f"reached the time limit of {cfg.max_seconds:.0f} s"
        return None

    def _train_batch(self, order: torch.Tensor) -> bool:
        """One SGD step on batch number self.batch of `order`; False when the loss diverged."""
        cfg = self.config
        t0 = time.perf_counter()
        idx = order[self.batch * cfg.batch_size:(self.batch + 1) * cfg.batch_size]
        x = self.x_uint8[idx].float().div_(127.5).sub_(1.0)  # (B, C, H, W) in [-1, 1]
        y = self.y[idx]
        if cfg.augment:
            flip = torch.rand(len(idx)) < 0.5
            x[flip] = x[flip].flip(-1)
        self.optimizer.zero_grad(set_to_none=True)
        loss = self.criterion(self.model(x), y)
        value = loss.item()
        if not math.isfinite(value):
            self.model.load_state_dict(self._good_state)
            self._finish("diverged", (
                f"the loss became {value} at batch {self.step + 1}: the learning rate ({cfg.lr:g}) is too "
                "large for this model. Training stopped; the last weights with a finite loss are kept. "
                "Reset and try a smaller learning rate."))
            return False
        if self.step % 10 == 0:  # weights whose loss is finite: what a divergence falls back to
            self._good_state = copy.deepcopy(self.model.state_dict())
        loss.backward()
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        dt = time.perf_counter() - t0
        with self._lock:
            self.losses.append(value)
            self.step += 1
            self.batch += 1
            self.train_seconds += dt
            self._images_seen += len(idx)
        if self.on_batch:
            self.on_batch(self)
        return True

    # ------------------------------------------------------------ results
    def checkpoint_meta(self, command: str = "", test_accuracy: float | None = None) -> dict:
        """Metadata for save_checkpoint: what was trained, how, and how well."""
        if test_accuracy is None:
            test_accuracy = self.epoch_accuracy[-1][1] if self.epoch_accuracy else float("nan")
        return {
            "dataset": self.config.dataset,
            "classes": list(self.train_set.classes),
            "input_shape": list(self.train_set.input_shape),
            "test_accuracy": float(test_accuracy),
            "normalization": "x/255 then (x - 0.5)/0.5: values in [-1, 1]",
            "epochs": self.epoch + self.batch / self.batches_per_epoch,
            "steps": self.step,
            "seed": self.config.seed,
            "command": command,
            "train_seconds": round(self.train_seconds, 1),
            "train_images": len(self.y),
            "train_config": asdict(self.config),
        }
