"""A training you can scrub through (issue 24): a run's timeline (cnnviz.timeline) has the promised moments and
size, is what the network was at each of them, reopens with the saved run; older runs and the shipped networks
open without one; the Training screen and the run comparison scrub through it (AppTest, both languages)."""

import io
import time

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from cnnviz.checkpoints import SHIPPED, load_checkpoint, save_checkpoint
from cnnviz.figures_runs import conv1_maps
from cnnviz.models import CompactCNN
from cnnviz.runs import owner_id, summary
from cnnviz.timeline import FIRST_EPOCH_POINTS, MAX_BYTES, MAX_MOMENTS, TimelineRecorder, load_timeline, moment_steps
from cnnviz.training import TrainConfig, TrainingJob
from tests.apptest import app, chart, decode
from tests.test_screen_network import english_left, notices

BROWSER = "ab" * 16  # the token of the browser that trained the two runs with a timeline (ui/training_owner.py)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, fmnist_train, fmnist_test):
    """Two saved runs with a timeline (lr 0.1 and 0.001, the slide's) and one saved as before (no timeline)."""
    folder = tmp_path_factory.mktemp("runs")
    jobs = {}
    for lr in (0.1, 0.001):
        cfg = TrainConfig(lr=lr, epochs=2, subset=1500, val_fraction=0.2, batch_size=64, eval_limit=300, seed=1)
        jobs[lr] = TrainingJob(cfg, fmnist_train, fmnist_test, runs_dir=folder, owner=owner_id(BROWSER)).start()
    for job in jobs.values():
        assert job.wait(300) and job.snapshot().saved_path, job.snapshot()
    old = save_checkpoint(folder / "fashion-mnist_compact_old.pt", CompactCNN(), "compact",
                          dict(dataset="fashion-mnist", classes=list(fmnist_test.classes), input_shape=[1, 28, 28],
                               test_accuracy=0.5))
    return folder, jobs, old


def payload_bytes(timeline) -> int:
    buf = io.BytesIO()
    torch.save(timeline.to_payload(), buf)
    return buf.tell()


def test_a_run_keeps_the_promised_moments(runs, fmnist_train, fmnist_test):
    _, jobs, _ = runs
    job = jobs[0.1]
    timeline = job.timeline()
    bpe = job.batches_per_epoch  # 1200 training images / 64 = 19 batches
    assert bpe == 19 and moment_steps(bpe) == [2, 5, 10]
    assert timeline.steps.tolist() == [0, 2, 5, 10, 19, 38]
    assert np.allclose(timeline.epochs, [0, 2 / 19, 5 / 19, 10 / 19, 1, 2])
    assert len(FIRST_EPOCH_POINTS) == 3
    # at each epoch's end the validation accuracy is the history's, and the confusion matrix says the same
    val = job.validation_indices
    assert len(val) == 300
    for e, h in enumerate(job.progress.history, start=1):
        m = int(np.flatnonzero(timeline.epochs == e)[0])
        assert timeline.val_accuracy[m] == pytest.approx(h["val_accuracy"], abs=1e-6)
        cm = timeline.confusion[m]
        assert cm.sum() == 300 and np.trace(cm) / 300 == pytest.approx(h["val_accuracy"], abs=1e-6)
        assert (cm.sum(1) == np.bincount(fmnist_train.labels[val], minlength=10)).all()
    # the last moment is the trained network's conv1 and its maps of test image 0
    conv = job.model.stages["conv1"]
    w, b = conv.weight.detach().numpy(), conv.bias.detach().numpy()
    assert np.allclose(timeline.filters[-1].astype(np.float32), w, atol=1e-3)
    maps = conv1_maps(w, b, fmnist_test.images[0], 1)
    assert np.abs(timeline.maps_of(-1) - maps).max() <= np.abs(maps).max() / 127 + 1e-4
    # the network learns: off-diagonal share of the confusion matrix falls from the start to the end
    off = [1 - np.trace(cm) / cm.sum() for cm in timeline.confusion]
    assert off[-1] < off[0] - 0.3 and timeline.val_accuracy[-1] > timeline.val_accuracy[0] + 0.3
    print(f"timeline of 6 moments: {payload_bytes(timeline)} bytes; off-diagonal share {np.round(off, 2)}")


def test_a_saved_run_reopens_with_its_timeline(runs):
    _, jobs, _ = runs
    job = jobs[0.001]
    path = job.snapshot().saved_path
    kept, read = job.timeline(), load_timeline(path)
    for name in ("steps", "epochs", "filters", "maps", "map_scale", "val_accuracy", "confusion"):
        assert np.array_equal(getattr(kept, name), getattr(read, name), equal_nan=True), name
    payload = torch.load(path, weights_only=True)  # still a plain dict of tensors and primitives
    assert set(payload) == {"format", "arch", "state_dict", "meta", "timeline", "weight_history"}
    assert all(isinstance(v, (torch.Tensor, int, str)) for v in payload["timeline"].values())
    model, meta = load_checkpoint(path)
    assert meta["dataset"] == "fashion-mnist" and summary(path).moments == 6


def test_the_timeline_stays_bounded_for_the_default_network(fmnist_train, fmnist_test):
    """The Training screen's default network (compact, Fashion-MNIST) over the screen's longest training (50
    epochs): at most MAX_MOMENTS moments and 1 MB, the first epoch's moments and the last epoch kept."""
    torch.manual_seed(0)
    model = CompactCNN()
    rows = np.arange(1000)  # a validation split, for the confusion matrices
    rec = TimelineRecorder(model, fmnist_test.images[0], fmnist_train.images, fmnist_train.labels, rows, 10)
    bpe = 157  # the screen's default: 10,000 images (9,000 trained on) in batches of 64 -> 141; any will do
    rec.take(model, 0, 0.0)
    for s in moment_steps(bpe):
        rec.take(model, s, s / bpe)
    for epoch in range(1, 51):
        with torch.no_grad():
            model.stages["conv1"].weight.add_(0.01)  # a different network at each epoch
        rec.take(model, epoch * bpe, float(epoch))
    timeline = rec.timeline()
    size = payload_bytes(timeline)
    print(f"50 epochs: {len(timeline)} moments, {size} bytes ({timeline.nbytes()} in arrays); "
          f"a moment {timeline.nbytes() // len(timeline)} bytes")
    assert len(timeline) <= MAX_MOMENTS and size <= MAX_BYTES
    assert timeline.epochs[:5].tolist() == [0.0, *(s / bpe for s in moment_steps(bpe)), 1.0]
    assert timeline.epochs[-1] == 50 and np.all(np.diff(timeline.epochs) > 0)
    assert np.allclose(timeline.filters[-1].astype(np.float32), model.stages["conv1"].weight.detach().numpy(), atol=1e-3)


def test_runs_without_a_timeline_still_open(runs, tmp_path):
    _, _, old = runs
    assert load_timeline(old) is None and summary(old).moments == 0
    load_checkpoint(old)
    assert load_timeline(SHIPPED) is None  # nor do the shipped networks
    load_checkpoint(SHIPPED)
    # a damaged or foreign timeline entry: the run opens, without a timeline
    model = CompactCNN()
    meta = dict(dataset="fashion-mnist", classes=[str(i) for i in range(10)], input_shape=[1, 28, 28], test_accuracy=0.1)
    for entry in ({"version": 99}, {"version": 1, "steps": torch.zeros(3), "epochs": torch.zeros(2)}, [1, 2], "x"):
        path = save_checkpoint(tmp_path / "odd.pt", model, "compact", meta, timeline=entry)
        assert load_timeline(path) is None and summary(path).moments == 0
        load_checkpoint(path)


# ---------------------------------------------------------------- the Training screen

def train_here(at, monkeypatch, folder):
    """Start a small training on the screen and wait for its end (its run saved in `folder`)."""
    for name, value in dict(subset=1500, epochs=1, batch=64, val=20, seed=2).items():
        at.number_input(key=f"train_{name}").set_value(value).run()
    start = next(b for b in at.button if b.key == "train_start")
    start.click().run()
    job = at.session_state["train_job"]
    assert job.wait(300)
    deadline = time.monotonic() + 60
    while job.snapshot().saved_path is None and time.monotonic() < deadline:
        time.sleep(0.2)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return job


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_the_training_screen_scrubs_through_this_run_and_a_second(runs, monkeypatch, lang):
    folder, jobs, _ = runs
    monkeypatch.setenv("CNNVIZ_RUNS", str(folder))
    at = app("training", lang=lang)
    job = train_here(at, monkeypatch, folder)
    try:
        timeline = job.timeline()
        title = {"en": "Scrub through the training", "fr": "Revoir l'entraînement pas à pas"}[lang]
        assert any(title in s.value for s in at.header)
        slider = at.select_slider(key="train_moment")
        assert slider.value == len(timeline) - 1 and len(slider.options) == len(timeline)
        slider.set_value(0).run()
        assert at.query_params["moment"] == "0"
        z = decode(chart(at, "train_timeline_0_filters")["data"][0]["z"])
        assert np.allclose(z[0:3, 0:3], timeline.filters[0][0].astype(np.float32).mean(0), atol=1e-3)
        cm = decode(chart(at, "train_timeline_0_confusion")["data"][0]["text"])
        assert np.array_equal(cm, timeline.confusion[0])
        second = jobs[0.001].snapshot().saved_path.split("/")[-1]
        at.selectbox(key="train_scrub_with").set_value(second).run()
        assert at.query_params["scrub_with"] == second
        other = load_timeline(jobs[0.001].snapshot().saved_path)
        cm2 = decode(chart(at, "train_timeline_1_confusion")["data"][0]["text"])
        assert np.array_equal(cm2, other.confusion[0])  # moment 0 of both: before the first step
        at.select_slider(key="train_moment").set_value(len(timeline) - 1).run()  # epoch 1 of both
        cm2 = decode(chart(at, "train_timeline_1_confusion")["data"][0]["text"])
        assert np.array_equal(cm2, other.confusion[other.nearest(1.0)])
        chart(at, "train_timeline_accuracy")
        if lang == "fr":
            assert not english_left(at), english_left(at)
    finally:
        job.close()


def test_the_run_comparison_scrubs_through_two_runs(runs, monkeypatch):
    folder, jobs, old = runs
    monkeypatch.setenv("CNNVIZ_RUNS", str(folder))
    at = app("training", lang="en")
    names = [jobs[lr].snapshot().saved_path.split("/")[-1] for lr in (0.1, 0.001)]
    at.multiselect(key="train_compare").set_value([old.name, *names]).run()
    first, second = load_timeline(folder / names[0]), load_timeline(folder / names[1])
    at.select_slider(key="train_cmp_moment").set_value(1).run()
    assert at.query_params["cmp_moment"] == "1"
    for i, timeline in enumerate((first, second)):
        cm = decode(chart(at, f"train_compare_timeline_{i}_confusion")["data"][0]["text"])
        assert np.array_equal(cm, timeline.confusion[timeline.nearest(first.epochs[1])])
    at.multiselect(key="train_compare").set_value([old.name]).run()  # an old run alone: said so, no slider
    assert any("None of the runs chosen kept a timeline" in c.value for c in at.caption)


@pytest.mark.parametrize("query, notice", [
    ({"cmp_moment": "23"}, "The link names a moment this run does not have"),
    ({"cmp_moment": "5000", "scrub_with": "../../etc/passwd"}, "cmp_moment"),
])
def test_hostile_moments_are_ignored_with_a_notice(runs, monkeypatch, query, notice):
    folder, jobs, _ = runs
    monkeypatch.setenv("CNNVIZ_RUNS", str(folder))
    at = AppTest.from_file("../app.py", default_timeout=60)  # the browser that trained them follows the link:
    at.session_state["_run_owner"] = BROWSER  # its runs are the ones compared when the screen opens
    at.switch_page("pages/training.py")
    at.query_params.update(lang="en", **query)
    at.run()
    assert not at.exception and not at.error and any(notice in n for n in notices(at)), notices(at)
    assert at.session_state["train_scrub_with"] == ""
