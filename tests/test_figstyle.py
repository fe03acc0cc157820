"""Every figure builder of cnnviz/figures*.py, run in French and styled as a reader gets it (cnnviz.figstyle):
French separators, percent ticks written by Babel ("20 %"), powers of ten as 10ⁿ, no English number left in
the texts the builder wrote itself, and in the presenter view every text at least 3 % of the screen's height.

The builders are discovered (public functions of the figure modules that return a figure); each needs an
example below. A new builder without one fails here: add its example, and the checks run on it."""

from __future__ import annotations

import importlib
import inspect
import json
import math
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import plotly.io as pio
import pytest

from cnnviz import figstyle
from cnnviz.figstyle import MIN_SHARE, View, alt_text, nice_ticks, plotly_config, style

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted(p.stem for p in (ROOT / "cnnviz").glob("figures*.py"))
NOT_BUILDERS = {"add_step_cells"}  # adds markers to a figure built elsewhere (tested through conv_view/pool_view)
PRESENTERS = [View(present=True, width=1280, height=720), View(present=True, width=1920, height=1080)]


def builders() -> list[tuple[str, str]]:
    """(module, function) of every public function of cnnviz/figures*.py annotated to return a figure."""
    found = []
    for name in MODULES:
        module = importlib.import_module(f"cnnviz.{name}")
        for fname, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ != module.__name__ or fname.startswith("_") or fname in NOT_BUILDERS:
                continue
            ret = inspect.signature(fn).return_annotation
            if "Figure" in str(ret):
                found.append((name, fname))
    return found


# ---------------------------------------------------------------- examples: plain values a screen would pass

@lru_cache(maxsize=None)
def shipped():
    from cnnviz.checkpoints import SHIPPED, load_checkpoint
    from cnnviz.data import images_to_browse

    model, meta = load_checkpoint(SHIPPED)
    data = images_to_browse(meta["dataset"])
    return model, meta, data


@lru_cache(maxsize=None)
def unit(stage: str, channel=3, row=4, col=5):
    from cnnviz.explain import explain_unit

    model, _, data = shipped()
    return explain_unit(model, data.images[0], stage, channel, row, col)


def conv_trace():
    from cnnviz.ops import conv2d_steps

    rng = np.random.default_rng(0)
    return conv2d_steps(rng.normal(0, 1, (5, 5)).round(2), rng.normal(0, 1, (3, 3)).round(2), 1, 1, 1)


def pool_trace():
    from cnnviz.ops import pool2d_steps

    x = np.random.default_rng(1).normal(0, 10, (4, 4)).round(1)
    return pool2d_steps(x, 2, 2, "max"), x


def small_fit():
    from cnnviz.approx import fit

    return fit("sine", "tanh", 4, steps=60, seed=0, snapshots=4)


def history(n=3, seed=0):
    rng = np.random.default_rng(seed)
    return [dict(epoch=e + 1, train_loss=1.5 / (e + 1) + rng.random() * 0.1, val_loss=1.6 / (e + 1),
                 val_accuracy=0.7 + 0.05 * e, test_accuracy=0.69 + 0.05 * e) for e in range(n)]


def remedy_rows():
    from cnnviz.shift import ConsistencyRow

    rows = []
    for i, name in enumerate(("standard", "blur", "shift")):
        rows.append(ConsistencyRow(name, 0.91 + 0.003 * i, {k: 0.95 - 0.04 * k + 0.02 * i for k in (1, 2, 3, 4)},
                                   {k: 0.97 - 0.03 * k + 0.01 * i for k in (1, 2, 3, 4)}))
    return rows


CLASSES = ["T-shirt/haut", "Pantalon", "Pull", "Robe", "Manteau", "Sandale", "Chemise", "Basket", "Sac", "Bottine"]
MAPS = np.random.default_rng(2).normal(0, 1.5, (16, 14, 14))
PROBS = np.random.default_rng(3).dirichlet(np.ones(10) * 0.3)
SHIFT_PROBS = np.random.default_rng(4).dirichlet(np.ones(10), size=(7, 7))


def toy_paths():
    """Plain paths as the Learning screen gives them (ui/learning_view.toy_paths): plain SGD and with momentum."""
    from cnnviz.descent import sgd_path

    return [dict(points=p.points.tolist(), costs=p.costs.tolist(), name=name, momentum=p.momentum,
                 diverged_at=p.diverged_at)
            for p, name in ((sgd_path("quadratic", 0.004, 0.0, 60), "SGD"),
                            (sgd_path("quadratic", 0.004, 0.9, 60), "SGD, momentum 0,9"))]


def grad_cam_example():
    from cnnviz.explain import grad_cam

    model, _, data = shipped()
    return data.images[0], grad_cam(model, data.images[0])


def tops_example():
    from cnnviz.explain import top_activations

    model, _, data = shipped()
    return data.images, top_activations(model, data.images[:300], "conv2", 1, k=4)


EXAMPLES = {  # builder -> () -> (args, kwargs), without lang (added in French)
    "conv_step_figure": lambda: ((conv_trace(), 4), {}),
    "image_figure": lambda: ((MAPS[0] * 1000.5, "Carte 14×14"), {"colorscale": "RdBu_r", "zmid": 0}),
    "rgb_figure": lambda: ((np.zeros((8, 8, 3), np.uint8), "Image"), {}),
    "maps_row": lambda: ((MAPS[:3, :4, :4].round(2), ["R", "V", "B"]), {"text": True}),
    "pool_step_figure": lambda: ((pool_trace()[0], pool_trace()[1], 2), {}),
    "mosaic_figure": lambda: ((MAPS, "relu1 · 16 cartes"), {"symmetric": True}),
    "probability_figure": lambda: ((PROBS, CLASSES, 3), {}),
    "loss_figure": lambda: ((list(np.linspace(2.3, 0.4, 50)), np.linspace(2.3, 0.5, 50), [25]), {}),
    "confusion_figure": lambda: ((np.random.default_rng(5).integers(0, 1200, (10, 10)), CLASSES), {}),
    "shift_curves_figure": lambda: ((SHIFT_PROBS, CLASSES, 3), {}),
    "shift_heatmap_figure": lambda: ((SHIFT_PROBS, CLASSES, 3), {}),
    "input_figure": lambda: ((np.zeros((28, 28), np.uint8), "Entrée"), {}),
    "params_comparison_figure": lambda: ((["conv1", "conv2", "conv3"], [23_296, 204_928, 295_168],
                                          [750_000_000_000, 12_000_000_000, 90_000_000]), {}),
    "receptive_field_figure": lambda: ((np.zeros((28, 28), np.uint8), (2, 12), (3, 13), "conv2 (4, 5)"), {}),
    "training_figure": lambda: (("sine", 4, 60, 30, small_fit().pred), {}),
    "fit_figure": lambda: ((small_fit(),), {"show_units": True}),
    "sweep_figure": lambda: (({"neurons": [1, 2, 4, 8, 16], "max_error": [0.9, 0.5, 0.2, 0.05, 0.004],
                               "mse": [0.3, 0.1, 0.01, 0.0009, 0.00002]}, small_fit()), {}),
    "conv_unit_figure": lambda: ((unit("conv2"),), {}),
    "pool_unit_figure": lambda: ((unit("pool1", 3, 2, 2),), {}),
    "linear_unit_figure": lambda: ((unit("fc1", 3, 0, 0),), {}),  # the shipped network's fc1
    "unit_figure": lambda: ((unit("conv1"),), {}),
    "clickable_map_figure": lambda: ((MAPS[0, :6, :6].round(3),), {"title": "relu1 · canal 0", "selected": (1, 2)}),
    "gradcam_figure": lambda: ((*grad_cam_example(),), {"classes": CLASSES}),
    "top_activations_figure": lambda: ((*tops_example(),), {"stage": "conv2", "channel": 1}),
    "epoch_figure": lambda: ((history(),), {}),
    "compare_figure": lambda: (([("run A", history(3, 0)), ("run B", history(4, 1))],), {}),
    "consistency_figure": lambda: ((remedy_rows(),), {}),
    "tradeoff_figure": lambda: ((remedy_rows(), 3), {}),
    "remedy_curves_figure": lambda: (({"standard": (PROBS[:7], PROBS[3:]), "blur": (PROBS[3:], PROBS[:7])}, 3), {}),
    "conv_view": lambda: ((conv_trace().padded[1:-1, 1:-1], conv_trace().kernel, 1, 0, 1, 2, False), {}),
    "pool_view": lambda: ((pool_trace()[1], 2, 2, "max", 1), {}),
    "grid_figure": lambda: (([[1.5, -2.25, np.nan], [0.5, 12_000, 3]], "Entrée 2×3"), {"ask": (0, 2)}),
    # figures_learning
    "cost_figure": lambda: ((np.linspace(-2.5, 3.5, 10), PROBS, CLASSES, 3), {}),
    "logit_gradient_figure": lambda: (({"cross-entropy": PROBS - np.eye(10)[3], "mse": 2 * (PROBS - np.eye(10)[3]),
                                        "l1": np.sign(PROBS - np.eye(10)[3])}, CLASSES, 3), {}),
    "batch_figure": lambda: ((np.zeros((4, 28, 28), np.uint8), np.array([0.9, 0.5, 0.25, 0.05]),
                              -np.log([0.9, 0.5, 0.25, 0.05])), {}),
    "convergence_figure": lambda: (([1, 8, 64], [list(0.9 / np.sqrt(np.arange(1, 21)) / s) for s in (1, 2.8, 8)]),
                                   {}),
    "spread_figure": lambda: (([1, 8, 64], [np.random.default_rng(i).normal(1.5, 1.0 / (i + 1), (30, 2))
                                            for i in range(3)], 1.5), {}),
    "variance_figure": lambda: (([1, 8, 64, 512], [2.0, 0.25, 0.031, 0.0039], [2.0, 0.249, 0.0309, 0.0038], -1.0),
                                {}),
    "line_figure": lambda: ((np.linspace(-1, 1, 21), 0.3 + np.linspace(-1, 1, 21) ** 2,
                             0.35 + np.linspace(-1, 1, 21) ** 2, 0.92 - 0.3 * np.linspace(-1, 1, 21) ** 2), {}),
    "plane_figure": lambda: ((np.linspace(-1, 1, 11), np.linspace(-1, 1, 11),
                              0.3 + np.add.outer(np.linspace(-1, 1, 11) ** 2, 2 * np.linspace(-1, 1, 11) ** 2)),
                             {"path": [[0.8, 0.6], [0.4, 0.2], [0.0, 0.0]]}),
    "toy_figure": lambda: (("quadratic", toy_paths()), {}),
    "toy_cost_figure": lambda: ((toy_paths(),), {}),
    # figures_learned
    "wanted_figure": lambda: ((np.random.default_rng(6).integers(0, 256, (28, 28)).astype(np.uint8),),
                              {"title": "L'image qui excite le plus relu3, canal 5"}),
    "images_mosaic_figure": lambda: ((np.random.default_rng(7).integers(0, 256, (8, 28, 28)).astype(np.uint8),
                                      np.linspace(0.25, 2.75, 8)), {"title": "relu2 · 8 canaux", "cols": 4,
                                                                     "selected": 2}),
    "cascade_maps_figure": lambda: ((np.abs(MAPS[:4]), np.abs(MAPS[4:8]), ["entraîné", "fc2", "+ fc1", "+ bn3"]),
                                    {}),
    "cascade_correlation_figure": lambda: ((np.array([1.0, 0.16, 0.13, np.nan]), np.array([1.0, 0.18, 0.12, 0.14]),
                                            ["entraîné", "fc2", "+ fc1", "+ bn3"]), {}),
    "timeline_accuracy_figure": lambda: (([("Cet entraînement", np.array([0, 0.1, 0.5, 1.0]),
                                            np.array([0.12, 0.23, 0.46, 0.533])),
                                           ("lr 0,1", np.array([0, 0.1, 0.5, 1.0]), np.array([0.1, 0.12, 0.16, 0.427]))],
                                          [1.0, 1.0]), {}),
}
# the receptive-field builder of figures_explain shares its name with figures'; examples by (module, name) win
EXAMPLES_BY_MODULE = {
    ("figures_explain", "receptive_field_figure"): lambda: ((np.zeros((28, 28), np.uint8), (2, 12, 3, 13)),
                                                            {"unit": "conv2 (4, 5)"}),
}


def build(module: str, name: str, lang: str = "fr"):
    example = EXAMPLES_BY_MODULE.get((module, name)) or EXAMPLES.get(name)
    assert example is not None, (f"cnnviz.{module}.{name} is a figure builder without an example in "
                                 f"tests/test_figstyle.py: add one, so that its French and presenter view are checked")
    args, kwargs = example()
    fn = getattr(importlib.import_module(f"cnnviz.{module}"), name)
    if "lang" in inspect.signature(fn).parameters:
        kwargs = {**kwargs, "lang": lang}
    fig = fn(*args, **kwargs)
    return json.loads(pio.to_json(fig, validate=False))  # what st.plotly_chart sends


ALL = builders()


def test_the_builders_are_found():
    names = {n for _, n in ALL}
    assert {"conv_step_figure", "mosaic_figure", "consistency_figure", "epoch_figure", "sweep_figure",
            "clickable_map_figure", "conv_view"} <= names


# ---------------------------------------------------------------- what is checked

# "0.5", "1,234,567" (English grouping: "0,284" is a French decimal), "7.50e+11", "10B"
ENGLISH_NUMBER = re.compile(r"\d\.\d|\d,\d{3},\d{3}|\de[+-]?\d|\b\d+(?:[.,]\d+)?[kMGBT]\b")


def fonts(obj, path=""):
    """(path, size) of every font size set anywhere in a figure's dict."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k.endswith("font") and isinstance(v, dict) and "size" in v:
                yield f"{path}.{k}", v["size"]
            if k not in ("frames",):
                yield from fonts(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from fonts(v, f"{path}[{i}]")


def written_texts(fig: dict) -> list[str]:
    """Texts the builder wrote itself (not plotly's formats): titles, annotations, tick texts, trace texts."""
    out = []
    layout = fig["layout"]
    title = layout.get("title")
    out.append(title.get("text", "") if isinstance(title, dict) else str(title or ""))
    out += [a.get("text", "") for a in layout.get("annotations", [])]
    for k, axis in layout.items():
        if re.fullmatch(r"[xy]axis\d*", k):
            out += [str(v) for v in axis.get("ticktext") or ()]
            t = axis.get("title")
            out.append(t.get("text", "") if isinstance(t, dict) else str(t or ""))
    for trace in fig["data"]:
        for key in ("text", "hovertext"):
            v = trace.get(key)
            if isinstance(v, str):
                out.append(v)
            elif isinstance(v, list):
                out += [str(x) for x in np.ravel(np.asarray(v, dtype=object))]
        out.append(str(trace.get("name") or ""))
    return [t for t in out if t]


@pytest.mark.parametrize("module, name", ALL, ids=[f"{m}.{n}" for m, n in ALL])
def test_every_builder_in_french(module, name):
    fig = style(build(module, name), "fr", View())
    layout = fig["layout"]
    assert layout["separators"] == ",\u202f"  # 0,5 and 12 345
    for k, axis in layout.items():
        if not re.fullmatch(r"[xy]axis\d*", k):
            continue
        assert not str(axis.get("tickformat", "")).endswith("%"), (k, axis)  # "20%": plotly cannot put the space
        if axis.get("ticktext") and axis.get("tickvals") and "%" in "".join(map(str, axis["ticktext"])):
            assert all(t.endswith("\u00a0%") for t in axis["ticktext"]), axis["ticktext"]
        assert axis.get("exponentformat") == "power" or axis.get("ticktext"), (k, axis)  # never 1M, 10B, 1T
    english = [t for t in written_texts(fig) if ENGLISH_NUMBER.search(_strip_formats(t))]
    assert not english, english[:5]
    assert alt_text(fig, "fr").startswith("Graphique\u00a0:")


def _strip_formats(text: str) -> str:
    """A text without plotly's own placeholders (%{z:.2f} is formatted in the browser with the separators)."""
    return re.sub(r"%\{[^}]*\}", "", text)


@pytest.mark.parametrize("view", PRESENTERS, ids=["720p", "1080p"])
@pytest.mark.parametrize("module, name", ALL, ids=[f"{m}.{n}" for m, n in ALL])
def test_every_builder_in_the_presenter_view(module, name, view):
    """Every text in the figure at least 3 % of the screen's height: sizes set anywhere, the base font, the
    texts written on a heatmap's cells or over bars (which plotly would otherwise shrink to fit)."""
    fig = style(build(module, name), "fr", view)
    smallest = math.ceil(MIN_SHARE * view.height)
    assert smallest >= 0.03 * view.height
    layout = fig["layout"]
    assert layout["font"]["size"] >= smallest and layout["legend"]["font"]["size"] >= smallest
    small = [(path, size) for path, size in fonts(fig) if size < smallest]
    assert not small, small[:5]
    for trace in fig["data"]:
        if trace.get("text") is not None or trace.get("texttemplate"):
            assert trace.get("textfont", {}).get("size", 0) >= smallest, (trace.get("type"), trace.get("name"))
    assert layout["height"] >= 0.3 * view.height  # grows with the screen
    assert layout["margin"]["t"] >= smallest  # a title fits above the plot


@pytest.mark.parametrize("module, name", ALL, ids=[f"{m}.{n}" for m, n in ALL])
def test_styling_is_idempotent_and_leaves_the_shared_figure_alone(module, name):
    fig = build(module, name)
    before = json.dumps(fig, sort_keys=True)
    once = style(fig, "fr", PRESENTERS[0], share=0.5)
    assert json.dumps(fig, sort_keys=True) == before  # the shared (cached) figure is not changed
    assert json.dumps(style(once, "fr", PRESENTERS[0], share=0.5), sort_keys=True) == json.dumps(once, sort_keys=True)
    assert once["layout"]["height"] == 360  # half of 720


def test_percent_ticks_are_written_by_babel():
    fig = style(build("figures", "probability_figure"), "fr", View())
    axis = fig["layout"]["xaxis"]
    assert axis["ticktext"][:3] == ["0\u00a0%", "20\u00a0%", "40\u00a0%"]
    assert axis["tickvals"][:3] == [0.0, 0.2, 0.4]
    en = style(build("figures", "probability_figure", "en"), "en", View())
    assert en["layout"]["xaxis"]["tickformat"] == ".0%"  # English: plotly's own "20%"


def test_nice_ticks():
    assert nice_ticks(0, 1.02) == ([0.0, 0.2, 0.4, 0.6, 0.8, 1.0], 0)
    assert nice_ticks(0.9, 0.91)[1] == 1  # 90,2 %


def test_powers_of_ten_on_log_axes():
    fig = style(build("figures", "params_comparison_figure"), "fr", View())
    assert fig["layout"]["yaxis"]["exponentformat"] == "power"
    texts = [t for trace in fig["data"] for t in trace["text"]]
    assert "7,5 × 10¹¹" in texts and "23\u202f296" in texts


def test_a_phone_stacks_side_by_side_grids():
    fig = build("figures_steps", "conv_view")
    stacked = style(fig, "fr", View(width=390, height=844))
    lay = stacked["layout"]
    assert [lay[f"xaxis{s}"]["domain"] for s in ("", "2", "3")] == [[0.0, 1.0]] * 3
    tops = [lay[f"yaxis{s}"]["domain"][1] for s in ("", "2", "3")]
    assert tops == sorted(tops, reverse=True) and tops[0] == 1.0  # input, kernel, output from the top
    titles = sorted((a["y"], a["text"]) for a in lay["annotations"])
    assert [t for _, t in titles][::-1][0].startswith("Entrée")
    assert lay["height"] >= 3 * 250
    wide = style(fig, "fr", View(width=1400, height=900))
    assert wide["layout"]["xaxis"]["domain"] != [0.0, 1.0]


def test_toolbar_texts_in_french_and_no_toolbar_for_the_presenter():
    config = plotly_config("fr", View())
    assert config["locale"] == "fr"
    assert config["locales"]["fr"]["dictionary"]["Zoom in"] == "Zoom avant"
    assert config["locales"]["fr"]["format"] == {"decimal": ",", "thousands": "\u202f"}
    assert plotly_config("fr", PRESENTERS[0])["displayModeBar"] is False
    assert "locale" not in plotly_config("en", View())


def test_alt_text_names_what_the_figure_shows():
    text = alt_text(build("figures_steps", "conv_view"), "fr")
    assert text.startswith("Graphique\u00a0:") and "Entrée 5×5" in text and "Noyau 3×3" in text
    assert alt_text({"layout": {}, "data": []}, "en") == "Chart"


def test_the_figure_modules_are_all_scanned():
    assert set(MODULES) >= {"figures", "figures_approx", "figures_explain", "figures_runs", "figures_shift",
                            "figures_steps"}
    assert figstyle.SEPARATORS["fr"][1] == "\u202f"


def _look(trace: dict) -> tuple:
    """How a curve looks apart from its colour: its mode, marker symbol, dash and width."""
    return (trace.get("mode"), (trace.get("marker") or {}).get("symbol"), (trace.get("line") or {}).get("dash"),
            (trace.get("line") or {}).get("width"))


@pytest.mark.parametrize("module, name", ALL, ids=[f"{m}.{n}" for m, n in ALL])
def test_curves_are_told_apart_without_colour(module, name):
    """Two curves of one legend never differ by their colour alone (a deuteranope sees "Manteau" and "Chemise"
    in the same olive): a marker, a dash or a width tells them apart."""
    fig = build(module, name)
    for axis in {(tr.get("xaxis", "x"), tr.get("yaxis", "y")) for tr in fig["data"]}:
        curves = [tr for tr in fig["data"] if tr.get("type", "scatter") == "scatter"
                  and (tr.get("xaxis", "x"), tr.get("yaxis", "y")) == axis and tr.get("name")
                  and tr.get("showlegend", True) is not False and tr.get("mode") not in (None, "text")]
        looks = [_look(tr) for tr in curves]
        assert len(set(looks)) == len(looks), [(tr["name"], _look(tr)) for tr in curves]


def test_a_phone_stacks_the_training_comparison_so_its_titles_do_not_overlap():
    fig = style(build("figures_runs", "compare_figure"), "fr", View(width=390, height=844))
    lay = fig["layout"]
    titles = [a for a in lay["annotations"] if a.get("yanchor") == "bottom"]
    assert len(titles) == 2 and titles[0]["y"] != titles[1]["y"]  # one above each panel, not side by side
    assert lay["xaxis"]["domain"] == lay["xaxis2"]["domain"] == [0.0, 1.0]
    assert lay["yaxis"]["domain"][0] > lay["yaxis2"]["domain"][1]  # the loss above the accuracy
