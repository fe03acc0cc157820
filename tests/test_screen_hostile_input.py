"""AppTest of issue 22's defects as a class would meet them (two sessions where it takes two): a run named like a
shipped network, what runs/ holds (a named pipe, `..\\..\\evil.pt`), a CIFAR-10 network without CIFAR-10 data,
forged table edits and chart clicks, the instructor's model that never answers."""

import math
import os
import threading

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from cnnviz.checkpoints import save_checkpoint
from cnnviz.data import DATASETS
from cnnviz.models import CompactCNN
from cnnviz.runs import owner_id
from tests.apptest import app, button, open_link

FMNIST_META = dict(dataset="fashion-mnist", classes=list(DATASETS["fashion-mnist"][0]), input_shape=[1, 28, 28],
                   test_accuracy=0.1)


def quick(page: str, lang: str = "en", timeout: float = 30, **query) -> AppTest:
    """A fresh session on `page` that must finish within `timeout` s (a FIFO used to block it for ever)."""
    at = AppTest.from_file("../app.py", default_timeout=timeout)
    at.switch_page(f"pages/{page}.py")
    at.query_params.update({"lang": lang, **{k: str(v) for k, v in query.items()}})
    return at.run()


def shown(at: AppTest) -> str:
    parts = [el.value for kind in ("error", "warning", "info", "caption", "toast", "markdown", "success")
             for el in getattr(at, kind)]
    return "\n".join(map(str, parts)).replace("\\", "")


# ---------------------------------------------------------------- item 1: a run never replaces a shipped network

def test_a_run_never_takes_a_shipped_network_s_place(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_RUNS", str(tmp_path))
    token = "cd" * 16  # the student's browser (ui/training_owner.py): the run is theirs to rename
    run = save_checkpoint(tmp_path / "fashion-mnist_compact_mine.pt", CompactCNN(), "compact",
                          dict(FMNIST_META, owner=owner_id(token)))
    student = AppTest.from_file("../app.py", default_timeout=60)  # session 1: a student renames their run
    student.session_state["_run_owner"] = token
    student.switch_page("pages/training.py")
    student.query_params["lang"] = "fr"
    student.run()
    assert student.selectbox(key="train_manage_run").value == run.name
    for name in ("fashion_compact", "Fashion_Compact_Blur.pt"):
        student.text_input(key="train_rename_to").set_value(name).run()
        button(student, "Renommer").click().run()
        assert not student.exception
        assert any("nom d'un réseau fourni" in e.value for e in student.error), [e.value for e in student.error]
    assert [p.name for p in tmp_path.glob("*.pt")] == [run.name]
    # a run that has the name on disk all the same (renamed by hand, or by an earlier version)
    save_checkpoint(tmp_path / "fashion_compact.pt", CompactCNN(), "compact", FMNIST_META)
    classmate = open_link("feature_maps", network="fashion_compact.pt", cls="7", idx="0", stage="relu2",
                          channel="5")  # session 2: the lecture's link
    assert not classmate.exception
    options = classmate.selectbox(key="fm_network").options
    assert "Shipped: fashion_compact" in options and "Your run: fashion_compact" not in options
    assert classmate.selectbox(key="fm_network").value == "fashion_compact.pt"
    captions = [c.value for c in classmate.sidebar.caption]
    assert any("93.23" in c for c in captions), captions  # the shipped network's accuracy, not the run's 10 %
    assert any("name of a shipped network" in c and "fashion\\_compact" in c for c in captions)
    assert any("Sneaker" in m.value for m in classmate.markdown)


# ---------------------------------------------------------------- item 5: what is found in runs/ is input

class Fifo:
    """runs/fifo.pt, a named pipe, and a watchdog that opens it for writing whenever someone opened it for
    reading (an open() for writing succeeds only then): a reader blocked for ever (the defect) is released,
    and the test knows it happened."""

    def __init__(self, path):
        self.path, self.readers, self.done = path, 0, threading.Event()
        os.mkfifo(path)
        self.thread = threading.Thread(target=self.watch, daemon=True)
        self.thread.start()

    def watch(self):
        while not self.done.wait(0.2):
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # ENXIO: nobody reads it
                continue
            self.readers += 1
            os.close(fd)  # the reader gets its end of file

    def stop(self):
        self.done.set()
        self.thread.join(5)


@pytest.fixture
def fifo_runs(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_RUNS", str(tmp_path))
    save_checkpoint(tmp_path / "fashion-mnist_compact_good.pt", CompactCNN(), "compact", FMNIST_META)
    fifo = Fifo(tmp_path / "fifo.pt")
    yield fifo
    fifo.stop()


@pytest.mark.parametrize("page, key", [("feature_maps", "fm_network"), ("translation", "shift_network")])
def test_a_fifo_in_runs_blocks_no_screen(fifo_runs, page, key):
    at = quick(page)
    assert fifo_runs.readers == 0, "the page opened the pipe (it would have waited for a writer for ever)"
    assert not at.exception, [e.value for e in at.exception]
    assert "Server's run: fashion-mnist_compact_good" in at.selectbox(key=key).options
    assert not any("fifo" in o for o in at.selectbox(key=key).options)
    assert any("not offered" in c.value and "fifo" in c.value for c in at.sidebar.caption)


def test_a_fifo_in_runs_blocks_no_training_page(fifo_runs):
    at = quick("training", timeout=60)
    assert fifo_runs.readers == 0, "the page opened the pipe (it would have waited for a writer for ever)"
    assert not at.exception, [e.value for e in at.exception]
    assert at.multiselect(key="train_compare").options == ["fashion-mnist_compact_good.pt"]
    assert any("not offered" in c.value and "fifo" in c.value for c in at.caption)


def test_odd_names_in_runs_are_neither_offered_nor_exported(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_RUNS", str(tmp_path))
    for name in ("..\\..\\evil.pt", "fashion-mnist_compact_good.pt"):
        save_checkpoint(tmp_path / name, CompactCNN(), "compact", FMNIST_META)
    at = app("training")
    assert at.multiselect(key="train_compare").options == ["fashion-mnist_compact_good.pt"]
    assert at.selectbox(key="train_manage_run").options == ["The server's — fashion-mnist_compact_good.pt"]
    assert any("not offered" in c.value and "evil" in c.value for c in at.caption)
    names = [b.proto.label for b in at.get("download_button")]
    assert names and not any("evil" in n for n in names)
    at.switch_page("pages/feature_maps.py").run()
    assert not any("evil" in o for o in at.selectbox(key="fm_network").options)


# ---------------------------------------------------------------- item 6: a CIFAR-10 network without CIFAR-10 data

RGB_NET = '''
from torch import nn


class RGB(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.flat = nn.Flatten()
        self.fc = nn.Linear(4 * 15 * 15, 10)

    def forward(self, x):
        return self.fc(self.flat(self.pool(self.relu(self.conv1(x)))))
'''


@pytest.fixture
def no_cifar(tmp_path, monkeypatch):
    """A runs folder holding a CIFAR-10 run (a tiny network saved with cnnviz.checkpoints), and no CIFAR-10 test
    images on the server: no data folder, no download, no shipped sample."""
    from cnnviz import data

    runs = tmp_path / "runs"
    runs.mkdir()
    monkeypatch.setenv("CNNVIZ_RUNS", str(runs))
    monkeypatch.setenv("CNNVIZ_DATA", str(tmp_path / "no-data"))
    monkeypatch.setenv("CNNVIZ_NO_DOWNLOAD", "1")
    monkeypatch.setattr(data, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(data, "SAMPLES_DIR", tmp_path / "no-samples")
    meta = dict(dataset="cifar10", classes=list(DATASETS["cifar10"][0]), input_shape=[3, 32, 32], test_accuracy=0.1)
    save_checkpoint(runs / "cifar10_compact_test.pt", CompactCNN((3, 32, 32)), "compact", meta)
    loaded = dict(data._loaded)  # the datasets other tests hold stay the same objects afterwards
    data.load_dataset.cache_clear()
    st.cache_resource.clear()
    yield tmp_path
    data.load_dataset.cache_clear()
    data._loaded.update(loaded)
    st.cache_resource.clear()


def test_a_cifar_run_without_cifar_data_offers_an_upload_or_a_drawing(no_cifar):
    import numpy as np

    drawing = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    for page, prefix, chart in (("feature_maps", "fm_", "fm_input"), ("translation", "shift_", "shift_shifted")):
        at = open_link(page, network="cifar10_compact_test.pt", lang="fr")
        assert not at.exception, (page, [e.value for e in at.exception])
        assert any("Les images de test de CIFAR-10 ne sont pas sur ce serveur" in i.value
                   and "dessinez-en une\u00a0:" in i.value for i in at.info), page
        assert at.radio(key=prefix + "source").options == ["Téléverser", "Dessin"]
        assert any("Choisissez un fichier, ou dessinez une image." in i.value for i in at.info)  # no test image to go back to
        assert str(no_cifar) not in shown(at)
        at.session_state[prefix + "drawn"] = drawing  # a drawing, as the canvas gives it (ui.image_picker.drawn_key)
        at.radio(key=prefix + "source").set_value("draw").run()
        assert not at.exception and not at.error, (page, [e.value for e in at.error])
        assert chart in " ".join(el.proto.id for el in at.get("plotly_chart")), page  # the network at work
    at.button(key="shift_measure").click().run()  # the consistency needs the test images: said, in French
    assert not at.exception and any("Aucune image d'exemple" in e.value for e in at.error)
    at = open_link("feature_maps", network="cifar10_compact_test.pt", lang="fr", source="draw")
    at.session_state["fm_drawn"] = drawing
    at.run()
    at.toggle(key="fm_top9").set_value(True).run()  # the top-9 needs the test images: said, in French
    assert not at.exception and any("Aucune image d'exemple" in e.value for e in at.error)


def test_a_cifar_user_model_without_cifar_data(no_cifar, monkeypatch):
    net = no_cifar / "rgb.py"
    net.write_text(RGB_NET)
    monkeypatch.setenv("CNNVIZ_MODEL", f"{net}:RGB")
    monkeypatch.setenv("CNNVIZ_MODEL_DATASET", "cifar10")
    at = open_link("feature_maps", network="user:RGB")
    assert not at.exception, [e.value for e in at.exception]
    assert at.selectbox(key="fm_network").value == "user:RGB"
    assert any("The CIFAR-10 test images are not on this server" in i.value for i in at.info)


# ---------------------------------------------------------------- item 7: forged table edits and chart clicks

COURSE_LAYERS = "64-11-0-1;128-5-0-1;256-3-0-0"  # Architecture's default table (three layers)


@pytest.mark.parametrize("edits, message", [
    ({"edited_rows": {1: {"out_channels": -64}}}, "Layer 2: the filters must be between 1 and 1,024 (got -64)."),
    ({"edited_rows": {1: {"evil": 1}}}, "Layer 2: the table has no column evil."),
    ({"deleted_rows": [7]}, "The table's change names layer 8, which the table does not have (it has 3)."),
    ({"deleted_rows": [-1]}, "names layer 0, which the table does not have"),
    ({"edited_rows": {5: {"kernel": 3}}}, "names layer 6, which the table does not have"),
    ({"edited_rows": {1: {"out_channels": "abc"}}}, "Layer 2: the filters must be a whole number (got 'abc')."),
    ({"edited_rows": {1: {"out_channels": math.nan}}}, "Layer 2: the filters must be a whole number (got nan)."),
    ({"edited_rows": {0: {"out_channels": None}}}, "Layer 1: the filters must be a whole number (got None)."),
    ({"edited_rows": {1: {"padding": 1.5}}}, "Layer 2: the padding must be a whole number (got 1.5)."),
    ({"edited_rows": {1: {"kernel": 10**30}}}, "Layer 2: the kernel size must be between 1 and 15"),
    ({"edited_rows": {1: {"kernel": [3]}}}, "Layer 2: the kernel size must be a whole number (got [3])."),
    ({"added_rows": [{"out_channels": "abc", "kernel": 3, "padding": 0}]},
     "Layer 4: the filters must be a whole number (got 'abc')."),
    ({"added_rows": [{"out_channels": 8, "kernel": 3, "padding": 0, "evil": 1}]}, "Layer 4: the table has no column"),
    ({"edited_rows": {1: "x"}}, "Layer 2 is not a row of the table"),
    ({"edited_rows": [], "added_rows": {}}, "The table's change could not be read."),
    ({"evil": 1}, "The table's change could not be read."),
])
def test_a_forged_table_edit_names_its_layer_and_keeps_the_last_valid_layers(edits, message):
    """Item 7: a rewritten websocket message never raises (KeyError 'evil', IndexError), never drops a row or
    rounds a value silently: the layer is named, and the table is drawn afresh with the last valid layers."""
    at = app("architecture")
    at.session_state["arch_editor_1"] = {"edited_rows": {}, "added_rows": [], "deleted_rows": [], **edits}
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value.replace("\\", "") for e in at.error]
    assert any(message in e for e in errors), errors
    assert at.session_state["arch_layers"] == COURSE_LAYERS
    assert at.dataframe[0].value["out_channels"].tolist() == [64, 128, 256]
    at.run()  # the fresh table carries no forged edit
    assert not at.exception and not at.error and at.session_state["arch_layers"] == COURSE_LAYERS


def test_table_edits_the_editor_sends_still_apply():
    from ui.layers_editor import apply_edits

    rows = [dict(out_channels=64, kernel=11, padding=0, pool=True), dict(out_channels=128, kernel=5, padding=0,
                                                                          pool=True)]
    state = {"edited_rows": {"1": {"padding": 2}}, "deleted_rows": [0],
             "added_rows": [{"out_channels": 8, "kernel": 3, "padding": 1, "pool": False}, {"out_channels": 4}]}
    assert apply_edits(rows, state) == [dict(out_channels=128, kernel=5, padding=2, pool=True),
                                        dict(out_channels=8, kernel=3, padding=1, pool=False)]  # the last: half typed
    assert apply_edits(rows, None) == rows
    at = app("architecture")
    at.session_state["arch_editor_1"] = {"edited_rows": {0: {"out_channels": 16, "padding": 2.0}}, "added_rows": [],
                                        "deleted_rows": [2]}
    at.run()
    assert not at.exception and not at.error and at.session_state["arch_layers"] == "16-11-2-1;128-5-0-1"


def send_chart_event(at: AppTest, key: str, event: dict) -> AppTest:
    """Run `at` as after a browser message carrying `event` as the chart's selection: the JSON text a rewritten
    websocket message may hold (Python's json writes Infinity and NaN, and Streamlit's json.loads reads them)."""
    import json

    chart_el = next(el for el in at.get("plotly_chart") if el.proto.id and key in el.proto.id)
    states = at._tree.get_widget_states()  # AppTest cannot click a chart: the widget state is sent as it comes
    sent = states.widgets.add()
    sent.id = chart_el.proto.id
    sent.string_value = json.dumps(event)
    return at._run(states)


def selection(**point) -> dict:
    return {"selection": {"points": [point], "point_indices": [0], "box": [], "lasso": []}}


FORGED = [math.inf, -math.inf, math.nan, 10**20, -5, "3", [[3]], None, {"a": 1}, True]
FORGED_STEPS = FORGED + [0, 2.5]  # steps are 1..n, whole numbers


@pytest.mark.parametrize("page, key", [("convolution", "conv"), ("pooling", "pool")])
def test_a_forged_click_on_a_step_figure_is_ignored(page, key):
    """Item 7: `Infinity` in a clicked point raised OverflowError (int(inf)); every value of a chart event is
    checked (NaN, huge ints, negative, strings, nested lists, missing keys): a click jumps only to a real step."""
    at = app(page)
    at = send_chart_event(at, f"{key}_fig", selection(x=1, y=1, customdata={"0": 0, "1": 1, "2": 2}))
    assert not at.exception and at.session_state[f"{key}_step"] == 2  # a real click: step 2
    for value in FORGED_STEPS:
        at = send_chart_event(at, f"{key}_fig", selection(x=1, y=1, customdata={"0": 0, "1": 1, "2": value}))
        assert not at.exception, (value, [e.value for e in at.exception])
        assert at.session_state[f"{key}_step"] == 2, value
    for event in (selection(x=1, y=1), selection(customdata=[0, 1]), {"selection": {"points": "x"}}, {"evil": 1},
                  selection(customdata={"0": 0, "1": 1})):
        at = send_chart_event(at, f"{key}_fig", event)
        assert not at.exception and at.session_state[f"{key}_step"] == 2, event


def test_a_forged_click_on_the_big_feature_map_is_ignored():
    at = app("feature_maps")
    at = send_chart_event(at, "fm_big", selection(x=2, y=1, customdata={"0": 1, "1": 2}))
    assert not at.exception and at.session_state["fm_ex_row"] == 1 and at.session_state["fm_ex_col"] == 2
    unit = [at.session_state[f"fm_ex_{k}"] for k in ("stage", "ch", "row", "col")]
    for value in FORGED:
        for event in (selection(x=2, y=1, customdata={"0": value, "1": 3}), selection(x=value, y=value),
                      selection(x=3, y=1, customdata=[3, value]), selection(x=3, y=1, customdata=[3, 2.5])):
            at = send_chart_event(at, "fm_big", event)
            assert not at.exception, (event, [e.value for e in at.exception])
            assert [at.session_state[f"fm_ex_{k}"] for k in ("stage", "ch", "row", "col")] == unit, event
    at = send_chart_event(at, "fm_big", selection(x=3, y=100, customdata={"0": 100, "1": 3}))  # beyond the map
    assert [at.session_state[f"fm_ex_{k}"] for k in ("stage", "ch", "row", "col")] == unit


def test_the_chart_event_reader_checks_every_value():
    from cnnviz.figures_steps import clicked_cell, clicked_step, event_int

    assert [event_int(v, 0, 9) for v in (3, 3.0, 9, 0)] == [3, 3, 9, 0]
    assert all(event_int(v, 0, 9) is None for v in FORGED + [10, 2.5, -0.0001, "3"])
    assert event_int(2.4, 0, 9, rounded=True) == 2 and event_int(math.inf, 0, 9, rounded=True) is None
    assert clicked_cell(selection(customdata={"0": 1, "1": 2}), (3, 3)) == (1, 2)
    assert clicked_cell(selection(customdata={"0": 1, "1": 3}), (3, 3)) is None  # beyond the map
    assert clicked_cell(selection(x=2.0, y=1.0), (3, 3)) == (1, 2)
    assert clicked_step(selection(customdata=[0, 0, 4]), 4) == 4 and clicked_step(selection(customdata=[0, 0, 5]), 4) is None
    for event in ([], "selection", {"selection": None}, {"selection": {"points": [1, "x", None]}}, 7):
        assert clicked_cell(event) is None and clicked_step(event) is None


# ---------------------------------------------------------------- item 8: the instructor's model that never answers

LOOPING_NET = '''
from torch import nn


class Loop(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(28 * 28, 10)

    def forward(self, x):
        while True:
            pass
'''

EXITING_NET = '''
import sys

from torch import nn


class Quits(nn.Module):
    def __init__(self):
        super().__init__()
        sys.exit(0)
'''


def test_a_model_that_never_answers_freezes_no_session(tmp_path, monkeypatch):
    from cnnviz import usermodel

    net = tmp_path / "loop.py"
    net.write_text(LOOPING_NET)
    monkeypatch.setenv("CNNVIZ_MODEL", f"{net}:Loop")
    monkeypatch.setattr(usermodel, "LOAD_SECONDS", 2.0)
    st.cache_resource.clear()  # a fresh server: its start-up check loads the model too
    first = quick("feature_maps", lang="fr", network="user:Loop")  # session 1 (or the start-up check) waits 2 s
    assert not first.exception, [e.value for e in first.exception]
    errors = [e.value.replace("\\", "") for e in first.error]
    assert any("n'a pas répondu en 2\u00a0s" in e or "marqué comme défaillant" in e for e in errors), errors
    second = quick("translation", network="user:Loop")  # session 2: told at once, the model is not run again
    assert not second.exception
    assert any("is marked broken on this server" in e.value for e in second.error)
    assert str(tmp_path) not in shown(first) + shown(second)
    third = quick("feature_maps")  # the shipped network still works
    assert not third.exception and not third.error and any("Prediction" in m.value for m in third.markdown)


def test_a_model_that_exits_leaves_no_blank_page(tmp_path, monkeypatch):
    net = tmp_path / "quits.py"
    net.write_text(EXITING_NET)
    monkeypatch.setenv("CNNVIZ_MODEL", f"{net}:Quits")
    st.cache_resource.clear()
    at = quick("feature_maps", lang="fr", network="user:Quits")
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value.replace("\\", "") for e in at.error]
    assert any("s'est arrêté avec SystemExit: 0" in e and "quits.py" in e for e in errors), errors
    assert str(tmp_path) not in shown(at)


def test_the_test_image_caption_names_no_server_folder():
    from cnnviz.data import images_to_browse

    source = images_to_browse("fashion-mnist").source
    at = app("feature_maps")
    captions = " ".join(c.value for c in at.caption).replace("\\", "")
    if source.startswith("/") and not source.startswith(os.getcwd()):
        assert source not in captions and os.path.basename(source) in captions
