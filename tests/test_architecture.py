"""Architecture arithmetic against real torch modules: shapes, parameters, generated code, receptive fields."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from cnnviz import ShapeError
from cnnviz.architecture import fc_equivalent, pytorch_code, receptive_field, seed_config, trace_config
from cnnviz.models import ConvNet, ConvNetConfig, ConvSpec, count_parameters


def build_code(code: str) -> nn.Module:
    namespace: dict = {}
    exec(compile(code, "<generated>", "exec"), namespace)  # our own generated code, nothing from a user
    return namespace["net"]


conv_specs = st.builds(ConvSpec, out_channels=st.integers(1, 16), kernel=st.integers(1, 5),
                       padding=st.integers(0, 2), pool=st.booleans())


@settings(max_examples=40, deadline=None)
@given(st.lists(conv_specs, min_size=1, max_size=3), st.integers(1, 3), st.integers(8, 40), st.integers(8, 40),
       st.integers(1, 64))
def test_trace_matches_torch_and_generated_code(specs, c, h, w, fc):
    config = ConvNetConfig((c, h, w), tuple(specs), fc, 10)
    trace = trace_config(config)
    if trace.error:
        with pytest.raises(ShapeError, match="collapses"):
            ConvNet(config)
        return
    model = ConvNet(config).eval()
    feats = model.forward_features(torch.zeros(1, c, h, w))
    for row in trace.rows:
        assert tuple(feats[row.name].shape[1:]) == row.out_shape
    assert trace.total_params == count_parameters(model)
    generated = build_code(pytorch_code(config, trace.last_shape))
    assert count_parameters(generated) == count_parameters(model)
    assert generated(torch.zeros(2, c, h, w)).shape == (2, 10)


def test_seed_net_numbers():
    trace = trace_config(seed_config((3, 210, 310)))
    assert trace.fc1_in == 836_096 and trace.last_shape == (256, 46, 71)
    assert "nn.Linear(256 * 46 * 71, 120)" in pytorch_code(seed_config((3, 210, 310)), trace.last_shape)
    assert "nn.Linear(___, 120)  # TODO" in pytorch_code(seed_config())
    collapsed = trace_config(seed_config((1, 28, 28)))
    assert collapsed.error and collapsed.error.startswith("conv3") and "padding" in collapsed.error
    conv1 = trace.rows[0]
    assert fc_equivalent(conv1) == 3 * 210 * 310 * 64 * 200 * 300 + 64 * 200 * 300


def gradient_region(config: ConvNetConfig, stage: str, row: int, col: int):
    """Rows and columns of the input where the unit's gradient is non-zero. ReLUs become identities and
    max-pools average-pools (same geometry), so that no gradient is lost inside the field."""
    torch.manual_seed(0)
    model = ConvNet(config)
    for name, m in list(model.stages.items()):
        if isinstance(m, nn.ReLU):
            model.stages[name] = nn.Identity()
        elif isinstance(m, nn.MaxPool2d):
            model.stages[name] = nn.AvgPool2d(m.kernel_size, m.stride)
        elif isinstance(m, nn.Conv2d):
            nn.init.constant_(m.weight, 1.0)
    x = torch.rand(1, *config.input_shape, dtype=torch.float32, requires_grad=True)
    model.forward_features(x)[stage][0, :, row, col].sum().backward()
    nz = np.nonzero(x.grad[0].abs().sum(0).numpy())
    return (nz[0].min(), nz[0].max()), (nz[1].min(), nz[1].max())


@pytest.mark.parametrize("config, stage, unit", [
    (seed_config((1, 64, 64)), "conv3", (2, 3)),
    (seed_config((1, 64, 64)), "pool1", (0, 0)),
    (ConvNetConfig((1, 28, 28), (ConvSpec(8, 3, 1, True), ConvSpec(8, 5, 2, True), ConvSpec(8, 3, 1)), 16, 10),
     "conv3", (3, 1)),
    (ConvNetConfig((1, 28, 28), (ConvSpec(8, 3, 1, True), ConvSpec(8, 5, 2, True)), 16, 10), "pool2", (6, 6)),
])
def test_receptive_field_matches_the_gradient(config, stage, unit):
    rf = receptive_field(config, stage, *unit)
    rows, cols = gradient_region(config, stage, *unit)
    assert rf.rows == tuple(int(v) for v in rows) and rf.cols == tuple(int(v) for v in cols)


def test_receptive_field_size():
    rf = receptive_field(seed_config((3, 210, 310)), "conv3", 10, 10)
    # conv1 11 -> pool 2 -> conv2 5 -> pool 2 -> conv3 3: 11 + 1 + 4*2 + 1*2 + 2*4 = 30
    assert rf.size == 30 and rf.jump == 4
