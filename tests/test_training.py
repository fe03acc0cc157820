"""The training job on real Fashion-MNIST: the loss falls, Stop / Resume, two jobs at once, divergence, the CLI."""

import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from cnnviz.evaluate import build_report
from cnnviz.training import TrainConfig, TrainingJob, moving_average


def config(**kw):
    base = dict(lr=0.05, momentum=0.9, batch_size=64, epochs=1, subset=6400, eval_each_epoch=False)
    return TrainConfig(**{**base, **kw})


def test_loss_falls_in_100_steps(fmnist_train):
    job = TrainingJob(config(max_steps=100), fmnist_train)
    snap = job.run()
    assert snap.step == 100 and len(snap.losses) == 100
    first, last = np.mean(snap.losses[:10]), np.mean(snap.losses[-10:])
    assert first > 1.5  # about ln(10) = 2.3 at the start
    assert last < 0.6 * first, (first, last)


def test_stop_within_one_batch_and_resume(fmnist_train):
    job = TrainingJob(config(), fmnist_train).start()
    while job.snapshot().step < 5:
        time.sleep(0.01)
    job.stop()
    assert job.wait(10)
    snap = job.snapshot()
    assert snap.status == "stopped" and snap.message == "stopped by the user"
    stopped_at = snap.step
    time.sleep(0.3)
    assert job.snapshot().step == stopped_at  # nothing ran after the stop
    job.resume()
    assert job.wait(120)
    final = job.snapshot()
    assert final.status == "finished"
    assert final.step == job.batches_per_epoch == 100  # the step count continued, no batch twice
    assert len(final.losses) == 100


def test_resume_gives_the_same_weights_as_one_run(fmnist_train):
    a = TrainingJob(config(max_steps=0, subset=640), fmnist_train)
    a.run()
    b = TrainingJob(config(subset=640, max_steps=4), fmnist_train)
    b.run()
    b.config.max_steps = 0
    b.run()
    for p, q in zip(a.model.parameters(), b.model.parameters()):
        torch.testing.assert_close(p, q)


def test_two_jobs_keep_separate_models(fmnist_train):
    a = TrainingJob(config(max_steps=30, seed=1), fmnist_train).start()
    b = TrainingJob(config(max_steps=30, seed=2, arch="mlp"), fmnist_train).start()
    assert a.wait(120) and b.wait(120)
    assert a.model is not b.model
    assert a.snapshot().step == b.snapshot().step == 30
    assert a.snapshot().losses != b.snapshot().losses


def test_nan_loss_stops_and_keeps_finite_weights(fmnist_train):
    job = TrainingJob(config(lr=1e3, momentum=0.9), fmnist_train)
    snap = job.run()
    assert snap.status == "diverged"
    assert "learning rate" in snap.message and "too large" in snap.message
    assert all(torch.isfinite(p).all() for p in job.model.parameters())


@pytest.mark.parametrize("kw, message", [
    (dict(batch_size=0), "batch size"),
    (dict(epochs=0), "epochs"),
    (dict(lr=float("nan")), "learning rate"),
    (dict(lr=1e6), "learning rate"),
    (dict(momentum=1.5), "momentum"),
    (dict(loss="hinge"), "loss"),
])
def test_bad_settings(kw, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kw).validate()


@pytest.mark.parametrize("loss", ["mse", "l1"])
def test_other_losses_train(fmnist_train, loss):
    snap = TrainingJob(config(loss=loss, max_steps=40, lr=0.1), fmnist_train).run()
    assert snap.status == "stopped" and np.isfinite(snap.losses).all()
    assert np.mean(snap.losses[-5:]) < np.mean(snap.losses[:5])


def test_moving_average():
    assert moving_average([1, 2, 3, 4], window=2).tolist() == [1, 1.5, 2.5, 3.5]


def test_report_layout_is_scikit_learns():
    y_true = np.array([0] * 13 + [1] * 10 + [2] * 17)
    y_pred = y_true.copy()
    y_pred[[13, 23]] = [2, 1]  # one mistake for class 1, one for class 2
    rep = build_report(y_true, y_pred, ("0", "1", "2"))
    lines = [ln.split() for ln in rep.report_text.strip().splitlines() if ln.strip()]
    assert lines[0] == ["precision", "recall", "f1-score", "support"]
    assert lines[-3][0] == "accuracy" and lines[-2][:2] == ["macro", "avg"] and lines[-1][:2] == ["weighted", "avg"]
    assert lines[-1][-1] == "40"
    assert rep.confusion.sum() == 40 and rep.confusion[1, 2] == 1 and rep.confusion[2, 1] == 1
    assert rep.accuracy == pytest.approx(38 / 40)


def test_cli_dry_run():
    out = subprocess.run([sys.executable, "-m", "cnnviz.train", "--dry-run"], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "reached the limit of 5 batches" in out.stdout
    assert "weighted avg" in out.stdout
