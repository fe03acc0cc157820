"""Remedies for translation (issue 13): BlurPool2d against a reference implementation, the new architecture
and the training shifts, the shipped networks' stored measures, the table and its figures."""

import time

import numpy as np
import pytest
import torch

from cnnviz.blurpool import BlurPool2d, binomial_filter
from cnnviz.checkpoints import load_checkpoint, save_checkpoint
from cnnviz.data import to_tensor
from cnnviz.figures_shift import consistency_figure, tradeoff_figure
from cnnviz.loop import random_translate
from cnnviz.models import ARCHITECTURES, build_model, count_parameters, trace_shapes
from cnnviz.shift import (
    REMEDY_NETWORKS,
    ConsistencyRow,
    consistency,
    consistency_table,
    format_table,
    layer_gaps,
    remedy_paths,
    shift_image,
    stored_table,
)
from cnnviz.training import SettingError, TrainConfig

META = dict(dataset="fashion-mnist", classes=[f"c{i}" for i in range(10)], input_shape=[1, 28, 28],
            test_accuracy=0.5)
CASES = [(c, size, stride, pad, h, w) for c, size, stride, pad, h, w in [
    (1, 3, 2, "reflect", 28, 28), (32, 3, 2, "reflect", 27, 27), (64, 3, 2, "reflect", 13, 13),
    (128, 3, 2, "reflect", 6, 6), (3, 3, 2, "zero", 9, 8), (5, 3, 2, "replicate", 7, 10),
    (4, 1, 2, "reflect", 9, 9), (4, 2, 2, "reflect", 9, 9), (7, 4, 2, "reflect", 11, 12), (2, 5, 3, "zero", 13, 9),
    (6, 5, 1, "replicate", 8, 8), (3, 7, 2, "reflect", 16, 15), (8, 6, 3, "zero", 14, 14), (2, 3, 1, "reflect", 5, 5),
]]


@pytest.mark.parametrize("c,size,stride,pad,h,w", CASES)
def test_blurpool_matches_the_reference_implementation(c, size, stride, pad, h, w):
    """antialiased_cnns.BlurPool (Zhang's own code, `pip install antialiased-cnns`) on random inputs."""
    reference = pytest.importorskip(
        "antialiased_cnns", reason="the reference BlurPool (pip install antialiased-cnns, requirements-dev.txt)")
    torch.manual_seed(c * 100 + size * 10 + stride)
    x = torch.randn(3, c, h, w)
    ours = BlurPool2d(c, size, stride, pad)(x)
    theirs = reference.BlurPool(c, pad_type=pad, filt_size=size, stride=stride)(x)
    assert ours.shape == theirs.shape
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("c,size,stride,pad,h,w", CASES)
def test_blurpool_matches_a_direct_sum(c, size, stride, pad, h, w):
    """Independent of any library: numpy padding, then each output cell as the weighted sum of its window
    with the binomial coefficients (rows of Pascal's triangle)."""
    rng = np.random.default_rng(size * 7 + stride)
    x = rng.standard_normal((2, c, h, w))
    before, after = (size - 1) // 2, size - 1 - (size - 1) // 2
    mode = {"reflect": "reflect", "replicate": "edge", "zero": "constant"}[pad]
    xp = np.pad(x, ((0, 0), (0, 0), (before, after), (before, after)), mode=mode)
    row = np.array([1.0])
    for _ in range(size - 1):
        row = np.convolve(row, [1.0, 1.0])
    k = np.outer(row, row) / row.sum() ** 2
    oh, ow = (xp.shape[2] - size) // stride + 1, (xp.shape[3] - size) // stride + 1
    want = np.zeros((2, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            win = xp[:, :, i * stride:i * stride + size, j * stride:j * stride + size]
            want[:, :, i, j] = (win * k).sum((-2, -1))
    got = BlurPool2d(c, size, stride, pad)(torch.from_numpy(x).float()).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_blurpool_filter_gradient_and_errors():
    torch.testing.assert_close(binomial_filter(3) * 16, torch.tensor([[1.0, 2, 1], [2, 4, 2], [1, 2, 1]]))
    assert float(binomial_filter(5).sum()) == pytest.approx(1.0)
    blur = BlurPool2d(4)
    assert not list(blur.parameters()) and not blur.state_dict()  # fixed filter, not stored in checkpoints
    x = torch.randn(2, 4, 8, 8, requires_grad=True)
    blur(x).sum().backward()  # each input pixel's weights sum to what reaches the output
    assert x.grad is not None and torch.isfinite(x.grad).all()
    const = torch.full((1, 4, 10, 10), 3.0)
    torch.testing.assert_close(blur(const), torch.full((1, 4, 5, 5), 3.0))  # a low-pass filter keeps constants
    for bad in (dict(size=0), dict(size=8), dict(stride=0), dict(pad_mode="circular")):
        with pytest.raises(ValueError):
            BlurPool2d(4, **bad)


def test_compact_blur_builds_traces_saves_and_reloads(tmp_path):
    assert "compact_blur" in ARCHITECTURES
    torch.manual_seed(0)
    model = build_model("compact_blur").eval()
    standard = build_model("compact")
    # Same parameters as the standard network (a checkpoint of one initialises the other: --init).
    assert count_parameters(model) == count_parameters(standard) == 241_994
    assert {k: v.shape for k, v in model.state_dict().items()} == {k: v.shape for k, v in standard.state_dict().items()}
    stages = list(model.stages)
    assert stages[:6] == ["conv1", "bn1", "relu1", "pool1", "blur1", "conv2"]
    x = torch.randn(4, 1, 28, 28)
    feats = model.forward_features(x)
    for row in trace_shapes(model):  # the shape formulas agree with a real forward pass
        assert tuple(feats[row.name].shape[1:]) == row.out_shape, row.name
    assert [tuple(feats[f"blur{i}"].shape[1:]) for i in (1, 2, 3)] == [(32, 14, 14), (64, 7, 7), (128, 3, 3)]
    assert [tuple(feats[f"pool{i}"].shape[1:]) for i in (1, 2, 3)] == [(32, 27, 27), (64, 13, 13), (128, 6, 6)]
    path = save_checkpoint(tmp_path / "blur.pt", model, "compact_blur", META)
    loaded, meta = load_checkpoint(path)
    assert meta["arch"] == "compact_blur" and type(loaded).__name__ == "CompactBlurCNN"
    torch.testing.assert_close(loaded(x), model(x))


def test_compact_blur_is_more_shift_stable_than_max_pooling_at_initialisation():
    """The blur alone (same random weights) makes the pooled maps move more smoothly with the input."""
    torch.manual_seed(0)
    standard, blur = build_model("compact").eval(), build_model("compact_blur").eval()
    blur.load_state_dict(standard.state_dict())
    img = (np.random.default_rng(0).random((28, 28)) * 255).astype(np.uint8)
    g_std = layer_gaps(standard, img, 1, 0, circular=True)
    g_blur = layer_gaps(blur, img, 1, 0, circular=True)
    assert g_blur["blur3"][1] < g_std["pool3"][1]


def test_shift_network_config_saves_and_reloads(tmp_path):
    cfg = TrainConfig(translate=3).validate()
    model = build_model("compact")
    path = save_checkpoint(tmp_path / "shift.pt", model, "compact", dict(META, train_config=dict(vars(cfg))))
    _, meta = load_checkpoint(path)
    assert meta["arch"] == "compact" and meta["train_config"]["translate"] == 3
    for bad in (-1, 9, 1.5, True):
        with pytest.raises(SettingError):
            TrainConfig(translate=bad).validate()


def test_random_translate_is_the_zero_fill_shift_of_cnnviz_shift():
    rng = np.random.default_rng(1)
    images = rng.integers(1, 256, size=(16, 28, 28), dtype=np.uint8)
    torch.manual_seed(5)
    moved = random_translate(to_tensor(images), 3)
    torch.manual_seed(5)
    d = torch.randint(-3, 4, (16, 2)).tolist()  # the same draws
    want = to_tensor(np.stack([shift_image(im, dx, dy) for im, (dx, dy) in zip(images, d)]))
    torch.testing.assert_close(moved, want)
    assert len({tuple(v) for v in d}) > 1
    x = to_tensor(images)
    assert random_translate(x, 0) is x


def test_table_and_figures_on_a_few_images(fmnist_test):
    model, _ = load_checkpoint(remedy_paths()["standard"])
    images, labels = fmnist_test.images[:200], fmnist_test.labels[:200]
    ticks = []
    rows = consistency_table({"standard": model, "other": model}, images, labels, ks=(1, 3), progress=ticks.append)
    assert ticks[-1] == 1.0 and len(ticks) == 2 * (1 + 2 * 2)
    assert rows[0].zero == rows[1].zero and rows[0].zero[3] == consistency(model, images, 3, False, seed=0)
    assert rows[0].circular[1] == consistency(model, images, 1, True, seed=0)
    assert ConsistencyRow.from_meta("standard", {"consistency": rows[0].to_meta()}) == rows[0]
    assert ConsistencyRow.from_meta("standard", {"consistency": {"ks": "x"}}) is None
    assert format_table(rows).splitlines()[0].startswith("| network | accuracy | zero k=1")
    for lang in ("en", "fr"):
        fig = consistency_figure(rows, lang=lang)
        assert len(fig.data) == 4 and list(fig.data[0].x) == [1, 3]
        assert [d.line.dash for d in fig.data[:2]] == ["solid", "dash"]
        assert list(fig.data[0].y) == [rows[0].zero[1], rows[0].zero[3]]
        trade = tradeoff_figure(rows, k=3, lang=lang)
        assert trade.data[0].x[0] == rows[0].accuracy and trade.data[0].y[0] == rows[0].zero[3]
    assert "Standard" in consistency_figure(rows, "en").data[0].name and "other" in consistency_figure(rows).data[2].name
    assert "zéros" in consistency_figure(rows, "fr").data[0].name


def test_shipped_networks_store_their_measures():
    """Each shipped network carries its row of the table (accuracy, consistency k = 1..4, both fills)."""
    paths = remedy_paths()
    assert set(paths) == set(REMEDY_NETWORKS), "a shipped network of the remedies table is missing"
    rows = stored_table(paths)
    assert [r.network for r in rows] == list(REMEDY_NETWORKS)
    for row in rows:
        _, meta = load_checkpoint(paths[row.network])
        assert row.images == 10_000 and row.seed == 0 and sorted(row.zero) == [1, 2, 3, 4]
        assert meta["consistency_k3"] == row.zero[3] and meta["test_accuracy"] == row.accuracy
    size = sum(p.stat().st_size for p in paths["standard"].parent.iterdir() if p.is_file())
    assert size <= 4 * 2**20, f"checkpoints/ holds {size / 2**20:.1f} MB"


def test_shipped_consistency_is_reproduced_exactly(fmnist_test):
    """The stored consistency (k = 3, zero fill, seed 0, the 10,000 test images) is what the network gives
    now, to the image: the figure in the README and on the screen is reproducible."""
    t0 = time.perf_counter()
    for name, path in remedy_paths().items():
        model, meta = load_checkpoint(path)
        value = consistency(model, fmnist_test.images, 3, False, seed=0)
        assert value == meta["consistency_k3"], (name, value, meta["consistency_k3"])
    print(f"3 networks × 10,000 test images: {time.perf_counter() - t0:.1f} s")
