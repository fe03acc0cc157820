"""AppTest of the Multi-channel and Pooling screens."""


import numpy as np
import pytest
import streamlit as st

from tests.apptest import app, chart, text, z

# ---------------------------------------------------------------- multi-channel and pooling

def test_multichannel():
    at = app("multichannel")
    assert "F×C×k×k + F = 2×3×3×3 + 2 = **56**" in text(at)
    at.slider(key="mc_filters").set_value(3).run()
    assert "3×3×3×3 + 3 = **84**" in text(at)
    maps = chart(at, "mc_maps_0")
    partials = [z(maps, i) for i in range(3)]
    np.testing.assert_allclose(partials[0] + partials[1] + partials[2], z(maps, 3), atol=1e-9)
    at.toggle(key="mc_use_bias").set_value(True).run()
    maps = chart(at, "mc_maps_0")
    np.testing.assert_allclose(sum(z(maps, i) for i in range(3)) + 1, z(maps, 3), atol=1e-9)
    assert any("Output (filter 1, row 0, column 0)" in s.value for s in at.success)


def test_multichannel_bad_filter_text():
    at = app("multichannel")
    at.text_area(key="mc_filter_0").set_value("1 2\n3 4").run()
    assert any("needs 3 kernels" in e.value for e in at.error)


def test_pooling_defaults_are_the_seeds():
    at = app("pooling")
    at.slider(key="pool_step").set_value(4).run()
    spec = chart(at, "pool_fig")
    assert z(spec, 1).tolist() == [[20, 30], [112, 37]]
    assert "= **37**" in text(at) and "row 2, column 2" in text(at)
    at.radio(key="pool_mode").set_value("avg").run()
    assert z(chart(at, "pool_fig"), 1)[1, 1] == pytest.approx((37 + 4 + 25 + 12) / 4)


def test_pooling_bad_input_and_real_image():
    at = app("pooling")
    at.number_input(key="pool_size").set_value(5).run()
    assert any("larger than the input" in e.value for e in at.error)
    at.number_input(key="pool_size").set_value(2).run()
    assert not at.error
    assert chart(at, "pool_real_out")["layout"]["title"]["text"].endswith("14×14")
    at.radio(key="pool_what").set_value("a feature map of the shipped network (relu1)").run()
    at.slider(key="pool_times").set_value(2).run()
    assert not at.exception
    maps = z(chart(at, "pool_real_in"), 0)
    assert maps.shape == (28, 28) and maps.min() >= 0  # after ReLU
    assert z(chart(at, "pool_real_out"), 0).shape == (7, 7)


def test_multichannel_offers_cifar10_when_installed(tmp_path, monkeypatch):
    from cnnviz.data import load_dataset
    from tests.conftest import write_cifar_fixture

    write_cifar_fixture(tmp_path)
    monkeypatch.setenv("CNNVIZ_DATA", str(tmp_path))
    load_dataset.cache_clear()
    try:
        at = app("multichannel")
        assert at.radio(key="mc_source").options[0] == "CIFAR-10 test image"
        at.radio(key="mc_source").set_value("CIFAR-10 test image").run()
        assert not at.exception and not at.error
        assert any("resized from 32×32" in c.value for c in at.caption)
    finally:
        load_dataset.cache_clear()
        st.cache_resource.clear()  # ui.dataset must not keep the fixture for later tests


