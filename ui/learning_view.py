"""The pieces of "How the network learns" (pages/learning.py): what the sessions of a class share, computed once
per server (the test set's confident mistakes, per-example gradients and the batches drawn from them, the loss
along a line and on a plane), and the formulas written with the numbers of the view.

Caches are `st.cache_resource` keyed by plain values (the checkpoint's key, the dataset, the settings); the model
and the images travel as `_`-prefixed arguments (not hashed). Every result is read-only.
"""

from __future__ import annotations

import time

import numpy as np
import streamlit as st

from cnnviz import landscape
from cnnviz.gradients import GradientStudy, per_example_gradients, study_batches, training_subset
from cnnviz.i18n import format_number
from ui import shared_cache
from ui.widgets import dataset, images_for, plain

MAX_PARAM_SIZE = 2048  # numbers in a tensor the study offers: 5,000 images × 2,048 × 4 bytes = 41 MB per study
PLANE_IMAGES = 32  # training images of the landscape (fixed): bench/learning.py measures the plane's cost
LINE_POINTS = 21
TEST_IMAGES = 128  # test images of the accuracy along the line


PARTS = {"cost": "learn.part.cost", "batches": "learn.part.batches", "landscape": "learn.part.landscape",
         "momentum": "learn.part.momentum"}
TOYS = {"quadratic": "learn.toy.quadratic", "rosenbrock": "learn.toy.rosenbrock"}
COMPARED = {"probs": "learn.compared.probs", "logits": "learn.compared.logits"}


def key(model, meta) -> str:
    return shared_cache.model_key(model, meta)


# ---------------------------------------------------------------- numbers in LaTeX

def tex(lang: str, value: float, spec: str = ".3f") -> str:
    """A number in a formula, written the reader's way: '0{,}07' in French (a bare comma is spaced in TeX)."""
    text = format_number(lang, float(value), spec).replace("\u2212", "-").replace("\u202f", "\\,").replace("\u00a0", "\\,")
    return text.replace(",", "{,}")  # a decimal comma in French, a thousands separator in English


def tex_sci(lang: str, value: float, digits: int = 3) -> str:
    """0.000034 -> '3{,}4 \\times 10^{-5}' (a likelihood of many images is tiny); 0.99994 -> '0{,}9999'."""
    if value == 0 or not np.isfinite(value):
        return tex(lang, value, ".3g")
    exponent = int(np.floor(np.log10(abs(value))))
    if -3 <= exponent <= 3:
        return tex(lang, value, f".{max(0, digits - 1 - exponent)}f")
    return f"{tex(lang, value / 10 ** exponent, f'.{digits - 1}f')} \\times 10^{{{exponent}}}"


SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def readable(lang: str, value: float, digits: int = 3) -> str:
    """A number for a sentence or a metric: '0,0523', '16,4', '−6,44 × 10⁻⁵' (never '6.44e-05')."""
    value = float(value)
    if value == 0 or not np.isfinite(value):
        return format_number(lang, value)
    exponent = int(np.floor(np.log10(abs(value))))
    if -3 <= exponent <= 4:
        return format_number(lang, value, f".{max(0, digits - 1 - exponent)}f")
    mantissa = format_number(lang, value / 10 ** exponent, f".{digits - 1}f")
    return f"{mantissa} × 10{str(exponent).translate(SUPERSCRIPT)}"


# ---------------------------------------------------------------- one image and a batch

@st.cache_resource(max_entries=8, show_spinner=False)
def _mistakes(model: str, dataset_name: str, _model, _images, _labels) -> np.ndarray:
    from cnnviz.gradients import logits_of

    z = logits_of(_model, _images)  # (N, K)
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    pred = p.argmax(1)
    wrong = np.flatnonzero(pred != _labels)
    order = wrong[np.argsort(-p[wrong, pred[wrong]], kind="stable")][:50]
    order.setflags(write=False)
    return order


def true_class(t, state, classes: list[str]) -> int:
    """The reader's answer to "what is this (uploaded or drawn) image?" -> a class index."""
    state.label = min(state.label, len(classes) - 1)
    return st.selectbox(t("learn.label"), range(len(classes)), format_func=classes.__getitem__, key=state.key("label"))


def next_mistake(state, model, meta) -> None:
    """Point the picker at the next test image the network gets wrong most confidently (a button's callback: the
    test set is run through the network once per server, on the first click)."""
    order = confident_mistakes(model, meta)
    if not len(order):
        return
    here = [i for i, j in enumerate(order) if j == state.idx] if state.cls == "any" else []
    state.source, state.cls, state.idx = "test", "any", int(order[(here[0] + 1) % len(order) if here else 0])


def confident_mistakes(model, meta) -> np.ndarray:
    """Indices of the test images (as the picker shows them) the network gets wrong most confidently, first first."""
    data = images_for(meta["dataset"])
    return _mistakes(key(model, meta), meta["dataset"], model, data.images, data.labels)


def training_images(meta):
    """The training split, or None when it is not installed (the caller says so)."""
    try:
        return dataset(meta["dataset"], "train")
    except Exception:  # noqa: BLE001 — DatasetUnavailable: the page shows how to get the data
        return None


def batch_section(t, state, model, meta, chart) -> None:
    """Part 1's second half: a batch of training images, each one's cost, their sum L_B and the likelihood.
    `chart(builder, *args, key=…)` draws a shared figure (the page's)."""
    from cnnviz.figures_learning import batch_figure
    from cnnviz.gradients import batch_cost, draw_batch

    st.subheader(t("learn.batch_title"))
    train = training_images(meta)
    if train is None:  # offline: the shipped sample of test images stands in, and the caption says so
        train = images_for(meta["dataset"])
        st.caption(t("learn.batch_from_sample"))
    c1, c2 = st.columns(2)
    size = c1.slider(t("learn.batch"), 2, 32, key=state.key("batch"))
    c2.number_input(t("learn.batch_seed"), 0, 9999, key=state.key("batch_seed"), help=t("learn.batch_seed_help"))
    idx = draw_batch(len(train), size, state.batch_seed)
    batch = batch_cost(model, train.images[idx], train.labels[idx])
    chart(batch_figure, train.images[idx], batch.probs_true, batch.losses, key="learn_fig_batch")
    st.latex(batch_formula(t.lang, batch))
    st.markdown(t("learn.likelihood_text"))


# ---------------------------------------------------------------- batch gradients

@st.cache_resource(max_entries=4, show_spinner=False)
def _per_example(model: str, dataset_name: str, param: str, subset: int, _model, _train):
    idx = training_subset(len(_train), subset)
    start = time.perf_counter()
    per = per_example_gradients(_model, _train.images[idx], _train.labels[idx], param)
    return per, time.perf_counter() - start


@st.cache_resource(max_entries=16, show_spinner=False)
def _study(model: str, dataset_name: str, param: str, subset: int, draws: int, seed: int, _per) -> GradientStudy:
    return study_batches(_per, draws=draws, seed=seed)


def keep_param(t, state, names: list[str]) -> None:
    """Keep the studied tensor among this network's `names`; a link's name it lacks falls back with a notice."""
    if state.param not in names:
        if state.param:
            st.toast(t("learn.unknown_param", name=plain(state.param), default=names[0]), icon=":material/info:")
        state.param = names[0]


def gradient_study(model, meta, train, param: str, subset: int, draws: int, seed: int):
    """(GradientStudy, seconds the per-example gradients took): computed once per server for these settings."""
    per, seconds = _per_example(key(model, meta), meta["dataset"], param, subset, model, train)
    return _study(key(model, meta), meta["dataset"], param, subset, draws, seed, per), seconds


# ---------------------------------------------------------------- the loss landscape

def _subsets(train, test):
    """The fixed images of the landscape: PLANE_IMAGES training images and TEST_IMAGES test images."""
    tr = training_subset(len(train), PLANE_IMAGES, seed=1)
    te = training_subset(len(test), TEST_IMAGES, seed=2)
    return train.images[tr], train.labels[tr], test.images[te], test.labels[te]


@st.cache_resource(max_entries=8, show_spinner=False)
def _landscape(model: str, dataset_name: str, span: float, res: int, seed: int, _model, _train, _test) -> dict:
    x, y, xt, yt = _subsets(_train, _test)
    d1, d2 = landscape.random_direction(_model, seed), landscape.random_direction(_model, seed + 10_000)
    alphas = np.linspace(-span, span, LINE_POINTS)
    start = time.perf_counter()
    train_line = landscape.loss_line(_model, x, y, d1, alphas)
    test_line = landscape.loss_line(_model, xt, yt, d1, alphas)
    line_s = time.perf_counter() - start
    grid = np.linspace(-span, span, res)
    start = time.perf_counter()
    plane = landscape.loss_plane(_model, x, y, d1, d2, grid, grid)
    return dict(alphas=alphas, train_loss=train_line.loss, test_loss=test_line.loss, test_accuracy=test_line.accuracy,
                grid=grid, plane=plane, line_s=line_s, plane_s=time.perf_counter() - start)


def loss_landscape(model, meta, train, test, span: float, res: int, seed: int) -> dict:
    """The cost along a filter-normalised direction (train and test, test accuracy) and on a plane of two."""
    return _landscape(key(model, meta), meta["dataset"], float(span), int(res), int(seed), model, train, test)


@st.cache_resource(max_entries=4, show_spinner=False)
def _path(model: str, dataset_name: str, res: int, _model, _train, _history) -> dict:
    final = landscape.weights_of(_model)
    d1, d2 = landscape.trajectory_plane(_history, final)
    coords = landscape.project_path(_history, final, d1, d2)  # (E, 2)
    reach = 1.2 * float(np.abs(coords).max()) or 1.0
    grid = np.linspace(-reach, reach, res)
    x, y, _, _ = _subsets(_train, _train)
    return dict(grid=grid, plane=landscape.loss_plane(_model, x, y, d1, d2, grid, grid), path=coords)


@st.cache_resource(max_entries=4, show_spinner=False)
def _history(path: str, mtime: float) -> list | None:
    return landscape.load_weight_history(path)


def landscape_caption(t, land: dict, res: int) -> str:
    """What the landscape was computed on, how long it took, and the cost at the trained weights (α = 0)."""
    return t("learn.landscape_caption", n=PLANE_IMAGES, m=TEST_IMAGES, points=LINE_POINTS, res=res,
             line=land["line_s"], plane=land["plane_s"], loss=float(land["train_loss"][len(land["alphas"]) // 2]))


def path_section(t, model, meta, train, res: int, chart) -> None:
    """The run's training path on the plane where it moves most, or a note that this network did not keep it."""
    from cnnviz.figures_learning import plane_figure

    path = training_path(model, meta, train, res)
    if path is None:
        st.info(t("learn.no_history"))
    else:
        chart(plane_figure, path["grid"], path["grid"], path["plane"], path["path"], axis_ids=("PC1", "PC2"),
              key="learn_fig_path")


def training_path(model, meta, train, res: int) -> dict | None:
    """The run's per-epoch weights on the plane where they move most, or None when the run did not keep them."""
    from pathlib import Path

    path = Path(str(meta.get("path") or ""))
    if not path.is_file():  # a user's model: no run file
        return None
    history = _history(str(path), path.stat().st_mtime)
    if not history:
        return None
    return _path(key(model, meta), meta["dataset"], int(res), model, train, history)


# ---------------------------------------------------------------- formulas and sentences with the view's numbers

COST_IDS = {"cross-entropy": "learn.fig.ce", "mse": "learn.fig.mse", "l1": "learn.fig.l1"}
UNBIASED = (r"L(\boldsymbol{W}) = \sum_{\boldsymbol{x} \in \mathcal{E}} \ell(\boldsymbol{x}, \boldsymbol{W})"
            r"\qquad \mathbb{E}_{\mathcal{B}}\Big[\sum_{\boldsymbol{x} \in \mathcal{B}} \nabla_{\boldsymbol{W}}"
            r"\ell(\boldsymbol{x}, \boldsymbol{W})\Big] = \frac{|\mathcal{B}|}{|\mathcal{E}|}\,"
            r"\nabla_{\boldsymbol{W}} L(\boldsymbol{W})")
MOMENTUM_RULE = (r"v_{t+1} = \mu\, v_t + \nabla L(W_t), \qquad W_{t+1} = W_t - \gamma\, v_{t+1}"
                 r"\qquad (\mu = 0:\; W \leftarrow W - \gamma\, g)")


def ce_formula(lang: str, cost) -> str:
    """p_c = e^{z_c} / Σ e^{z_k} and ℓ = −log p_c with this image's numbers."""
    c = cost.label
    z = cost.logits
    total = float(np.exp(z).sum()) if z.max() < 700 else float("inf")
    p = float(cost.probs[c])
    return (rf"p_{{{c}}} = \frac{{e^{{z_{{{c}}}}}}}{{\sum_{{k}} e^{{z_k}}}} = \frac{{e^{{{tex(lang, z[c], '.2f')}}}}}"
            rf"{{{tex_sci(lang, total)}}} = {tex_sci(lang, p, 4)} \qquad \ell = -\log p_{{{c}}} = "
            rf"{tex_sci(lang, cost.costs['cross-entropy'])}")


def batch_formula(lang: str, batch) -> str:
    """L_B = Σ ℓ_i = −log Π p_i, with the batch's numbers."""
    terms = [tex(lang, v, ".2f") for v in batch.losses]
    shown = " + ".join(terms if len(terms) <= 5 else [*terms[:3], r"\dots", terms[-1]])
    return (rf"L_{{\mathcal{{B}}}} = \sum_{{i=1}}^{{{len(terms)}}} \ell_i = {shown} = {tex(lang, batch.total, '.2f')}"
            rf"\qquad \prod_{{i}} p_i = e^{{-L_{{\mathcal{{B}}}}}} = {tex_sci(lang, batch.likelihood)}")


def gradient_verdict(t, cost) -> str:
    """What the gradient bars say for this image: its true class's gradient under each cost, and why."""
    c, lang = cost.label, t.lang
    g = {name: float(cost.grads[name][c]) for name in COST_IDS}
    line = t("learn.grad_true", ce=readable(lang, g["cross-entropy"]), mse=readable(lang, g["mse"]),
             l1=readable(lang, g["l1"]))
    pred, p_pred = int(cost.probs.argmax()), float(cost.probs.max())
    if cost.compared == "logits":
        why = t("learn.verdict_logits")
    elif pred != c and p_pred > 0.9:
        ratio = abs(g["cross-entropy"]) / max(abs(g["mse"]), 1e-300)
        why = t("learn.verdict_mistake", p=p_pred, ratio=readable(lang, ratio, 2))
    elif pred == c and p_pred > 0.9:
        why = t("learn.verdict_right", p=p_pred)
    else:
        why = t("learn.verdict_unsure")
    return f"{line}  \n{why}"


def study_summary(t, study, seconds: float) -> str:
    shape = "×".join(map(str, study.full.shape))
    return t("learn.study_summary", n=study.n_images, param=study.param, shape=shape,
             norm=readable(t.lang, study.full_norm), sigma2=readable(t.lang, study.sigma2), slope=study.slope,
             seconds=seconds)


def study_table(t, study):
    """One row per batch size, numbers written the reader's way."""
    import pandas as pd

    lang = t.lang
    return pd.DataFrame({
        "|B|": [format_number(lang, r.batch_size) for r in study.rows],
        t("learn.col_error"): [format_number(lang, r.mean_rel_error, ".1%") for r in study.rows],
        t("learn.col_variance"): [readable(lang, r.variance) for r in study.rows],
        t("learn.col_formula"): [readable(lang, r.expected_variance) for r in study.rows],
    })


def toy_paths(t, toy: str, lr: float, momentum: float, steps: int) -> tuple[list, list]:
    """SGD's paths on a toy cost without and with momentum -> (cnnviz.descent.Path list, their plain dicts for
    the figure builders, each with its legend name)."""
    from cnnviz.descent import sgd_path

    paths = [sgd_path(toy, lr, m, steps) for m in dict.fromkeys((0.0, float(momentum)))]
    plain = [dict(points=p.points, costs=p.costs, momentum=p.momentum, diverged_at=p.diverged_at,
                  name=t("learn.path_name", lr=format_number(t.lang, lr, ".4g"),
                         mu=format_number(t.lang, p.momentum, ".2f"))) for p in paths]
    return paths, plain


def path_verdicts(t, paths: list, plain: list) -> str:
    """One line per path: where it diverged, when it reached the minimum, or where it stands."""
    from cnnviz.descent import steps_to

    return "  \n".join(path_verdict(t, p, d["name"], steps_to(p)) for p, d in zip(paths, plain))


def path_verdict(t, path, name: str, reached: int | None) -> str:
    lang = t.lang
    if path.diverged_at is not None:
        return t("learn.verdict_diverged", name=name, step=path.diverged_at)
    if reached is not None:
        return t("learn.verdict_reached", name=name, step=reached)
    return t("learn.verdict_slow", name=name, steps=len(path.costs) - 1,
             cost=readable(lang, float(path.costs[-1])))
