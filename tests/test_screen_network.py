"""AppTest of Feature maps and Translation invariance: the views, links that reproduce them, settings kept
across screens, hostile links, French, and a network without convolution (an MLP run)."""

import json
import math
import re

import pytest
from streamlit.testing.v1 import AppTest

from cnnviz.i18n import catalogue
from tests.apptest import app, chart, decode, open_link, text

HOSTILE = {
    "script": "<script>alert(1)</script>",
    "bold": "<b>bold</b>",
    "image": "![x](http://evil/x.png)",
    "long": "x" * 100_000,
}


def link(page: str, **query) -> AppTest:
    """The app opened on a link to `page` with `query` in its query string (as a browser would)."""
    at = open_link(page, **query)
    assert not at.exception, [e.value for e in at.exception]
    return at


def rendered(at: AppTest) -> str:
    """Every text the reader can see: elements, widget labels, help and options, metrics, chart texts."""
    parts = []
    for kind in ("title", "subheader", "header", "markdown", "caption", "info", "success", "warning", "error",
                 "toast", "code", "text"):
        parts += [str(e.value) for e in at.get(kind)]
    for kind in ("selectbox", "number_input", "slider", "toggle", "radio", "button", "metric"):
        for w in at.get(kind):
            parts += [str(w.label), str(getattr(w, "help", "") or "")]
            parts += [str(o) for o in getattr(w, "options", []) or []]
            if kind == "metric":
                parts.append(str(w.value))
    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        layout = spec.get("layout", {})
        parts.append(str((layout.get("title") or {}).get("text", "")))
        parts += [str(a.get("text", "")) for a in layout.get("annotations", [])]
        parts += [str((v.get("title") or {}).get("text", "")) for k, v in layout.items()
                  if k.startswith(("xaxis", "yaxis")) and isinstance(v, dict)]
        parts += [str(d.get(k, "")) for d in spec.get("data", []) for k in ("name", "hovertemplate")]
    return "\n".join(parts)


def english_left(at: AppTest) -> list[str]:
    """Pieces of more than 3 words of English catalogue texts (not also French) found in the page."""
    seen, fr = rendered(at), set(catalogue("fr").values())
    found = []
    for msg in catalogue("en").values():
        if msg in fr:
            continue
        for piece in re.split(r"\{[^}]*\}", msg):
            piece = piece.strip(" .:;,()*#")
            if len(piece.split()) > 3 and piece in seen:
                found.append(piece)
    return found


def notices(at: AppTest) -> list[str]:
    return [str(n.value) for n in at.toast]


# ---------------------------------------------------------------- Feature maps

def test_feature_maps_change_with_the_image():
    at = app("feature_maps")
    first = [m.value for m in at.markdown if "Prediction" in m.value][0]
    assert "Ankle boot" in first  # test image 0
    mosaics = [el.proto.id for el in at.get("plotly_chart") if "fm_mosaic" in el.proto.id]
    assert mosaics
    at.number_input(key="fm_idx").set_value(1).run()  # test image 1 is a pullover
    second = [m.value for m in at.markdown if "Prediction" in m.value][0]
    assert second != first and "Pullover" in second
    assert at.query_params["idx"] == ["1"] or at.query_params["idx"] == "1"
    conv1 = chart(at, "fm_mosaic_conv1")
    assert conv1["layout"]["title"]["text"] == "conv1 · 32 × 28 × 28"


def test_feature_maps_link_reproduces_the_view():
    at = link("feature_maps", lang="fr", network="fashion_compact.pt", cls="2", idx="3", stage="pool2",
              channel="5", signed="0")
    assert at.radio(key="fm_source").value == "test"
    assert at.selectbox(key="fm_cls").value == "2"
    assert at.selectbox(key="fm_cls").options[3] == "Pull"  # classes in the reader's language
    assert at.number_input(key="fm_idx").value == 3
    assert at.selectbox(key="fm_stage").value == "pool2"
    assert at.number_input(key="fm_channel").value == 5
    assert at.toggle(key="fm_signed").value is False
    assert any("n°\u00a046" in c.value for c in at.caption)  # the 4th pullover of the test set
    assert any(m.value.startswith("## Prédiction\u00a0: **Pull**") for m in at.markdown)
    assert chart(at, "fm_big")["layout"]["title"]["text"] == "pool2, canal 5 · 7×7"
    mosaic = chart(at, "fm_mosaic_conv1")["data"][0]
    assert mosaic["zmin"] != -mosaic["zmax"]  # not the signed scale
    assert not notices(at)


def test_feature_maps_widgets_write_the_link():
    at = app("feature_maps")
    at.selectbox(key="fm_cls").set_value("8").run()  # bags
    at.number_input(key="fm_idx").set_value(2).run()
    at.selectbox(key="fm_stage").set_value("conv2").run()
    at.number_input(key="fm_channel").set_value(7).run()
    at.toggle(key="fm_signed").set_value(False).run()
    q = at.query_params
    assert (q["cls"], q["idx"], q["stage"], q["channel"], q["signed"]) == ("8", "2", "conv2", "7", "0")
    assert "network" not in q  # the default is not repeated in the link
    assert chart(at, "fm_big")["layout"]["title"]["text"] == "conv2, channel 7 · 14×14"


def test_feature_maps_settings_survive_another_screen():
    at = app("feature_maps")
    at.selectbox(key="fm_cls").set_value("2").run()
    at.number_input(key="fm_idx").set_value(1).run()
    at.selectbox(key="fm_stage").set_value("pool1").run()
    at.number_input(key="fm_channel").set_value(9).run()
    at.switch_page("pages/translation.py").run()
    assert at.selectbox(key="shift_cls").value == "any"  # each screen has its own image
    at.switch_page("pages/convolution.py").run()
    at.switch_page("pages/feature_maps.py").run()
    assert not at.exception
    assert (at.selectbox(key="fm_cls").value, at.number_input(key="fm_idx").value) == ("2", 1)
    assert any("#16" in c.value for c in at.caption)
    assert chart(at, "fm_big")["layout"]["title"]["text"] == "pool1, channel 9 · 14×14"
    assert at.query_params["stage"] == "pool1"


def test_a_link_to_an_upload_asks_for_the_file():
    at = link("feature_maps", lang="fr", source="upload", invert="0")
    assert at.radio(key="fm_source").value == "upload"
    assert at.toggle(key="fm_invert").value is False
    assert any("Choisissez un fichier" in i.value for i in at.info)
    assert not at.get("plotly_chart")  # nothing to show until a file comes
    at.radio(key="fm_source").set_value("test").run()
    assert at.query_params.get("source") is None and any("Prédiction" in m.value for m in at.markdown)


# ---------------------------------------------------------------- Translation invariance

def test_translation_shift_changes_the_maps():
    at = app("translation")
    before = chart(at, "shift_m1")  # a heatmap, or a PNG over a heatmap of the channels: compare it all
    at.slider(key="shift_dx").set_value(-3).run()
    after = chart(at, "shift_m1")
    assert json.dumps(before, sort_keys=True) != json.dumps(after, sort_keys=True)
    assert "away from the borders" in text(at)
    heat = chart(at, "shift_heatmap")
    assert decode(heat["data"][0]["z"]).shape == (11, 11)
    assert at.query_params["dx"] == "-3"


def test_translation_link_reproduces_the_view():
    at = link("translation", lang="fr", cls="0", idx="2", dx="-4", dy="3", circular="1", stage="pool1",
              channels="16", k="2", cons_k="6")
    values = (at.selectbox(key="shift_cls").value, at.number_input(key="shift_idx").value,
              at.slider(key="shift_dx").value, at.slider(key="shift_dy").value, at.toggle(key="shift_circular").value,
              at.selectbox(key="shift_stage").value, at.slider(key="shift_channels").value,
              at.slider(key="shift_k").value, at.slider(key="shift_cons_k").value)
    assert values == ("0", 2, -4, 3, True, "pool1", 16, 2, 6)
    assert chart(at, "shift_shifted")["layout"]["title"]["text"].startswith("Décalée (-4, 3) →")
    assert decode(chart(at, "shift_heatmap")["data"][0]["z"]).shape == (5, 5)
    assert "pool1 de l'image décalée" == chart(at, "shift_m1")["layout"]["title"]["text"]
    assert "1 case = 2 pixels" in text(at)
    assert not notices(at)


def test_translation_settings_survive_another_screen():
    at = app("translation")
    at.slider(key="shift_dx").set_value(-3).run()
    at.toggle(key="shift_circular").set_value(True).run()
    at.selectbox(key="shift_stage").set_value("relu2").run()
    at.slider(key="shift_k").set_value(3).run()
    for page in ("convolution", "feature_maps", "translation"):
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception
    assert (at.slider(key="shift_dx").value, at.toggle(key="shift_circular").value,
            at.selectbox(key="shift_stage").value, at.slider(key="shift_k").value) == (-3, True, "relu2", 3)
    assert decode(chart(at, "shift_heatmap")["data"][0]["z"]).shape == (7, 7)
    assert dict(at.query_params) == {"lang": "en", "dx": "-3", "circular": "1", "stage": "relu2", "k": "3"}


def test_translation_consistency_is_measured_once_per_server():
    at = app("translation")
    if not at.metric:  # not measured yet by another session of this server
        at.button(key="shift_measure").click().run(timeout=300)  # 2 × 10,000 images: slow on a busy CPU
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    value = float([v for k, v in metrics.items() if k.startswith("Consistency")][0].rstrip("%"))
    assert 50 < value < 100
    other = link("translation", lang="fr")  # another session: the measure is there, in French
    metrics = {m.label: m.value for m in other.metric}
    assert metrics["Cohérence, décalages jusqu'à 3\u00a0px"] == f"{value:.2f}".replace(".", ",") + "\u00a0%"
    assert not [b for b in other.button if b.key == "shift_measure"]


# ---------------------------------------------------------------- hostile links, French

BAD_LINKS = {
    "feature_maps": dict(network=HOSTILE["script"], cls=HOSTILE["bold"], idx="abc", stage=HOSTILE["image"],
                         channel="99999999", signed="maybe", source=HOSTILE["long"], invert="2"),
    "translation": dict(network="nowhere.pt", dx="100", dy="1.5", stage=HOSTILE["long"], channels="5",
                        k="1e3", cons_k="-1", circular=HOSTILE["script"], cls="11", idx="-4"),
}


@pytest.mark.parametrize("page", list(BAD_LINKS))
def test_hostile_links_are_ignored_with_a_notice(page):
    at = link(page, lang="en", **BAD_LINKS[page])
    assert not at.error, [e.value for e in at.error]
    assert any("were not valid and were ignored" in n for n in notices(at)), notices(at)
    from ui.screens import BY_ID

    screen = BY_ID[page]
    for f in screen.fields:  # every value of the link was refused: the defaults stand
        assert at.session_state[screen.key(f.name)] == f.default, f.name
    seen = rendered(at)
    for needle in ("<script", "alert(1)", "<b>", "evil", "xxxxxxxxxx", "nowhere.pt", "99999999"):
        assert needle not in seen, needle
    assert dict(at.query_params) == {"lang": "en"}  # the bad values are gone from the address bar


@pytest.mark.parametrize("page, stage, shown", [("feature_maps", "conv9", "relu1"), ("translation", "fc1", "conv1")])
def test_a_layer_this_network_lacks_falls_back_with_a_notice(page, stage, shown):
    prefix = {"feature_maps": "fm_", "translation": "shift_"}[page]
    at = link(page, stage=stage)
    assert at.selectbox(key=prefix + "stage").value == shown
    assert any(stage in n and shown in n for n in notices(at)), notices(at)


@pytest.mark.parametrize("page", ["feature_maps", "translation"])
def test_screens_in_french_show_no_english(page):
    at = link(page, lang="fr")
    assert english_left(at) == []
    assert "Prédiction" in rendered(at) or "prédiction" in rendered(at)


# ---------------------------------------------------------------- a network without convolution (issue 15)

@pytest.fixture
def mlp_run(tmp_path, monkeypatch):
    """An MLP checkpoint in a runs folder of its own (accuracy not measured: NaN)."""
    from cnnviz.checkpoints import save_checkpoint
    from cnnviz.data import DATASETS
    from cnnviz.models import MLP

    monkeypatch.setenv("CNNVIZ_RUNS", str(tmp_path))
    meta = dict(dataset="fashion-mnist", classes=list(DATASETS["fashion-mnist"][0]), input_shape=[1, 28, 28],
                test_accuracy=math.nan)
    return save_checkpoint(tmp_path / "fashion-mnist_mlp_test.pt", MLP(), "mlp", meta).name


def test_translation_with_an_mlp_shows_the_shift_and_the_predictions(mlp_run):
    at = link("translation", network=mlp_run, dx="3")
    assert at.selectbox(key="shift_network").value == mlp_run
    assert not at.error
    assert any("no convolution" in i.value for i in at.info)
    ids = " ".join(el.proto.id for el in at.get("plotly_chart"))
    assert all(k in ids for k in ("shift_orig", "shift_shifted", "shift_curves", "shift_heatmap"))
    assert "shift_m0" not in ids and "shift_stage" not in [s.key for s in at.selectbox]
    at.slider(key="shift_dx").set_value(-5).run()
    at.button(key="shift_measure").click().run(timeout=300)
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Test accuracy (unshifted)"] == "—"
    assert any(k.startswith("Consistency") for k in metrics)


def test_feature_maps_with_an_mlp_says_it_has_no_maps(mlp_run):
    at = link("feature_maps", network=mlp_run)
    assert at.selectbox(key="fm_network").value == mlp_run
    assert any("no convolution layers" in i.value for i in at.info)
    assert any("Prediction" in m.value for m in at.markdown)
    assert any("not measured" in c.value for c in at.sidebar.caption)


def test_a_link_names_the_servers_own_model(tmp_path, monkeypatch):
    """CNNVIZ_MODEL's network is offered as "user:<Class>": a link may name it (accuracy: not measured)."""
    import importlib.util
    from pathlib import Path

    import streamlit as st
    import torch

    net = Path(__file__).parent / "fixtures" / "course_net.py"
    spec = importlib.util.spec_from_file_location("course_net_for_links", net)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.save(module.Net().state_dict(), tmp_path / "net.pt")
    monkeypatch.setenv("CNNVIZ_MODEL", f"{net}:Net")
    monkeypatch.setenv("CNNVIZ_WEIGHTS", str(tmp_path / "net.pt"))
    st.cache_resource.clear()
    at = link("feature_maps", network="user:Net", stage="max_pool2d")
    assert not at.error, [e.value for e in at.error]
    assert at.selectbox(key="fm_network").value == "user:Net" and not notices(at)
    assert at.selectbox(key="fm_stage").value == "max_pool2d"
    assert any("not measured" in c.value for c in at.sidebar.caption)
    at = link("translation", network="user:Net", stage="conv2")
    assert at.selectbox(key="shift_stage").value == "conv2" and not notices(at) and not at.error
