"""AppTest of Feature maps' "explain every number" panel (ui/explain_panel.py) and of the clickable step figures.

AppTest cannot click a plotly chart: the clicked unit is set the way a click sets it, through the screen's
settings (ex_stage, ex_ch, ex_row, ex_col) in a link; the browser test (tests/e2e/test_explain.py) clicks."""

import json

import numpy as np
import pytest
import streamlit as st

from cnnviz.checkpoints import SHIPPED, load_checkpoint
from cnnviz.data import images_to_browse
from cnnviz.explain import explain_unit, grad_cam, path_back, top_activations
from cnnviz.explore import inspect
from cnnviz.figures_explain import formula_text
from cnnviz.figures_steps import MAX_TERMS, add_step_cells, clicked_step, conv_cells, pool_cells
from cnnviz.ops import conv2d_steps, parse_grid, pool2d_steps
from tests.apptest import chart, decode, wait_for_chart
from tests.test_screen_network import english_left, link

NET = "tests/fixtures/course_net.py"


@pytest.fixture(scope="module")
def shipped():
    model, meta = load_checkpoint(SHIPPED)
    return model, meta, images_to_browse(meta["dataset"])


def codes(at) -> list[str]:
    return [c.value for c in at.code]


def unit_of(at) -> tuple:
    S = at.session_state
    return S["fm_ex_stage"], S["fm_ex_ch"], S["fm_ex_row"], S["fm_ex_col"]


def test_a_link_to_a_unit_shows_its_real_numbers(shipped):
    model, _, data = shipped
    at = link("feature_maps", ex_stage="conv2", ex_ch=5, ex_row=3, ex_col=4, lang="en")
    e = explain_unit(model, data.images[0], "conv2", 5, 3, 4)
    assert formula_text(e, "en") in codes(at)
    assert any("conv2, channel 5, row 3, column 4" in s.value for s in at.header)
    spec = chart(at, "fm_ex_unit")  # the 8 largest |partial sums| of the 32 input channels, window above kernel
    order = np.argsort(-np.abs(e.terms.partials), kind="stable")[:8]
    for col, c in enumerate(order):
        window = decode(spec["data"][2 * col]["z"])
        assert np.allclose(window, np.where(e.terms.padding_mask, 0, e.terms.window[c]))
        assert np.allclose(decode(spec["data"][2 * col + 1]["z"]), e.terms.kernel[c])
    df = at.dataframe[0].value  # all 32 partial sums
    assert np.allclose([float(v.replace(",", "")) for v in df.iloc[:, 1]], np.round(e.terms.partials, 5))
    assert e.kind == "conv" and abs(e.value - e.network_value) < 1e-3
    rf = chart(at, "fm_ex_rf")["layout"]["shapes"][0]  # the receptive field on the input
    r0, r1, c0, c1 = e.receptive_field
    assert (rf["y0"], rf["y1"], rf["x0"], rf["x1"]) == (r0 - 0.5, r1 + 0.5, c0 - 0.5, c1 + 0.5)
    # the big map shows the unit's stage and channel with the cell outlined, its cells clickable
    big = chart(at, "fm_big")
    assert at.session_state["fm_stage"] == "relu1"  # a link's big map is its own setting
    assert decode(big["data"][1]["customdata"])[0].tolist() == [0, 0] and big["layout"]["clickmode"] == "event+select"


def test_stepping_back_follows_the_path_one_click_at_a_time(shipped):
    model, _, data = shipped
    at = link("feature_maps", ex_stage="pool2", ex_ch=3, ex_row=2, ex_col=4, lang="fr")
    path = path_back(model, data.images[0], "pool2", 3, 2, 4)
    assert [e.kind for e in path] == ["pool", "relu", "batchnorm", "conv", "pool", "relu", "batchnorm", "conv"]
    for e in path:
        assert unit_of(at) == (e.stage, e.channel, e.row, e.col)
        assert formula_text(e, "fr") in codes(at)
        assert at.query_params["ex_stage"] == e.stage and at.query_params["ex_row"] == str(e.row)
        assert (at.session_state["fm_stage"], at.session_state["fm_channel"]) == (
            (e.stage, e.channel) if e.stage != "pool2" else ("relu1", 0))  # the big map follows each step back
        back = [b for b in at.button if b.key == "fm_ex_back"]
        if e.previous == "input":
            assert not back
            break
        back[0].click().run()
        assert not at.exception, [x.value for x in at.exception]
    assert not english_left(at), english_left(at)
    [b for b in at.button if b.key == "fm_ex_clear"][0].click().run()
    assert unit_of(at) == ("", -1, -1, -1) and "ex_stage" not in at.query_params


def test_open_in_convolution_loads_the_window_and_kernel(shipped):
    model, _, data = shipped
    at = link("feature_maps", ex_stage="conv1", ex_ch=25, ex_row=10, ex_col=19, lang="en")
    e = explain_unit(model, data.images[0], "conv1", 25, 10, 19)
    [b for b in at.button if b.key == "fm_ex_open_conv"][0].click().run()
    assert not at.exception, [x.value for x in at.exception]
    S = at.session_state
    window, kernel = parse_grid(S["conv_input"], "w"), parse_grid(S["conv_kernel"], "k")
    assert np.allclose(window, np.round(e.terms.window[0], 2)) and np.allclose(kernel, np.round(e.terms.kernel[0], 2))
    assert (S["conv_step"], S["conv_padding"], S["conv_stride"], S["conv_dilation"]) == (1, 0, 1, 1)
    out = decode(chart(at, "conv_fig")["data"][2]["z"])  # the Convolution screen: one output cell
    assert out.shape == (1, 1) and abs(out[0, 0] - e.terms.partial_sum) < 0.05


def test_top9_and_gradcam_render(shipped):
    model, meta, data = shipped
    at = link("feature_maps", stage="conv3", channel=7, top9=1, gradcam=1, cam_class=3, lang="en")
    assert not at.error, [x.value for x in at.error]
    tops = top_activations(model, data.images, "conv3", 7, k=9)
    titles = [a["text"] for a in wait_for_chart(at, "fm_top9_fig")["layout"]["annotations"]]
    assert [int(s.split(":")[0][1:].replace(",", "")) for s in titles] == [t.index for t in tops]
    cam = grad_cam(model, data.images[0], 3)
    spec = chart(at, "fm_gradcam_fig")
    assert "Dress" in spec["layout"]["title"]["text"]
    heat = decode(spec["data"][1]["z"])
    top = cam.heatmap.max()
    assert np.allclose(np.nan_to_num(heat), np.where(cam.heatmap > 0.02 * top, cam.heatmap / top, 0), atol=1e-6)
    at.selectbox(key="fm_cam_class").select(-1).run()  # back to the predicted class
    assert at.query_params.get("cam_class") is None and "fm_gradcam_fig" in json.dumps([c.proto.id for c in at.get("plotly_chart")])


def test_a_drawing_is_the_input_and_is_not_in_the_link(shipped):
    model, _, _ = shipped
    at = link("feature_maps", source="draw", lang="en")
    assert any("Draw something" in i.value for i in at.info)
    drawn = np.zeros((28, 28), np.uint8)
    drawn[4:24, 9:19] = 255  # a light bar: trousers?
    at.session_state["fm_drawn"] = drawn  # what the canvas leaves after a drawing (see ui/image_picker.py)
    at.run()
    result = inspect(model, drawn)
    md = "\n".join(m.value for m in at.markdown)
    assert f"{result.probs[result.pred]:.1%}" in md
    assert any("your drawing" in c.value for c in at.caption)
    assert at.query_params["source"] == "draw" and not any("drawn" in k for k in at.query_params)


@pytest.mark.parametrize("query", [
    {"ex_stage": "<script>alert(1)</script>", "ex_ch": "0"},
    {"ex_stage": "conv9", "ex_ch": "0", "ex_row": "0", "ex_col": "0"},  # no such stage
    {"ex_stage": "conv1", "ex_ch": "999", "ex_row": "0", "ex_col": "0"},  # no such channel
    {"ex_stage": "conv1", "ex_ch": "1", "ex_row": "4000", "ex_col": "0"},  # outside the map
    {"ex_stage": "![x](http://evil/x.png)", "ex_ch": "abc", "cam_class": "x" * 100_000, "top9": "<b>"},
])
def test_hostile_units_are_ignored(query):
    at = link("feature_maps", lang="en", **query)
    assert not at.error and at.toast, [x.value for x in at.error]
    assert unit_of(at)[0] == "" and not any("Where this number" in s.value for s in at.header)
    seen = "\n".join(str(x.value) for kind in ("markdown", "header", "subheader", "caption") for x in at.get(kind))
    assert "evil" not in seen and "<script>" not in seen and "999" not in seen


def test_a_user_model_is_explained_too(tmp_path, monkeypatch):
    """CNNVIZ_MODEL: the course's Net with functional relu / max_pool2d (stage names max_pool2d_1, relu_1...)."""
    import importlib.util

    import torch

    from cnnviz.usermodel import load_user_model

    spec = importlib.util.spec_from_file_location("course_net_explain", NET)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    torch.save(module.Net().state_dict(), tmp_path / "net.pt")
    monkeypatch.setenv("CNNVIZ_MODEL", f"{NET}:Net")
    monkeypatch.setenv("CNNVIZ_WEIGHTS", str(tmp_path / "net.pt"))
    st.cache_resource.clear()
    try:
        at = link("feature_maps", network="user:Net", stage="max_pool2d_1", channel=2, ex_stage="max_pool2d_1",
                  ex_ch=2, ex_row=1, ex_col=1, top9=1, gradcam=1, lang="en")
        assert not at.error, [x.value for x in at.error]
        model, _ = load_user_model(f"{NET}:Net", str(tmp_path / "net.pt"))
        image = images_to_browse("fashion-mnist").images[0]
        path = path_back(model, image, "max_pool2d_1", 2, 1, 1)
        for e in path:
            assert formula_text(e, "en") in codes(at)
            back = [b for b in at.button if b.key == "fm_ex_back"]
            if not back:
                break
            back[0].click().run()
            assert not at.exception, [x.value for x in at.exception]
        assert unit_of(at)[0] == "conv1"
        assert [b for b in at.button if b.key == "fm_ex_open_conv"]  # conv1 reads the 1-channel input
        for key in ("fm_top9_fig", "fm_gradcam_fig"):
            wait_for_chart(at, key)
    finally:
        st.cache_resource.clear()


# ---------------------------------------------------------------- Convolution and Pooling: clickable steps

SEED = np.array([[1, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 1, 1, 0], [0, 1, 1, 0, 0]], float)


def test_conv_output_cells_carry_their_step_and_arithmetic():
    trace = conv2d_steps(SEED, np.array([[1, 0, 1], [0, 1, 0], [1, 0, 1]], float))
    inputs, outputs = conv_cells(trace, "fr")
    assert outputs["xaxis"] == "x3" and decode(outputs["customdata"])[4].tolist() == [1, 1, 5]
    assert outputs["text"][0].endswith("1×1 + 1×0 + 1×1<br>0×0 + 1×1 + 1×0<br>0×1 + 0×0 + 1×1 = 4")
    assert inputs["text"][2] == ("entrée (0, 2) = 1<br>× 1 = 1 → sortie (0, 0)<br>× 0 = 0 → sortie (0, 1)"
                                 "<br>× 1 = 1 → sortie (0, 2)")
    event = {"selection": {"points": [{"x": 1, "y": 1, "customdata": {"0": 1, "1": 1, "2": 5}}]}}
    assert clicked_step(event) == 5 and clicked_step({"selection": {"points": []}}) is None
    assert clicked_step({"selection": {"points": [{"x": 0, "y": 2, "customdata": None}]}}) is None  # an input cell
    big = conv2d_steps(np.ones((12, 12)), np.ones((3, 3)), padding=3)  # 256 steps × 9 > MAX_TERMS: short hovers
    assert len(big.steps) * 9 > MAX_TERMS
    _, out = conv_cells(big, "en")
    assert out["text"][0].endswith("= 0") and "×" not in out["text"][0]
    fig = add_step_cells(__import__("cnnviz.figures", fromlist=["x"]).conv_step_figure(big, 0), conv_cells(big))
    assert len(fig.to_json()) < 120_000


def test_pool_cells_say_which_window_and_winner():
    x = np.arange(16.0).reshape(4, 4)
    inputs, outputs = pool_cells(pool2d_steps(x, 2, 2, "max"), x, "en")
    assert outputs["text"][0].endswith("max(0, 1, 4, 5) = 5") and decode(outputs["customdata"])[3].tolist() == [1, 1, 4]
    assert inputs["text"][5].endswith("in the window of output (0, 0): the max")


def test_convolution_and_pooling_screens_have_clickable_steps():
    at = link("convolution", lang="en")
    spec = chart(at, "conv_fig")
    assert decode(spec["data"][-1]["customdata"])[0].tolist() == [0, 0, 1] and spec["layout"]["clickmode"] == "event+select"
    at = link("pooling", lang="fr")
    spec = chart(at, "pool_fig")
    assert decode(spec["data"][-1]["customdata"])[-1].tolist() == [1, 1, 4]
