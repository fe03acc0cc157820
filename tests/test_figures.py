"""What must stay cheap stays cheap in shape (never in time): the convolution animation's frames hold only the
changing traces, feature-map mosaics travel as one bounded image, the live loss chart never holds more than
its cap of points."""

import base64
import io
import json
import pickle
from collections import Counter

import numpy as np
import plotly.io as pio
import pytest
from PIL import Image

from cnnviz import figures
from cnnviz.curves import MAX_POINTS, bucket_size, downsample_curve, keep_indices, trailing_mean
from cnnviz.figures import conv_step_figure, image_figure, loss_figure, mosaic_figure, rgb_figure
from cnnviz.ops import conv2d_steps
from cnnviz.training import moving_average
from tests.apptest import decode


def spec(fig) -> dict:
    """What st.plotly_chart sends: plotly's JSON of the figure."""
    return json.loads(pio.to_json(fig, validate=False))


def png(uri: str) -> Image.Image:
    assert uri.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))


# ---------------------------------------------------------------- convolution animation

def conv(n=12, k=(1, 1), stride=1, padding=3, dilation=1, seed=0):
    rng = np.random.default_rng(seed)
    return conv2d_steps(rng.integers(0, 10, (n, n)).astype(float), rng.integers(-2, 3, k).astype(float),
                        stride, padding, dilation)


@pytest.mark.parametrize("k, padding, dilation", [((1, 1), 3, 1), ((3, 3), 1, 1), ((7, 7), 3, 1), ((3, 2), 2, 3)])
def test_animation_frames_hold_only_the_changing_traces(k, padding, dilation):
    trace = conv(k=k, padding=padding, dilation=dilation)
    s = spec(conv_step_figure(trace, 0, animate=True))
    frames = s["frames"]
    assert len(frames) == len(trace.steps) == len(s["layout"]["sliders"][0]["steps"])
    assert "shapes" not in s["layout"]  # no shape per padded cell, in the base or in a frame
    types = [t["type"] for t in s["data"]]
    out, window, cell = frames[0]["traces"]
    assert (out, types[window], types[cell]) == (2, "scatter", "scatter")
    kh, kw = k
    for i, frame in enumerate(frames):
        assert set(frame) == {"name", "traces", "data"}  # no layout in a frame
        assert frame["traces"] == [out, window, cell]
        z, wx = decode(frame["data"][0]["z"]), decode(frame["data"][1]["x"])
        step = trace.steps[i]
        assert z.shape == (step.out_row + 1, trace.output.shape[1])  # the rows filled so far, no more
        assert np.isnan(z).sum() == trace.output.shape[1] - 1 - step.out_col
        # the window's outline: a grid of kh + kw + 2 lines, or one square (6 points) per dilated cell
        assert len(wx) == ((kh + kw + 2) * 3 if dilation == 1 or kh * kw == 1 else kh * kw * 6)
        assert len(decode(frame["data"][2]["x"])) == 6
    np.testing.assert_array_equal(decode(frames[-1]["data"][0]["z"]), trace.output.astype(np.float32))


def test_animation_of_the_largest_grid_is_bounded():
    """12×12 input, 1×1 kernel, padding 3: 324 steps, the screen's largest animation (bench/figures.py --search)."""
    trace = conv()
    text = pio.to_json(conv_step_figure(trace, 5, animate=True), validate=False)
    assert len(trace.steps) == 324
    assert len(text) < 1_000_000
    assert json.loads(text)["layout"]["sliders"][0]["active"] == 5


def test_animation_frames_are_capped():
    trace = conv(n=30, padding=0)  # 900 steps, more than the screen allows
    s = spec(conv_step_figure(trace, 899, animate=True))
    assert len(s["frames"]) == figures.MAX_FRAMES == len(s["layout"]["sliders"][0]["steps"])
    assert s["frames"][0]["name"] == "0" and s["frames"][-1]["name"] == "899"
    assert s["layout"]["sliders"][0]["active"] == figures.MAX_FRAMES - 1


def test_animated_figure_survives_pickling_and_reads_like_a_plotly_figure():
    fig = conv_step_figure(conv(n=5, k=(3, 3), padding=1), 4, animate=True)
    again = pickle.loads(pickle.dumps(fig))
    assert spec(again) == spec(fig)
    assert len(fig.frames) == 25 and fig.frames[-1].name == "24"


def test_step_figure_without_animation():
    trace = conv(n=5, k=(3, 3), padding=1)
    s = spec(conv_step_figure(trace, 7))
    assert "frames" not in s and "sliders" not in s["layout"]
    out = decode(s["data"][2]["z"])
    assert out.shape == trace.output.shape and np.isnan(out).sum() == out.size - 8
    assert [t["type"] for t in s["data"]] == ["heatmap"] * 4 + ["scatter"] * 2  # input, kernel, output, border


# ---------------------------------------------------------------- maps as images

def test_mosaic_of_large_maps_is_one_bounded_png():
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(32, 28, 28))
    maps[18, 3, 4] = 10.0  # the largest value
    fig = mosaic_figure(maps, "conv1", cols=16, symmetric=True, selected=3, lang="fr")
    s = spec(fig)
    hover, image = s["data"]
    assert image["type"] == "image" and "z" not in image
    img = png(image["source"])
    assert img.size == (16 * 29 - 1, 2 * 29 - 1) and img.mode == "P"
    assert len(pio.to_json(fig)) < 64_000  # noise, the worst case: ~1 byte a pixel (a heatmap was ~400 kB)
    assert hover["type"] == "heatmap" and hover["zmin"] == -hover["zmax"]
    assert decode(hover["customdata"]).ravel().tolist() == list(range(32))  # one hover cell per channel
    assert "canal" in hover["hovertemplate"]
    # the server's colours are the heatmap's: the largest value gets the top of the scale
    top = tuple(figures._lut(figures.DIVERGING)[-1])
    pix = img.convert("RGBA").getpixel((2 * 29 + 4, 1 * 29 + 3))  # channel 18 = row 1, column 2; pixel (3, 4)
    assert pix[:3] == top and pix[3] == 255
    assert img.convert("RGBA").getpixel((28, 0))[3] == 0  # the gap between tiles is transparent


def test_small_mosaics_stay_heatmaps_with_values():
    kernels = np.random.default_rng(1).normal(size=(32, 3, 3))
    s = spec(mosaic_figure(kernels, "filters", cols=16, symmetric=True))
    assert [t["type"] for t in s["data"]] == ["heatmap"]
    assert decode(s["data"][0]["z"]).shape == (2 * 4 - 1, 16 * 4 - 1)


def test_large_image_figure_is_a_png_with_its_colour_bar():
    big = np.random.default_rng(2).normal(size=(128, 128))
    fig = image_figure(big, "out", colorscale="RdBu_r", zmid=0)
    s = spec(fig)
    bar, image = s["data"]
    assert png(image["source"]).size == (128, 128)
    assert bar["zmin"] == -bar["zmax"] and bar["opacity"] == 0
    assert len(pio.to_json(fig)) < 40_000
    small = spec(image_figure(big[:28, :28]))
    assert decode(small["data"][0]["z"]).shape == (28, 28)  # small maps keep their values on hover


def test_large_rgb_figure_is_a_png():
    img = np.random.default_rng(3).integers(0, 256, (128, 128, 3)).astype(np.uint8)
    s = spec(rgb_figure(img))
    assert np.array_equal(np.asarray(png(s["data"][0]["source"]).convert("RGB")), img)


# ---------------------------------------------------------------- live loss chart

def history(n: int, seed=0) -> list[float]:
    rng = np.random.default_rng(seed)
    return list(2.3 * np.exp(-np.arange(n) / 20_000) + rng.gamma(2.0, 0.1, n))


@pytest.mark.parametrize("n", [0, 1, 999, 1000, 1001, 115_000])
def test_loss_chart_never_holds_more_than_its_cap(n):
    losses = history(n)
    if n:
        losses[n // 3] = 50.0  # a spike stays visible
    s = spec(loss_figure(losses, moving_average(losses), [n // 2] if n else []))
    x, y, avg = decode(s["data"][0]["x"]), decode(s["data"][0]["y"]), decode(s["data"][1]["y"])
    assert len(x) == len(y) == len(avg) == len(decode(s["data"][1]["x"])) <= MAX_POINTS
    if n <= MAX_POINTS:
        assert len(x) == n  # short histories are drawn whole
    if n:
        assert y.max() == 50.0 and y.min() == min(losses)
        np.testing.assert_allclose(avg, moving_average(losses)[x.astype(int) - 1])  # exact average of the full history


def test_downsampled_buckets_do_not_move_when_the_history_grows():
    a, b = history(50_000), history(50_000)[:49_000]
    assert bucket_size(50_000) == bucket_size(49_000)
    size = bucket_size(50_000)
    ia, ib = keep_indices(a), keep_indices(b)
    full = 49_000 // size * size
    assert ia[ia < full].tolist() == ib[ib < full].tolist()


def test_trailing_mean_is_the_training_moving_average():
    losses = history(3000)
    np.testing.assert_allclose(trailing_mean(losses), moving_average(losses))
    losses[100] = float("nan")
    avg = trailing_mean(losses)
    assert np.isnan(avg[100:150]).all() and np.isfinite(avg[150:]).all()  # a NaN spoils its window only
    x, y, y_avg = downsample_curve(losses, 200)  # a bucket's min and max are finite losses
    assert len(x) <= 200 and np.isfinite(y).all() and np.isnan(y_avg).any()


# ---------------------------------------------------------------- shared by the sessions of a class

def test_shared_results_are_computed_once_for_two_sessions():
    """The pattern ui/ uses: cnnviz.shared's computations behind st.cache_resource keyed by plain values."""
    from concurrent.futures import ThreadPoolExecutor

    import streamlit as st

    from cnnviz import shared
    from cnnviz.checkpoints import SHIPPED, load_checkpoint
    from cnnviz.data import images_to_browse

    model, meta = load_checkpoint(SHIPPED)
    image = images_to_browse(meta["dataset"]).images[0]
    path, mtime = str(SHIPPED), SHIPPED.stat().st_mtime

    @st.cache_resource(show_spinner=False)
    def maps(path: str, mtime: float, image: np.ndarray, _model):
        return shared.image_maps(_model, image)

    @st.cache_resource(show_spinner=False)
    def mosaics(path: str, mtime: float, image: np.ndarray, signed: bool, lang: str, _maps):
        return shared.stage_mosaics(_maps, ["conv1", "relu1", "pool1"], signed, lang)

    @st.cache_resource(show_spinner=False)
    def shifts(path: str, mtime: float, image: np.ndarray, k: int, circular: bool, _model):
        return shared.shift_probabilities(_model, image, k, circular)

    before = Counter(shared.CALLS)

    def session(_):  # what one page run asks for
        result = maps(path, mtime, image.copy(), model)
        return result, mosaics(path, mtime, image, True, "fr", result.maps), shifts(path, mtime, image, 2, False, model)

    with ThreadPoolExecutor(2) as pool:  # two sessions at the same moment, then a third one later
        runs = list(pool.map(session, range(2))) + [session(2)]
    calls = Counter(shared.CALLS) - before
    assert calls == Counter(image_maps=1, stage_mosaics=1, shift_probabilities=1)
    assert all(r[0] is runs[0][0] and r[1] is runs[0][1] and r[2] is runs[0][2] for r in runs)
    result, figs, probs = runs[0]
    assert not result.maps["conv1"].flags.writeable and not probs.flags.writeable  # shared: read-only
    assert probs.shape == (5, 5, len(meta["classes"]))
    np.testing.assert_allclose(probs[2, 2], result.probs, atol=1e-5)  # the unshifted image
    text = pio.to_json(figs["conv1"], validate=False)  # serialising a shared figure leaves it as it was
    assert pio.to_json(figs["conv1"], validate=False) == text
    maps(path, mtime + 1, image, model)  # a rewritten checkpoint computes again
    assert shared.CALLS["image_maps"] - before["image_maps"] == 2
