"""AppTest of Feature maps and Translation invariance."""


import numpy as np

from tests.apptest import app, chart, decode, text, z

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


