"""The universal-approximation library: the functions, the one-hidden-layer network, its fit, the sweep over N,
the shared store of fits and the figures."""

import json

import numpy as np
import pytest

from cnnviz.approx import (
    ACTIVATIONS,
    FUNCTIONS,
    HI,
    LO,
    N_GRID,
    N_PLOT,
    N_TRAIN,
    FitStore,
    errors,
    fit,
    plot_grid,
    sweep,
    target,
    training_points,
)
from cnnviz.figures_approx import fit_figure, sweep_figure, training_figure
from ui.screens import BY_ID


@pytest.fixture(scope="module")
def sine16():
    return fit("sine", "tanh", 16, 2000, seed=0)


def test_the_registry_offers_the_library_choices():
    screen = BY_ID["approximation"]
    assert screen.field("function").choices is FUNCTIONS and screen.field("activation").choices is ACTIVATIONS


def test_functions_and_training_points():
    x = np.array([-np.pi / 4, -1e-9, 0.0, 1.0])
    assert np.allclose(target("sine", x), np.sin(2 * x))
    assert target("step", x).tolist() == [0, 0, 1, 1]
    assert np.allclose(target("abs", x), np.abs(x))
    xs, ys = training_points("noisy")
    assert xs.shape == ys.shape == (N_TRAIN,) and xs[0] == -np.pi and xs[-1] == np.pi
    noise = ys - target("noisy", xs)
    assert 0.1 < noise.std() < 0.2 and np.array_equal(ys, training_points("noisy")[1])  # same noise each time
    assert np.array_equal(training_points("sine")[1], target("sine", xs))  # the others: no noise
    with pytest.raises(ValueError):
        target("cosine", x)
    assert errors(np.array([0.0, 1.0]), np.array([0.5, 1.0])) == (0.5, 0.125)


def test_sixteen_tanh_neurons_fit_the_sine(sine16):
    # measured (seed 0, 2 000 steps): max error 0.051, MSE 2.7e-4; seeds 1 and 2: 0.014 / 5e-5, 0.032 / 3e-4
    assert sine16.mse < 1e-3 and sine16.max_error < 0.1
    assert sine16.x.shape == sine16.pred.shape == (N_PLOT,) and sine16.units.shape == (16, N_PLOT)
    assert np.allclose(sine16.units.sum(0) + (sine16.pred - sine16.units.sum(0)).mean(), sine16.pred, atol=1e-5)
    assert sine16.snap_steps[0] == 0 and sine16.snap_steps[-1] == 2000 and len(sine16.snap_steps) == 21
    assert np.allclose(sine16.snap_preds[-1], sine16.pred)
    assert sine16.losses[0] > 10 * sine16.losses[-1]  # it learned
    assert np.abs(sine16.snap_preds[0] - sine16.truth).max() > 0.5  # it did not start there


def test_a_fit_is_deterministic_with_its_seed(sine16):
    again = fit("sine", "tanh", 16, 2000, seed=0, snapshots=3)  # fewer snapshots: the same training
    assert np.array_equal(again.pred, sine16.pred) and again.max_error == sine16.max_error
    other = fit("sine", "tanh", 16, 2000, seed=1, snapshots=0)
    assert not np.allclose(other.pred, sine16.pred)


def test_seen_snapshots_are_the_kept_ones():
    seen = []
    result = fit("abs", "relu", 4, 300, seed=3, snapshots=5, on_snapshot=lambda s, p, loss: seen.append((s, p)))
    assert [s for s, _ in seen] == result.snap_steps == [0, 60, 120, 180, 240, 300]
    assert all(np.array_equal(p, q) for (_, p), q in zip(seen, result.snap_preds))


def test_the_error_falls_with_the_number_of_neurons():
    table = sweep("sine", "tanh", seed=0)
    assert table["neurons"] == [1, 2, 4, 8, 16, 32, 64]
    mx, mse = table["max_error"], table["mse"]
    # measured: max 1.12, 1.01, 0.25, 0.18, 0.051, 0.024, 0.022; MSE from 0.42 down to 4.5e-5
    assert mx[0] > 0.9 and mx[-1] < 0.1 and mse[-1] < mse[0] / 1000
    assert min(mx[4:]) < min(mx[:3]) / 4 and min(mse[4:]) < min(mse[:3]) / 20
    assert sum(b > a * 1.5 for a, b in zip(mx, mx[1:])) <= 1  # overall decreasing (one small bump at most)


def test_a_step_cannot_be_approximated_uniformly():
    result = fit("step", "tanh", 32, 1000, seed=0, snapshots=0)
    assert result.max_error >= 0.45  # a continuous network cannot jump: the theorem needs continuity
    assert result.mse < 0.02


@pytest.mark.parametrize("args", [("sine", "sigmoid", 4), ("sine", "tanh", 0), ("sine", "tanh", 65),
                                  ("cos", "tanh", 4)])
def test_bad_arguments(args):
    with pytest.raises(ValueError):
        fit(*args, steps=10)


def test_the_store_keeps_the_latest():
    store = FitStore(2)
    store.put(("a",), 1)
    store.put(("b",), 2)
    assert store.get(("a",)) == 1  # now the most recent
    store.put(("c",), 3)
    assert store.get(("b",)) is None and store.get(("a",)) == 1 and store.get(("c",)) == 3


def test_figures_in_french(sine16):
    fig = fit_figure(sine16, show_units=True, lang="fr")
    spec = json.loads(fig.to_json())
    assert [d["name"] for d in spec["data"][:3]] == ["Fonction à apprendre", "Points d'entraînement", "Réseau, N = 16"]
    assert len(spec["data"]) == 3 + 16 and len(spec["frames"]) == 21
    assert spec["layout"]["sliders"][0]["currentvalue"]["prefix"] == "Itération "
    assert spec["layout"]["title"]["text"].replace("\u202f", " ") == "Après 2 000 itérations d'entraînement sur 2 000"
    live = training_figure("sine", 16, 2000, 100, sine16.snap_preds[1], lang="en")
    assert live.layout.title.text == "After 100 of 2,000 training steps" and not live.frames
    table = {"neurons": [1, 2, 4], "max_error": [1.0, 0.5, 0.1], "mse": [0.1, 0.01, 0.001]}
    sw = sweep_figure(table, sine16, lang="fr")
    assert sw.layout.xaxis.type == "log" and sw.layout.yaxis.type == "log"
    assert sw.data[2].name.startswith("Ce réseau") and list(sw.data[2].y) == [sine16.max_error, sine16.mse]


def test_the_errors_are_measured_on_every_drawn_point_and_between(sine16):
    """The dense grid holds every point of the drawn curve (and 4 more between two of them), so the maximum error
    shown is never smaller than a gap a student can see on the chart."""
    dense, drawn = np.linspace(LO, HI, N_GRID), plot_grid()
    step = (N_GRID - 1) // (N_PLOT - 1)
    assert step > 1 and (N_PLOT - 1) * step == N_GRID - 1
    np.testing.assert_allclose(dense[::step], drawn, rtol=0, atol=1e-12)
    seen = np.abs(sine16.pred - sine16.truth).max()  # the largest gap on the chart
    assert seen <= sine16.max_error + 1e-6
