"""Translation: equivariance of convolution, consistency on an exactly invariant model and on the shipped one."""

from collections import OrderedDict

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cnnviz.checkpoints import SHIPPED, load_checkpoint
from cnnviz.explore import conv_groups, inspect, kernels_of, producing_conv
from cnnviz.models import StagedNet
from cnnviz.shift import (
    consistency,
    equivariance_gap,
    probabilities_over_shifts,
    relative_gap,
    shift,
    shift_image,
    stage_scale,
)


def test_shift_zero_fill_and_circular():
    a = np.arange(12).reshape(3, 4)
    assert shift(a, 1, 0).tolist() == [[0, 0, 1, 2], [0, 4, 5, 6], [0, 8, 9, 10]]
    assert shift(a, -1, 1).tolist() == [[0, 0, 0, 0], [1, 2, 3, 0], [5, 6, 7, 0]]
    assert np.array_equal(shift(a, 3, 2, circular=True), np.roll(a, (2, 3), axis=(0, 1)))
    rgb = np.ones((4, 4, 3), dtype=np.uint8)
    assert shift_image(rgb, 1, 0)[:, 0].sum() == 0 and shift_image(rgb, 1, 0).shape == (4, 4, 3)


@settings(max_examples=40, deadline=None)
@given(st.integers(-5, 5), st.integers(-5, 5), st.integers(1, 3), st.integers(0, 2**31 - 1))
def test_circular_conv_is_equivariant(dx, dy, k2, seed):
    """With circular padding and a circular shift, maps(shift(x)) == shift(maps(x)) exactly."""
    torch.manual_seed(seed)
    k = 2 * k2 - 1  # odd kernel, 'same' circular padding
    conv = nn.Conv2d(2, 3, k, padding=k // 2, padding_mode="circular", dtype=torch.float64)
    x = torch.randn(1, 2, 12, 12, dtype=torch.float64)
    shifted = torch.roll(x, (dy, dx), dims=(2, 3))
    with torch.no_grad():
        maps, maps_of_shifted = conv(x)[0].numpy(), conv(shifted)[0].numpy()
    diff, expected = equivariance_gap(maps_of_shifted, maps, dx, dy, scale=1, circular=True)
    np.testing.assert_allclose(diff, 0, atol=1e-12)
    assert relative_gap(diff, expected) < 1e-12


class GlobalPoolNet(StagedNet):
    """Circular convolutions then global average pooling: exactly invariant to circular shifts."""

    def __init__(self):
        super().__init__(OrderedDict(
            conv1=nn.Conv2d(1, 8, 3, padding=1, padding_mode="circular"), relu1=nn.ReLU(),
            gap=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten(1), fc=nn.Linear(8, 10)), (1, 28, 28))


def test_consistency_of_an_invariant_model(fmnist_test):
    torch.manual_seed(0)
    model = GlobalPoolNet().eval()
    value = consistency(model, fmnist_test.images[:500], max_shift=4, circular=True)
    assert value == 1.0


@pytest.fixture(scope="module")
def shipped():
    return load_checkpoint(SHIPPED)


def test_consistency_of_the_shipped_network(shipped, fmnist_test):
    model, _ = shipped
    progress = []
    value = consistency(model, fmnist_test.images, max_shift=3, progress=progress.append)
    print(f"consistency of the shipped network, shifts up to 3 px, 10,000 test images: {value:.4f}")
    assert 0.5 < value < 1.0
    assert progress[-1] == 1.0 and len(progress) == 10


def test_probabilities_over_shifts(shipped, fmnist_test):
    model, _ = shipped
    probs = probabilities_over_shifts(model, fmnist_test.images[0], 2)
    assert probs.shape == (5, 5, 10)
    np.testing.assert_allclose(probs.sum(-1), 1, atol=1e-5)
    np.testing.assert_allclose(probs[2, 2], inspect(model, fmnist_test.images[0]).probs, atol=1e-6)


def test_conv1_of_the_shipped_network_is_equivariant_inside(shipped, fmnist_test):
    model, _ = shipped
    img = fmnist_test.images[0]
    a, b = inspect(model, img).maps["conv1"], inspect(model, shift_image(img, 2, 1)).maps["conv1"]
    diff, expected = equivariance_gap(b, a, 2, 1, scale=1, border=3)
    assert relative_gap(diff, expected) < 1e-5


def test_explore_helpers(shipped, fmnist_test):
    model, meta = shipped
    result = inspect(model, fmnist_test.images[0])
    assert meta["classes"][result.pred] == "Ankle boot"
    assert list(result.maps)[:4] == ["conv1", "bn1", "relu1", "pool1"]
    assert conv_groups(model)["conv2"] == ["conv2", "bn2", "relu2", "pool2"]
    assert producing_conv(model, "pool2") == "conv2"
    assert kernels_of(model, "conv2", 5).shape == (32, 3, 3)
    assert stage_scale((28, 28), (14, 14)) == 2 and stage_scale((28, 28), (3, 3)) == 8
