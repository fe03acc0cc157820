"""AppTest of the Convolution screen."""


import numpy as np
import pytest

from tests.apptest import app, button, chart, decode, text, z

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


