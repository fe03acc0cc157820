"""AppTest of Training and Architecture: settings, links, the URL, persistence across screens, hostile links,
French, the architecture editor's checks, and the training job's settings shown beside it."""

import time

import pytest
from streamlit.testing.v1 import AppTest

from cnnviz.layers import format_layers, parse_layers
from tests.apptest import app, button, chart, open_link, param, text, undeclared_keys
from ui.screens import ARCH_SHAPES, BY_ID


def shown(at: AppTest) -> str:
    parts = [text(at)] + [el.value for kind in ("success", "error", "info", "caption", "toast", "title")
                          for el in getattr(at, kind)]
    return "\n".join(map(str, parts))


def nbsp(s: str) -> str:
    return s.replace("\u202f", " ").replace("\u00a0", " ")


# ---------------------------------------------------------------- architecture

def test_architecture_todo_and_collapse():
    at = app("architecture")
    assert any("836,096" in s.value for s in at.success)
    assert "nn.Linear(256 * 46 * 71, 120)" in text(at)
    at.selectbox(key="arch_preset").set_value("cifar").run()
    assert any("**256**" in s.value for s in at.success)
    at.selectbox(key="arch_preset").set_value("fmnist").run()
    assert not at.exception
    assert any("conv3" in e.value and "collapses" in e.value for e in at.error)


def test_architecture_link_reproduces_the_view_in_french():
    at = open_link("architecture", lang="fr", preset="custom", c="1", h="64", w="64", layers="16-3-1-1;32-3-1-1",
                   fc="50", rf_stage="pool1", rf_row="3", rf_col="4")
    assert not at.exception and not at.error
    assert at.selectbox(key="arch_preset").value == "custom"
    assert [at.number_input(key=f"arch_{k}").value for k in ("c", "h", "w", "fc")] == [1, 64, 64, 50]
    assert at.selectbox(key="arch_rf_stage").value == "pool1"
    assert at.number_input(key="arch_rf_row").value == 3 and at.number_input(key="arch_rf_col").value == 4
    success = nbsp(at.success[0].value)
    assert "nn.Linear(32 * 16 * 16, 50)" in success and "**8 192**" in success and "entrées" in success
    assert at.title[0].value == "Architecture"
    assert "Champ récepteur" in [s.value for s in at.header]
    table = at.dataframe[0].value  # the layers' table holds the linked layers
    assert table["out_channels"].tolist() == [16, 32] and table["pool"].tolist() == [True, True]


def test_architecture_widgets_update_the_url():
    at = app("architecture")
    at.selectbox(key="arch_preset").set_value("cifar").run()
    at.number_input(key="arch_fc").set_value(84).run()
    assert param(at, "preset") == "cifar" and param(at, "fc") == "84"
    at.number_input(key="arch_fc").set_value(120).run()  # back to the default: not in the link
    assert "fc" not in at.query_params
    at.session_state["arch_editor_1"] = {"edited_rows": {0: {"out_channels": 16}}, "added_rows": [],
                                        "deleted_rows": []}
    at.run()  # an edit in the table, as the browser sends it
    assert param(at, "layers") == "16-11-0-1;128-5-0-1;256-3-0-0"


def test_architecture_settings_survive_a_visit_to_another_screen():
    at = app("architecture")
    at.selectbox(key="arch_preset").set_value("cifar").run()
    at.session_state["arch_editor_1"] = {"edited_rows": {1: {"padding": 2}}, "added_rows": [], "deleted_rows": [2]}
    at.run()
    assert at.session_state["arch_layers"] == "64-11-0-1;128-5-2-1"
    at.switch_page("pages/convolution.py").run()
    at.switch_page("pages/home.py").run()
    at.switch_page("pages/architecture.py").run()
    assert not at.exception and not at.error
    assert at.selectbox(key="arch_preset").value == "cifar"
    assert at.dataframe[0].value["padding"].tolist() == [0, 2]  # the table shows the edited layers
    assert "nn.Linear(128 * 5 * 5, 120)" in at.success[0].value


def test_architecture_editor_refuses_a_rewritten_message():
    """Issue 15 item 7: negative filters or kernels sent by a rewritten websocket message never reach the model."""
    at = app("architecture")
    at.session_state["arch_editor_1"] = {"edited_rows": {0: {"out_channels": -5, "kernel": -3}}, "added_rows": [],
                                        "deleted_rows": []}
    at.run()
    assert not at.exception
    assert any("cannot produce" in e.value for e in at.error)
    assert any("Layer 1" in e.value and "-5" in e.value for e in at.error)  # the library names the row
    assert at.session_state["arch_layers"] == "64-11-0-1;128-5-0-1;256-3-0-0"
    assert "nn.Linear(256 * 46 * 71, 120)" in text(at)  # the last valid layers are used
    at.run()  # and the table shows them again
    assert not at.error and at.dataframe[0].value["out_channels"].tolist() == [64, 128, 256]
    at.session_state["arch_editor_2"] = {"edited_rows": {}, "added_rows": [{"out_channels": "<b>9</b>"}],
                                        "deleted_rows": []}
    at.run()
    assert not at.exception and "<b>" not in shown(at)


@pytest.mark.parametrize("text_, ok", [
    ("64-11-0-1;128-5-0-1;256-3-0-0", True), ("1-1-0-0", True), ("-3-3-0-0", False), ("64--11-0-1", False),
    ("0-3-0-0", False), ("2000-3-0-0", False), ("8-16-0-0", False), ("8-3-11-0", False), ("8-3-0-2", False),
    ("", False), ("8-3-0", False), ("8-3-0-0;" * 17, False), ("8-3-9-0", False), ("٣-3-0-0", False), ("<b>1</b>", False),
])
def test_layers_text_is_checked(text_, ok):
    field = BY_ID["architecture"].field("layers")
    if ok:
        assert format_layers(parse_layers(field.parse(text_))) == text_
    else:
        with pytest.raises(ValueError):
            field.parse(text_)


@pytest.mark.parametrize("position, name", [(0, "out_channels"), (1, "kernel"), (2, "padding")])
def test_layers_text_takes_the_library_s_limits(position, name):
    from cnnviz.architecture import LIMITS, MAX_LAYERS

    lo, hi = LIMITS[name]
    row = [8, 3, 1, 1]
    for value, ok in ((lo, True), (hi, True), (lo - 1, False), (hi + 1, False)):
        row[position] = value
        text_ = "-".join(map(str, row))
        if ok:
            assert parse_layers(text_) == (tuple(row),)
        else:
            with pytest.raises(ValueError):
                parse_layers(text_)
    assert len(parse_layers(";".join(["8-3-1-1"] * MAX_LAYERS))) == MAX_LAYERS


def test_layers_from_a_table_are_whole_numbers_in_range():
    assert format_layers([(16.0, 3.0, 1.0, True)]) == "16-3-1-1"
    for row in [(16.5, 3, 1, 0), ("16", 3, 1, 0), (float("nan"), 3, 1, 0), (-16, 3, 1, 0), (16, 3, 1, 2)]:
        with pytest.raises(ValueError):
            format_layers([row])


ARCH_HOSTILE = {"preset": "<script>alert(1)</script>", "c": "9", "h": "abc", "w": "1e9", "fc": "-1",
                "layers": "![x](http://evil.example/x.png)", "rf_stage": "<b>conv1</b>", "rf_row": "1" * 100_000,
                "rf_col": "-7", "zzz": "<img src=x>"}


def test_architecture_hostile_link_values_are_ignored_with_a_notice():
    at = open_link("architecture", lang="en", **ARCH_HOSTILE)
    assert not at.exception and not at.error
    assert at.selectbox(key="arch_preset").value == "slide" and at.number_input(key="arch_fc").value == 120
    assert at.session_state["arch_layers"] == "64-11-0-1;128-5-0-1;256-3-0-0"
    notices = " ".join(t.value for t in at.toast)
    assert "ignored" in notices and "layers" in notices and "preset" in notices
    page = shown(at)
    assert "evil" not in page and "<script>" not in page and "<img" not in page and "<b>" not in page


# ---------------------------------------------------------------- training

def test_training_choices_are_the_library_s():
    from cnnviz.data import DATASETS
    from cnnviz.loop import LOSSES
    from cnnviz.models import ARCHITECTURES
    from cnnviz.training import CUSTOM_MODEL

    screen = BY_ID["training"]
    assert screen.field("dataset").choices == tuple(DATASETS) and screen.field("loss").choices == tuple(LOSSES)
    assert screen.field("model").choices == (*ARCHITECTURES, CUSTOM_MODEL) and "custom" in ARCH_SHAPES


def test_training_link_reproduces_the_view_in_french():
    at = open_link("training", lang="fr", model="mlp", loss="mse", lr="0.2", momentum="0.5", batch="256",
                   epochs="3", subset="2000", seed="7")
    assert not at.exception and not at.error
    assert at.selectbox(key="train_model").value == "mlp" and at.selectbox(key="train_loss").value == "mse"
    assert at.number_input(key="train_lr").value == 0.2 and at.number_input(key="train_batch").value == 256
    assert [at.number_input(key=f"train_{k}").value for k in ("momentum", "epochs", "subset", "seed")] == \
        [0.5, 3, 2000, 7]
    assert at.title[0].value == "Entraînement"
    assert button(at, "Démarrer") and "MLP (couches linéaires, pour comparer)" in at.selectbox(key="train_model").options


def test_training_widgets_update_the_url():
    at = app("training")
    at.number_input(key="train_lr").set_value(0.2).run()
    at.selectbox(key="train_model").set_value("mlp").run()
    assert param(at, "lr") == "0.2" and param(at, "model") == "mlp"
    button(at, "Course preset").click().run()
    assert param(at, "lr") == "0.001" and at.number_input(key="train_lr").value == 0.001


def test_training_settings_survive_a_visit_to_another_screen():
    at = app("training")
    at.selectbox(key="train_loss").set_value("mse").run()
    at.number_input(key="train_lr").set_value(0.2).run()
    at.number_input(key="train_batch").set_value(256).run()
    at.switch_page("pages/architecture.py").run()
    at.switch_page("pages/training.py").run()
    assert not at.exception
    assert at.selectbox(key="train_loss").value == "mse"
    assert (at.number_input(key="train_lr").value, at.number_input(key="train_batch").value) == (0.2, 256)


def test_training_dataset_not_installed_offers_a_download(monkeypatch):
    import ui.widgets

    def missing(name, split, download=False):
        from cnnviz import DatasetUnavailable

        raise DatasetUnavailable("err.data_not_idx", path="data")

    at = app("training", lang="fr")
    monkeypatch.setattr(ui.widgets, "load_dataset", missing)  # nothing installed, nothing downloaded
    ui.widgets.dataset.clear()
    try:
        at.selectbox(key="train_dataset").set_value("cifar10").run()
        assert not at.exception and at.error
        assert "Télécharger l'ensemble de données" in [b.label for b in at.button]
        assert "train_job" not in at.session_state
    finally:
        ui.widgets.dataset.clear()


TRAIN_HOSTILE = {"dataset": "<script>", "model": "![x](http://evil.example/x.png)", "loss": "<b>l2</b>",
                 "lr": "nan", "momentum": "2", "batch": "1e9", "epochs": "abc", "subset": "-1", "seed": "1" * 100_000}


def test_training_hostile_link_values_are_ignored_with_a_notice():
    at = open_link("training", lang="en", **TRAIN_HOSTILE)
    assert not at.exception and not at.error
    assert at.selectbox(key="train_model").value == "compact" and at.number_input(key="train_lr").value == 0.05
    assert at.number_input(key="train_batch").value == 64 and at.number_input(key="train_momentum").value == 0.9
    notices = " ".join(t.value for t in at.toast)
    assert "ignored" in notices and "lr" in notices and "model" in notices
    page = shown(at)
    assert "evil" not in page and "<script>" not in page and "<b>" not in page


def start_training(tmp_path, monkeypatch, lang: str = "en", **numbers):
    """The Training screen in `lang` (runs saved under tmp_path) with these number settings, then Start: (at, job)."""
    monkeypatch.setenv("CNNVIZ_RUNS", str(tmp_path))
    at = app("training", lang=lang)
    for name, value in numbers.items():
        at.number_input(key=f"train_{name}").set_value(value).run()
    button(at, "Démarrer" if lang == "fr" else "Start").click().run()
    assert not at.exception
    return at, at.session_state["train_job"]


def wait_for(job, steps: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while job.snapshot().step < steps and job.alive and time.monotonic() < deadline:
        time.sleep(0.1)


def test_training_shows_the_job_s_settings_after_a_visit(tmp_path, monkeypatch):
    """Issue 10: Training showed lr 0.05 / batch 64 beside a job running with lr 0.2 / batch 256."""
    at, job = start_training(tmp_path, monkeypatch, lr=0.2, batch=256, subset=50_000)
    try:
        assert job.config.lr == 0.2 and job.config.batch_size == 256
        at.session_state["train_lr"], at.session_state["train_batch"] = 0.05, 64  # what the old screen showed
        at.switch_page("pages/home.py").run()
        at.switch_page("pages/training.py").run()
        assert not at.exception
        lr, batch = at.number_input(key="train_lr"), at.number_input(key="train_batch")
        assert (lr.value, batch.value) == (0.2, 256) and lr.disabled and batch.disabled
        assert param(at, "lr") == "0.2" and param(at, "batch") == "256"
        assert any("settings of the current training" in c.value for c in at.caption)
        # a link with other settings, opened in the same session, does not change what the job runs with
        at.query_params.update({"lr": "0.01", "batch": "32"})
        at.run()
        assert at.number_input(key="train_lr").value == 0.2 and at.number_input(key="train_batch").value == 256
    finally:
        job.close(30)


def test_training_start_stop_report(tmp_path, monkeypatch):
    at, job = start_training(tmp_path, monkeypatch, subset=0, epochs=20)  # 60,000 images × 20: it runs until Stop
    widgets: set[str] = set()
    try:
        wait_for(job, 20)
        assert job.alive and job.snapshot().step >= 20
        at.run()  # fragments do not tick in AppTest: poll by running again
        assert any(el.proto.id and "train_loss_chart" in el.proto.id for el in at.get("plotly_chart"))
        # watch it learn: conv1's filters and maps from the loop's weight copy
        assert chart(at, "train_live_filters") and chart(at, "train_live_maps")["layout"]["title"]["text"].startswith(
            "conv1's feature maps")
        assert not undeclared_keys(at, widgets)
        button(at, "Stop").click().run()  # answers at once; the test phase follows in the job's thread
        assert not at.exception
        assert job.wait(300)
        at.run()
        assert job.snapshot().status == "stopped"
        assert any(m.label == "Test accuracy" for m in at.metric)
        report = next(d.value for d in at.dataframe if "precision" in d.value.columns)  # a table, not sklearn's text
        assert report["cls"].tolist()[:2] == ["T-shirt/top", "Trouser"]
        assert sum(int(v.replace(",", "")) for v in report["support"][:10]) == 10_000  # written as the app writes
        assert chart(at, "train_confusion")["data"][0]["type"] == "heatmap"
        saved = list(tmp_path.glob("*.pt"))
        assert len(saved) == 1  # saved once, by the job itself
        at.run()
        assert len(list(tmp_path.glob("*.pt"))) == 1  # a rerun saves nothing more
        assert any(saved[0].name in c.value.replace("\\", "") for c in at.caption)
        assert not undeclared_keys(at, widgets)
        # a misclassified image opens in the feature-map screen, with the network just trained
        opens = [b for b in at.button if b.label == "Inspect"]
        assert opens
        wrong = int(opens[0].key.rsplit("_", 1)[1])
        opens[0].click().run()
        assert not at.exception, [e.value for e in at.exception]
        assert at.session_state["fm_network"] == saved[0].name and at.session_state["fm_idx"] == wrong
        assert at.session_state["fm_cls"] == "any" and at.session_state["fm_source"] == "test"
        assert param(at, "network") == saved[0].name and param(at, "idx") == (str(wrong) if wrong else None)  # 0 is the default: not in the link
        assert any(f"#{wrong}" in c.value for c in at.caption), [c.value for c in at.caption]
        at.switch_page("pages/training.py").run()
        button(at, "Reset").click().run()
        assert "train_job" not in at.session_state and job.progress.status == "closed"
        assert at.number_input(key="train_lr").disabled is False
        assert not undeclared_keys(at, widgets)
    finally:
        job.close(30)


def test_training_in_french_after_a_run(tmp_path, monkeypatch):
    at, job = start_training(tmp_path, monkeypatch, "fr", subset=1000, batch=100, epochs=1)
    try:
        assert job.wait(120)
        at.run()
        assert not at.exception
        assert any(m.label == "Exactitude sur l'ensemble de test" for m in at.metric)
        assert any("arrêté" in i.value or "terminé" in i.value for i in at.info)
        assert [s.value for s in at.header] == ["Phase de test", "Revoir l'entraînement pas à pas",
                                                "Comparer des entraînements"]
        metric = next(m for m in at.metric if m.label == "Exactitude sur l'ensemble de test")
        assert "," in metric.value and "%" in metric.value  # "71,30 %"
        assert "Examiner" in [b.label for b in at.button]
    finally:
        job.close(30)


def test_owner_alive_asks_the_server_with_a_grace(monkeypatch):
    import streamlit.runtime as runtime
    import streamlit.runtime.scriptrunner as scriptrunner

    from ui import training_slots

    assert training_slots.owner_alive_check() is None  # no server (AppTest, bare mode): no owner check

    class Runtime:
        active = True

        @staticmethod
        def exists():
            return True

        @classmethod
        def instance(cls):
            return cls

        @classmethod
        def is_active_session(cls, session_id):
            assert session_id == "s1"
            return cls.active

    class Ctx:
        session_id = "s1"

    monkeypatch.setattr(runtime, "Runtime", Runtime)
    monkeypatch.setattr(scriptrunner, "get_script_run_ctx", lambda: Ctx)
    clock = [100.0]
    monkeypatch.setattr(training_slots.time, "monotonic", lambda: clock[0])
    alive = training_slots.owner_alive_check(grace=30)
    assert alive()
    Runtime.active = False  # the tab closed, or the network hiccups
    clock[0] += 10
    assert alive()  # still within the grace
    clock[0] += 25
    assert not alive()
    Runtime.active = True  # reconnected
    assert alive()


# ---------------------------------------------------------------- issue 12: your own network

def test_design_then_train_opens_training_with_the_network():
    at = app("architecture")
    at.selectbox(key="arch_preset").set_value("slide").run()
    assert button(at, "Train this network").disabled  # no dataset has the slide's input shape
    at.selectbox(key="arch_preset").set_value("fmnist").run()
    at.session_state["arch_layers"] = "8-3-1-1;16-3-1-1"
    at.run()
    at.checkbox(key="arch_bn").check().run()
    at.number_input(key="arch_dropout").set_value(0.1).run()
    assert param(at, "bn") == "1" and param(at, "dropout") == "0.1"
    button(at, "Train this network").click().run()
    assert not at.exception
    at.switch_page("pages/training.py").run()  # AppTest's next run stays on the page it was given
    assert not at.exception and not at.error
    assert at.selectbox(key="train_model").value == "custom" and at.selectbox(key="train_dataset").value == "fashion-mnist"
    assert (param(at, "model"), param(at, "layers"), param(at, "bn"), param(at, "dropout")) == \
        ("custom", "8-3-1-1;16-3-1-1", None, "0.1")  # bn: on is the Training default
    assert param(at, "fc") == "120"
    # 8·1·9+8 + 2·8 + 16·8·9+16 + 2·16 + 784·120+120 + 120·10+10 parameters
    n = 80 + 16 + 1168 + 32 + 94200 + 1210
    preview = next(i.value for i in at.info if "parameters" in i.value)
    assert f"**{n:,}**" in preview and "per epoch" not in preview and " s** on this machine" in preview
    assert any("8-3-1-1;16-3-1-1" in c.value for c in at.caption)


def test_custom_network_link_reproduces_the_view_in_french():
    at = open_link("training", lang="fr", model="custom", layers="4-5-2-1", fc="32", bn="0", dropout="0.5", val="20",
                   subset="1000", live="0")
    assert not at.exception and not at.error
    assert at.selectbox(key="train_model").value == "custom" and at.number_input(key="train_val").value == 20
    assert at.toggle(key="train_live").value is False
    caption = next(c.value for c in at.caption if "4-5-2-1" in c.value)
    assert "fc1 de 32 neurones" in caption and "normalisation par lots (batchnorm)\u00a0: non" in caption and "0,50" in caption
    n = 4 * 25 + 4 + 4 * 14 * 14 * 32 + 32 + 330
    preview = nbsp(next(i.value for i in at.info if "paramètres" in i.value))
    assert f"**{n:,}**".replace(",", " ") in preview and "800 images d'entraînement, 200 images de validation" in preview
    assert "Mon réseau (écran Architecture)" in at.selectbox(key="train_model").options


def test_custom_network_hostile_link_values_are_ignored():
    at = open_link("training", model="custom", layers="<script>alert(1)</script>", fc="1e9", bn="maybe",
                   dropout="2", val="99", live="<b>")
    assert not at.exception and not at.error
    assert param(at, "layers") is None and at.session_state["train_layers"] == "32-3-1-1;64-3-1-1;128-3-1-1"
    assert at.number_input(key="train_val").value == 10
    notices = " ".join(t.value for t in at.toast)
    assert all(name in notices for name in ("layers", "fc", "bn", "dropout", "val", "live"))
    assert "<script>" not in shown(at) and "<b>" not in shown(at)


def test_device_cuda_without_a_gpu_says_so_and_uses_the_cpu(monkeypatch):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    monkeypatch.setenv("CNNVIZ_DEVICE", "cuda")
    at = app("training", lang="fr")
    assert not at.exception
    assert any("CNNVIZ_DEVICE=cuda demande un GPU" in w.value and "processeur (CPU)" in w.value for w in at.warning)
    assert any(c.value == "Calcul sur le processeur (CPU)" for c in at.caption)  # words, not the id "cpu"


def test_runs_compared_renamed_exported_and_deleted(tmp_path, monkeypatch):
    at, job = start_training(tmp_path, monkeypatch, "fr", subset=1000, epochs=1, batch=100)
    try:
        assert job.wait(180) and len(job.validation_indices) == 100
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        report = next(d for d in at.dataframe if "precision" in d.value.columns)
        run = job.snapshot().saved_path.rsplit("/", 1)[1]
        assert at.multiselect(key="train_compare").value == [run]  # this session's run, chosen by default
        assert chart(at, "train_epoch_chart")["layout"]["annotations"][0]["text"].startswith("Coût par époque")
        compare = chart(at, "train_compare_chart")
        assert compare["data"][0]["name"] == run
        table = next(d.value for d in at.dataframe if "lr" in d.value.columns)
        assert table["run"].tolist() == [run] and table["val"].tolist() == ["10\u00a0%"] and table["batch"].tolist() == ["100"]
        assert table["dataset"].tolist() == ["Fashion-MNIST"]  # a name, not the id "fashion-mnist"
        assert report.value["cls"].tolist()[0] == "T-shirt/haut"  # translated class names
        assert len(at.get("download_button")) == 2  # the run just trained, and the one picked below
        at.text_input(key="train_rename_to").set_value("../evil").run()
        button(at, "Renommer").click().run()
        assert any("ne peut pas être le nom" in e.value for e in at.error) and (tmp_path / run).exists()
        at.text_input(key="train_rename_to").set_value("taux 0,05").run()
        button(at, "Renommer").click().run()
        assert any("ne peut pas être le nom" in e.value for e in at.error)  # a comma is not a plain file character
        at.text_input(key="train_rename_to").set_value("lr 0.05").run()
        button(at, "Renommer").click().run()
        assert not at.exception and (tmp_path / "lr 0.05.pt").exists() and not (tmp_path / run).exists()
        assert at.multiselect(key="train_compare").value == ["lr 0.05.pt"]
        at.checkbox(key="train_delete_sure_lr 0.05.pt").check().run()
        button(at, "Supprimer").click().run()
        assert not at.exception and not list(tmp_path.glob("*.pt"))
        assert any("Aucun entraînement enregistré" in c.value for c in at.caption)
    finally:
        job.close(30)


def test_a_custom_run_reopens_in_feature_maps_and_translation(tmp_path, monkeypatch):
    import numpy as np

    from cnnviz.data import FASHION_MNIST_CLASSES, Dataset
    from cnnviz.layers import net_from_layers
    from cnnviz.training import TrainConfig, TrainingJob

    monkeypatch.setenv("CNNVIZ_RUNS", str(tmp_path))
    rng = np.random.default_rng(0)
    data = Dataset("fashion-mnist", "train", rng.integers(0, 256, (256, 28, 28), dtype=np.uint8),
                   rng.integers(0, 10, 256).astype(np.int64), FASHION_MNIST_CLASSES, "synthetic")
    cfg = TrainConfig(arch="convnet", net=net_from_layers("6-5-2-1;12-3-0-0", 24, True, 0.2, (1, 28, 28), 10), max_steps=2,
                      eval_each_epoch=False)
    job = TrainingJob(cfg, data, data, runs_dir=tmp_path)
    job.run()
    name = job.save().name
    for page, stage in (("feature_maps", "relu2"), ("translation", "conv2")):
        at = open_link(page, network=name, stage=stage)
        assert not at.exception and not at.error, [e.value for e in at.error]
        assert param(at, "network") == name and param(at, "stage") == stage


def test_a_linked_network_too_large_is_refused_with_a_message():
    at = open_link("training", lang="fr", model="custom", layers=";".join(["1024-15-7-0"] * 16))
    assert not at.exception
    assert any("trop grand pour être entraîné" in e.value for e in at.error)
    assert "Démarrer" not in [b.label for b in at.button]  # the page stopped before Start
    assert param(at, "layers") == ";".join(["1024-15-7-0"] * 16)  # the link is kept, only refused


def test_the_layer_table_writes_numbers_in_the_app_s_language():
    """Not the browser's: a NumberColumn's "localized" format showed "23,296" to a French reader."""
    at = open_link("architecture", lang="fr", preset="slide")
    table = at.dataframe[-1].value.set_index("layer")
    assert nbsp(table.loc["conv1", "parameters"]) == "23 296" and nbsp(table.loc["fc1", "parameters"]) == "100 331 640"
    assert nbsp(table.loc["flatten", "output"]) == "836 096"
    assert table.loc["conv1", "rows"] == "⌊(210 − 11)/1⌋ + 1 = 200"  # no padding, no dilation: the course's form
    assert nbsp(table.loc["fc1", "formula"]) == "paramètres 120×836 096 + 120 = 100 331 640"
    assert "836 096 entrées" in nbsp(text(at))  # the generated code's comment too
    at = open_link("architecture", lang="en", preset="slide")
    assert at.dataframe[-1].value.set_index("layer").loc["conv1", "parameters"] == "23,296"


def test_the_slide_s_shape_says_how_to_train_it():
    at = app("architecture")
    assert button(at, "Train this network").disabled
    button(at, "Use CIFAR-10's 3×32×32 input to train it").click().run()
    assert at.selectbox(key="arch_preset").value == "cifar" and not button(at, "Train this network").disabled
    assert not [b for b in at.button if b.label.startswith("Use CIFAR-10")]


def test_train_this_network_needs_a_dataset_s_input_shape():
    at = open_link("architecture", preset="custom", c="1", h="28", w="28", layers="8-3-1-1")
    assert not at.exception and not button(at, "Train this network").disabled
    at = open_link("architecture", preset="custom", c="1", h="29", w="28", layers="8-3-1-1")
    assert button(at, "Train this network").disabled and any("CIFAR-10 (3 × 32 × 32)" in c.value for c in at.caption)


def test_batch_norm_and_dropout_options_reach_the_table_and_the_code():
    at = open_link("architecture", lang="fr", preset="fmnist", layers="8-3-1-1", bn="1", dropout="0.25")
    assert not at.exception and not at.error
    assert at.checkbox(key="arch_bn").value is True and at.number_input(key="arch_dropout").value == 0.25
    table = at.dataframe[-1].value
    assert table["layer"].tolist()[:2] == ["conv1", "bn1"] and table["parameters"].tolist()[1] == "16"
    code = text(at)
    assert "self.bn1 = nn.BatchNorm2d(8)" in code and "F.relu(self.bn1(self.conv1(x)))" in code
    assert "self.dropout = nn.Dropout(0.25)" in code and "x = self.dropout(x)" in code
