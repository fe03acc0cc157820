"""What the network learned (issue 24), the library: the image a channel wants (cnnviz.explain.ascent) and the
test of the explanations by scrambled weights (cnnviz.explain.sanity), on the shipped network and the real
Fashion-MNIST test set."""

from collections import OrderedDict

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from torch import nn

from cnnviz.checkpoints import SHIPPED, load_checkpoint
from cnnviz.data import to_tensor
from cnnviz.explain import (
    ExplainError,
    MosaicJob,
    Regularisers,
    cascading_randomisation,
    channel_image,
    channel_images,
    grad_cam,
    input_gradient,
    last_conv_stage,
    rank_correlation,
    stage_maxima,
)
from cnnviz.explain.ascent import MAX_BATCH
from cnnviz.explain.sanity import parameter_layers, reinitialise
from cnnviz.models import StagedNet


@pytest.fixture(scope="module")
def shipped():
    model, meta = load_checkpoint(SHIPPED)
    return model, meta


def state_of(model: nn.Module) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_untouched(model: nn.Module, before: dict) -> None:
    """Same weights and buffers, eval mode, no hook and no parameter gradient left behind."""
    after = model.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert not model.training and all(p.grad is None for p in model.parameters())
    for m in model.modules():
        assert not (m._forward_hooks or m._forward_pre_hooks or m._backward_hooks), m


def mean_activation(model: nn.Module, images: np.ndarray, stage: str) -> np.ndarray:
    """(N, C) each channel's mean over its map at `stage`, measured here with plain forward_features."""
    with torch.inference_mode():
        out = model.forward_features(to_tensor(images))[stage]
    return (out.flatten(2).mean(2) if out.ndim == 4 else out).numpy()


# ---------------------------------------------------------------- the image a channel wants

def test_channel_image_beats_the_best_test_image_on_most_channels(shipped, fmnist_test):
    """Every channel of the last conv stage: its image's mean activation against the best of the 10,000 test
    images' (the same measure, computed here on the real test set)."""
    model, _ = shipped
    before = state_of(model)
    stage = last_conv_stage(model)
    assert stage == "conv3"
    maxima = stage_maxima(model, fmnist_test.images, stage)
    best = maxima.means.max(0)  # (128,)
    direct = np.concatenate([mean_activation(model, fmnist_test.images[i:i + 2500], stage) for i in range(0, 10_000, 2500)])
    assert np.allclose(best, direct.max(0), atol=1e-5)
    n = best.size
    images = np.concatenate([channel_images(model, stage, range(c, min(c + MAX_BATCH, n))).images
                             for c in range(0, n, MAX_BATCH)])
    assert images.shape == (n, 28, 28) and images.dtype == np.uint8
    found = mean_activation(model, images, stage)[np.arange(n), np.arange(n)]  # channel c on its own image
    beaten = found > best
    print(f"channel_image beats the best test image on {beaten.sum()} of {n} channels of {stage}; "
          f"median ratio {np.median(found / best):.2f}")
    assert beaten.mean() >= 0.8, beaten.mean()
    one = channel_image(model, stage, 5)  # the public entry point: the same image as in the batch
    assert one.shape == (28, 28) and one.dtype == np.uint8 and np.array_equal(one, images[5])
    assert_untouched(model, before)


def test_channel_image_is_deterministic_for_a_seed(shipped):
    model, _ = shipped
    a = channel_image(model, "relu2", 3, steps=64, seed=1)
    assert np.array_equal(a, channel_image(model, "relu2", 3, steps=64, seed=1))
    assert not np.array_equal(a, channel_image(model, "relu2", 3, steps=64, seed=2))


def _tv(images: np.ndarray) -> float:
    x = images.astype(np.float64)
    return float(np.abs(np.diff(x, axis=-1)).mean() + np.abs(np.diff(x, axis=-2)).mean())


def _high_frequency(images: np.ndarray) -> float:
    """The energy left after a 3×3 box blur (what a blur removes)."""
    x = images.astype(np.float64) / 255
    p = np.pad(x, ((0, 0), (1, 1), (1, 1)), mode="edge")
    box = sum(p[:, i:i + 28, j:j + 28] for i in range(3) for j in range(3)) / 9
    return float(((x - box) ** 2).mean())


def test_each_regulariser_changes_the_result(shipped):
    """Each switch changes the images; and each pulls the way it should: without total variation the images
    vary more from pixel to pixel, without L2 they stray further from gray, without blur they keep more high
    frequencies; all off gives the noisiest images, which excite their channels even more."""
    model, _ = shipped
    channels = range(0, 128, 16)  # 8 channels of conv3
    on = channel_images(model, "conv3", channels)
    runs = {name: channel_images(model, "conv3", channels, regularisers=Regularisers(**{name: False}))
            for name in ("jitter", "l2", "tv", "blur")}
    for name, run in runs.items():
        changed = (run.images != on.images).reshape(len(channels), -1).any(1)
        assert changed.all(), name
    gray = lambda imgs: float(((imgs.astype(np.float64) / 127.5 - 1) ** 2).mean())  # noqa: E731
    assert _tv(runs["tv"].images) > _tv(on.images)
    assert gray(runs["l2"].images) > gray(on.images)
    assert _high_frequency(runs["blur"].images) > _high_frequency(on.images)
    off = channel_images(model, "conv3", channels, regularisers=Regularisers(False, False, False, False))
    assert _tv(off.images) > max(_tv(r.images) for r in runs.values())
    assert np.median(off.values / on.values) > 1


def test_a_class_logit_as_target(shipped):
    """stage "logits", channel = a class: the network classifies the image it found as that class."""
    model, meta = shipped
    for c in (0, 7):
        img = channel_image(model, "logits", c, steps=128)
        with torch.inference_mode():
            assert int(model(to_tensor(img[None])).argmax(1)[0]) == c, meta["classes"][c]


def _rgb_net(inplace: bool) -> StagedNet:
    torch.manual_seed(0)
    return StagedNet(OrderedDict(conv1=nn.Conv2d(3, 4, 3, padding=1), relu1=nn.ReLU(inplace=inplace),
                                 pool1=nn.MaxPool2d(2), flatten=nn.Flatten(), fc=nn.Linear(4 * 16 * 16, 10)),
                     (3, 32, 32)).eval()


def test_colour_inputs_in_place_relus_and_the_models_own_state():
    """A colour network with an in-place ReLU (as users write them): an (H, W, 3) image; the model keeps its
    ReLU in place, its weights, its mode."""
    net = _rgb_net(inplace=True)
    before = state_of(net)
    img = channel_image(net, "relu1", 2, steps=16)
    assert img.shape == (32, 32, 3) and img.dtype == np.uint8
    assert net.stages["relu1"].inplace
    assert_untouched(net, before)
    net.train()  # a model in training mode: the ascent runs on an eval copy, the model stays as it is
    channel_image(net, "relu1", 2, steps=4)
    assert net.training


@pytest.mark.parametrize("stage, channel", [("conv9", 0), ("conv1", 32), ("logits", 10), ("conv1", -1)])
def test_a_stage_or_channel_the_network_lacks(shipped, stage, channel):
    with pytest.raises(ExplainError):
        channel_image(shipped[0], stage, channel, steps=2)


def test_a_mosaic_job_computes_every_channel_in_its_thread(shipped):
    model, _ = shipped
    job = MosaicJob(model, "conv1", 32, steps=8)
    assert job.wait(120)
    progress = job.progress()
    assert (progress.done, progress.total, progress.finished, progress.error) == (32, 32, True, None)
    result = job.result()
    assert result.images.shape == (32, 28, 28) and not result.images.flags.writeable
    assert np.array_equal(result.images[20], channel_image(model, "conv1", 20, steps=8))
    bad = MosaicJob(model, "conv9", 4, steps=2)
    bad.wait(60)
    assert isinstance(bad.progress().error, ExplainError) and bad.result() is None
    stopped = MosaicJob(model, "conv3", 128, steps=64)
    stopped.stop()
    stopped.wait(120)
    assert stopped.result() is None and stopped.progress().done < 128


# ---------------------------------------------------------------- scrambling the weights

def test_rank_correlation_is_spearmans():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(28, 28)), rng.normal(size=(28, 28))
    b[:5] = a[:5] * 3  # some agreement
    ties = np.round(a, 0)
    for x, y in [(a, b), (ties, b), (a, a ** 3)]:
        assert rank_correlation(x, y) == pytest.approx(spearmanr(x.ravel(), y.ravel()).statistic, abs=1e-12)
    assert np.isnan(rank_correlation(np.zeros((4, 4)), a[:4, :4]))


def test_input_gradient_is_the_logits_gradient(shipped, fmnist_test):
    model, _ = shipped
    image = fmnist_test.images[0]
    x = to_tensor(image[None]).requires_grad_(True)
    model_copy = load_checkpoint(SHIPPED)[0]
    model_copy(x)[0, 9].backward()
    assert np.allclose(input_gradient(model, image, 9), x.grad[0, 0].abs().numpy(), atol=1e-6)
    with torch.inference_mode():  # the page calls it inside inference mode
        assert np.allclose(input_gradient(model, image, 9), x.grad[0, 0].abs().numpy(), atol=1e-6)


def test_cascading_randomisation_leaves_the_network_untouched_and_grad_cam_falls(shipped, fmnist_test):
    model, _ = shipped
    before = state_of(model)
    images = fmnist_test.images[:10]
    finals, firsts = [], []
    for image in images:
        cascade = cascading_randomisation(model, image)
        assert cascade.layers == ["fc2", "fc1", "bn3", "conv3", "bn2", "conv2", "bn1", "conv1"]
        assert cascade.gradcam.shape == cascade.gradient.shape == (9, 28, 28)
        assert cascade.rho_gradcam[0] == pytest.approx(1) and cascade.rho_gradient[0] == pytest.approx(1)
        # float32 sums in another order (the cascade runs on one thread): equal to within float32 rounding
        assert np.allclose(cascade.gradcam[0], grad_cam(model, image, cascade.target).heatmap, atol=1e-6)
        assert np.allclose(cascade.gradient[0], input_gradient(model, image, cascade.target), atol=1e-6)
        firsts.append(cascade.rho_gradcam[1])
        finals.append(np.nanmean(cascade.rho_gradcam[1:]))
    assert_untouched(model, before)
    print("Grad-CAM rank correlation after fc2 alone:", np.round(firsts, 2), "mean after each step:",
          np.round(finals, 2))
    assert np.mean(finals) < 0.3 and max(finals) < 0.6
    again = cascading_randomisation(model, images[0])
    same = cascading_randomisation(model, images[0])
    assert np.array_equal(again.gradcam, same.gradcam) and np.array_equal(again.rho_gradient, same.rho_gradient, equal_nan=True)
    other = cascading_randomisation(model, images[0], seed=1)
    assert not np.array_equal(other.gradcam[-1], again.gradcam[-1])


def test_reinitialise_draws_an_untrained_layer(shipped):
    model, _ = shipped
    assert parameter_layers(model) == ["conv1", "bn1", "conv2", "bn2", "conv3", "bn3", "fc1", "fc2"]
    conv = nn.Conv2d(64, 128, 3)
    reinitialise(conv, torch.Generator().manual_seed(0))
    bound = 1 / np.sqrt(64 * 9)
    w = conv.weight.detach().numpy()
    assert np.abs(w).max() <= bound and w.std() == pytest.approx(bound / np.sqrt(3), rel=0.02)  # uniform ±bound
    bn = nn.BatchNorm2d(4)
    bn.running_mean.fill_(3)
    reinitialise(bn, torch.Generator())
    assert bn.running_mean.eq(0).all() and bn.running_var.eq(1).all() and bn.weight.eq(1).all()
