"""AppTest of "How the network learns": its four parts in French and English, links that reproduce them, the
numbers shown against the library's, the link to Training, and hostile links ignored with a notice."""

from urllib.parse import parse_qs

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from streamlit.testing.v1 import AppTest

from cnnviz.checkpoints import SHIPPED, load_checkpoint
from cnnviz.data import images_to_browse, to_tensor
from cnnviz.gradients import image_cost, logits_of, per_example_gradients, study_batches, training_subset
from tests.apptest import chart, decode, param
from tests.test_screen_network import HOSTILE, notices, rendered
from ui import learning_view
from ui.screens import BY_ID

SCREEN = BY_ID["learning"]
TIMEOUT = 600  # a fresh process computes the per-example gradients and the landscape once (slow on a busy machine)
FAST = {"subset": "1000", "res": "9"}  # the smallest study and plane the screen offers


def link(**query) -> AppTest:
    """A fresh session opening /learning?<query>, as a browser following a shared link."""
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT)
    at.switch_page("pages/learning.py")
    at.query_params.update({k: str(v) for k, v in query.items()})
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture(scope="module")
def shipped():
    return load_checkpoint(SHIPPED)


PART_TEXTS = {
    ("en", "cost"): ("How the network learns", "Gradient with respect to the true class's logit", "Cross-entropy"),
    ("fr", "cost"): ("Comment le réseau apprend", "Gradient par rapport au logit de la vraie classe", "Entropie croisée"),
    ("en", "batches"): ("How the network learns", "fitted slope of the variance", "unbiased estimator"),
    ("fr", "batches"): ("Comment le réseau apprend", "pente ajustée de la variance", "estimateur non biaisé"),
    ("en", "landscape"): ("How the network learns", "At α = 0 the cost is the network's own", "filter normalisation"),
    ("fr", "landscape"): ("Comment le réseau apprend", "En α = 0, c'est le coût du réseau", "normalisation par filtre"),
    ("en", "momentum"): ("How the network learns", "Momentum averages the steps", "Rosenbrock"),
    ("fr", "momentum"): ("Comment le réseau apprend", "Le momentum moyenne les pas", "Rosenbrock"),
}


@pytest.mark.parametrize("lang, part", list(PART_TEXTS))
def test_each_part_in_french_and_english(lang, part):
    at = link(lang=lang, part=part, **FAST)
    assert not at.error, [e.value for e in at.error]
    title, *texts = PART_TEXTS[lang, part]
    assert at.title[0].value == title
    shown = rendered(at)
    for text in texts:
        assert text in shown.replace("\u00a0", " "), text
    assert len(at.get("plotly_chart")) >= 2
    if lang == "fr":  # French typography: a non-breaking space before the colon
        assert "\u00a0:" in shown and " :" not in "\n".join(m.value for m in at.markdown).replace("$", "")
    assert param(at, "part") == (None if part == "cost" else part)


def test_the_lecture_link_shows_a_confident_mistake_with_the_networks_numbers(shipped):
    model, meta = shipped
    at = link(lang="en", idx="2914")  # the lecture path's step: a sneaker taken for an ankle boot
    image = images_to_browse(meta["dataset"]).images[2914]
    label = int(images_to_browse(meta["dataset"]).labels[2914])
    cost = image_cost(logits_of(model, image[None])[0], label)
    metrics = {m.label: m.value for m in at.metric}
    with torch.no_grad():
        expected = F.cross_entropy(model(to_tensor(image[None])), torch.tensor([label])).item()
    assert float(metrics["Cross-entropy"]) == pytest.approx(expected, rel=1e-3)
    logits = decode(chart(at, "learn_fig_cost")["data"][0]["x"])
    np.testing.assert_allclose(logits, cost.logits, rtol=1e-5)
    shown = rendered(at)
    assert "A confident mistake" in shown and "times weaker" in shown
    grads = chart(at, "learn_fig_grads")["data"]
    assert decode(grads[0]["y"])[label] == pytest.approx(cost.grads["cross-entropy"][label], abs=1e-6)
    at.radio(key="learn_compared").set_value("logits").run()  # MSE and L1 on the raw outputs
    assert "even downwards" in rendered(at) and param(at, "compared") == "logits"
    z = torch.tensor(cost.logits, requires_grad=True)
    F.mse_loss(z, F.one_hot(torch.tensor(label), 10).double()).backward()
    np.testing.assert_allclose(decode(chart(at, "learn_fig_grads")["data"][1]["y"]), z.grad.numpy(), rtol=1e-5)


def test_the_mistake_button_walks_through_the_confident_mistakes():
    at = link(lang="fr")
    at.button(key="learn_mistake").click().run()
    first = at.session_state["learn_idx"]
    assert first == 2914 and param(at, "idx") == "2914"
    at.button(key="learn_mistake").click().run()
    assert at.session_state["learn_idx"] not in (0, first)
    assert "commise avec assurance" in rendered(at)


def test_the_batch_sum_is_the_likelihoods_log(shipped, fmnist_train):
    model, _ = shipped
    at = link(lang="en", batch="4", batch_seed="7")
    bars = chart(at, "learn_fig_batch")["data"][0]
    losses = decode(bars["y"])
    idx = np.random.default_rng(7).choice(len(fmnist_train), size=4, replace=False)
    with torch.no_grad():
        logits = model(to_tensor(fmnist_train.images[idx]))
    expected = F.cross_entropy(logits.double(), torch.tensor(fmnist_train.labels[idx]), reduction="none").numpy()
    np.testing.assert_allclose(losses, expected, rtol=1e-6)
    formula = next(el.value for el in at.latex if "L_{\\mathcal{B}}" in el.value)
    assert f"{expected.sum():.2f}" in formula and "\\prod" in formula  # L_B = Σ ℓ and Π p = e^(−L_B)


def test_the_batch_gradient_figures_are_the_librarys_study(shipped, fmnist_train):
    model, _ = shipped
    at = link(lang="en", part="batches", subset="1000", draws="50", seed="3")
    idx = training_subset(len(fmnist_train), 1000)
    per = per_example_gradients(model, fmnist_train.images[idx], fmnist_train.labels[idx], "conv1.weight")
    study = study_batches(per, draws=50, seed=3)
    variance = chart(at, "learn_fig_var")["data"][2]
    np.testing.assert_allclose(decode(variance["y"]), [r.variance for r in study.rows], rtol=1e-6)
    assert "1,000" in rendered(at) and f"{study.slope:.2f}" in rendered(at)
    spread = chart(at, "learn_fig_spread")["data"]
    assert len(decode(spread[0]["x"])) == 50
    at.selectbox(key="learn_param").set_value("fc2.bias").run()
    assert param(at, "param") == "fc2.bias" and "fc2.bias" in rendered(at)


def test_the_landscape_at_zero_is_the_networks_cost(shipped, fmnist_train):
    model, _ = shipped
    at = link(lang="en", part="landscape", res="9", span="0.25")
    line = chart(at, "learn_fig_line")["data"]
    alphas, train_loss = decode(line[0]["x"]), decode(line[0]["y"])
    assert alphas[len(alphas) // 2] == 0 and alphas[-1] == pytest.approx(0.25)
    idx = training_subset(len(fmnist_train), learning_view.PLANE_IMAGES, seed=1)
    with torch.no_grad():
        expected = F.cross_entropy(model(to_tensor(fmnist_train.images[idx])),
                                   torch.tensor(fmnist_train.labels[idx])).item()
    assert train_loss[len(alphas) // 2] == pytest.approx(expected, rel=1e-5)
    plane = chart(at, "learn_fig_plane")["data"][0]
    assert 10 ** decode(plane["z"])[4, 4] == pytest.approx(expected, rel=1e-4)  # the plane's centre
    assert any("did not keep its weights after each epoch" in i.value for i in at.info)


def test_the_toy_link_reproduces_the_view_and_opens_training_with_its_settings():
    at = link(lang="fr", part="momentum", toy="rosenbrock", lr="0.002", momentum="0.5", steps="500")
    assert at.selectbox(key="learn_toy").value == "rosenbrock"
    assert at.select_slider(key="learn_lr").value == 0.002 and at.select_slider(key="learn_momentum").value == 0.5
    names = [d["name"] for d in chart(at, "learn_fig_toy")["data"][1:3]]
    assert names == ["lr = 0,002\u00a0; μ = 0,00", "lr = 0,002\u00a0; μ = 0,50"]  # French typography
    assert "lr=0.002, momentum=0.5" in at.code[0].value
    train_link = next(el for el in at.get("page_link") if "training" in el.proto.page)
    query = parse_qs(train_link.proto.query_string)
    assert query["lr"] == ["0.002"] and query["momentum"] == ["0.5"] and query["lang"] == ["fr"]
    at.select_slider(key="learn_lr").set_value(0.02).run()  # too large: the plain path diverges
    assert param(at, "lr") == "0.02"
    assert any("diverge" in m.value for m in at.markdown)
    at.switch_page("pages/training.py").run()  # what the link opens, followed by hand
    at.switch_page("pages/learning.py").run()
    assert at.select_slider(key="learn_lr").value == 0.02  # the settings survive another screen


BAD = dict(part=HOSTILE["script"], lr="1e6", momentum="abc", param=HOSTILE["image"], subset="7", res="100000",
           toy=HOSTILE["bold"], draws="-1", span="nan", steps="1e9", network="nowhere.pt", compared=HOSTILE["long"],
           batch="0", label="-3", idx="abc", dir_seed="99999999", seed="1.5", batch_seed="x")


def test_hostile_links_are_ignored_with_a_notice():
    at = link(lang="en", **BAD)
    assert not at.error, [e.value for e in at.error]
    assert any("were not valid and were ignored" in n for n in notices(at)), notices(at)
    for f in SCREEN.fields:
        assert at.session_state[SCREEN.key(f.name)] == f.default, f.name
    seen = rendered(at)
    for needle in ("<script", "alert(1)", "<b>", "evil", "xxxxxxxxxx", "nowhere.pt", "99999999", "1e6"):
        assert needle not in seen, needle
    assert dict(at.query_params) == {"lang": "en"}


def test_a_parameter_the_network_lacks_falls_back_with_a_notice():
    at = link(lang="en", part="batches", param="conv9.weight", subset="1000", draws="50")
    assert at.selectbox(key="learn_param").value == "conv1.weight"
    assert any("no weights named conv9" in n and "conv1" in n for n in notices(at)), notices(at)


def test_a_run_that_kept_its_weights_shows_its_path(tmp_path, monkeypatch, shipped):
    """A run with per-epoch weights (checkpoint key weight_history, oldest first) draws its path on the plane
    where it moves most; the epochs' positions are cnnviz.landscape.project_path's."""
    from cnnviz import landscape

    model, _ = shipped
    payload = torch.load(SHIPPED, weights_only=True, map_location="cpu")
    final = model.state_dict()
    u, v = landscape.random_direction(model, 5), landscape.random_direction(model, 6)
    history = [{k: (t + a * u[k] + b * v[k] if k in u else t) for k, t in final.items()}
               for a, b in ((0.3, 0.2), (0.15, 0.12), (0.05, 0.02))]
    payload[landscape.HISTORY_KEY] = history
    monkeypatch.setenv("CNNVIZ_RUNS", str(tmp_path))
    torch.save(payload, tmp_path / "with_history.pt")
    at = link(lang="en", part="landscape", res="9", network="with_history.pt")
    assert not at.error and not any("do not keep" in i.value for i in at.info)
    path = chart(at, "learn_fig_path")["data"][1]
    weights = landscape.weights_of(model)
    d1, d2 = landscape.trajectory_plane(history, weights)
    expected = landscape.project_path(history, weights, d1, d2)
    np.testing.assert_allclose(np.c_[decode(path["x"]), decode(path["y"])], expected, rtol=1e-4, atol=1e-6)
