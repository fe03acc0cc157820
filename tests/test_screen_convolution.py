"""AppTest of the Convolution screen: the course's example, steps, settings, links, bad input, French."""

import numpy as np
import pytest

from tests.apptest import app, button, chart, decode, open_link, text, z


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
    at.selectbox(key="conv_preset").set_value("sobel_x").run()
    spec = chart(at, "conv_fig")
    assert z(spec, 1).tolist() == [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    at.toggle(key="conv_flip").set_value(True).run()
    assert z(chart(at, "conv_fig"), 1).tolist() == [[1, 0, -1], [2, 0, -2], [1, 0, -1]]


@pytest.mark.parametrize("grid, message", [
    ("1 2\n3 abc", "“abc” is not a number"),
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




def test_a_link_reproduces_the_view():
    at = open_link("convolution", lang="fr", input="1,2,0;0,1,3;4,0,1;2,2,2", kernel="1,0;0,-1", stride="1",
                   padding="1", dilation="1", step="7", flip="1")
    assert not at.exception and not at.error
    assert at.text_area(key="conv_input").value == "1 2 0\n0 1 3\n4 0 1\n2 2 2"
    assert at.number_input(key="conv_padding").value == 1 and at.toggle(key="conv_flip").value
    assert at.slider(key="conv_step").value == 7
    spec = chart(at, "conv_fig")
    assert z(spec, 0).shape == (6, 5)  # 4×3 padded by 1
    assert z(spec, 1).tolist() == [[-1, 0], [0, 1]]  # flipped
    assert at.title[0].value == "La convolution, pas à pas"


def test_changing_a_widget_updates_the_url():
    at = app("convolution")
    at.number_input(key="conv_stride").set_value(2).run()
    assert at.query_params["stride"] == ["2"] or at.query_params["stride"] == "2"
    button(at, "Next ▶").click().run()
    assert str(at.query_params["step"]).strip("[]'") == "2"
    at.number_input(key="conv_stride").set_value(1).run()  # back to the default: not in the link
    assert "stride" not in at.query_params


def test_settings_survive_a_visit_to_another_screen():
    at = app("convolution")
    at.text_area(key="conv_input").set_value("1 2 3\n4 5 6\n7 8 9\n1 1 1").run()
    at.number_input(key="conv_stride").set_value(2).run()
    at.switch_page("pages/pooling.py").run()
    at.switch_page("pages/home.py").run()
    at.switch_page("pages/convolution.py").run()
    assert at.text_area(key="conv_input").value == "1 2 3\n4 5 6\n7 8 9\n1 1 1"
    assert at.number_input(key="conv_stride").value == 2


HOSTILE = {
    "stride": "99", "padding": "-1", "dilation": "x", "step": "1e9", "flip": "<b>yes</b>", "preset": "<script>",
    "input": "1," * 50_000, "kernel": "![x](http://evil.example/x.png)", "animate": "2", "zzz": "<img src=x>",
}


def test_hostile_link_values_are_ignored_with_a_notice():
    at = open_link("convolution", lang="en", **HOSTILE)
    assert not at.exception and not at.error
    assert at.number_input(key="conv_stride").value == 1 and at.number_input(key="conv_padding").value == 0
    assert at.text_area(key="conv_input").value.startswith("1 1 1 0 0")  # the course's example kept
    notices = " ".join(t.value for t in at.toast)
    assert "ignored" in notices and "stride" in notices
    shown = text(at) + " ".join(t.value for t in at.toast)
    assert "evil" not in shown and "<script>" not in shown and "<img" not in shown


def test_french_numbers_and_errors():
    at = app("convolution", lang="fr")
    at.text_area(key="conv_input").set_value("1 2\n3 abc").run()
    assert any("ligne 2, colonne 2" in e.value and "n'est pas un nombre" in e.value for e in at.error)


def test_back_to_the_course_example_resets_every_setting():
    at = app("convolution")
    at.text_area(key="conv_input").set_value("1 2\n3 4").run()
    at.number_input(key="conv_padding").set_value(2).run()
    button(at, "Back to the course's example").click().run()
    assert not at.exception
    assert at.text_area(key="conv_input").value.startswith("1 1 1 0 0")
    assert at.number_input(key="conv_padding").value == 0


def test_a_hand_written_preset_link_loads_its_kernel():
    """`?preset=sobel_x` typed by hand shows the Sobel kernel, not the course's one under the name "Sobel x"; a
    link that carries its own kernel keeps it."""
    from cnnviz.ops import kernel_preset

    at = open_link("convolution", preset="sobel_x")
    assert not at.exception and at.selectbox(key="conv_preset").value == "sobel_x"
    assert np.array_equal(z(chart(at, "conv_fig"), 1), kernel_preset("sobel_x", 3, seed=0))
    at = open_link("convolution", preset="sobel_x", kernel="0,1,0;1,-4,1;0,1,0")
    assert z(chart(at, "conv_fig"), 1).tolist() == [[0, 1, 0], [1, -4, 1], [0, 1, 0]]  # typed: kept
    at = open_link("convolution", preset="box_blur", ksize="5")
    assert z(chart(at, "conv_fig"), 1).shape == (5, 5)
