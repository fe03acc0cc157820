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


# ---------------------------------------------------------------- issue 15, item 7: an edited table is input


from cnnviz import CnnvizError  # noqa: E402
from cnnviz.architecture import LayerError, validate_layers  # noqa: E402


def test_valid_tables_build_the_network():
    cfg = validate_layers([(64, 11, 0, True), {"filters": 128.0, "kernel": np.int64(5), "pool": 1},
                           {"out_channels": 256, "kernel": 3, "padding": 1, "stride": 1, "kind": "conv"}],
                          input_shape=(3, 210, 310), fc_width=120)
    assert [(c.out_channels, c.kernel, c.padding, c.pool) for c in cfg.convs] == [
        (64, 11, 0, True), (128, 5, 0, False), (256, 3, 1, False)]
    assert cfg.input_shape == (3, 210, 310) and cfg.fc_width == 120
    assert trace_config(cfg).error is None


@pytest.mark.parametrize("rows, code", [
    ([(-64, 3, 0, False)], "err.arch_out_of_range"),  # a rewritten websocket message: negative filters
    ([(64, -3, 0, False)], "err.arch_out_of_range"),  # "Trying to create tensor with negative dimension"
    ([(0, 3, 0, False)], "err.arch_out_of_range"),
    ([(2000, 3, 0, False)], "err.arch_out_of_range"),
    ([(64, 16, 0, False)], "err.arch_out_of_range"),
    ([(64, 3, 9, False)], "err.arch_out_of_range"),
    ([(64, 3, -1, False)], "err.arch_out_of_range"),
    ([{"out_channels": 8, "kernel": 3, "stride": 0}], "err.arch_out_of_range"),
    ([{"out_channels": 8, "kernel": 3, "stride": 9}], "err.arch_out_of_range"),
    ([{"out_channels": 8, "kernel": 3, "stride": 2}], "err.arch_unsupported"),
    ([{"out_channels": 8, "kernel": 3, "pool": 9}], "err.arch_out_of_range"),
    ([{"out_channels": 8, "kernel": 3, "pool": 3}], "err.arch_unsupported"),
    ([(64.5, 3, 0, False)], "err.arch_not_integer"),
    ([("64", 3, 0, False)], "err.arch_not_integer"),
    ([(float("nan"), 3, 0, False)], "err.arch_not_integer"),
    ([(float("inf"), 3, 0, False)], "err.arch_not_integer"),
    ([(True, 3, 0, False)], "err.arch_not_integer"),
    ([(None, 3, 0, False)], "err.arch_not_integer"),
    ([{"kind": "attention", "out_channels": 8, "kernel": 3}], "err.arch_kind"),
    ([{"out_channels": 8, "kernel": 3, "evil": 1}], "err.arch_bad_row"),
    ([(8, 3)], "err.arch_bad_row"),
    (["8-3-0-1"], "err.arch_bad_row"),
    ([], "err.arch_empty"),
    (None, "err.arch_empty"),
    ([(8, 3, 0, False)] * 17, "err.arch_too_many"),
])
def test_hostile_tables_are_refused(rows, code):
    with pytest.raises(LayerError) as info:
        validate_layers(rows)
    assert info.value.code == code
    assert isinstance(info.value, CnnvizError) and isinstance(info.value, ValueError)
    assert not str(info.value).startswith("err.") and not info.value.message("fr").startswith("err.")


@pytest.mark.parametrize("kw, code", [
    (dict(fc_width=0), "err.arch_setting_out_of_range"), (dict(fc_width=9000), "err.arch_setting_out_of_range"),
    (dict(fc_width=-5), "err.arch_setting_out_of_range"), (dict(fc_width="120"), "err.arch_setting_not_integer"),
    (dict(input_shape=(3, -32, 32)), "err.arch_setting_out_of_range"), (dict(input_shape=(3, 32)), "err.arch_input_shape"),
    (dict(input_shape=(0, 32, 32)), "err.arch_setting_out_of_range"), (dict(input_shape="3x32x32"), "err.arch_input_shape"),
])
def test_hostile_settings_are_refused(kw, code):
    with pytest.raises(LayerError) as info:
        validate_layers([(8, 3, 0, False)], **kw)
    assert info.value.code == code


def test_messages_name_the_row_and_setting_in_french():
    with pytest.raises(LayerError) as info:
        validate_layers([(8, 3, 0, False), (-64, 3, 0, False)])
    assert str(info.value) == "Layer 2: the filters must be between 1 and 1,024 (got -64)."
    assert "Couche 2" in info.value.message("fr") and "filtres" in info.value.message("fr")


def test_collapse_is_translatable():
    t = trace_config(seed_config((1, 28, 28)))
    assert t.exception is not None and t.exception.code == "err.shape_collapse"
    assert "collapses" in t.error and "s'effondre" in t.exception.message("fr")


def test_receptive_field_of_an_unknown_stage():
    with pytest.raises(CnnvizError, match="not a convolutional stage"):
        receptive_field(seed_config(), "fc9", 0, 0)
