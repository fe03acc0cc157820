"""A model the user wrote (CNNVIZ_MODEL / CNNVIZ_WEIGHTS): its stages from the graph, maps equal to a
hand-written forward pass, clear messages for what cannot be opened."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnviz import CnnvizError
from cnnviz.explore import conv_groups, inspect
from cnnviz.usermodel import load_user_model

NET = Path(__file__).parent / "fixtures" / "course_net.py"


@pytest.fixture
def weights(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("course_net_for_weights", NET)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    path = tmp_path / "net.pt"
    torch.save(module.Net().state_dict(), path)
    return path


def test_functional_calls_are_stages_and_maps_equal_a_hand_written_forward(weights):
    model, meta = load_user_model(f"{NET}:Net", str(weights))
    assert list(model.stages) == ["conv1", "relu", "max_pool2d", "conv2", "relu_1", "max_pool2d_1", "flatten",
                                  "fc1", "relu_2", "fc2"]
    assert meta["classes"][0] == "T-shirt/top" and meta["input_shape"] == (1, 28, 28) and "Net" in meta["path"]
    state = torch.load(weights, weights_only=True)
    image = np.random.default_rng(1).integers(0, 256, size=(28, 28), dtype=np.uint8)
    x = torch.from_numpy(image).float()[None, None] / 255 * 2 - 1  # (1, 1, 28, 28) in [-1, 1]
    c1 = F.conv2d(x, state["conv1.weight"], state["conv1.bias"])
    p1 = F.max_pool2d(F.relu(c1), 2)
    c2 = F.conv2d(p1, state["conv2.weight"], state["conv2.bias"])
    p2 = F.max_pool2d(F.relu(c2), 2)
    h = F.relu(F.linear(p2.flatten(1), state["fc1.weight"], state["fc1.bias"]))
    logits = F.linear(h, state["fc2.weight"], state["fc2.bias"])
    result = inspect(model, image)
    np.testing.assert_allclose(result.maps["conv1"], c1[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(result.maps["max_pool2d"], p1[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(result.maps["max_pool2d_1"], p2[0].numpy(), atol=1e-5)
    np.testing.assert_allclose(result.probs, torch.softmax(logits[0], 0).numpy(), atol=1e-5)
    assert list(conv_groups(model)) == ["conv1", "conv2"]  # the screens' conv blocks


def test_an_untraceable_model_names_its_line(weights):
    with pytest.raises(CnnvizError) as info:
        load_user_model(f"{NET}:Moody", None)
    exc = info.value
    assert exc.code == "err.user_untraceable"
    assert exc.params["line"] == 28 and exc.params["path"] == "course_net.py"  # `if x.mean() > 0:`
    assert "ligne 28 de course_net.py" in exc.message("fr")


@pytest.mark.parametrize("spec, code", [
    ("nonsense", "err.user_spec"),
    ("/nowhere/net.py:Net", "err.user_missing"),
    (f"{NET}:Nope", "err.user_no_class"),
])
def test_bad_settings_give_messages(spec, code):
    with pytest.raises(CnnvizError) as info:
        load_user_model(spec, None)
    assert info.value.code == code


def test_weights_of_another_network_or_pickles_are_refused(tmp_path):
    other = tmp_path / "other.pt"
    torch.save({"conv1.weight": torch.zeros(3, 1, 3, 3)}, other)
    with pytest.raises(CnnvizError) as info:
        load_user_model(f"{NET}:Net", str(other))
    assert info.value.code == "err.user_weights_mismatch"

    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            import os

            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil.pt"
    torch.save({"x": Payload()}, evil)
    with pytest.raises(CnnvizError) as info:
        load_user_model(f"{NET}:Net", str(evil))
    assert info.value.code == "err.user_weights" and not marker.exists()


def test_the_user_model_appears_in_the_network_pickers(weights, monkeypatch):
    """Started with CNNVIZ_MODEL / CNNVIZ_WEIGHTS, Feature maps and Translation offer it under its class name."""
    import streamlit as st

    from tests.apptest import app

    monkeypatch.setenv("CNNVIZ_MODEL", f"{NET}:Net")
    monkeypatch.setenv("CNNVIZ_WEIGHTS", str(weights))
    st.cache_resource.clear()
    for page in ("feature_maps", "translation"):
        at = app(page)
        box = at.selectbox(key="fm_network" if page == "feature_maps" else "shift_network")
        assert any("Your model: Net (course_net.py)" in o for o in box.options)
        box.set_value("user:Net").run()
        assert not at.exception, [e.value for e in at.exception]
        assert not at.error, [e.value for e in at.error]
        assert at.get("plotly_chart"), page
