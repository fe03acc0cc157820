"""What the sessions of a class share (ui/shared_cache.py over cnnviz.shared): two sessions on the same image
cost one computation — cnnviz.shared.CALLS counts the computations, not the requests — and what they share is
read-only."""

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from cnnviz import shared
from tests.apptest import chart, open_link


def link(page: str, **query) -> AppTest:
    """A fresh session opened on a link to `page` with `query` in its query string."""
    at = open_link(page, **{"lang": "en", **query})
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.fixture
def calls():
    """CALLS counted from an empty server cache: -> a function giving the computations since then."""
    st.cache_resource.clear()
    before = dict(shared.CALLS)
    yield lambda name: shared.CALLS[name] - before.get(name, 0)
    st.cache_resource.clear()


def test_feature_maps_two_sessions_compute_once(calls):
    first = link("feature_maps", idx=5)
    assert (calls("image_maps"), calls("stage_mosaics")) == (1, 1)
    second = link("feature_maps", idx=5)  # another student, same image: nothing computed again
    assert (calls("image_maps"), calls("stage_mosaics")) == (1, 1)
    assert chart(first, "fm_mosaic_conv1") == chart(second, "fm_mosaic_conv1")
    third = link("feature_maps", idx=5, signed=0)  # another view of the same maps: new figures, same maps
    assert (calls("image_maps"), calls("stage_mosaics")) == (1, 2)
    link("feature_maps", idx=6)  # another image: computed
    assert (calls("image_maps"), calls("stage_mosaics")) == (2, 3)
    assert not third.exception


def test_translation_two_sessions_compute_once(calls):
    link("translation", idx=5, dx=2, k=2)
    first = (calls("image_maps"), calls("shift_probabilities"))
    assert first == (2, 1)  # the image and the shifted image; the curves
    link("translation", idx=5, dx=2, k=2, lang="fr")  # another student, in French: the same numbers
    assert (calls("image_maps"), calls("shift_probabilities")) == first
    link("translation", idx=5, dx=2, k=3)
    assert (calls("image_maps"), calls("shift_probabilities")) == (2, 2)


def test_feature_maps_explain_panel_uses_the_shared_maps(calls):
    link("feature_maps", idx=5)
    at = link("feature_maps", idx=5, ex_stage="conv2", ex_ch=1, ex_row=3, ex_col=4)  # a clicked unit
    assert calls("image_maps") == 1
    assert any("conv2" in m.value for m in at.subheader)


def test_shared_results_are_read_only(calls):
    from cnnviz.checkpoints import SHIPPED, load_checkpoint
    from cnnviz.data import images_to_browse
    from ui import shared_cache

    model, meta = load_checkpoint(SHIPPED)
    image = images_to_browse(meta["dataset"]).images[0]
    result = shared_cache.image_maps(model, meta, image)
    again = shared_cache.image_maps(model, meta, np.array(image))  # the same content in another array
    assert again is result and calls("image_maps") == 1
    assert not result.probs.flags.writeable
    assert all(not m.flags.writeable for m in result.maps.values())
    with pytest.raises(ValueError):
        next(iter(result.maps.values()))[0, 0, 0] = 1.0
    probs = shared_cache.shift_probabilities(model, meta, image, 1, False)
    assert probs.shape[:2] == (3, 3) and not probs.flags.writeable
