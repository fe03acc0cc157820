"""cnnviz.explain and cnnviz.figures_explain: every unit recomputed from the previous stage equals the
network's own forward pass, for the shipped network, the course's Net, the MLP and random architectures;
the path back from a pool cell; receptive fields; top-k against a brute-force ranking; Grad-CAM; figures."""

import re
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch import nn

from cnnviz import ShapeError
from cnnviz.architecture import receptive_field as arch_receptive_field
from cnnviz.checkpoints import SHIPPED, load_checkpoint
from cnnviz.data import load_samples, to_tensor
from cnnviz.explain import (
    ExplainError,
    Unit,
    explain_unit,
    grad_cam,
    path_back,
    receptive_field,
    stage_maxima,
    top_activations,
)
from cnnviz.figures_explain import (
    clickable_map_figure,
    clicked_cell,
    conv_unit_figure,
    formula_text,
    gradcam_figure,
    kind_label,
    receptive_field_figure,
    top_activations_figure,
    unit_figure,
)
from cnnviz.i18n import domains
from cnnviz.images import ImageRejected, canvas_to_image
from cnnviz.models import MLP, ConvNet, ConvNetConfig, ConvSpec, SeedNet, StagedNet

ROOT = Path(__file__).resolve().parent.parent
TOL = 1e-4


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Hundreds of tiny forward passes: one thread avoids the thread pool's overhead on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def shipped():
    model, meta = load_checkpoint(SHIPPED)
    return model


@pytest.fixture(scope="module")
def samples():
    return load_samples("fashion-mnist").images


def _features(model, image):
    with torch.inference_mode():
        return model.forward_features(to_tensor(np.asarray(image)[None]))


def _random_units(shape, rng, n):
    for _ in range(n):
        if len(shape) == 3:
            yield int(rng.integers(shape[0])), int(rng.integers(shape[1])), int(rng.integers(shape[2]))
        else:
            yield int(rng.integers(shape[0])), 0, 0


def _check_every_stage(model, image, rng, per_stage=4):
    feats = _features(model, image)
    for name, t in feats.items():
        shape = tuple(t.shape[1:])
        for ch, r, c in _random_units(shape, rng, per_stage):
            e = explain_unit(model, image, name, ch, r, c)
            expected = float(t[0, ch, r, c] if len(shape) == 3 else t[0, ch])
            assert abs(e.value - expected) <= TOL * max(1.0, abs(expected)), (name, ch, r, c, e.value, expected)
            assert e.network_value == pytest.approx(expected)
            if e.kind == "conv":  # the partial sums add up to the value before the bias
                assert e.terms.partials.sum() == pytest.approx(e.terms.partial_sum, abs=1e-9)
                assert e.terms.partial_sum + e.terms.bias == pytest.approx(e.value, abs=1e-9)
                assert [ct.value for ct in e.terms.channel_terms] == pytest.approx(list(e.terms.partials))
            if e.follow is not None:
                prev = feats[e.previous][0] if e.previous != "input" else to_tensor(np.asarray(image)[None])[0]
                assert e.follow.stage == e.previous
                assert e.follow in e.sources or e.kind == "linear"
                idx = (e.follow.channel, e.follow.row, e.follow.col) if prev.ndim == 3 else (e.follow.channel,)
                prev[idx]  # a real unit of the previous stage


def _perturb(model: nn.Module, seed: int) -> None:
    """Batch norms with non-trivial statistics, so that the formula is really tested."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.3)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.randn(m.num_features, generator=g))
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.2)
    model.eval()


# ---------------------------------------------------------------- explain_unit == forward_features

def test_shipped_network_every_stage(shipped, samples):
    rng = np.random.default_rng(0)
    for image in samples[:2]:
        _check_every_stage(shipped, image, rng, per_stage=4)


def test_logits_is_the_last_stage(shipped, samples):
    e = explain_unit(shipped, samples[0], "logits", 3)
    f = explain_unit(shipped, samples[0], "fc2", 3)
    assert e.kind == f.kind == "linear" and e.is_logits and not e.spatial
    assert e.value == pytest.approx(f.value) and e.previous == f.previous


def test_seednet_on_colour_images_and_mlp():
    rng = np.random.default_rng(1)
    torch.manual_seed(0)
    seed = SeedNet((3, 32, 32)).eval()
    _check_every_stage(seed, rng.integers(0, 256, (32, 32, 3), dtype=np.uint8), rng, per_stage=3)
    mlp = MLP((1, 28, 28)).eval()
    _check_every_stage(mlp, rng.integers(0, 256, (28, 28), dtype=np.uint8), rng, per_stage=3)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_random_architectures(data):
    c_in = data.draw(st.sampled_from([1, 3]))
    size = data.draw(st.integers(8, 20))
    n = data.draw(st.integers(1, 3))
    convs = tuple(ConvSpec(data.draw(st.integers(1, 6)), data.draw(st.integers(1, 5)), data.draw(st.integers(0, 2)),
                           data.draw(st.booleans()), data.draw(st.booleans())) for _ in range(n))
    config = ConvNetConfig((c_in, size, size), convs, data.draw(st.integers(2, 16)), 10,
                           dropout=data.draw(st.sampled_from([0.0, 0.5])))
    try:
        model = ConvNet(config)
    except ShapeError:
        return
    seed = data.draw(st.integers(0, 10_000))
    _perturb(model, seed)
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (size, size) if c_in == 1 else (size, size, 3), dtype=np.uint8)
    _check_every_stage(model, image, rng, per_stage=2)
    # the receptive field of every conv stage is the architecture screen's
    for name in model.conv_layers():
        shape = tuple(_features(model, image)[name].shape[1:])
        for _, r, c in _random_units(shape, rng, 2):
            ref = arch_receptive_field(config, name, r, c)
            assert receptive_field(model, name, r, c) == (*ref.rows, *ref.cols)


class _Named(nn.Module):
    """Not a StagedNet: stages are found by name among the modules, in forward_features' order (`ORDER`)."""

    ORDER: tuple[str, ...] = ()

    def forward_features(self, x):
        out = OrderedDict()
        for name in self.ORDER:
            x = getattr(self, name)(x)
            out[name] = x
        out["logits"] = x
        return out


class _Generic(_Named):
    ORDER = ("pre", *"abcdefg")

    def __init__(self):
        super().__init__()
        self.pre = nn.Conv2d(3, 4, 1)
        self.a = nn.Conv2d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2)
        self.b = nn.LeakyReLU(0.1)
        self.c = nn.AvgPool2d(3, stride=2, padding=1)
        self.d = nn.Conv2d(6, 5, (3, 2), padding=1, padding_mode="reflect", bias=False)
        self.e = nn.MaxPool2d(2, stride=1, padding=1, dilation=2)
        self.f = nn.AvgPool2d(2, ceil_mode=True, count_include_pad=False)
        self.g = nn.Tanh()
        self.input_shape = (3, 17, 15)


def test_generic_modules_strides_dilations_groups_padding_modes():
    torch.manual_seed(3)
    model = _Generic().eval()
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (17, 15, 3), dtype=np.uint8)
    _check_every_stage(model, image, rng, per_stage=8)
    e = explain_unit(model, image, "a", 4, 1, 1)
    assert list(e.terms.in_channels) == [2, 3] and e.terms.window.shape == (2, 3, 3)
    images = rng.integers(0, 256, (40, 17, 15, 3), dtype=np.uint8)
    tops = top_activations(model, images, "d", 2, k=3, batch_size=16)
    with torch.inference_mode():
        d = model.forward_features(to_tensor(images))["d"][:, 2].flatten(1).max(1).values.numpy()
    assert [t.index for t in tops] == sorted(range(40), key=lambda i: (-d[i], i))[:3]
    assert all(t.box == receptive_field(model, "d", t.row, t.col, names=["pre", *"abcdefg"]) for t in tops)


class _SamePadded(_Named):
    """padding="same" (PyTorch pads d(k − 1) // 2 cells before, the rest after): odd and even spans, dilated."""

    ORDER = tuple("abcd")

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(1, 3, 3, padding="same")
        self.b = nn.Conv2d(3, 4, 4, padding="same")  # even span: one more cell after than before
        self.c = nn.Conv2d(4, 2, 3, padding="same", dilation=2)
        self.d = nn.Conv2d(2, 2, 2, padding="same", padding_mode="reflect")  # the padded cells come from the map
        self.input_shape = (1, 9, 11)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
def test_same_padding_is_explained():
    torch.manual_seed(5)
    model = _SamePadded().eval()
    rng = np.random.default_rng(5)
    image = rng.integers(0, 256, (9, 11), dtype=np.uint8)
    _check_every_stage(model, image, rng, per_stage=12)
    for name in "abcd":  # the last cell reads padding (the first too, but for d: its padding is all after)
        masks = [explain_unit(model, image, name, 1, r, c).terms.padding_mask for r, c in ((0, 0), (8, 10))]
        assert masks[1].any() and masks[0].any() == (name != "d")
    # conv a then b: 3 + 3 pixels wide, starting 1 + 1 before the unit; c adds 2·2 on each side
    assert receptive_field(model, "b", 4, 5, names=[*"abcd"]) == (2, 7, 3, 8)
    assert receptive_field(model, "c", 0, 0, names=[*"abcd"]) == (0, 5, 0, 5)


# ---------------------------------------------------------------- the path backwards

def test_path_back_from_a_pool_cell(shipped, samples):
    image = samples[4]
    feats = _features(shipped, image)
    rng = np.random.default_rng(5)
    for pool in ("pool1", "pool2", "pool3"):
        shape = tuple(feats[pool].shape[1:])
        for ch, r, c in _random_units(shape, rng, 4):
            e = explain_unit(shipped, image, pool, ch, r, c)
            assert e.kind == "pool" and e.terms.mode == "max"
            assert e.value == pytest.approx(np.nanmax(e.terms.window))
            assert e.follow == Unit(e.previous, ch, *e.terms.winner)
            path = [e]
            while path[-1].kind != "conv":
                u = path[-1].follow
                path.append(explain_unit(shipped, image, u.stage, u.channel, u.row, u.col))
            assert [p.kind for p in path] == ["pool", "relu", "batchnorm", "conv"]
            assert path[1].value == pytest.approx(e.value, abs=TOL)  # the winner's value is the pool's
            conv = path[-1]
            assert (conv.channel, conv.row, conv.col) == (ch, *e.terms.winner)
            assert conv.value == pytest.approx(path[2].terms.x, abs=TOL)
            assert conv.follow.stage == conv.previous and conv.follow in conv.sources


def test_path_back_to_the_input(shipped, samples):
    path = path_back(shipped, samples[3], "logits", 2)
    assert path[0].stage == "logits" and path[-1].stage == "conv1" and path[-1].previous == "input"
    assert [p.kind for p in path[:5]] == ["linear", "identity", "relu", "linear", "flatten"]
    for a, b in zip(path, path[1:]):
        assert a.follow == Unit(b.stage, b.channel, b.row, b.col)
    assert [p.kind for p in path_back(shipped, samples[3], "pool2", 1, 2, 2, stop=("conv",))] == \
        ["pool", "relu", "batchnorm", "conv"]


def test_pool_cell_of_a_net_without_batch_norm_is_the_max_of_conv_values():
    torch.manual_seed(1)
    model = ConvNet(ConvNetConfig((1, 12, 12), (ConvSpec(3, 3, 1, pool=True),), 8, 10)).eval()
    image = np.random.default_rng(1).integers(0, 256, (12, 12), dtype=np.uint8)
    conv = _features(model, image)["conv1"][0]
    for r in range(6):
        for c in range(6):
            e = explain_unit(model, image, "pool1", 2, r, c)
            relu = explain_unit(model, image, e.follow.stage, 2, e.follow.row, e.follow.col)
            cv = explain_unit(model, image, relu.follow.stage, 2, relu.follow.row, relu.follow.col)
            assert cv.kind == "conv"
            window = conv[2, 2 * r:2 * r + 2, 2 * c:2 * c + 2]
            assert max(cv.value, 0.0) == pytest.approx(max(float(window.max()), 0.0), abs=TOL) == \
                pytest.approx(e.value, abs=TOL)


def test_receptive_field_contains_the_gradient_support(shipped, samples):
    x = to_tensor(samples[0][None]).requires_grad_(True)
    seen = 0
    for stage, (ch, r, c) in {"conv1": (0, 0, 0), "pool1": (3, 5, 9), "conv2": (1, 13, 0), "relu3": (7, 3, 3),
                              "pool3": (2, 1, 2)}.items():
        out = x
        for name, m in shipped.stages.items():
            out = m(out)
            if name == stage:
                break
        (g,) = torch.autograd.grad(out[0, ch, r, c], x)
        rows, cols = np.nonzero(g[0, 0].numpy())
        r0, r1, c0, c1 = receptive_field(shipped, stage, r, c)
        if len(rows):  # a ReLU that is off cuts the gradient
            seen += 1
            assert rows.min() >= r0 and rows.max() <= r1 and cols.min() >= c0 and cols.max() <= c1
    assert seen >= 3
    assert receptive_field(shipped, "fc1", 0, 0) == (0, 27, 0, 27)


def test_errors_for_a_person(shipped, samples):
    with pytest.raises(ExplainError) as exc:
        explain_unit(shipped, samples[0], "conv9", 0, 0, 0)
    assert exc.value.code == "err.explain_unknown_stage" and "conv9" in exc.value.message("fr")
    with pytest.raises(ExplainError, match="does not exist"):
        explain_unit(shipped, samples[0], "conv1", 32, 0, 0)
    with pytest.raises(ExplainError):
        explain_unit(shipped, samples[0], "fc1", 0, 1, 0)
    with pytest.raises(ExplainError) as exc:
        explain_unit(shipped, np.zeros((32, 32, 3), np.uint8), "conv1", 0, 0, 0)
    assert exc.value.code == "err.explain_image_shape"
    with pytest.raises(ExplainError):
        explain_unit(shipped, np.zeros((28, 28), np.float32), "conv1", 0, 0, 0)


def test_a_model_in_training_mode_is_left_alone(samples):
    torch.manual_seed(0)
    model = ConvNet(ConvNetConfig((1, 28, 28), (ConvSpec(4, 3, 1, pool=True, batchnorm=True),), 8, 10, 0.5))
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    e = explain_unit(model, samples[0], "bn1", 1, 3, 3)
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # running stats untouched
    model.eval()
    assert e.value == pytest.approx(float(_features(model, samples[0])["bn1"][0, 1, 3, 3]), abs=TOL)


# ---------------------------------------------------------------- top activations

def test_top_activations_match_a_brute_force_ranking(shipped, fmnist_test):
    images = fmnist_test.images[:300]
    with torch.inference_mode():
        feats = shipped.forward_features(to_tensor(images))
    for stage, channel in (("conv1", 4), ("pool2", 17), ("relu3", 100), ("fc1", 9)):
        out = feats[stage]
        maxima = stage_maxima(shipped, images, stage, batch_size=64)
        for ch in (channel, 0):
            tops = top_activations(shipped, images, stage, ch, k=9, maxima=maxima)
            m = out[:, ch].reshape(len(images), -1).numpy()
            best = m.max(1)
            order = sorted(range(len(images)), key=lambda i: (-best[i], i))[:9]
            assert [t.index for t in tops] == order
            for t in tops:
                assert t.value == pytest.approx(best[t.index])
                if out.ndim == 4:
                    assert out[t.index, ch, t.row, t.col] == pytest.approx(best[t.index])
                    assert t.box == receptive_field(shipped, stage, t.row, t.col)
    assert [t.index for t in top_activations(shipped, images, "conv2", 3, k=5, batch_size=7)] == \
        [t.index for t in top_activations(shipped, images, "conv2", 3, k=5, batch_size=300)]


# ---------------------------------------------------------------- Grad-CAM

def _hooks(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules())


def test_grad_cam(shipped, samples):
    image = samples[2]
    with torch.inference_mode():  # as a page would call it
        cam = grad_cam(shipped, image)
    assert cam.heatmap.shape == (28, 28) and cam.layer_map.shape == (7, 7) and cam.stage == "relu3"
    assert (cam.heatmap >= 0).all() and cam.heatmap.max() > 0
    assert cam.target == cam.predicted == int(cam.probs.argmax())
    other = grad_cam(shipped, image, target=(cam.predicted + 1) % 10)
    assert not np.allclose(other.heatmap, cam.heatmap)
    # the shared model is untouched: no hooks left, no gradients asked of its weights
    assert _hooks(shipped) == 0 and not any(p.requires_grad for p in shipped.parameters())
    # Captum agrees with Grad-CAM by hand: ReLU(Σ_k mean(∂y/∂A_k) · A_k) on relu3
    x = to_tensor(image[None])
    acts = x
    for name, m in shipped.stages.items():
        acts = m(acts)
        if name == cam.stage:
            break
    a = acts.detach().requires_grad_(True)
    y = a
    after = list(shipped.stages)[list(shipped.stages).index(cam.stage) + 1:]
    for name in after:
        y = shipped.stages[name](y)
    (g,) = torch.autograd.grad(y[0, cam.target], a)
    manual = torch.relu((g.mean((2, 3), keepdim=True) * a).sum(1))[0].detach().numpy()
    np.testing.assert_allclose(cam.layer_map, manual, atol=1e-5)
    early = grad_cam(shipped, image, stage="conv1")
    assert early.layer_map.shape == (28, 28) and early.stage == "conv1"


def test_grad_cam_default_stage_sees_something(shipped, fmnist_test):
    # on the raw conv3 output (before batch norm) Grad-CAM is often all negative, hence all zero after ReLU
    for image in fmnist_test.images[:10]:
        assert grad_cam(shipped, image).heatmap.max() > 0


# ---------------------------------------------------------------- a drawing as an input

def test_canvas_to_image():
    blank = np.zeros((280, 280, 4), np.uint8)
    out = canvas_to_image(blank)
    assert out.shape == (28, 28) and out.dtype == np.uint8 and out.max() == 0
    drawing = blank.copy()
    drawing[100:180, 60:220] = (255, 255, 255, 255)  # a white bar
    drawing[0:20, 0:20] = (255, 255, 255, 0)  # white but transparent: background
    out = canvas_to_image(drawing)
    assert out.max() == 255 and out[0, 0] == 0 and out[14, 14] == 255
    rows = np.nonzero(out.max(1))[0]
    assert 8 <= rows.mean() <= 20  # centred
    assert canvas_to_image(drawing, (3, 32, 32)).shape == (32, 32, 3)
    with pytest.raises(ImageRejected, match=r"RGBA array .* got \(5, 5\)"):
        canvas_to_image(np.zeros((5, 5)))


# ---------------------------------------------------------------- figures and text

def test_conv_figure_of_a_128_channel_input(shipped, samples):
    e = explain_unit(shipped, samples[0], "conv3", 5, 0, 0)  # a corner: padding in the window
    assert e.terms.padding_mask[0].all() and e.terms.padding_mask[:, 0].all()
    fig = conv_unit_figure(e, "en")
    assert len(fig.data) == 16  # 8 windows above 8 kernel slices
    shown = [int(re.search(r"channel (\d+)", a.text).group(1)) for a in fig.layout.annotations
             if "Σ" in a.text]
    assert shown == list(np.argsort(-np.abs(e.terms.partials), kind="stable")[:8])
    assert "56 other input channels" in fig.layout.title.text
    fr = conv_unit_figure(e, "fr")
    assert "sommes partielles" in fr.layout.title.text and "biais" in fr.layout.title.text
    few = conv_unit_figure(e, "fr", max_channels=3)
    assert len(few.data) == 6 and "somme partielle" in few.layout.annotations[0].text
    assert unit_figure(explain_unit(shipped, samples[0], "pool1", 0, 1, 1), "fr") is not None
    assert unit_figure(explain_unit(shipped, samples[0], "fc2", 0), "en").data[0].type == "bar"
    assert unit_figure(explain_unit(shipped, samples[0], "bn1", 0, 1, 1), "en") is None
    for stage in ("conv1", "bn2", "relu1", "pool3", "flatten", "fc1", "dropout", "logits"):
        e = explain_unit(shipped, samples[0], stage, 0, 0, 0)
        assert "{" not in formula_text(e, "fr") and kind_label("fr", e.kind) != e.kind


def test_clickable_map_and_selection():
    fmap = np.arange(12.0).reshape(3, 4)
    fig = clickable_map_figure(fmap, "fr", "conv1", selected=(1, 2))
    heat, points = fig.data
    assert points.mode == "markers" and points.marker.opacity == 0
    assert [list(v) for v in points.customdata][6] == [1, 2]
    assert fig.layout.shapes[0].x0 == 1.5
    event = {"selection": {"points": [{"curve_number": 1, "point_number": 6, "x": 2, "y": 1, "customdata": [1, 2]}],
                           "point_indices": [6], "box": [], "lasso": []}}
    assert clicked_cell(event) == (1, 2)
    assert clicked_cell(event["selection"]) == (1, 2)
    real_browser = {"selection": {"points": [{"curve_number": 1, "point_number": 15, "point_index": 15, "x": 3,
                                              "y": 2, "customdata": {"0": 2, "1": 3}, "text": "0"}]}}
    assert clicked_cell(real_browser) == (2, 3)
    assert clicked_cell({"selection": {"points": [{"x": 3.0, "y": 0.0}]}}) == (0, 3)
    assert clicked_cell({"selection": {"points": [], "box": []}}) is None
    assert clicked_cell(None) is None and clicked_cell({}) is None


def test_picture_figures(shipped, samples, fmnist_test):
    img = samples[0]
    fig = receptive_field_figure(img, (3, 9, 0, 6), "fr", "conv2")
    assert fig.data[0].type == "image" and fig.layout.shapes[0].y0 == 2.5 and "Champ récepteur" in fig.layout.title.text
    cam = grad_cam(shipped, img)
    assert len(gradcam_figure(img, cam, "en", classes=[str(i) for i in range(10)]).data) == 2
    tops = top_activations(shipped, fmnist_test.images[:200], "conv2", 1)
    fig = top_activations_figure(fmnist_test.images, tops, "fr", "conv2", 1, labels=fmnist_test.labels,
                                 classes=fmnist_test.classes)
    assert len(fig.data) == 9 and len(fig.layout.shapes) == 9


def test_catalogue_ids_match_the_code():
    package = [f for f in sorted((ROOT / "cnnviz/explain").glob("*.py")) if f.name != "__init__.py"]  # (names only)
    files = [*package, ROOT / "cnnviz/figures_explain.py"]
    code = "".join(f.read_text() for f in files)
    used = set(re.findall(r"\"((?:explain|err\.explain_)[a-z_.]+)\"", code)) - {"explain_map"}
    en, fr = domains("en")["explain"], domains("fr")["explain"]
    assert en == fr
    assert used == en


def test_explain_unit_does_not_touch_the_model(shipped, samples):
    before = _hooks(shipped)
    explain_unit(shipped, samples[0], "conv2", 0, 3, 3)
    assert _hooks(shipped) == before and not shipped.training
    assert isinstance(shipped, StagedNet)


def test_the_anti_aliased_network_is_explained_too():
    """compact_blur's BlurPool2d stages (a fixed depthwise binomial convolution) explain like a conv."""
    from cnnviz.checkpoints import SHIPPED_DIR, load_checkpoint
    from cnnviz.explain import explain_unit

    model, _ = load_checkpoint(SHIPPED_DIR / "fashion_compact_blur.pt")
    image = np.random.default_rng(3).integers(0, 256, size=(28, 28), dtype=np.uint8)
    feats = model.forward_features(torch.from_numpy(image).float()[None, None] / 255 * 2 - 1)
    for stage in ("blur1", "blur2"):
        c, h, w = feats[stage].shape[1:]
        for ch, r, q in ((0, 0, 0), (c - 1, h - 1, w - 1), (c // 2, h // 2, w // 3)):
            e = explain_unit(model, image, stage, ch, r, q)
            assert e.kind == "conv"
            assert abs(e.value - float(feats[stage][0, ch, r, q])) < 1e-4
