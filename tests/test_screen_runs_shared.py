"""AppTest of runs on a server shared by a class (issue 22, items 2, 3, 4, 9, 10, 11), most with two sessions:
whose runs are whose, a run that goes away under a page, the comparison of this browser's runs, Stop that answers
at once, a preview that cannot cost gigabytes, a runs folder replaced by a file, the top-9 of every stage in one
pass for the whole server."""

import io
import runpy
import secrets
import threading
import time
import zipfile

import numpy as np
import pytest
import streamlit as st
import torch
from streamlit.testing.v1 import AppTest

from cnnviz.data import FASHION_MNIST_CLASSES, Dataset
from cnnviz.layers import net_from_layers
from cnnviz.runs import owner_id, run_owner
from cnnviz.training import TrainConfig, TrainingJob
from tests.apptest import app, button, chart, open_link, wait_for_chart

KEY = "sesame-for-tests-42"


def synthetic(split: str, n: int, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    return Dataset("fashion-mnist", split, rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
                   rng.integers(0, 10, n).astype(np.int64), FASHION_MNIST_CLASSES, "synthetic")


TRAIN, TEST = synthetic("train", 256), synthetic("test", 100, seed=1)


def make_run(folder, owner: str | None, seed: int = 0):
    """A small convolutional run saved in `folder` by a job of the browser `owner` (an owner_id, or None: the
    server's, e.g. the command line)."""
    net = net_from_layers("6-5-2-1;12-3-0-0", 24, True, 0.2, (1, 28, 28), 10)
    cfg = TrainConfig(arch="convnet", net=net, max_steps=2, eval_each_epoch=False, seed=seed)
    job = TrainingJob(cfg, TRAIN, TEST, runs_dir=folder, owner=owner)
    job.run()
    path = job.save()
    job.close()
    time.sleep(0.01)  # distinct modification times: "newest first" is well defined
    return path


def token(at: AppTest) -> str:
    """The owner_id of the session's browser (its token, made here when no screen has needed it yet)."""
    if "_run_owner" not in at.session_state:
        at.session_state["_run_owner"] = secrets.token_hex(16)
    return owner_id(at.session_state["_run_owner"])


def shown(at: AppTest) -> str:
    return "\n".join(str(el.value) for kind in ("error", "warning", "info", "caption", "toast", "markdown")
                     for el in getattr(at, kind)).replace("\\", "")


@pytest.fixture
def runs(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_RUNS", str(tmp_path))
    monkeypatch.setenv("CNNVIZ_INSTRUCTOR_KEY", KEY)
    return tmp_path


# ---------------------------------------------------------------- item 3: runs belong to the browser that trained them

def test_runs_belong_to_the_browser_that_trained_them(runs):
    alice, bob = app("training"), app("training", lang="fr")
    assert token(alice) != token(bob)
    mine = make_run(runs, token(alice))
    server = make_run(runs, None, seed=1)
    assert run_owner(mine) == token(alice) and alice.session_state["_run_owner"] not in mine.read_bytes().decode(
        "latin-1")  # the run records a hash of the token, never the token
    alice.run()
    bob.run()
    labels = alice.selectbox(key="train_manage_run").options
    assert f"Yours — {mine.name}" in labels and f"The server's — {server.name}" in labels
    bob.selectbox(key="train_manage_run").set_value(mine.name).run()
    assert f"D'un autre étudiant — {mine.name}" in bob.selectbox(key="train_manage_run").options
    assert button(bob, "Renommer").disabled and bob.checkbox(key=f"train_delete_sure_{mine.name}").disabled
    assert "Entraînement d'un autre étudiant\u00a0: vous pouvez l'ouvrir" in shown(bob)
    assert bob.multiselect(key="train_compare").value == []  # not his: none compared by default
    bob.multiselect(key="train_compare").set_value([mine.name, server.name]).run()  # others may compare them
    table = next(d.value for d in bob.dataframe if "whose" in d.value.columns)
    assert set(table["whose"]) <= {"D'un autre étudiant", "Du serveur"}
    # a forged message (a rewritten websocket message: a name typed and a click on the disabled button): the library
    # refuses it, the run stays
    for widget in (bob.text_input(key="train_rename_to"), button(bob, "Renommer")):
        widget.proto.disabled = False
    bob.text_input(key="train_rename_to").set_value("taken")
    button(bob, "Renommer").click().run()
    assert not bob.exception and mine.exists() and not (runs / "taken.pt").exists()
    assert all("n'est pas votre entraînement" in e.value for e in bob.error)  # ignored, or refused by cnnviz.runs
    # the pickers say whose each run is, on every network screen
    fm = open_link("feature_maps", network=mine.name)
    fm.session_state["_run_owner"] = alice.session_state["_run_owner"]  # the same browser (its cookie)
    fm.run()
    assert f"Your run: {mine.stem}" in fm.selectbox(key="fm_network").options
    assert f"Server's run: {server.stem}" in fm.selectbox(key="fm_network").options
    other = open_link("translation", network=mine.name)
    assert f"Another student's run: {mine.stem}" in other.selectbox(key="shift_network").options
    # the owner renames their run; nobody but the instructor touches the server's
    alice.selectbox(key="train_manage_run").set_value(mine.name).run()
    alice.text_input(key="train_rename_to").set_value("alice lr 0.05").run()
    button(alice, "Rename").click().run()
    assert not alice.exception and (runs / "alice lr 0.05.pt").exists() and not mine.exists()
    alice.selectbox(key="train_manage_run").set_value(server.name).run()
    assert button(alice, "Rename").disabled and "only the instructor key may rename" in shown(alice)
    # the instructor key: a wrong one is refused, the right one allows any run
    bob.text_input(key="train_instructor_key").set_value("guess").run()
    bob.button(key="train_instructor_unlock").click().run()
    assert any("Clé de l'enseignant erronée" in e.value or "erron" in e.value for e in bob.error)
    bob.text_input(key="train_instructor_key").set_value(KEY).run()
    bob.button(key="train_instructor_unlock").click().run()
    assert "Clé de l'enseignant donnée" in shown(bob)
    bob.selectbox(key="train_manage_run").set_value(server.name).run()
    bob.checkbox(key=f"train_delete_sure_{server.name}").check().run()
    button(bob, "Supprimer").click().run()
    assert not bob.exception and not server.exists() and (runs / "alice lr 0.05.pt").exists()


# ---------------------------------------------------------------- item 4: a run that goes away under a page

@pytest.mark.parametrize("page, key", [("feature_maps", "fm_network"), ("translation", "shift_network")])
def test_a_run_deleted_under_a_page_is_said_gone(runs, page, key):
    student = app(page)
    run = make_run(runs, token(student))
    student.run()
    student.selectbox(key=key).set_value(run.name).run()
    assert not student.exception and student.selectbox(key=key).value == run.name
    classmate = app("training")
    classmate.text_input(key="train_instructor_key").set_value(KEY).run()  # the instructor, in another session
    classmate.button(key="train_instructor_unlock").click().run()
    classmate.selectbox(key="train_manage_run").set_value(run.name).run()
    classmate.checkbox(key=f"train_delete_sure_{run.name}").check().run()
    button(classmate, "Delete").click().run()
    assert not run.exists()
    student.run()
    assert not student.exception
    assert student.selectbox(key=key).value == "fashion_compact.pt"
    warning = " ".join(w.value for w in student.warning)
    assert f"The run {run.stem}" in warning.replace("\\", "") and "no longer on the server" in warning
    assert "the shipped network fashion\\_compact, not your run" in warning
    student.run()  # said for as long as the fallback is shown
    assert any("no longer on the server" in w.value for w in student.warning)
    student.selectbox(key=key).set_value("fashion_compact_blur.pt").run()
    assert not any("no longer on the server" in w.value for w in student.warning)


# ---------------------------------------------------------------- item 10: your runs, not the newest

def test_this_browser_s_runs_are_compared_and_join_as_soon_as_saved(runs):
    student = app("training")
    me = token(student)
    mine_before = make_run(runs, me)
    others = [make_run(runs, owner_id("another student"), seed=s) for s in (1, 2)]  # the newest runs: not mine
    student.run()
    assert student.multiselect(key="train_compare").value == [mine_before.name]
    assert student.selectbox(key="train_manage_run").value == mine_before.name
    first = make_run(runs, me, seed=3)  # this browser's new runs, saved while the page is open
    student.run()
    assert student.multiselect(key="train_compare").value == [mine_before.name, first.name]
    assert student.selectbox(key="train_manage_run").value == first.name
    student.multiselect(key="train_compare").unselect(mine_before.name).run()  # taken out by hand: stays out
    second = make_run(runs, me, seed=4)
    student.run()
    assert student.multiselect(key="train_compare").value == [first.name, second.name]
    assert student.selectbox(key="train_manage_run").value == second.name
    assert not set(student.multiselect(key="train_compare").value) & {r.name for r in others}
    # a newcomer without runs compares nothing by default (not a classmate's runs)
    newcomer = app("training")
    assert newcomer.multiselect(key="train_compare").value == []


# ---------------------------------------------------------------- items 9 and 10: Stop at once; one accuracy per run

def test_stop_answers_at_once_and_the_run_holds_the_screen_s_accuracy(runs, monkeypatch, fmnist_test):
    from cnnviz import training

    page_waits = []
    real_wait = training.TrainingJob.wait

    def wait(self, timeout=None):
        if threading.current_thread().name != "cnnviz-training" and not getattr(wait, "allowed", False):
            page_waits.append(timeout)  # the Stop button used to wait for the evaluation and the save here
        return real_wait(self, timeout)

    monkeypatch.setattr(training.TrainingJob, "wait", wait)
    at = app("training")
    at.number_input(key="train_subset").set_value(0).run()
    at.number_input(key="train_epochs").set_value(20).run()
    button(at, "Start").click().run()
    job = at.session_state["train_job"]
    try:
        deadline = time.monotonic() + 120
        while job.snapshot().step < 5 and time.monotonic() < deadline:
            time.sleep(0.05)
        button(at, "Stop").click().run()
        assert not at.exception and page_waits == []
        assert button(at, "Stop").disabled and button(at, "Resume").disabled  # until the job has saved
        wait.allowed = True
        assert job.wait(300)
        at.run()
        snap = job.snapshot()
        assert snap.status == "stopped" and snap.saved_path and len(list(runs.glob("*.pt"))) == 1
        metric = next(m for m in at.metric if m.label == "Test accuracy").value  # "28.35 %"
        shown_acc = float(metric.replace("%", "").replace(",", "").strip()) / 100
        assert shown_acc == pytest.approx(snap.evaluation.accuracy, abs=5e-5)
        assert any(d.proto.id and "train_export_current" in d.proto.id for d in at.get("download_button"))
    finally:
        job.close(30)
    from cnnviz.runs import export_zip

    zipped = export_zip(snap.saved_path)
    with zipfile.ZipFile(io.BytesIO(zipped)) as z:
        readme = z.read("README.md").decode()
        z.extractall(runs / "export")
    assert f"test accuracy {metric} on the 10,000 test images" in readme.replace("\u00a0", " ")
    net = runpy.run_path(str(runs / "export" / "net.py"))["Net"]()
    name = snap.saved_path.rsplit("/", 1)[1]
    net.load_state_dict(torch.load(runs / "export" / name, weights_only=True)["state_dict"])
    net.eval()
    with torch.no_grad():
        x = torch.from_numpy(np.array(fmnist_test.images)).float().div(255).sub(0.5).div(0.5).unsqueeze(1)
        plain = float((net(x).argmax(1).numpy() == fmnist_test.labels).mean())
    assert plain == pytest.approx(shown_acc, abs=5e-5)


# ---------------------------------------------------------------- item 2: a preview that cannot cost gigabytes

SIXTEEN = ";".join(["64-3-1-0"] * 16)


def test_a_link_that_would_take_gigabytes_is_refused_before_anything_runs(monkeypatch):
    from cnnviz import training_cost

    measured = []
    real = training_cost.seconds_per_image
    monkeypatch.setattr(training_cost, "seconds_per_image", lambda *a, **k: measured.append(a[4]) or real(*a, **k))
    at = open_link("training", lang="fr", model="custom", layers=SIXTEEN, batch="1024", fc="128")
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "1\u202f024 images demande environ" in errors or "1 024 images demande environ" in errors, errors
    assert "au plus 2,0\u00a0Go" in errors and "taille de lot d'au plus 102" in errors
    assert measured == [] and "Démarrer" not in [b.label for b in at.button]
    # a batch that fits: the measure runs on 8 images (the network's work per image is large), not 64
    at = open_link("training", model="custom", layers=SIXTEEN, batch="64", fc="128")
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert measured == [8]
    assert any("takes about" in i.value and "MB of memory" in i.value for i in at.info)
    at = open_link("training", model="custom", layers=SIXTEEN, batch="100", fc="128")  # another batch: no new measure
    assert measured == [8]


def test_the_preview_takes_a_training_slot(monkeypatch):
    from ui.training_slots import limits, training_slots

    slots = training_slots(limits()[0])
    taken = 0
    while slots.acquire(blocking=False):
        taken += 1
    try:
        at = open_link("training", model="custom", layers="7-3-1-1", batch="33")  # a network measured nowhere else
        assert not at.exception
        assert any("No time estimate now" in i.value for i in at.info), [i.value for i in at.info]
    finally:
        for _ in range(taken):
            slots.release()
    at.run()
    assert any("should take about" in i.value for i in at.info)


# ---------------------------------------------------------------- item 4: runs/ replaced by a file during a training

def test_a_runs_folder_replaced_by_a_file_keeps_the_run_for_download(tmp_path, monkeypatch):
    folder = tmp_path / "runs"
    folder.mkdir()
    monkeypatch.setenv("CNNVIZ_RUNS", str(folder))
    at = app("training")
    at.number_input(key="train_subset").set_value(1000).run()
    at.number_input(key="train_epochs").set_value(50).run()
    button(at, "Start").click().run()
    job = at.session_state["train_job"]
    try:
        while job.snapshot().step < 2:
            time.sleep(0.05)
        folder.rmdir()
        folder.write_text("a file took the folder's name")
        button(at, "Stop").click().run()
        assert job.wait(300)
        at.run()
        assert not at.exception
        text = shown(at)
        assert "The runs folder runs is not a folder" in text or "runs folder" in text, text
        assert str(tmp_path) not in text  # no absolute server path
        assert "No free file name" not in text
        assert "kept in this session only: download it now" in text
        data = next(d for d in at.get("download_button") if d.proto.id and "train_export_unsaved" in d.proto.id)
        assert data
        name, blob = job.snapshot().unsaved
        from cnnviz.checkpoints import load_checkpoint_bytes

        model, meta = load_checkpoint_bytes(blob, name)
        assert meta["steps"] == job.progress.step
    finally:
        job.close(30)


# ---------------------------------------------------------------- item 11: the top-9 of every stage in one pass

def test_twelve_stages_asked_at_once_cost_one_pass(monkeypatch):
    from cnnviz.explain import excite

    passes = []
    real = excite.all_stage_maxima
    monkeypatch.setattr(excite, "all_stage_maxima", lambda *a, **k: passes.append(1) or real(*a, **k))
    st.cache_resource.clear()  # a cold server
    stages = ["conv1", "relu1", "pool1", "conv2", "relu2", "pool2", "conv3", "relu3"]
    sessions = [open_link("feature_maps", stage=s, channel=3, top9=1) for s in stages]
    for at in sessions:
        assert not at.exception and not at.error
    progress = [p for at in sessions for p in at.get("progress")]
    assert progress or passes  # whoever came before it was done saw its progress
    for at, stage in zip(sessions, stages):
        spec = wait_for_chart(at, "fm_top9_fig")
        assert stage in spec["layout"]["title"]["text"]
    assert len(passes) == 1
    again = open_link("feature_maps", stage="bn3", channel=1, top9=1)  # another stage later: no pass at all
    chart(again, "fm_top9_fig")
    assert len(passes) == 1
