"""AppTest of Feature maps' "What the network learned" (ui/learned_view.py, issue 24), in English and French: the
image a channel or a class wants beside the top-9, the regulariser switches in the link, the mosaic of a stage
computed in the background, and "Scramble the weights" beside Grad-CAM. The pictures the page shows are decoded
and compared with cnnviz.explain's own results; hostile links are ignored with a notice."""

import base64
import dataclasses
import io
import time

import numpy as np
import pytest
from PIL import Image

from cnnviz.checkpoints import SHIPPED, load_checkpoint
from cnnviz.data import images_to_browse
from cnnviz.explain import Regularisers, cascading_randomisation, channel_image, channel_images, stage_maxima
from cnnviz.figures_learned import GAP
from cnnviz.i18n import format_number
from tests.apptest import chart
from tests.test_screen_network import english_left, link, notices
from ui.screens import REGULARISERS


@pytest.fixture(scope="module")
def shipped():
    model, meta = load_checkpoint(SHIPPED)
    return model, meta, images_to_browse(meta["dataset"])


def picture(spec: dict, i: int = 0) -> np.ndarray:
    """The image of trace i (a PNG data URI) as a uint8 array."""
    uri = spec["data"][i]["source"]
    return np.array(Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))))


def markdown(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def top9_ready(at, seconds: float = 300):
    """Rerun (as the page's polling fragment does) until the server's background pass over the test set, which
    gives every stage's top-9 at once, is done and the top-9 chart is drawn."""
    deadline = time.monotonic() + seconds
    while "fm_top9_fig" not in str([c.proto.id for c in at.get("plotly_chart")]):
        assert time.monotonic() < deadline, "the top-9 pass did not finish"
        assert any("excite" in p.proto.text for p in at.get("progress")), [e.value for e in at.error]
        time.sleep(1)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
    return at


def test_the_registry_names_every_regulariser():
    assert REGULARISERS == tuple(f.name for f in dataclasses.fields(Regularisers))


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_the_image_a_channel_wants_beside_its_top9(shipped, lang):
    model, _, data = shipped
    at = link("feature_maps", stage="relu3", channel=5, wants=1, lang=lang)
    assert not at.error, [e.value for e in at.error]
    shown = picture(chart(at, "fm_wanted_fig"))
    wanted = channel_image(model, "relu3", 5)
    assert np.array_equal(shown[..., 0] if shown.ndim == 3 else shown, wanted)
    chart(top9_ready(at), "fm_top9_fig")  # beside it, the 9 test images of the same channel
    means = stage_maxima(model, data.images, "relu3").means[:, 5]
    value = channel_images(model, "relu3", [5]).values[0]
    assert value > means.max()
    fmt = lambda v: format_number(lang, float(v), ".3g")  # noqa: E731
    words = {"en": f"Mean activation on this image: **{fmt(value)}**, higher than on each of the 10,000 test images "
                   f"(their highest: {fmt(means.max())}, image #{int(means.argmax())}",
             "fr": f"Activation moyenne sur cette image\u00a0: **{fmt(value)}**, plus que sur chacune des "
                   f"10\u202f000 images de l'ensemble de test (leur maximum\u00a0: {fmt(means.max())}, image "
                   f"n°\u00a0{int(means.argmax())}"}[lang]
    assert words in markdown(at), markdown(at)
    if lang == "fr":
        assert not english_left(at), english_left(at)


def test_a_switch_off_is_in_the_link_and_changes_the_image(shipped):
    model, _, _ = shipped
    at = link("feature_maps", stage="relu2", channel=3, wants=1, tv=0, steps=128, lang="en")
    assert at.query_params["tv"] == "0" and at.query_params["steps"] == "128"
    shown = picture(chart(at, "fm_wanted_fig"))
    assert np.array_equal(shown, channel_image(model, "relu2", 3, steps=128, tv=False))
    assert any("Some regularisers are off" in i.value for i in at.info)
    at.toggle(key="fm_tv").set_value(True).run()  # back on: the default, out of the link
    assert "tv" not in at.query_params and not at.info
    assert np.array_equal(picture(chart(at, "fm_wanted_fig")), channel_image(model, "relu2", 3, steps=128))


def test_the_image_a_class_wants(shipped):
    model, _, _ = shipped
    at = link("feature_maps", wants=1, wants_of="class", wants_class=7, steps=128, lang="fr")
    assert not at.error, [e.value for e in at.error]
    spec = chart(at, "fm_wanted_fig")
    assert "le logit de la classe Basket" in spec["layout"]["title"]["text"]
    assert np.array_equal(picture(spec), channel_image(model, "logits", 7, steps=128))


@pytest.mark.parametrize("query, notice", [
    ({"wants_class": "99"}, "The link names a class this network does not have"),
    ({"steps": "100"}, "steps"),  # not one of the offered counts
    ({"wants_of": "<script>", "tv": "maybe"}, "wants_of"),
])
def test_hostile_links_are_ignored_with_a_notice(query, notice):
    at = link("feature_maps", wants=1, lang="en", **query)
    assert not at.error and any(notice in n for n in notices(at)), notices(at)
    S = at.session_state
    assert (S["fm_wants_of"], S["fm_wants_class"], S["fm_steps"], S["fm_tv"]) == ("channel", 0, 256, True)
    chart(at, "fm_wanted_fig")


def test_a_stage_mosaic_computed_in_the_background(shipped):
    model, _, _ = shipped
    at = link("feature_maps", stage="relu1", channel=3, wants=1, mosaic=1, steps=64, lang="en")
    deadline = time.monotonic() + 300
    while "fm_wants_mosaic" not in str([c.proto.id for c in at.get("plotly_chart")]):
        assert time.monotonic() < deadline, "the mosaic did not finish"
        bars = [p.proto.text for p in at.get("progress")]  # the mosaic's, and the top-9 pass's beside it
        if not any("of 32 done" in b for b in bars):  # finished between two runs
            at.run()
            continue
        assert all("of 32 done" in b or "excite each channel" in b for b in bars), bars
        time.sleep(2)
        at.run()  # what the polling fragment does in a browser
        assert not at.exception, [e.value for e in at.exception]
    spec = chart(at, "fm_wants_mosaic")
    tiles = picture(spec)
    expected = channel_images(model, "relu1", range(16, 32), 64).images  # the second chunk of the job
    r, q = divmod(20, 16)
    tile = tiles[r * (28 + GAP):r * (28 + GAP) + 28, q * (28 + GAP):q * (28 + GAP) + 28]
    assert np.array_equal(tile, expected[4])
    assert spec["data"][1]["customdata"] is not None and spec["layout"]["shapes"]  # the channel shown is outlined
    # a second session finds the finished mosaic at once
    again = link("feature_maps", stage="relu1", channel=3, wants=1, mosaic=1, steps=64, lang="fr")
    assert not again.get("progress") and "L'image que veut chacun des 32 canaux de relu1" in \
        chart(again, "fm_wants_mosaic")["layout"]["title"]["text"]


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_scramble_the_weights_next_to_grad_cam(shipped, lang):
    model, _, data = shipped
    at = link("feature_maps", gradcam=1, scramble=1, lang=lang)
    assert not at.error, [e.value for e in at.error]
    cascade = cascading_randomisation(model, data.images[0])
    rho = chart(at, "fm_scramble_rho")
    got = np.array([np.nan if v is None else v for v in rho["data"][0]["y"]], dtype=float)
    assert np.allclose(got, np.round(cascade.rho_gradcam, 4), equal_nan=True)
    assert rho["data"][0]["x"][1:] == ["fc2", "+ fc1", "+ bn3", "+ conv3", "+ bn2", "+ conv2", "+ bn1", "+ conv1"]
    assert rho["layout"]["separators"] == (",\u202f" if lang == "fr" else ".,")
    maps = picture(chart(at, "fm_scramble_maps"))
    assert maps.shape[:2] == (2 * 28 + 10, 9 * 28 + 8 * GAP)
    text = markdown(at)
    assert {"en": "What to conclude.", "fr": "Ce qu'il faut en conclure."}[lang] in text
    assert {"en": "its mean over all the steps is", "fr": "sa moyenne sur toutes les étapes vaut"}[lang] in text
    if lang == "fr":
        assert not english_left(at), english_left(at)
    at.toggle(key="fm_gradcam").set_value(False).run()  # without Grad-CAM, no scrambling either
    assert "fm_scramble_rho" not in str([c.proto.id for c in at.get("plotly_chart")])
