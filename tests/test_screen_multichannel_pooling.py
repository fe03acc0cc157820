"""AppTest of the Multi-channel and Pooling screens: the course's examples, links, visits to other screens,
hostile links, French."""

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from cnnviz.i18n import catalogue
from cnnviz.ops import SEED_POOL_INPUT, SEED_POOL_OUTPUT, filter_bank, format_filter
from tests.apptest import app, button, chart, open_link, text, z


def linked(page: str, **query) -> AppTest:
    """The app opened from a link to `page` with `query` (the way a browser arrives)."""
    at = open_link(page, **query)
    assert not at.exception, [e.value for e in at.exception]
    return at


def shown(at: AppTest) -> str:
    """Everything the page sent to the browser (elements' protos, with their labels, values and charts)."""
    out = []

    def walk(node):
        if getattr(node, "proto", None) is not None:
            out.append(str(node.proto))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return "\n".join(out)


def visible_texts(at: AppTest) -> list[str]:
    """The texts a reader sees: markdown, captions, messages, labels and help of widgets."""
    texts = [e.value for kind in ("markdown", "caption", "error", "info", "success", "warning", "title",
                                  "header", "subheader") for e in at.get(kind)]
    for kind in ("slider", "number_input", "text_area", "text_input", "radio", "selectbox", "toggle", "button"):
        for w in at.get(kind):
            texts += [w.label, getattr(w, "help", "") or ""]
            texts += [str(o) for o in getattr(w, "options", [])]
    return texts


def assert_no_english(at: AppTest) -> None:
    english = {v for k, v in catalogue("en").items() if len(v.split()) > 3 and v != catalogue("fr").get(k)}
    seen = "\n".join(visible_texts(at))
    found = [s for s in english if s in seen]
    assert not found, found


# ---------------------------------------------------------------- multi-channel

def test_multichannel():
    at = app("multichannel")
    assert "F×C×k×k + F = 2×3×3×3 + 2 = **56**" in text(at)
    at.slider(key="mc_filters").set_value(3).run()
    assert "3×3×3×3 + 3 = **84**" in text(at)
    maps = chart(at, "mc_maps_0")
    partials = [z(maps, i) for i in range(3)]
    np.testing.assert_allclose(partials[0] + partials[1] + partials[2], z(maps, 3), atol=1e-9)
    at.toggle(key="mc_use_bias").set_value(True).run()
    maps = chart(at, "mc_maps_0")
    np.testing.assert_allclose(sum(z(maps, i) for i in range(3)) + 1, z(maps, 3), atol=1e-9)
    assert any("Output (filter 1, row 0, column 0)" in s.value for s in at.success)
    at.text_input(key="mc_bias").set_value("1, 2").run()  # 3 filters, 2 values
    assert any("needs 3 values" in e.value for e in at.error)
    at.text_input(key="mc_bias").set_value("1 2 -0.5").run()
    np.testing.assert_allclose(z(chart(at, "mc_maps_2"), 3), sum(z(chart(at, "mc_maps_2"), i) for i in range(3)) - 0.5)


def test_multichannel_bad_filter_text_then_back_to_the_preset():
    at = app("multichannel")
    at.text_area(key="mc_f0").set_value("1 2\n3 4").run()
    assert any("needs 3 kernels" in e.value for e in at.error)
    assert at.session_state["mc_edited"] and at.query_params["edited"] == "1"
    button(at, "Back to the preset's filters").click().run()
    assert not at.error and at.text_area(key="mc_f0").value == format_filter(filter_bank("random", 4, 3, 3, 0)[0])


def test_multichannel_presets():
    at = app("multichannel")
    at.selectbox(key="mc_preset").set_value("edges").run()
    assert z(chart(at, "mc_kernels_0"), 0).tolist() == [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    assert at.query_params["preset"] == "edges"
    at.slider(key="mc_k").set_value(5).run()
    assert any("3×3" in e.value for e in at.error)  # the edge detectors exist in 3×3 only
    at.selectbox(key="mc_preset").set_value("pickers").run()
    assert not at.error
    kernels = chart(at, "mc_kernels_1")  # filter 2 picks channel 2 (green)
    assert [z(kernels, c).sum() for c in range(3)] == [0, 25, 0]


def test_multichannel_settings_survive_a_visit_to_convolution():
    """The issue: Multi-channel came back with "Filter 1 needs 3 kernels … it has 0" and no output."""
    at = app("multichannel")
    at.slider(key="mc_filters").set_value(3).run()
    at.text_area(key="mc_f1").set_value("1 0\n0 1\n\n0 0\n0 0\n\n2 2\n2 2").run()  # 2×2 kernels: an error
    at.text_area(key="mc_f0").set_value("1 1\n1 1\n\n0 0\n0 0\n\n0 0\n0 0").run()
    at.text_area(key="mc_f2").set_value("0 0\n0 0\n\n1 0\n0 0\n\n0 0\n0 0").run()
    at.toggle(key="mc_use_bias").set_value(True).run()
    at.text_input(key="mc_bias").set_value("1 2 3").run()
    at.number_input(key="mc_cell_i").set_value(2).run()
    assert not at.error
    before = text(at)
    at.switch_page("pages/convolution.py").run()
    assert not at.exception and not at.error
    at.switch_page("pages/multichannel.py").run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert at.slider(key="mc_filters").value == 3 and at.text_input(key="mc_bias").value == "1 2 3"
    assert at.text_area(key="mc_f1").value == "1 0\n0 1\n\n0 0\n0 0\n\n2 2\n2 2"
    assert at.number_input(key="mc_cell_i").value == 2 and at.toggle(key="mc_use_bias").value
    assert text(at) == before and "3×3×2×2 + 3 = **39**" in before
    assert len(at.success) == 1


def test_multichannel_link_reproduces_the_view_in_french():
    at = linked("multichannel", lang="fr", filters="3", preset="pickers", use_bias="1", bias="0.5 1 2",
                cell_f="2", cell_i="1", cell_j="4", source="random", seed="7", size="6")
    assert not at.error and not at.toast
    assert at.slider(key="mc_filters").value == 3 and at.selectbox(key="mc_preset").value == "pickers"
    assert at.number_input(key="mc_cell_f").value == 2 and at.number_input(key="mc_cell_j").value == 3  # 4×4 out
    assert at.radio(key="mc_source").value == "random" and at.number_input(key="mc_seed").value == 7
    x = np.random.default_rng(7).integers(0, 4, size=(3, 6, 6))
    assert z(chart(at, "mc_channels"), 1).tolist() == x[1].tolist()
    total = x[1, 1:4, 3:6].sum() + 1  # filter 2 sums the green window, plus its bias
    assert any(f"= **{total}**" in s.value and "Sortie (filtre 2, ligne 1, colonne 3)" in s.value
               for s in at.success)
    assert "**Paramètres\u00a0:** F×C×k×k + F = 3×3×3×3 + 3 = **84**" in text(at)
    assert chart(at, "mc_windows")["data"][0]["hovertemplate"].startswith("fenêtre dans le rouge ligne %{y}, col. %{x}")
    assert_no_english(at)
    assert dict(at.query_params)["cell_j"] == "3"  # the URL follows the clipped cell


def test_multichannel_widget_changes_go_into_the_link():
    at = app("multichannel")
    assert set(at.query_params) == {"lang"}
    at.slider(key="mc_k").set_value(2).run()
    at.number_input(key="mc_cell_i").set_value(3).run()
    params = dict(at.query_params)
    assert params["k"] == "2" and params["cell_i"] == "3"
    again = linked("multichannel", **params)  # the link reproduces it
    assert text(again).replace("lang=en", "") == text(at).replace("lang=en", "")


@pytest.mark.parametrize("query", [
    {"filters": "abc", "size": "99", "cell_i": "-1"},
    {"source": "<script>alert(1)</script>", "preset": "<b>edges</b>"},
    {"f0": "![x](http://evil/x.png)", "bias": "<b>1</b>"},
    {"f1": "1 " * 50_000},
])
def test_multichannel_hostile_links(query):
    at = linked("multichannel", **query)
    assert not at.error
    assert any("were not valid and were ignored" in t.value for t in at.toast)
    assert at.slider(key="mc_filters").value == 2 and "= **56**" in text(at)
    page = shown(at)
    for value in query.values():
        assert len(value) < 6 or value[:40] not in page
    assert not set(query) & set(at.query_params)


def test_multichannel_offers_cifar10_when_installed(tmp_path, monkeypatch, fresh_datasets):
    from tests.conftest import write_cifar_fixture

    write_cifar_fixture(tmp_path)
    monkeypatch.setenv("CNNVIZ_DATA", str(tmp_path))
    try:
        at = app("multichannel")
        assert at.radio(key="mc_source").options[0] == "CIFAR-10 test image"
        at.radio(key="mc_source").set_value("cifar").run()
        assert not at.exception and not at.error
        assert any("resized from 32×32" in c.value for c in at.caption)
        at.number_input(key="mc_cifar").set_value(5).run()
        assert at.query_params["cifar"] == "5"
    finally:
        st.cache_resource.clear()  # ui.dataset must not keep the fixture for later tests


def test_multichannel_upload_source_without_a_file_shows_the_test_card():
    at = linked("multichannel", source="upload", size="5")
    assert not at.error and at.radio(key="mc_source").value == "upload"
    assert z(chart(at, "mc_channels"), 0).shape == (5, 5) and "= **56**" in text(at)


def test_multichannel_link_to_cifar10_where_it_is_not_installed():
    at = linked("multichannel", source="cifar")
    assert not at.exception and not at.error
    if "CIFAR-10 test image" not in at.radio(key="mc_source").options:  # (else it is installed here)
        assert at.radio(key="mc_source").value == "card" and "source" not in at.query_params


# ---------------------------------------------------------------- pooling

def test_pooling_defaults_are_the_seeds():
    at = app("pooling")
    at.slider(key="pool_step").set_value(4).run()
    spec = chart(at, "pool_fig")
    assert z(spec, 1).tolist() == SEED_POOL_OUTPUT.tolist() == [[20, 30], [112, 37]]
    assert "= **37**" in text(at) and "row 2, column 2" in text(at)
    assert "⌊(4 − 2) / 2⌋ + 1 = 2" in text(at)
    at.radio(key="pool_mode").set_value("avg").run()
    assert z(chart(at, "pool_fig"), 1)[1, 1] == pytest.approx((37 + 4 + 25 + 12) / 4)
    assert "mean(37, 4, 25, 12) = **19.5**" in text(at)


def test_pooling_step_controls_and_reset():
    at = app("pooling")
    button(at, "Next ▶").click().run()
    assert at.session_state["pool_step"] == 2 and at.query_params["step"] == "2"
    assert "max(30, 0, 2, 0) = **30**" in text(at)
    button(at, "◀ Previous").click().run()
    assert at.session_state["pool_step"] == 1
    at.number_input(key="pool_stride").set_value(1).run()
    assert z(chart(at, "pool_fig"), 1).shape == (3, 3) and "⌊(4 − 2) / 1⌋ + 1 = 3" in text(at)
    button(at, "Back to the course's example").click().run()
    assert at.number_input(key="pool_stride").value == 2 and set(at.query_params) == {"lang"}


def test_pooling_bad_input_and_real_image():
    at = app("pooling")
    at.number_input(key="pool_size").set_value(5).run()
    assert any("larger than the input" in e.value for e in at.error)
    at.number_input(key="pool_size").set_value(2).run()
    assert not at.error
    assert chart(at, "pool_real_out")["layout"]["title"]["text"].endswith("14×14")
    at.radio(key="pool_what").set_value("feature_map").run()
    at.slider(key="pool_times").set_value(2).run()
    assert not at.exception
    maps = z(chart(at, "pool_real_in"), 0)
    assert maps.shape == (28, 28) and maps.min() >= 0  # after ReLU
    assert z(chart(at, "pool_real_out"), 0).shape == (7, 7)


def test_pooling_settings_survive_a_visit_to_convolution():
    at = app("pooling")
    at.text_area(key="pool_input").set_value("1 2 3\n4 5 6\n7 8 9").run()
    at.number_input(key="pool_stride").set_value(1).run()
    at.slider(key="pool_step").set_value(4).run()
    at.switch_page("pages/convolution.py").run()
    at.switch_page("pages/pooling.py").run()
    assert not at.exception and not at.error
    assert at.text_area(key="pool_input").value == "1 2 3\n4 5 6\n7 8 9"
    assert at.number_input(key="pool_stride").value == 1 and at.slider(key="pool_step").value == 4
    assert z(chart(at, "pool_fig"), 1).tolist() == [[5, 6], [8, 9]]


def test_pooling_link_reproduces_the_view_in_french():
    at = linked("pooling", lang="fr", input="1,2,3;4,5,6;7,8,9", mode="avg", stride="1", step="4", times="2")
    assert not at.error and not at.toast
    assert at.text_area(key="pool_input").value == "1 2 3\n4 5 6\n7 8 9"
    assert at.radio(key="pool_mode").value == "avg" and at.slider(key="pool_step").value == 4
    assert z(chart(at, "pool_fig"), 1).tolist() == [[3, 4], [6, 7]]
    assert "**Étape 4 sur 4** — moyenne(5, 6, 8, 9) = **7**" in text(at)
    assert "**Taille de la sortie** — lignes\u00a0: ⌊(3 − 2) / 1⌋ + 1 = 2" in text(at)
    assert chart(at, "pool_fig")["layout"]["annotations"][1]["text"] == "Pooling moyen 2×2, pas 1 → 2×2"
    assert chart(at, "pool_fig")["data"][0]["hovertemplate"].startswith("entrée ligne %{y}")
    assert chart(at, "pool_real_out")["data"][0]["hovertemplate"].startswith("ligne %{y}, col. %{x}\u00a0: valeur")
    assert chart(at, "pool_real_out")["layout"]["title"]["text"] == "Après 2× pooling moyen 2×2, pas 1\u00a0: 26×26"
    assert_no_english(at)
    at.radio(key="pool_mode").set_value("max").run()
    assert "mode" not in at.query_params and at.query_params["input"] == "1,2,3;4,5,6;7,8,9"


@pytest.mark.parametrize("query", [
    {"input": "<script>alert(1)</script>", "mode": "<b>max</b>"},
    {"input": "![x](http://evil/x.png)", "size": "7", "stride": "two"},
    {"input": "1 " * 50_000, "step": "0", "what": "../etc/passwd"},
    {"idx": "99999999999999999999", "times": "1e9"},
])
def test_pooling_hostile_links(query):
    at = linked("pooling", **query)
    assert not at.error
    assert any("were not valid and were ignored" in t.value for t in at.toast)
    assert z(chart(at, "pool_fig"), 0).tolist() == SEED_POOL_INPUT.tolist()
    page = shown(at)
    for value in query.values():
        assert len(value) < 6 or value[:40] not in page
    assert not set(query) & set(at.query_params)


def test_the_registry_offers_the_library_choices():
    """The filter presets, the pooling modes and the Learning screen's "compared" are the library's lists (no
    copies to keep in step), and the library computes every one of them."""
    from cnnviz.gradients import COMPARED, image_cost
    from cnnviz.ops import FILTER_PRESETS, POOL_MODES, pool2d_steps
    from ui.screens import BY_ID

    assert BY_ID["multichannel"].field("preset").choices is FILTER_PRESETS
    assert BY_ID["pooling"].field("mode").choices is POOL_MODES
    assert BY_ID["learning"].field("compared").choices is COMPARED
    assert [filter_bank(p, 4, 3, 3).shape for p in FILTER_PRESETS] == [(4, 3, 3, 3)] * len(FILTER_PRESETS)
    x = np.arange(16.0).reshape(4, 4)
    assert [pool2d_steps(x, 2, 2, m).output.tolist() for m in POOL_MODES] == [[[5, 7], [13, 15]],
                                                                              [[2.5, 4.5], [10.5, 12.5]]]
    assert [image_cost(np.zeros(3), 0, c).compared for c in COMPARED] == list(COMPARED)
