"""Every screen through Streamlit's AppTest: no exception, the seed's values, and widgets that change what is shown."""

import base64
import json
import time

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

TIMEOUT = 60


def app(page: str | None = None) -> AppTest:
    at = AppTest.from_file("../app.py", default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    if page:
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception, [e.value for e in at.exception]
    return at


def chart(at: AppTest, key: str) -> dict:
    for el in at.get("plotly_chart"):
        spec = json.loads(el.proto.spec)
        if el.proto.id and key in el.proto.id:
            return spec
    raise AssertionError(f"no chart with key {key}")


def button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def text(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown) + "\n".join(c.value for c in at.code)


def decode(value) -> np.ndarray:
    """Plotly's JSON writes numpy arrays as typed arrays: {"dtype", "bdata" (base64), "shape"}."""
    if isinstance(value, dict) and "bdata" in value:
        shape = tuple(int(v) for v in str(value.get("shape", "-1")).split(","))
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).reshape(shape).astype(float)
    return np.array(value, dtype=float)


def z(spec: dict, i: int) -> np.ndarray:
    return decode(spec["data"][i]["z"])


def test_home():
    at = app()
    assert "three ingredients" in text(at).lower() or any("ingredients" in s.value for s in at.subheader)
    assert len(at.get("page_link")) >= 5


# ---------------------------------------------------------------- convolution

def test_convolution_defaults_are_the_seeds():
    at = app("convolution")
    spec = chart(at, "conv_fig")
    assert z(spec, 1).tolist() == [[1, 0, 1], [0, 1, 0], [1, 0, 1]]  # the kernel
    out = z(spec, 2)
    assert out[0, 0] == 4 and np.isnan(out).sum() == 8  # only the first cell so far
    assert "1×1 + 1×0 + 1×1 + 0×0 + 1×1 + 1×0 + 0×1 + 0×0 + 1×1 = 4" in text(at)
    at.slider(key="conv_step").set_value(9).run()
    out = z(chart(at, "conv_fig"), 2)
    assert out.tolist() == [[4, 3, 4], [2, 4, 3], [2, 3, 4]]  # the seed's convolved feature


def test_convolution_next_previous_and_settings():
    at = app("convolution")
    button(at, "Next ▶").click().run()
    assert at.session_state["conv_step"] == 2
    assert "= 3" in at.code[0].value
    button(at, "◀ Previous").click().run()
    assert at.session_state["conv_step"] == 1
    at.number_input(key="conv_padding").set_value(1).run()
    spec = chart(at, "conv_fig")
    assert z(spec, 0).shape == (7, 7) and z(spec, 2).shape == (5, 5)
    assert "⌊(5 + 2·1 − 1·(3 − 1) − 1) / 1⌋ + 1 = 5" in text(at)
    at.number_input(key="conv_stride").set_value(2).run()
    assert z(chart(at, "conv_fig"), 2).shape == (3, 3)


def test_convolution_preset_and_flip():
    at = app("convolution")
    at.selectbox(key="conv_preset").set_value("Sobel x").run()
    spec = chart(at, "conv_fig")
    assert z(spec, 1).tolist() == [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    at.toggle(key="conv_flip").set_value(True).run()
    assert z(chart(at, "conv_fig"), 1).tolist() == [[1, 0, -1], [2, 0, -2], [1, 0, -1]]


@pytest.mark.parametrize("grid, message", [
    ("1 2\n3 abc", "'abc' is not a number"),
    ("", "empty"),
    ("1 2 3\n4 5", "different lengths"),
    ("1 nan\n1 1", "finite"),
    ("1 inf\n1 1", "finite"),
    ("1 1e99\n1 1", "too large"),
    ("1 1\n1 1", "padded input is only 2×2"),  # a 3×3 kernel on a 2×2 input
])
def test_convolution_bad_input(grid, message):
    at = app("convolution")
    at.text_area(key="conv_input").set_value(grid).run()
    assert not at.exception
    assert any(message in e.value for e in at.error), [e.value for e in at.error]
    at.text_area(key="conv_input").set_value("1 2 3\n4 5 6\n7 8 9").run()  # and the page keeps working
    assert not at.error and z(chart(at, "conv_fig"), 2).shape == (1, 1)


def test_convolution_animation_has_frames():
    at = app("convolution")
    at.toggle(key="conv_animate").set_value(True).run()
    spec = chart(at, "conv_fig")
    assert len(spec["frames"]) == 9
    assert decode(spec["frames"][-1]["data"][0]["z"]).tolist() == [[4, 3, 4], [2, 4, 3], [2, 3, 4]]


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


# ---------------------------------------------------------------- the trained network

def test_feature_maps_change_with_the_image():
    at = app("feature_maps")
    first = [m.value for m in at.markdown if "Prediction" in m.value][0]
    assert "Ankle boot" in first  # test image 0
    mosaics = [el.proto.id for el in at.get("plotly_chart") if "fm_mosaic" in el.proto.id]
    assert mosaics
    at.number_input(key="fm_pos").set_value(1).run()  # test image 1 is a pullover
    second = [m.value for m in at.markdown if "Prediction" in m.value][0]
    assert second != first and "Pullover" in second
    conv1 = chart(at, "fm_mosaic_conv1")
    assert conv1["layout"]["title"]["text"] == "conv1 · 32 × 28 × 28"


def test_translation_shift_changes_the_maps():
    at = app("translation")
    before = z(chart(at, "tr_m1"), 0)
    at.slider(key="tr_dx").set_value(-3).run()
    after = z(chart(at, "tr_m1"), 0)
    assert not np.array_equal(np.nan_to_num(before), np.nan_to_num(after))
    assert "away from the borders" in text(at)
    heat = chart(at, "tr_heatmap")
    assert decode(heat["data"][0]["z"]).shape == (11, 11)


def test_translation_consistency_button():
    at = app("translation")
    at.button(key="tr_measure").click().run()
    metrics = {m.label: m.value for m in at.metric}
    value = float([v for k, v in metrics.items() if k.startswith("Consistency")][0].rstrip("%"))
    assert 50 < value < 100


def test_architecture_todo_and_collapse():
    at = app("architecture")
    assert any("836,096" in s.value for s in at.success)
    assert "nn.Linear(256 * 46 * 71, 120)" in text(at)
    at.selectbox(key="ar_preset").set_value("3×32×32 (CIFAR-10)").run()
    assert any("**256**" in s.value for s in at.success)
    at.selectbox(key="ar_preset").set_value("1×28×28 (Fashion-MNIST)").run()
    assert any("conv3" in e.value and "collapses" in e.value for e in at.error)


def test_training_start_stop_report(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_RUNS", str(tmp_path))
    at = app("training")
    at.number_input(key="tr_subset").set_value(3000).run()
    button(at, "Start").click().run()
    assert not at.exception
    job = at.session_state["train_job"]
    deadline = time.monotonic() + 60
    while job.snapshot().step < 20 and time.monotonic() < deadline:
        time.sleep(0.1)
    at.run()  # fragments do not tick in AppTest: poll by running again
    assert any(el.proto.id and "train_loss" in el.proto.id for el in at.get("plotly_chart"))
    button(at, "Stop").click().run()
    assert job.snapshot().status == "stopped"
    assert not at.exception
    assert any(m.label == "Test accuracy" for m in at.metric)
    assert any("weighted avg" in c.value for c in at.code)
    assert chart(at, "train_confusion")["data"][0]["type"] == "heatmap"
    saved = list(tmp_path.glob("*.pt"))
    assert saved  # saved as a user run
    # a misclassified image opens in the feature-map screen, with the network just trained
    opens = [b for b in at.button if b.label == "Inspect"]
    assert opens
    wrong = int(opens[0].key.rsplit("_", 1)[1])
    opens[0].click().run()
    assert not at.exception
    assert at.session_state["shared_image"]["index"] == wrong
    assert at.selectbox(key="network").value == saved[0]
    assert any("Prediction" in m.value for m in at.markdown)


def test_a_broken_checkpoint_shows_a_message(tmp_path, monkeypatch):
    monkeypatch.setenv("CNNVIZ_RUNS", str(tmp_path))
    (tmp_path / "broken.pt").write_bytes(b"PK\x03\x04 not really a checkpoint")
    at = app("feature_maps")
    assert any("Prediction" in m.value for m in at.markdown)  # the shipped network first
    assert "Your run: broken" in at.selectbox(key="network").options
    at.selectbox(key="network").set_value(tmp_path / "broken.pt").run()
    assert not at.exception
    assert any("could not be loaded" in e.value and "broken.pt" in e.value for e in at.error)
    at.switch_page("pages/convolution.py").run()  # the rest of the app keeps working
    assert not at.exception and not at.error


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


def test_every_screen_works_without_the_dataset(tmp_path, monkeypatch):
    """Offline and without Debian's package: the shipped sample images stand in; training says what to install."""
    from cnnviz import data

    monkeypatch.setenv("CNNVIZ_DATA", str(tmp_path))
    monkeypatch.setenv("CNNVIZ_NO_DOWNLOAD", "1")
    monkeypatch.setattr(data, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", tmp_path / "nowhere")
    data.load_dataset.cache_clear()
    st.cache_resource.clear()
    try:
        at = app()
        for page in ("convolution", "multichannel", "pooling", "feature_maps", "translation", "architecture"):
            at.switch_page(f"pages/{page}.py").run()
            assert not at.exception, (page, [e.value for e in at.exception])
            assert not at.error, (page, [e.value for e in at.error])
        at.switch_page("pages/feature_maps.py").run()
        assert any("shipped sample" in c.value for c in at.caption)
        assert at.number_input(key="fm_pos").max == 19  # 2 images per class
        at.switch_page("pages/training.py").run()
        assert not at.exception
        assert any("apt-get install dataset-fashion-mnist" in e.value for e in at.error)
    finally:
        data.load_dataset.cache_clear()
        st.cache_resource.clear()
