"""Networks: the course's Net's TODO, the collapse error, forward_features, trace_shapes against torch."""

import pytest
import torch

from cnnviz import ShapeError
from cnnviz.models import MLP, CompactCNN, SeedNet, build_model, count_parameters, trace_shapes


def test_seednet_fc1_input_for_the_slides_image():
    net = SeedNet((3, 210, 310))
    assert net.fc1_in_features == 256 * 46 * 71 == 836_096
    assert net.stages["fc1"].in_features == 836_096
    assert net.stages["conv1"].weight.shape == (64, 3, 11, 11)
    assert net.stages["conv2"].weight.shape == (128, 64, 5, 5)
    assert net.stages["conv3"].weight.shape == (256, 128, 3, 3)
    assert net.stages["fc2"].weight.shape == (10, 120)


def test_seednet_cifar():
    net = SeedNet((3, 32, 32))
    assert net.fc1_in_features == 256
    assert net(torch.zeros(2, 3, 32, 32)).shape == (2, 10)


def test_seednet_collapses_on_fashion_mnist():
    with pytest.raises(ShapeError, match=r"conv3 .*collapses"):
        SeedNet((1, 28, 28))


def test_compact_cnn_is_small():
    assert count_parameters(CompactCNN()) <= 300_000


@pytest.mark.parametrize("model, shape", [
    (CompactCNN((1, 28, 28)), (1, 28, 28)),
    (SeedNet((3, 32, 32)), (3, 32, 32)),
    (SeedNet((1, 64, 48)), (1, 64, 48)),
    (MLP((1, 28, 28)), (1, 28, 28)),
    (CompactCNN((3, 32, 32)), (3, 32, 32)),
])
def test_forward_features_and_trace_shapes(model, shape):
    model.eval()
    x = torch.rand(3, *shape) * 2 - 1
    feats = model.forward_features(x)
    names = list(feats)
    assert names[-1] == "logits"
    assert names[:-1] == list(model.stages)  # every stage, in forward order
    torch.testing.assert_close(feats["logits"], model(x))
    if "conv1" in names:
        assert names.index("conv1") < names.index("relu1") < names.index("fc1")
    rows = trace_shapes(model, shape)
    for row in rows:  # computed from the settings, checked against the real forward pass
        assert (3, *row.out_shape) == tuple(feats[row.name].shape), row.name
        module = model.stages[row.name]
        assert row.params == sum(p.numel() for p in module.parameters())
    assert sum(r.params for r in rows) == count_parameters(model)


def test_build_model_unknown():
    with pytest.raises(ValueError, match="unknown architecture"):
        build_model("resnet")
