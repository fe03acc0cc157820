"""AppTest of the approximation screen ("a neural network is a function"): French and English, a link
reproduces the view, the URL follows the widgets, settings survive another screen, hostile links, live retrain."""

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from cnnviz.approx import target
from tests import apptest
from tests.apptest import app, button, chart, decode, param, text


def open_link(**query) -> AppTest:
    """A fresh session opening /approximation?<query>, as a browser following a shared link."""
    return apptest.open_link("approximation", **query)


def network_name(at: AppTest) -> str:
    return chart(at, "ua_fit")["data"][2]["name"]


@pytest.mark.parametrize("lang, title, theorem, name", [
    ("en", "A neural network is a function", "Universal approximation theorem", "Network, N = 4"),
    ("fr", "Un réseau de neurones est une fonction", "Théorème d'approximation universelle", "Réseau, N = 4"),
])
def test_the_screen_states_the_theorem_and_fits_the_default(lang, title, theorem, name):
    at = app("approximation", lang=lang)
    assert not at.exception and not at.error
    assert at.title[0].value == title
    shown = text(at)
    assert theorem in shown and "Cybenko" in shown and "Hornik" in shown
    assert ("how many" in shown and "how to find" in shown) if lang == "en" else \
        ("combien" in shown and "comment trouver" in shown)
    assert at.radio(key="ua_function").value == "sine" and at.slider(key="ua_neurons").value == 4
    spec = chart(at, "ua_fit")
    assert network_name(at) == name and len(spec["frames"]) == 21
    x, truth = decode(spec["data"][0]["x"]), decode(spec["data"][0]["y"])
    assert np.allclose(truth, target("sine", x), atol=1e-6)
    sweep = chart(at, "ua_sweep")
    assert decode(sweep["data"][0]["x"]).tolist() == [1, 2, 4, 8, 16, 32, 64]
    assert sweep["layout"]["yaxis"]["type"] == "log"
    assert len(at.metric) == 3 and at.metric[2].value == "13"  # 3N + 1 parameters


def test_a_link_reproduces_the_view():
    at = open_link(lang="fr", function="step", neurons="8")
    assert not at.exception and not at.error and not at.toast
    assert at.radio(key="ua_function").value == "step" and at.slider(key="ua_neurons").value == 8
    assert at.radio(key="ua_activation").value == "tanh" and at.slider(key="ua_steps").value == 2000
    spec = chart(at, "ua_fit")
    assert spec["data"][2]["name"] == "Réseau, N = 8"
    x, truth = decode(spec["data"][0]["x"]), decode(spec["data"][0]["y"])
    assert np.array_equal(truth, (x >= 0).astype(float))
    assert "pas continue" in text(at)  # the note on the step
    assert float(at.metric[0].value.replace(",", ".")) >= 0.45  # a jump: no uniform approximation
    again = open_link(lang="fr", function="step", neurons="8")  # another browser, the same link: the same view
    assert chart(again, "ua_fit")["data"][2]["y"] == spec["data"][2]["y"]
    assert param(at, "function") == "step" and param(at, "neurons") == "8" and param(at, "lang") == "fr"


def test_changing_a_widget_updates_the_url_and_the_fit():
    at = app("approximation")
    at.slider(key="ua_neurons").set_value(2).run()
    assert param(at, "neurons") == "2" and network_name(at) == "Network, N = 2"
    at.radio(key="ua_activation").set_value("relu").run()
    assert param(at, "activation") == "relu"
    at.toggle(key="ua_units").set_value(True).run()
    assert param(at, "units") == "1" and len(chart(at, "ua_fit")["data"]) == 3 + 2
    at.slider(key="ua_neurons").set_value(4).run()  # back to the default: not in the link
    assert "neurons" not in at.query_params


def test_settings_survive_a_visit_to_another_screen():
    at = app("approximation")
    at.slider(key="ua_neurons").set_value(2).run()
    at.number_input(key="ua_seed").set_value(3).run()
    at.switch_page("pages/convolution.py").run()
    at.switch_page("pages/home.py").run()
    at.switch_page("pages/approximation.py").run()
    assert at.slider(key="ua_neurons").value == 2 and at.number_input(key="ua_seed").value == 3
    assert network_name(at) == "Network, N = 2"


def test_train_again_gives_the_same_network():
    at = app("approximation")
    before = chart(at, "ua_fit")["data"][2]["y"]
    button(at, "Train again, live").click().run()
    assert not at.exception and not at.error
    assert chart(at, "ua_fit")["data"][2]["y"] == before


HOSTILE = {
    "function": "<script>alert(1)</script>", "activation": "![x](http://evil.example/x.png)", "neurons": "1e9",
    "steps": "150", "seed": "-1", "units": "<b>yes</b>", "zzz": "<img src=x>",
}


@pytest.mark.parametrize("query", [HOSTILE, {"function": "sine" * 25_000, "neurons": "65", "steps": "99999"},
                                   {"neurons": "abc", "seed": "1.5", "steps": "0"}])
def test_hostile_link_values_are_ignored_with_a_notice(query):
    at = open_link(lang="en", **query)
    assert not at.exception and not at.error
    assert at.radio(key="ua_function").value == "sine" and at.radio(key="ua_activation").value == "tanh"
    assert at.slider(key="ua_neurons").value == 4 and at.slider(key="ua_steps").value == 2000
    assert at.number_input(key="ua_seed").value == 0 and at.toggle(key="ua_units").value is False
    notices = " ".join(t.value for t in at.toast)
    assert "ignored" in notices and "neurons" in notices
    shown = text(at) + notices + " ".join(c.value for c in at.caption)
    assert "evil" not in shown and "<script" not in shown and "<img" not in shown and "<b>" not in shown
    assert network_name(at) == "Network, N = 4"
