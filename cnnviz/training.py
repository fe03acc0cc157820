"""Training: the course's loop (cnnviz.loop) as an observable, stoppable, resumable job.

The loop itself is cnnviz.loop's plain functions: for each epoch, the training rows are shuffled and cut into
mini-batches; for each batch one SGD step (zero_grad, forward, loss, backward, step, with momentum). A
`TrainingJob` owns its model and optimizer and runs them either in the caller's thread (`run()`, the command
line) or in a daemon thread (`start()`, the app); it checks a stop event before every batch, publishes its
progress under a lock (`snapshot()`, so a UI can poll it without touching the model), rolls back to the last
good weights when the loss diverges, keeps copies of conv1's weights for a live view, and records the run's
timeline (cnnviz.timeline: moments to scrub through, saved with the run).

The app's jobs save themselves (`TrainingJob(config, ..., runs_dir=...)` or `job.autosave(folder)`): when
the worker ends (finished, stopped, diverged, or its owner gone), it evaluates the test set once for that
state (its step count) and writes a run under a name that cannot collide; a Stop / Resume / Stop with no
batch in between writes nothing more. `owner_alive()` (e.g. "is this browser session still there?") is
asked every OWNER_CHECK_S seconds: a job whose owner left stops, saves and frees its slot.

The training images are never copied per job: a job keeps the rows it uses, and each batch is gathered from
the shared read-only uint8 arrays (loaded once per process) and normalised then.

Every job registers itself in a module-level weak set: `stop_all_jobs()` stops them all and joins their
threads (at exit, and on SIGTERM with `install_clean_shutdown()`), so the server ends cleanly.

`TrainConfig.from_settings()` / `to_settings()` map a config to the Training screen's settings and back.
The command-line front end is `python -m cnnviz.train --help`.
"""

from __future__ import annotations

import atexit
import copy
import logging
import math
import signal
import threading
import time
import weakref
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from cnnviz import CnnvizError, SettingError, shown_path
from cnnviz.data import DATASETS, Dataset, load_dataset
from cnnviz.evaluate import SHUTDOWN, EvalReport, EvaluationCancelled, evaluate
from cnnviz.i18n import tr
from cnnviz.layers import layer_settings, net_from_layers
from cnnviz.loop import LOSSES, augment, epoch_batches, gather, loss_and_accuracy, make_criterion, sgd_step, split_rows
from cnnviz.models import ARCHITECTURES, StagedNet
from cnnviz.timeline import Timeline, TimelineRecorder, conv_padding, first_conv, moment_steps
from cnnviz.training_cost import CUSTOM_ARCH, check_memory, new_network

log = logging.getLogger(__name__)
OWNER_CHECK_S = 2.0  # how often a running job asks whether its owner is still there


class JobStateError(CnnvizError, RuntimeError):
    """A job asked to do what its state does not allow (start a running or finished job)."""


SCHEDULES = ("constant", "onecycle")
CUSTOM_MODEL = "custom"  # the Training screen's name for it (its settings layers, fc, bn, dropout)
MAX_VAL_FRACTION = 0.5
MAX_TRANSLATE = 8  # pixels: the largest random training shift (--translate)
# A run keeps its weights before the first step and after each epoch (for its path on the Learning screen's loss
# landscape) when they take at most this much in all: the shipped CompactCNN (0.9 MB) for 12 epochs takes 12 MB.
WEIGHT_HISTORY_BYTES = 64 * 2**20
EVAL_CHUNK = 1000  # test images per step of the evaluation's progress
LIVE_EVERY_S = 1.0  # seconds between two copies of conv1's weights when the screen's live view is on


def _setting(name: str, default, to_config: Callable | None = None, to_screen: Callable | None = None):
    """A TrainConfig field that is the Training screen's setting `name` (its Field in ui/screens.py). Values are
    cast to the field's type, or converted by to_config / to_screen where the two differ (a % and a fraction)."""
    return field(default=default, metadata=dict(setting=name, to_config=to_config, to_screen=to_screen))


@dataclass
class TrainConfig:
    dataset: str = _setting("dataset", "fashion-mnist")
    arch: str = "compact"  # the screen's "model" (CUSTOM_MODEL: arch CUSTOM_ARCH and `net`)
    loss: str = _setting("loss", "cross-entropy")
    lr: float = _setting("lr", 0.05)
    momentum: float = _setting("momentum", 0.9)
    weight_decay: float = 0.0
    batch_size: int = _setting("batch", 64)
    epochs: int = _setting("epochs", 1)
    subset: int = _setting("subset", 0)  # number of training images used (0: all)
    schedule: str = "constant"  # or "onecycle" (learning rate warm-up then annealing to ~0)
    augment: bool = False  # random horizontal flips
    translate: int = 0  # random shifts of each training image by up to this many pixels (zero fill); 0: none
    seed: int = _setting("seed", 0)
    max_steps: int = 0  # stop after this many batches in all (0: no limit); --dry-run uses it
    max_seconds: float = 0.0  # stop after this much training time (0: no limit); the app sets one
    eval_each_epoch: bool = True  # test accuracy after each epoch
    eval_limit: int = 0  # test images used for that accuracy (0: all)
    net: dict | None = None  # arch "convnet": the network (ConvNetConfig.to_dict(); input shape and classes: the data's)
    # share of the training images kept out for validation (never trained on); the screen says it in %
    val_fraction: float = _setting("val", 0.0, to_config=lambda pct: pct / 100, to_screen=lambda f: int(round(f * 100)))
    # seconds between two copies of conv1's weights for a live view (0: none); the screen's is a switch
    live_every: float = _setting("live", 0.0, to_config=lambda on: LIVE_EVERY_S if on else 0.0, to_screen=bool)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], **rest) -> "TrainConfig":
        """The config of the Training screen's settings (name -> value, ui/screens.py's Fields); `rest` sets what
        the screen has no setting for (max_seconds, eval_limit...). Model CUSTOM_MODEL is the network of the
        settings layers, fc, bn and dropout, for the dataset's images."""
        values = {}
        for f in fields(cls):
            if "setting" in f.metadata:
                values[f.name] = (f.metadata["to_config"] or type(f.default))(settings[f.metadata["setting"]])
        values["arch"] = settings["model"]
        if settings["model"] == CUSTOM_MODEL:
            classes, shape = DATASETS.get(settings["dataset"], DATASETS["fashion-mnist"])  # validate() says which
            values["arch"] = CUSTOM_ARCH
            values["net"] = net_from_layers(settings["layers"], settings["fc"], settings["bn"], settings["dropout"],
                                            shape, len(classes))
        return cls(**values, **rest)

    def to_settings(self) -> dict:
        """The inverse of from_settings: this config as the Training screen's settings (name -> value)."""
        out = {f.metadata["setting"]: (f.metadata["to_screen"] or type(f.default))(getattr(self, f.name))
               for f in fields(self) if "setting" in f.metadata}
        out["model"] = self.arch
        if self.net is not None:  # the Architecture screen's network
            out.update(model=CUSTOM_MODEL, **layer_settings(self.net))
        return out

    def validate(self) -> "TrainConfig":
        """Raise SettingError (a ValueError) with a clear, translatable message for a setting that cannot work."""
        def number(v) -> bool:
            return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

        def integer(v) -> bool:
            return isinstance(v, int) and not isinstance(v, bool)

        checks = [
            (self.dataset in DATASETS, "err.cfg_dataset", dict(choices=", ".join(sorted(DATASETS)))),
            (self.arch in ARCHITECTURES or (self.arch == CUSTOM_ARCH and isinstance(self.net, dict)),
             "err.cfg_arch", dict(choices=", ".join(sorted(ARCHITECTURES)))),
            (number(self.val_fraction) and 0 <= self.val_fraction <= MAX_VAL_FRACTION, "err.cfg_val",
             dict(max=MAX_VAL_FRACTION)),
            (number(self.live_every) and self.live_every >= 0, "err.cfg_limits", {}),
            (self.loss in LOSSES, "err.cfg_loss", dict(choices=", ".join(sorted(LOSSES)))),
            (self.schedule in SCHEDULES, "err.cfg_schedule", dict(choices=", ".join(SCHEDULES))),
            (number(self.lr) and 0 < self.lr <= 1e3, "err.cfg_lr", {}),
            (number(self.momentum) and 0 <= self.momentum < 1, "err.cfg_momentum", {}),
            (number(self.weight_decay) and self.weight_decay >= 0, "err.cfg_weight_decay", {}),
            (integer(self.batch_size) and 1 <= self.batch_size <= 4096, "err.cfg_batch_size", {}),
            (integer(self.epochs) and 1 <= self.epochs <= 1000, "err.cfg_epochs", {}),
            (integer(self.subset) and self.subset >= 0, "err.cfg_subset", {}),
            (integer(self.seed) and 0 <= self.seed < 2**31, "err.cfg_seed", {}),
            (integer(self.translate) and 0 <= self.translate <= MAX_TRANSLATE, "err.cfg_translate",
             dict(max=MAX_TRANSLATE)),
            (integer(self.max_steps) and self.max_steps >= 0 and number(self.max_seconds) and self.max_seconds >= 0
             and integer(self.eval_limit) and self.eval_limit >= 0, "err.cfg_limits", {}),
        ]
        for ok, code, params in checks:
            if not ok:
                raise SettingError(code, **params)
        return self


@dataclass
class Snapshot:
    """What a front end may show of a job, copied under the job's lock."""

    status: str  # idle, running, stopped, finished, diverged, failed, closed (close(): its memory freed)
    step: int  # batches done in all
    epoch: int  # epochs completed
    batch: int  # batches done in the current epoch
    batches_per_epoch: int
    total_steps: int
    losses: list[float]
    images_per_s: float
    epoch_accuracy: list[tuple[int, float]]  # (epoch, test accuracy)
    train_seconds: float
    message: str = ""  # in English; `code` and `params` word it in any language: tr(lang, code, **params)
    code: str = ""
    params: dict | None = None
    saving: bool = False  # the worker is evaluating the test set and writing the run
    saved_path: str | None = None  # the run written for the current state (autosave)
    evaluation: EvalReport | None = None  # the test phase of the current state (autosave)
    save_error: CnnvizError | None = None  # why the run could not be saved, if it could not
    history: list[dict] | None = None  # per epoch: epoch, train_loss, val_loss, val_accuracy, test_accuracy
    device: str = "cpu"
    evaluated: tuple[int, int] | None = None  # (test images done, of how many) while the test phase runs
    unsaved: tuple[str, bytes] | None = None  # (file name, checkpoint) of a run its folder could not take

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


class LiveWeights:
    """Copies of a network's first conv layer (weights (F, C, k, k), biases (F,)) taken by the loop at most every
    `every` seconds (0: never), for a live view: the page computes maps from a copy, never from the model."""

    def __init__(self, model: torch.nn.Module, every: float):
        self.module = first_conv(model)[1]
        self.every = every
        self.latest: tuple[int, np.ndarray, np.ndarray] | None = None  # (step, weights, biases), replaced whole
        self._due = 0.0

    def take(self, step: int) -> None:
        """After `step` batches: a copy if one is due (1k-10k floats: microseconds)."""
        m = self.module
        if not self.every or m is None or time.monotonic() < self._due:
            return
        self._due = time.monotonic() + self.every
        bias = (m.bias.detach().float().cpu().numpy().copy() if m.bias is not None
                else np.zeros(m.weight.shape[0], np.float32))
        self.latest = (step, m.weight.detach().float().cpu().numpy().copy(), bias)

    @property
    def padding(self) -> int:
        """The layer's padding, to compute its maps from a copy of its weights (0 without a convolution)."""
        return conv_padding(self.module)


class WeightHistory:
    """CPU copies of a network's weights before the first step and after each epoch, for the run's path on the
    Learning screen's loss landscape; kept only when `epochs` + 1 copies take at most WEIGHT_HISTORY_BYTES."""

    def __init__(self, model: torch.nn.Module, epochs: int):
        state_bytes = sum(v.numel() * v.element_size() for v in model.state_dict().values())
        self.keeps = state_bytes * (epochs + 1) <= WEIGHT_HISTORY_BYTES
        self._states: list[dict] = []  # state_dicts, oldest first
        self._lock = threading.Lock()  # the worker appends while a save (another thread) reads

    def take(self, model: torch.nn.Module) -> None:
        if self.keeps:
            state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            with self._lock:
                self._states.append(state)

    def states(self) -> list[dict] | None:
        """The copies so far (None when there are none)."""
        with self._lock:
            return list(self._states) or None


class LastGoodWeights:
    """What a divergence falls back to: the weights before the latest step of a multiple of `every` whose loss was
    finite (a copy before every step would cost as much as a small network's step)."""

    def __init__(self, model: torch.nn.Module, every: int = 10):
        self.state = copy.deepcopy(model.state_dict())  # the weights before any step
        self.every = every
        self._before: dict | None = None

    def before_step(self, model: torch.nn.Module, step: int) -> None:
        """Before step `step` (0-based): a copy of the weights when that step is due for one."""
        self._before = copy.deepcopy(model.state_dict()) if step % self.every == 0 else None

    def finite(self) -> None:
        """The step's loss was finite: the weights copied before it are good."""
        if self._before is not None:
            self.state, self._before = self._before, None

    def restore(self, model: torch.nn.Module) -> None:
        """The loss diverged: the last good weights back into the model."""
        model.load_state_dict(self.state)


class OwnerWatch:
    """Asks `owner_alive()` (e.g. "is this browser session still there?") at most every OWNER_CHECK_S seconds;
    an owner that answers no, or cannot answer, is gone. No function: never gone."""

    def __init__(self, owner_alive: Callable[[], bool] | None):
        self.owner_alive = owner_alive
        self._due = 0.0

    def restart(self) -> None:
        """The first question comes OWNER_CHECK_S seconds from now (a job starting or resuming)."""
        self._due = time.monotonic() + OWNER_CHECK_S

    def gone(self) -> bool:
        if self.owner_alive is None or time.monotonic() < self._due:
            return False
        self._due = time.monotonic() + OWNER_CHECK_S
        try:
            return not self.owner_alive()
        except Exception:  # noqa: BLE001 - an owner that cannot answer is gone
            return True


@dataclass
class Progress:
    """A job's published progress: written by its worker and read by snapshot(), both under the job's lock."""

    status: str = "idle"  # see Snapshot.status
    message: str = ""  # in English; `code` and `params` word it in any language
    code: str = ""
    params: dict = field(default_factory=dict)
    step: int = 0  # batches done in all
    epoch: int = 0  # epochs completed
    batch: int = 0  # batches done in the current epoch
    losses: list[float] = field(default_factory=list)
    epoch_accuracy: list[tuple[int, float]] = field(default_factory=list)  # (epoch, test accuracy)
    history: list[dict] = field(default_factory=list)  # one entry per completed epoch (see Snapshot.history)
    train_seconds: float = 0.0
    images_seen: int = 0

    def set_status(self, status: str, code: str = "", **params) -> None:
        self.status, self.code, self.params = status, code, params
        self.message = tr("en", code, **params) if code else ""


@dataclass
class SaveState:
    """The test phase and the saved run of a job's current state (under the job's lock)."""

    busy: bool = False  # evaluating the test set and writing the run
    path: Path | None = None  # the run written last (autosave)
    step: int = -1  # the step count of the last run written
    error: CnnvizError | None = None  # why that state's run could not be written
    unsaved: tuple[str, bytes] | None = None  # a run its folder could not take, kept for a download
    evaluated: tuple[int, int] | None = None  # the test phase's progress while it runs
    evaluation: tuple[int, EvalReport] | None = None  # (step, report): one evaluation per state


_JOBS: "weakref.WeakSet[TrainingJob]" = weakref.WeakSet()  # every job of this process, for stop_all_jobs
_JOBS_LOCK = threading.Lock()


class TrainingJob:
    """The training loop of one model, observable through snapshot() and callbacks.

    runs_dir: save the run there when the worker ends (see autosave). owner_alive: a function asked every
    OWNER_CHECK_S seconds while running; when it returns False (or fails) the job stops."""

    def __init__(self, config: TrainConfig, train: Dataset | None = None, test: Dataset | None = None,
                 model: StagedNet | None = None, on_batch=None, on_epoch=None,
                 runs_dir: str | Path | None = None, owner_alive: Callable[[], bool] | None = None,
                 device: str | None = None, owner: str | None = None):
        self.config = config.validate()
        self.owner = owner  # cnnviz.runs.owner_id of the browser that started it: written in its runs' metadata
        # The device: `device`, else CNNVIZ_DEVICE, else the GPU where there is one (cnnviz.config; "cuda" without
        # a GPU falls back to the CPU).
        self.device = torch.device(device if device is not None else resolve_device()[0])
        torch.manual_seed(config.seed)
        self.train_set = train if train is not None else load_dataset(config.dataset, "train")
        self.test_set = test
        if test is None and config.eval_each_epoch:
            self.test_set = load_dataset(config.dataset, "test")
        n_classes = len(self.train_set.classes)
        if model is None:  # its memory checked first, from the shapes alone (SettingError naming the limit)
            check_memory(config.arch, config.net, self.train_set.input_shape, n_classes, config.batch_size)
            model = new_network(config.arch, config.net, self.train_set.input_shape, n_classes)
        self.model = model.to(self.device).train()
        self.criterion = make_criterion(config.loss, n_classes)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=config.lr, momentum=config.momentum,
                                         weight_decay=config.weight_decay)
        self.scheduler = None
        # The rows trained on and the validation rows (never trained on, never the test set); the images stay
        # in the dataset's shared read-only array.
        self._rows, self._val = split_rows(len(self.train_set), config.subset, config.val_fraction, config.seed)
        self.batches_per_epoch = math.ceil(len(self._rows) / config.batch_size)
        self.total_steps = self.batches_per_epoch * config.epochs
        if config.max_steps:
            self.total_steps = min(self.total_steps, config.max_steps)
        if config.schedule == "onecycle":
            self.scheduler = torch.optim.lr_scheduler.OneCycleLR(
                self.optimizer, max_lr=config.lr, total_steps=self.batches_per_epoch * config.epochs)
        self.good_weights = LastGoodWeights(self.model)  # what a divergence falls back to
        self.live = LiveWeights(self.model, config.live_every)
        # The run's timeline (cnnviz.timeline): conv1, its maps of test image 0 and the validation confusion
        # matrix at step 0, at a few points of the first epoch and after each epoch.
        fixed = self.test_set.images[0] if self.test_set is not None and len(self.test_set) else None
        self.recorder = TimelineRecorder(self.model, fixed, self.train_set.images, self.train_set.labels, self._val,
                                         n_classes)
        self._moment_steps = frozenset(moment_steps(self.batches_per_epoch))
        self.weight_history = WeightHistory(self.model, config.epochs)  # the run's path on the loss landscape

        self.progress = Progress()  # published under self._lock (snapshot())
        self.save_state = SaveState()  # the test phase and the saved run of the current state, under self._lock
        self.runs_dir = Path(runs_dir) if runs_dir is not None else None  # autosave there

        # The thread and what steers it.
        self.on_batch, self.on_epoch = on_batch, on_epoch
        self._owner = OwnerWatch(owner_alive)
        self._lock, self._save_lock = threading.Lock(), threading.Lock()
        self._stop = threading.Event()
        self._cancel = threading.Event()  # close(): the test phase stops too (a Stop lets it finish)
        self._thread: threading.Thread | None = None
        self._close_requested = False
        with _JOBS_LOCK:
            _JOBS.add(self)

    # ------------------------------------------------------------ control
    def autosave(self, runs_dir: str | Path | None = None) -> "TrainingJob":
        """Save this job's runs in `runs_dir` (default: $CNNVIZ_RUNS or runs/) when its worker ends."""
        from cnnviz.checkpoints import runs_dir as default_runs

        self.runs_dir = Path(runs_dir) if runs_dir is not None else default_runs()
        return self

    def start(self, slot: threading.Semaphore | None = None) -> "TrainingJob":
        """Run (or resume) the loop in a daemon thread. `slot`, already acquired, is released at its end
        (after the run is saved)."""
        if self._thread is not None and self._thread.is_alive():
            raise JobStateError("err.job_running")
        if self.progress.status not in ("idle", "stopped"):
            raise JobStateError("err.job_not_restartable", status=self.progress.status)
        with self._lock:
            self.progress.set_status("running")
        self._stop.clear()
        self._owner.restart()

        def target():
            try:
                self.run()
                if self.runs_dir is not None:
                    self.save()
            finally:
                if slot is not None:
                    slot.release()
                if self._close_requested:  # close() did not wait for us: free the memory now
                    self._free()

        self._thread = threading.Thread(target=target, name="cnnviz-training", daemon=True)
        self._thread.start()
        return self

    resume = start

    def stop(self) -> None:
        """Ask the loop (and its evaluation) to stop before its next batch."""
        self._stop.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end; True when it has."""
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
            return not thread.is_alive()
        return True

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def stop_requested(self) -> bool:
        """stop() was called since the last start (the loop may still be finishing its batch)."""
        return self._stop.is_set()

    def close(self, timeout: float = 10.0) -> bool:
        """Stop the job (an autosaving job saves its run on the way out) and free its memory (model,
        optimizer, losses, results): for Reset. True when its thread has ended within `timeout`; otherwise
        the thread frees the memory itself when it ends."""
        self._close_requested = True
        self._cancel.set()
        self.stop()
        ended = self.wait(timeout)
        if ended:
            self._free()
        return ended

    def _free(self) -> None:
        with self._lock:
            self.progress.status = "closed"
            self.progress.losses, self.progress.epoch_accuracy, self.progress.history = [], [], []
            self.save_state.evaluation = self.save_state.unsaved = None
        self.model = self.optimizer = self.scheduler = None
        self.good_weights = self.live = self.recorder = self.weight_history = None
        self.train_set = self.test_set = None
        self.on_batch = self.on_epoch = self._owner = None
        with _JOBS_LOCK:
            _JOBS.discard(self)

    def snapshot(self) -> Snapshot:
        with self._lock:
            p, saved = self.progress, self.save_state
            ips = p.images_seen / p.train_seconds if p.train_seconds > 0 else 0.0
            ev = saved.evaluation[1] if saved.evaluation and saved.evaluation[0] == p.step else None
            path = str(saved.path) if saved.path and saved.step == p.step and saved.error is None else None
            return Snapshot(p.status, p.step, p.epoch, p.batch, self.batches_per_epoch, self.total_steps,
                            list(p.losses), ips, list(p.epoch_accuracy), p.train_seconds, p.message, p.code,
                            dict(p.params), saved.busy, path, ev, saved.error, [dict(h) for h in p.history],
                            str(self.device), saved.evaluated, saved.unsaved)

    def live_weights(self) -> tuple[int, np.ndarray, np.ndarray] | None:
        """The latest copy of conv1's weights and biases (step, (F, C, k, k), (F,)) taken by the loop every
        config.live_every seconds; None before the first (or for a network without convolution)."""
        live = self.live
        return live.latest if live is not None else None

    @property
    def live_padding(self) -> int:
        """conv1's padding, to compute its maps from a copy of its weights (0 without a convolution)."""
        live = self.live  # read once: close() may free it meanwhile
        return live.padding if live is not None else 0

    def timeline(self) -> Timeline | None:
        """The moments recorded so far (cnnviz.timeline), or None before the first."""
        recorder = self.recorder  # read once: close() may free it meanwhile
        return recorder.timeline() if recorder is not None else None

    def _epochs_done(self) -> float:
        return self.progress.epoch + self.progress.batch / self.batches_per_epoch

    def _moment(self) -> None:
        """A moment of the timeline now (the model's own mode is kept; a stop cancels it)."""
        self.recorder.take(self.model, self.progress.step, self._epochs_done(), self._stop)

    @property
    def validation_indices(self) -> np.ndarray:
        """Rows of the training set kept out for validation (sorted; empty without a validation split)."""
        return self._val

    @property
    def train_indices(self) -> np.ndarray:
        """Rows of the training set trained on (sorted)."""
        return self._rows

    # ------------------------------------------------------------ the loop
    def _finish(self, status: str, code: str = "", **params) -> None:
        with self._lock:
            self.progress.set_status(status, code, **params)

    def run(self) -> Snapshot:
        """The loop itself, in the calling thread; returns the final snapshot."""
        cfg, p = self.config, self.progress
        with self._lock:
            p.status = "running"
        self.model.train()
        try:
            if p.step == 0:
                self._moment()  # the network before any step
                self.weight_history.take(self.model)
            while p.epoch < cfg.epochs:
                # The same order for an epoch whatever the stops, so Resume continues exactly.
                for rows in epoch_batches(self._rows, cfg.batch_size, cfg.seed, p.epoch, start=p.batch):
                    reason = self._should_stop()
                    if reason is not None:
                        self._finish("stopped", reason[0], **reason[1])
                        return self.snapshot()
                    if not self._train_batch(rows):
                        return self.snapshot()
                self._end_epoch()
            self._finish("finished", "err.job_finished", epochs=cfg.epochs, steps=p.step)
        except EvaluationCancelled:
            code, params = self._stop_reason()
            self._finish("stopped", code, **params)
        except CnnvizError as exc:
            self._finish("failed", "err.job_failed", reason=str(exc))
        except Exception as exc:  # noqa: BLE001 - reported to the front end, never lost in a thread
            log.exception("training job failed")
            self._finish("failed", "err.job_failed", reason=type(exc).__name__)
        return self.snapshot()

    def _train_batch(self, rows: np.ndarray) -> bool:
        """One SGD step on the training images `rows`; False when the loss diverged (the last good weights back)."""
        cfg, p = self.config, self.progress
        t0 = time.perf_counter()
        x, y = gather(self.train_set.images, self.train_set.labels, rows, self.device)  # (B, C, H, W), (B,)
        x = augment(x, cfg.augment, cfg.translate)
        self.good_weights.before_step(self.model, p.step)
        value = sgd_step(self.model, self.optimizer, self.criterion, x, y)
        if not math.isfinite(value):
            self.good_weights.restore(self.model)
            self._finish("diverged", "err.job_diverged", value=str(value), step=p.step + 1, lr=f"{cfg.lr:g}")
            return False
        self.good_weights.finite()
        if self.scheduler is not None:
            self.scheduler.step()
        self.live.take(p.step + 1)
        dt = time.perf_counter() - t0
        with self._lock:
            p.losses.append(value)
            p.step += 1
            p.batch += 1
            p.train_seconds += dt
            p.images_seen += len(rows)
        if p.epoch == 0 and p.batch in self._moment_steps:
            self._moment()
        if self.on_batch:
            self.on_batch(self)
        return True

    def _end_epoch(self) -> None:
        """After an epoch: its mean training loss, the validation loss and accuracy, the test accuracy."""
        cfg, p = self.config, self.progress
        with self._lock:
            p.epoch, p.batch = p.epoch + 1, 0
            done = p.losses[(p.epoch - 1) * self.batches_per_epoch:p.epoch * self.batches_per_epoch]
        entry = dict(epoch=p.epoch, train_loss=float(np.mean(done)) if done else float("nan"),
                     val_loss=None, val_accuracy=None, test_accuracy=None)
        if len(self._val):
            images, labels = self.train_set.images[self._val], self.train_set.labels[self._val]
            entry["val_loss"], entry["val_accuracy"] = loss_and_accuracy(self.model, images, labels, self.criterion,
                                                                         self._stop)
        if cfg.eval_each_epoch and self.test_set is not None:
            n = cfg.eval_limit or len(self.test_set)
            _, entry["test_accuracy"] = loss_and_accuracy(self.model, self.test_set.images[:n],
                                                          self.test_set.labels[:n], self.criterion, self._stop)
            with self._lock:
                p.epoch_accuracy.append((p.epoch, entry["test_accuracy"]))
        with self._lock:
            p.history.append(entry)
        self._moment()
        self.weight_history.take(self.model)
        if self.on_epoch:
            self.on_epoch(self)

    def _stop_reason(self) -> tuple[str, dict]:
        if SHUTDOWN.is_set():
            return "err.job_shutdown", {}
        if self._stop.is_set() and self.progress.code == "err.job_owner_gone":
            return "err.job_owner_gone", {}
        return "err.job_stopped", {}

    def _should_stop(self) -> tuple[str, dict] | None:
        cfg = self.config
        if self._stop.is_set():
            return self._stop_reason()
        if cfg.max_steps and self.progress.step >= cfg.max_steps:
            return "err.job_max_steps", dict(n=cfg.max_steps)
        if cfg.max_seconds and self.progress.train_seconds >= cfg.max_seconds:
            return "err.job_max_seconds", dict(s=round(cfg.max_seconds))
        if self._owner.gone():
            self._stop.set()
            with self._lock:
                self.progress.code = "err.job_owner_gone"
            return "err.job_owner_gone", {}
        return None

    # ------------------------------------------------------------ the test phase and the saved run
    def test_report(self, test: Dataset | None = None) -> EvalReport | None:
        """The test-set evaluation of the current weights, computed once per state (step count) and kept; its
        progress is published (snapshot().evaluated) chunk by chunk. None when no test set is available on this
        machine (nothing is downloaded). Cancelled (EvaluationCancelled) by close(), by a shutdown, and by stop()
        while the loop runs."""
        with self._lock:
            if self.save_state.evaluation is not None and self.save_state.evaluation[0] == self.progress.step:
                return self.save_state.evaluation[1]
            step = self.progress.step
        data = test or self.test_set
        if data is None:
            try:
                data = load_dataset(self.config.dataset, "test", download=False)
            except CnnvizError:
                return None
        cancel = self._stop if self.progress.status == "running" else self._cancel

        def progress(done: int, total: int) -> None:
            with self._lock:
                self.save_state.evaluated = (done, total)

        try:
            report = evaluate(self.model, data, cancel=cancel, batch_size=EVAL_CHUNK, progress=progress)
        finally:
            with self._lock:
                self.save_state.evaluated = None
        with self._lock:
            if self.progress.step == step:
                self.save_state.evaluation = (step, report)
        return report

    def save(self, runs_dir: str | Path | None = None) -> Path | None:
        """Evaluate (once) and write this state as the job's run in `runs_dir` (default: the autosave folder, else
        $CNNVIZ_RUNS / runs/), unless it is already saved or no batch was trained. A job has one run: its first
        save takes a new name that cannot collide, later states (after Resume) replace that file, atomically.
        Returns the run's path (None when nothing was trained or it could not be written); failures are kept in
        `save_error`, never raised, and a run its folder cannot take (runs/ replaced by a file...) is kept in
        memory (`unsaved`: its file name and bytes) for a download."""
        from cnnviz.checkpoints import checkpoint_bytes, new_run_path, save_checkpoint, save_run
        from cnnviz.checkpoints import runs_dir as default_runs

        with self._save_lock:
            if self.progress.step == 0 or self.model is None:
                return None
            saved = self.save_state
            if saved.step == self.progress.step and (saved.path is not None or saved.unsaved is not None):
                return saved.path
            folder = Path(runs_dir) if runs_dir is not None else (self.runs_dir or default_runs())
            with self._lock:
                saved.busy = True
            meta = history = weights = None
            try:
                try:
                    report = None if SHUTDOWN.is_set() else self.test_report()
                except EvaluationCancelled:
                    report = None
                meta = self.checkpoint_meta(command=f"training screen: {self.config}",
                                            test_accuracy=report.accuracy if report is not None else float("nan"),
                                            test_images=len(report.y_true) if report is not None else None)
                timeline = self.timeline()
                if timeline is not None and timeline.steps[-1] != self.progress.step:  # stopped in an epoch: its end
                    try:
                        self.recorder.take(self.model, self.progress.step, self._epochs_done())
                        timeline = self.timeline()
                    except EvaluationCancelled:  # the server is shutting down: saved without that moment
                        pass
                history = timeline.to_payload() if timeline is not None else None
                weights = self.weight_history.states()
                mine = saved.path
                if mine is not None and mine.parent == folder and mine.is_file():  # this job's run, a new state
                    path = save_checkpoint(mine, self.model, self.config.arch, meta, timeline=history,
                                           weight_history=weights)
                else:
                    path = save_run(self.model, self.config.arch, meta, folder=folder, timeline=history,
                                    weight_history=weights)
                with self._lock:
                    saved.path, saved.step, saved.error, saved.unsaved = path, self.progress.step, None, None
                return path
            except (CnnvizError, OSError) as exc:
                if isinstance(exc, OSError):
                    log.warning("could not save the run in %s: %s", folder, exc)
                    exc = CnnvizError("err.job_save_failed", folder=shown_path(folder),
                                      reason=exc.strerror or type(exc).__name__)
                kept = None
                if meta is not None:  # the run itself is fine: kept in memory, for a download
                    name = new_run_path(self.config.dataset, self.config.arch, folder=".").name
                    kept = (name, checkpoint_bytes(self.model, self.config.arch, meta, history, weights))
                with self._lock:
                    saved.error, saved.unsaved, saved.step = exc, kept, self.progress.step
            finally:
                with self._lock:
                    saved.busy = False
            return None

    def moved(self, old: str | Path, new: str | Path) -> None:
        """Its run was renamed (by its owner): later states are written under the new name."""
        with self._lock:
            if self.save_state.path is not None and Path(self.save_state.path).name == Path(old).name:
                self.save_state.path = Path(self.save_state.path).parent / Path(new).name

    # ------------------------------------------------------------ results
    def checkpoint_meta(self, command: str = "", test_accuracy: float | None = None,
                        test_images: int | None = None) -> dict:
        """Metadata for save_checkpoint: what was trained, how, and how well: one test accuracy, and what it was
        measured on (`test_images`, at `steps`; without one, the last epoch's accuracy on its eval_limit images)."""
        if test_accuracy is None:
            test_accuracy = self.progress.epoch_accuracy[-1][1] if self.progress.epoch_accuracy else float("nan")
            if self.progress.epoch_accuracy and self.test_set is not None:
                test_images = min(self.config.eval_limit or len(self.test_set), len(self.test_set))
        meta = {
            "dataset": self.config.dataset,
            "classes": list(self.train_set.classes),
            "input_shape": list(self.train_set.input_shape),
            "test_accuracy": float(test_accuracy),
            "normalization": "x/255 then (x - 0.5)/0.5: values in [-1, 1]",
            "epochs": self._epochs_done(),
            "steps": self.progress.step,
            "seed": self.config.seed,
            "command": command,
            "train_seconds": round(self.progress.train_seconds, 1),
            "train_images": int(len(self._rows)),
            "train_config": asdict(self.config),
            "history": [dict(h) for h in self.progress.history],
            "val_images": int(len(self._val)),
            "device": str(self.device),
        }
        if test_images and test_accuracy == test_accuracy:
            meta["test_images"] = int(test_images)
        if self.owner is not None:
            meta["owner"] = self.owner
        return meta


def resolve_device(requested: str | None = None) -> tuple[str, list]:
    """(device, warnings): `requested`, else CNNVIZ_DEVICE, else "cuda" when PyTorch sees a GPU and "cpu"
    otherwise; checked by cnnviz.config ("cuda" where no GPU is available -> "cpu" and a warning
    "err.env_device_missing"; "cpu" forces the CPU)."""
    import os

    from cnnviz.config import _device

    raw = requested if requested is not None else os.environ.get("CNNVIZ_DEVICE", "")
    warnings: list = []
    return _device({"CNNVIZ_DEVICE": raw}, warnings), warnings


def device_label(device: str | torch.device) -> str:
    """"cpu", or "cuda (NVIDIA H200)": the device and its name."""
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_available():
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return str(device)


# ---------------------------------------------------------------- a clean end of the process

def stop_all_jobs(timeout: float = 10.0) -> int:
    """Stop every job of this process and wait (at most `timeout` s in all) for their threads, which save
    their runs on the way out. Returns how many were still running."""
    with _JOBS_LOCK:
        jobs = [job for job in list(_JOBS) if job.alive]
    for job in jobs:
        job.stop()
    deadline = time.monotonic() + timeout
    for job in jobs:
        job.wait(max(0.0, deadline - time.monotonic()))
    return len(jobs)


def _shutdown(timeout: float) -> None:
    from cnnviz.explain.excite import stop_maxima_jobs

    SHUTDOWN.set()  # evaluations stop at their next batch; runs are saved without one
    stopped = stop_all_jobs(timeout)
    stop_maxima_jobs(timeout)  # the top-9 passes (their threads run PyTorch too)
    if stopped:
        log.info("stopped %d training job(s) before exiting", stopped)


_installed: dict[int, object] = {}
_atexit_done = False


def install_clean_shutdown(signals=(signal.SIGTERM,), timeout: float = 10.0) -> bool:
    """End the process cleanly: before it exits, and on SIGTERM, stop every training job and join its
    thread (no C++ code left running in a daemon thread: "terminate called without an active exception").

    The exit hook is installed from any thread (a Streamlit script thread: Streamlit's own SIGTERM handler
    stops the server, the process exits, the hook stops the jobs). The signal handler can only be installed from the main
    thread (Python's rule); it runs the shutdown, then the handler that was there before (Streamlit's,
    which stops the server), or exits with status 0 when there was none. Returns True when the signal
    handler is in place. Calling it again does nothing more."""
    global _atexit_done
    if not _atexit_done:
        # threading's exit hook runs before Python waits for the other non-daemon threads (a Streamlit
        # script thread in an evaluation stops at its next batch); atexit's is the documented fallback.
        register = getattr(threading, "_register_atexit", None)
        try:
            register(_shutdown, timeout) if register else atexit.register(_shutdown, timeout)
        except RuntimeError:  # the interpreter is already shutting down
            pass
        _atexit_done = True
    if threading.current_thread() is not threading.main_thread():
        return all(s in _installed for s in signals)
    for signum in signals:
        if signum in _installed:
            continue
        previous = signal.getsignal(signum)

        def handler(num, frame, previous=previous):
            _shutdown(timeout)
            if callable(previous):
                previous(num, frame)
            elif previous == signal.SIG_IGN:
                return
            else:
                raise SystemExit(0)

        signal.signal(signum, handler)
        _installed[signum] = previous
    return True
