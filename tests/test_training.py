"""The training job on real Fashion-MNIST: the loss falls, Stop / Resume, two jobs at once, divergence, the CLI."""

import io
import subprocess
import sys
import time
import zipfile

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


# ---------------------------------------------------------------- issue 15: saved runs, owners, memory

import threading  # noqa: E402

from cnnviz import CheckpointError, training, training_cost  # noqa: E402
from cnnviz.checkpoints import load_checkpoint  # noqa: E402
from cnnviz.data import FASHION_MNIST_CLASSES, Dataset  # noqa: E402


def synthetic(split: str, n: int, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    images, labels = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8), rng.integers(0, 10, n).astype(np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return Dataset("fashion-mnist", split, images, labels, FASHION_MNIST_CLASSES, "synthetic")


TRAIN, TEST = synthetic("train", 640), synthetic("test", 300, seed=1)


def small(**kw):
    return config(**{"subset": 0, "arch": "mlp", **kw})


def test_two_jobs_finishing_at_once_write_two_runs(tmp_path):
    jobs = [TrainingJob(small(max_steps=3), TRAIN, TEST, runs_dir=tmp_path).start() for _ in range(2)]
    assert all(job.wait(60) for job in jobs)
    files = sorted(tmp_path.glob("*.pt"))
    assert len(files) == 2, files  # same dataset, model, length and second: two names
    snaps = [job.snapshot() for job in jobs]
    assert {s.saved_path for s in snaps} == {str(f) for f in files}
    for snap in snaps:
        assert snap.evaluation is not None and len(snap.evaluation.y_true) == len(TEST)
        _, meta = load_checkpoint(snap.saved_path)
        assert meta["test_accuracy"] == pytest.approx(snap.evaluation.accuracy) and meta["steps"] == 3
    assert not [p for p in tmp_path.iterdir() if p.suffix != ".pt"]  # no temporary file left


def test_stop_resume_stop_without_new_batches_writes_nothing_more(tmp_path, monkeypatch):
    calls = []
    real = training.evaluate  # one test-set evaluation = one report
    monkeypatch.setattr(training, "evaluate", lambda *a, **k: calls.append(1) or real(*a, **k))
    job = TrainingJob(small(max_steps=4), TRAIN, TEST, runs_dir=tmp_path).start()
    assert job.wait(60) and job.snapshot().status == "stopped" and job.progress.step == 4
    first = job.snapshot().saved_path
    for _ in range(3):  # Resume at the limit: no batch is trained, the same state
        job.resume()
        assert job.wait(60) and job.progress.step == 4
    assert [str(p) for p in tmp_path.glob("*.pt")] == [first] and len(calls) == 1
    assert job.snapshot().saved_path == first and job.test_report() is job.snapshot().evaluation
    job.config.max_steps = 6  # new batches: a new state, evaluated once more, written over the job's own run
    job.resume()
    assert job.wait(60) and job.progress.step == 6
    assert [str(p) for p in tmp_path.glob("*.pt")] == [first] and len(calls) == 2
    _, meta = load_checkpoint(first)
    assert meta["steps"] == 6 and meta["test_accuracy"] == pytest.approx(job.snapshot().evaluation.accuracy)


def test_user_stop_and_quick_resume_save_once_per_state(tmp_path):
    job = TrainingJob(small(epochs=50), TRAIN, TEST, runs_dir=tmp_path).start()
    while job.snapshot().step < 3:
        time.sleep(0.005)
    job.stop()
    assert job.wait(60)
    steps = {job.progress.step}
    job.resume()
    job.stop()
    assert job.wait(60)
    steps.add(job.progress.step)
    assert len(list(tmp_path.glob("*.pt"))) == 1  # one run per job, holding its last state
    _, meta = load_checkpoint(job.snapshot().saved_path)
    assert meta["steps"] == job.progress.step


def test_closed_tab_stops_saves_and_frees_the_slot(tmp_path, monkeypatch):
    monkeypatch.setattr(training, "OWNER_CHECK_S", 0.05)
    there = threading.Event()
    there.set()
    slot = threading.BoundedSemaphore(1)
    assert slot.acquire(blocking=False)
    job = TrainingJob(small(epochs=1000), TRAIN, TEST, runs_dir=tmp_path, owner_alive=there.is_set).start(slot)
    while job.snapshot().step < 3:
        time.sleep(0.005)
    assert job.alive
    there.clear()  # the browser session is gone
    assert job.wait(30)
    snap = job.snapshot()
    assert snap.status == "stopped" and snap.code == "err.job_owner_gone" and "closed" in snap.message
    assert snap.saved_path and len(list(tmp_path.glob("*.pt"))) == 1
    assert slot.acquire(blocking=False)  # released


def test_owner_that_raises_counts_as_gone(monkeypatch):
    monkeypatch.setattr(training, "OWNER_CHECK_S", 0.0)

    def broken():
        raise RuntimeError("session store closed")

    snap = TrainingJob(small(epochs=1000), TRAIN, owner_alive=broken).run()
    assert snap.status == "stopped" and snap.code == "err.job_owner_gone"


def test_close_frees_the_job_and_stop_all_jobs():
    job = TrainingJob(small(epochs=1000), TRAIN).start()
    other = TrainingJob(small(epochs=1000), TRAIN).start()
    assert job in training._JOBS and other in training._JOBS
    assert job.close(30) and job.model is None and job.snapshot().losses == [] and job not in training._JOBS
    assert training.stop_all_jobs(30) == 1 and not other.alive


def test_jobs_share_the_training_images(fmnist_train):
    """A job keeps indices, not a copy of the 47 MB of training images (numpy allocations traced)."""
    import tracemalloc

    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    jobs = [TrainingJob(config(subset=0), fmnist_train) for _ in range(3)]
    per_job = (tracemalloc.get_traced_memory()[0] - before) / len(jobs)
    tracemalloc.stop()
    print(f"\nnumpy/python memory per job: {per_job / 2**20:.2f} MiB")
    assert per_job < 4 * 2**20
    jobs[1].config.max_steps = 3
    assert jobs[1].run().step == 3


def test_settings_are_translatable():
    from cnnviz import CnnvizError

    with pytest.raises(CnnvizError) as info:
        TrainConfig(batch_size=0).validate()
    assert info.value.code == "err.cfg_batch_size" and "lot" in info.value.message("fr")


def test_close_without_waiting_frees_when_the_thread_ends(tmp_path):
    job = TrainingJob(small(epochs=1000), TRAIN, TEST, runs_dir=tmp_path).start()
    while job.snapshot().step < 2:
        time.sleep(0.005)
    assert not job.close(timeout=0)  # Reset from a page that must not wait: the thread is still running
    assert job.wait(30)  # it frees the memory itself as it ends (its last act: waiting for the thread)
    assert job.model is None and job.snapshot().status == "closed"
    assert len(list(tmp_path.glob("*.pt"))) == 1  # its run was saved on the way out


# ---------------------------------------------------------------- issue 12: own network, validation, live views, device

CUSTOM = {"input_shape": [1, 28, 28], "fc_width": 32, "num_classes": 10, "dropout": 0.2,
          "convs": [{"out_channels": 4, "kernel": 3, "padding": 1, "pool": True, "batchnorm": True}]}


def test_validation_split_is_disjoint_from_training_and_never_the_test_set():
    job = TrainingJob(small(val_fraction=0.1, subset=500), TRAIN, TEST)
    train_rows, val_rows = job.train_indices, job.validation_indices
    assert len(val_rows) == 50 and len(train_rows) == 450
    assert not set(train_rows) & set(val_rows)  # disjoint
    assert set(train_rows) | set(val_rows) <= set(range(len(TRAIN)))  # rows of the training set only
    assert job.batches_per_epoch == 8  # ceil(450 / 64): the validation images are never trained on
    again = TrainingJob(small(val_fraction=0.1, subset=500), TRAIN, TEST)
    assert (again.validation_indices == val_rows).all()  # the same split for the same seed
    whole = TrainingJob(small(val_fraction=0.2), TRAIN, TEST)
    assert len(whole.validation_indices) == 128 and len(whole.train_indices) == 512
    none = TrainingJob(small(), TRAIN, TEST)
    assert len(none.validation_indices) == 0 and len(none.train_indices) == len(TRAIN)


def test_the_batches_drawn_come_from_the_training_rows_only(monkeypatch):
    job = TrainingJob(small(val_fraction=0.25, max_steps=0, epochs=1), TRAIN, TEST)
    seen = []
    real = training.gather
    monkeypatch.setattr(training, "gather", lambda images, labels, rows, device: seen.extend(rows)
                        or real(images, labels, rows, device))
    job.run()
    assert sorted(seen) == sorted(job.train_indices) and not set(seen) & set(job.validation_indices)


@pytest.mark.parametrize("bad", [-0.1, 0.6, float("nan"), "0.1"])
def test_validation_share_is_checked(bad):
    with pytest.raises(training.SettingError) as info:
        small(val_fraction=bad).validate()
    assert info.value.code in ("err.cfg_val", "err.cfg_limits")


def test_history_per_epoch_is_kept_and_saved(tmp_path):
    job = TrainingJob(small(val_fraction=0.1, epochs=2, eval_each_epoch=True, eval_limit=100), TRAIN, TEST,
                      runs_dir=tmp_path)
    snap = job.run()
    assert [h["epoch"] for h in snap.history] == [1, 2]
    for h in snap.history:
        assert h["train_loss"] > 0 and h["val_loss"] > 0 and 0 <= h["val_accuracy"] <= 1
        assert 0 <= h["test_accuracy"] <= 1
    bpe = job.batches_per_epoch
    assert snap.history[0]["train_loss"] == pytest.approx(np.mean(snap.losses[:bpe]))
    path = job.save()
    _, meta = load_checkpoint(path)
    assert meta["history"] == snap.history and meta["val_images"] == 64
    assert meta["train_config"]["val_fraction"] == 0.1


def test_custom_network_trains_saves_and_reopens(tmp_path):
    job = TrainingJob(small(arch="convnet", net=CUSTOM, max_steps=3), TRAIN, TEST, runs_dir=tmp_path)
    assert [n for n in job.model.stages] == ["conv1", "bn1", "relu1", "pool1", "flatten", "fc1", "relu2",
                                              "dropout", "fc2"]
    job.run()
    model, meta = load_checkpoint(job.save())
    assert meta["arch"] == "convnet" and meta["config"]["convs"] == [dict(CUSTOM["convs"][0], blur=False)]
    assert meta["config"]["dropout"] == 0.2 and meta["train_config"]["net"]["fc_width"] == 32
    job.model.eval()
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    torch.testing.assert_close(model(x), job.model(x))


def test_an_unknown_arch_without_a_network_is_refused():
    with pytest.raises(training.SettingError):
        small(arch="convnet").validate()


def test_live_weights_are_copies_taken_by_the_loop():
    job = TrainingJob(small(arch="convnet", net=CUSTOM, max_steps=5, live_every=1e-9), TRAIN, TEST)
    assert job.live_weights() is None
    job.run()
    step, w, b = job.live_weights()
    assert step == 5 and w.shape == (4, 1, 3, 3) and b.shape == (4,) and job.live_padding == 1
    np.testing.assert_array_equal(w, job.model.stages["conv1"].weight.detach().numpy())
    w[...] = 0  # a copy: the model is untouched
    assert job.model.stages["conv1"].weight.abs().sum() > 0
    quiet = TrainingJob(small(max_steps=3), TRAIN, TEST)
    quiet.run()
    assert quiet.live_weights() is None  # live_every = 0: no copy at all


def test_device_cuda_without_a_gpu_falls_back_to_the_cpu_with_a_message(monkeypatch):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    device, warnings = training.resolve_device("cuda")
    assert device == "cpu" and [w.code for w in warnings] == ["err.env_device_missing"]
    assert "cuda" in warnings[0].message("en") and "CPU" in warnings[0].message("fr")
    monkeypatch.setenv("CNNVIZ_DEVICE", "cuda")
    job = TrainingJob(small(max_steps=2), TRAIN, TEST)
    assert job.device.type == "cpu" and job.run().device == "cpu"
    assert training.resolve_device("cpu") == ("cpu", []) and training.device_label("cpu") == "cpu"


def test_epoch_estimate_is_a_measured_positive_time():
    seconds = training_cost.estimate_epoch_seconds("convnet", CUSTOM, (1, 28, 28), 10, 64, 640, batches=3)
    assert 0 < seconds < 60
    assert training_cost.estimate_epoch_seconds("mlp", None, (1, 28, 28), 10, 64, 6400, batches=3) > 0


def test_a_network_too_large_is_refused_before_any_memory_is_taken(monkeypatch):
    huge = dict(CUSTOM, convs=[{"out_channels": 1024, "kernel": 15, "padding": 7, "pool": False}] * 16)
    built = []
    monkeypatch.setattr(training_cost, "build_model", lambda *a, **k: built.append(1))
    with pytest.raises(training.SettingError) as info:
        TrainingJob(small(arch="convnet", net=huge), TRAIN, TEST)
    assert info.value.code == "err.cfg_net_too_big" and info.value.params["params"] > 3e9 and not built
    with pytest.raises(training.SettingError):
        training_cost.estimate_epoch_seconds("convnet", huge, (1, 28, 28), 10, 64, 640)
    assert not built
    assert training_cost.network_cost(CUSTOM, (1, 28, 28), 10)[0] == 4 * 9 + 4 + 8 + 4 * 14 * 14 * 32 + 32 + 330


# ---------------------------------------------------------------- issue 22: Stop at once, a folder gone, memory

def test_stop_is_answered_within_a_batch_and_the_test_phase_follows_in_the_job_s_thread(tmp_path, monkeypatch):
    """Item 9: the loop stops before its next batch; the evaluation runs afterwards in the job's thread, publishing
    its progress, and the run is written once for that state."""
    seen, threads = [], set()
    real = training.evaluate

    def evaluate(model, data, progress=None, **kw):
        def chunk(done, total):  # before each chunk of EVAL_CHUNK test images
            progress(done, total)
            threads.add(threading.current_thread().name)
            seen.append(job.snapshot().evaluated)
        return real(model, data, progress=chunk, **kw)

    monkeypatch.setattr(training, "evaluate", evaluate)
    test = synthetic("test", 2500, seed=3)
    job = TrainingJob(small(epochs=1000), TRAIN, test, runs_dir=tmp_path).start()
    while job.snapshot().step < 3:
        time.sleep(0.005)
    job.stop()
    assert job.stop_requested
    assert job.wait(60)
    snap = job.snapshot()
    assert snap.status == "stopped" and snap.saved_path and snap.evaluated is None
    assert threads == {"cnnviz-training"} and seen == [(0, 2500), (1000, 2500), (2000, 2500)]
    assert len(snap.evaluation.y_true) == 2500 and len(list(tmp_path.glob("*.pt"))) == 1


def test_reset_cancels_the_test_phase(tmp_path, monkeypatch):
    started = threading.Event()
    real = training.evaluate

    def slow(model, data, progress=None, **kw):
        def chunk(done, total):  # before each chunk of EVAL_CHUNK test images
            progress(done, total)
            started.set()
            time.sleep(0.3)
        return real(model, data, progress=chunk, **kw)

    monkeypatch.setattr(training, "evaluate", slow)
    job = TrainingJob(small(max_steps=2), TRAIN, synthetic("test", 20_000), runs_dir=tmp_path).start()
    assert started.wait(60)
    t0 = time.monotonic()
    assert job.close(30)
    assert time.monotonic() - t0 < 5  # not the 20 chunks of the whole test set
    assert len(list(tmp_path.glob("*.pt"))) == 1  # saved without an accuracy, never lost


def test_a_runs_folder_replaced_by_a_file_is_named_and_the_run_kept_in_memory(tmp_path):
    """Item 4: the save said "No free file name could be found" after 16 retries and the run was lost."""
    from cnnviz.checkpoints import load_checkpoint_bytes, save_run
    from cnnviz.runs import export_bytes

    folder = tmp_path / "runs"
    folder.mkdir()
    job = TrainingJob(small(max_steps=3), TRAIN, TEST, runs_dir=folder)
    job.run()
    folder.rmdir()
    folder.write_text("not a folder")
    assert job.save() is None
    snap = job.snapshot()
    error = snap.save_error
    assert error.code == "err.ckpt_folder" and "No free file name" not in str(error)
    assert str(tmp_path) not in str(error) and "runs" in str(error)
    assert "n'est pas un dossier (un fichier a pris son nom)\u00a0:" in error.message("fr")
    assert snap.saved_path is None and snap.unsaved is not None
    name, blob = snap.unsaved
    model, meta = load_checkpoint_bytes(blob, name)
    assert meta["steps"] == 3 and meta["test_accuracy"] == pytest.approx(snap.evaluation.accuracy)
    for key, value in job.model.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value)
    assert zipfile.ZipFile(io.BytesIO(export_bytes(blob, name))).namelist() == [name, "net.py", "README.md"]
    with pytest.raises(CheckpointError) as info:
        save_run(job.model, "mlp", meta, folder=folder / "sub")  # a parent that is a file
    assert info.value.code == "err.ckpt_folder"


def test_memory_is_checked_from_the_shapes_before_anything_runs(monkeypatch):
    """Item 2: 16 layers of 64 filters at batch 1024 took the server from 1.2 GB to 8 GB in the preview."""
    from cnnviz.layers import net_from_layers
    from cnnviz.models import build_model

    big = net_from_layers(";".join(["64-3-1-0"] * 16), 128, True, 0.25, (1, 28, 28), 10)
    size = training_cost.network_size("convnet", big, (1, 28, 28), 10)
    model = build_model("convnet", (1, 28, 28), 10, big)
    with torch.no_grad():
        feats = model.forward_features(torch.zeros(1, 1, 28, 28))
    assert size.activations == sum(v.numel() for k, v in feats.items() if k != "logits")
    assert size.params == sum(p.numel() for p in model.parameters())
    assert size.training_bytes(1024) > 16 * 2**30 and size.largest_batch() == 102
    assert size.preview_batch(1024) == 8 and size.preview_batch(4) == 4  # its measure: 8 images, not 1,024
    built = []  # the devices networks are built on: only PyTorch's meta device (shapes, no memory)
    monkeypatch.setattr(training_cost, "build_model",
                        lambda *a, **k: built.append(torch.empty(0).device.type) or build_model(*a, **k))
    with pytest.raises(training.SettingError) as info:
        TrainingJob(small(arch="convnet", net=big, batch_size=1024), TRAIN, TEST)
    assert info.value.code == "err.cfg_memory" and built == ["meta"]
    assert info.value.params == dict(need=18.9, limit=2.0, batch=1024, fits=102)
    assert "at most 2.0 GB on this server" in str(info.value) and "at most 102" in str(info.value)
    monkeypatch.undo()
    compact = training_cost.check_memory("compact", None, (1, 28, 28), 10, 1024)  # the shipped network fits
    assert compact.training_bytes(1024) < training_cost.MAX_TRAIN_BYTES and compact.preview_batch(1024) == 32
    with pytest.raises(training.SettingError) as info:
        training_cost.check_memory("convnet", big, (1, 28, 28), 10, 1, limit=2**20)
    assert info.value.code == "err.cfg_memory_net"


# ---------------------------------------------------------------- issue 23 item 3: a run's path on the landscape

def test_a_run_keeps_its_weights_at_each_epoch_for_the_landscape_path(fmnist_train, tmp_path):
    """The run keeps its weights before the first step and after each epoch (checkpoint key weight_history):
    the Learning screen projects them on the loss landscape. The first are the initial weights, the last the
    saved ones; a network too large for WEIGHT_HISTORY_BYTES keeps none."""
    from cnnviz import landscape
    from cnnviz.models import CompactCNN

    cfg = TrainConfig(epochs=2, subset=600, batch_size=100, val_fraction=0, seed=3)
    torch.manual_seed(0)
    start = CompactCNN()
    initial = {k: v.clone() for k, v in start.state_dict().items()}
    job = TrainingJob(cfg, fmnist_train, None, model=start, runs_dir=tmp_path).start()
    assert job.wait(300) and job.snapshot().saved_path
    history = landscape.load_weight_history(job.snapshot().saved_path)
    assert history is not None and len(history) == cfg.epochs + 1
    assert all(torch.equal(history[0][k], initial[k]) for k in initial)
    saved = torch.load(job.snapshot().saved_path, weights_only=True)["state_dict"]
    assert all(torch.equal(history[-1][k], saved[k]) for k in saved)
    assert not torch.equal(history[1]["stages.conv1.weight"], history[0]["stages.conv1.weight"])  # it moved
    job.close(30)

    small = TrainingJob(cfg, fmnist_train, None, runs_dir=tmp_path)
    assert small.weight_history.keeps
    big = TrainConfig(epochs=1000, subset=600, batch_size=100, val_fraction=0)  # 1,001 copies: over the bound
    assert not TrainingJob(big, fmnist_train, None, runs_dir=tmp_path).weight_history.keeps
