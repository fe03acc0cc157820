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
    shared.FIGURES.clear()
    before = dict(shared.CALLS)
    yield lambda name: shared.CALLS[name] - before.get(name, 0)
    st.cache_resource.clear()
    shared.FIGURES.clear()


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
    assert any("conv2" in m.value for m in at.header)


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


def test_a_view_figures_are_built_once_for_the_class(calls):
    """Figures depend only on plain values: a second student on the same view costs no figure building, and
    sees exactly the same charts; another view (a step, a language) builds its own."""
    first = link("convolution", step=4)
    built = calls("figure:conv_view")
    assert built == 1
    second = link("convolution", step=4)
    assert calls("figure:conv_view") == 1
    assert chart(first, "conv_fig") == chart(second, "conv_fig")
    link("convolution", step=5)
    link("convolution", step=4, lang="fr")
    assert calls("figure:conv_view") == 3

    link("feature_maps", idx=5)
    shown = {name: calls(name) for name in ("figure:clickable_map_figure", "figure:probability_figure",
                                            "figure:input_figure")}
    assert all(n == 1 for n in shown.values()), shown
    link("feature_maps", idx=5)
    assert {name: calls(name) for name in shown} == shown


def test_frozen_figure_serialises_like_the_figure_it_was():
    """What st.plotly_chart sends for a shared (frozen) figure is what it sends for the figure itself, every
    time: plotly.io.to_json removes trace uids in place, which must not reach the shared dict."""
    import plotly.graph_objects as go
    import plotly.io as pio

    from cnnviz.figures_explain import clickable_map_figure

    fmap = np.arange(12, dtype=float).reshape(3, 4) - 5
    plain = clickable_map_figure(fmap, "fr", "t", selected=(1, 2))
    frozen = shared.FrozenFigure.of(clickable_map_figure(fmap, "fr", "t", selected=(1, 2)))
    assert isinstance(frozen, go.Figure)  # what st.plotly_chart accepts
    expected = pio.to_json(plain, validate=False)
    assert pio.to_json(frozen, validate=False) == expected
    frozen.to_dict()["data"][0]["uid"] = "x"  # a caller changing its copy
    assert pio.to_json(frozen, validate=False) == expected


def test_call_key_reads_arguments_by_value():
    def build(*args, **kwargs):
        return None

    a = np.arange(6.0).reshape(2, 3)
    key = shared.call_key(build, (a, "fr"), {"height": 300})
    assert shared.call_key(build, (a.copy(), "fr"), {"height": 300}) == key  # same content, another array
    assert shared.call_key(build, (a.T.copy().T, "fr"), {"height": 300}) == key  # another memory layout
    others = [((a.reshape(3, 2), "fr"), {"height": 300}), ((a.astype(np.float32), "fr"), {"height": 300}),
              ((a, "en"), {"height": 300}), ((a, "fr"), {"height": 300.0}), ((a, "fr"), {"height": True}),
              ((a, "fr"), {"width": 300}), ((a, ["fr"]), {"height": 300}), ((a, ("fr",)), {"height": 300})]
    assert len({key, *(shared.call_key(build, args, kw) for args, kw in others)}) == len(others) + 1
    assert shared.call_key(print, (a, "fr"), {"height": 300}) != key  # another builder
    with pytest.raises(TypeError):
        shared.call_key(build, (object(),), {})


def test_figure_cache_keeps_a_size_and_builds_a_key_once():
    import threading
    import time

    import plotly.graph_objects as go

    def bar(n: int, wait: float = 0.0):
        time.sleep(wait)
        return go.Figure(go.Bar(y=np.arange(n, dtype=float)))

    one = shared.built_figure(bar, (1000,), {}).nbytes  # ~ 8 kB of JSON (base64 of 1000 floats)
    cache = shared.FigureCache(max_bytes=int(3.5 * one))
    calls = lambda: shared.CALLS["figure:bar"]  # noqa: E731
    start = calls()
    figs = [cache.get(f"k{i}", bar, (1000,), {}) for i in range(3)]
    assert calls() - start == 3 and len(cache) == 3 and cache.nbytes <= cache.max_bytes
    assert cache.get("k0", bar, (1000,), {}) is figs[0] and calls() - start == 3  # a hit; k0 now the most recent
    cache.get("k3", bar, (1000,), {})  # over the size: the least recently used (k1) goes
    assert len(cache) == 3 and cache.get("k0", bar, (1000,), {}) is figs[0] and calls() - start == 4
    cache.get("k1", bar, (1000,), {})
    assert calls() - start == 5  # k1 was dropped: built again

    got = []
    threads = [threading.Thread(target=lambda: got.append(cache.get("slow", bar, (10, 0.3), {}))) for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert calls() - start == 6 and len({id(f) for f in got}) == 1  # eight sessions at once, one build


def test_a_shared_figure_is_styled_once_per_kind_of_reader():
    """FrozenFigure.styled: the same object for readers who see the same figure (any desktop size; a presenter
    view at the same height and share), another one for another language, the presenter view, a phone; each the
    figure figstyle.style makes, and the shared figure left as it was."""
    import plotly.io as pio

    from cnnviz.figstyle import View, style
    from cnnviz.figures_explain import clickable_map_figure

    fig = shared.FrozenFigure.of(clickable_map_figure(np.arange(12.0).reshape(3, 4) - 5, "fr", "t"))
    before = pio.to_json(fig, validate=False)
    made = lambda: shared.CALLS["styled"]  # noqa: E731
    start = made()
    desk = fig.styled("fr", View(width=1280, height=800))
    assert fig.styled("fr", View(width=1920, height=1080)) is desk and fig.styled("fr", View()) is desk
    assert made() - start == 1
    assert desk.to_dict() == style(fig.to_dict(), "fr", View(width=1280, height=800))
    english = fig.styled("en", View(width=1280, height=800))
    assert english is not desk and english.to_dict()["layout"]["separators"] != desk.to_dict()["layout"]["separators"]
    projector = fig.styled("fr", View(present=True, width=1280, height=720), 0.6)
    assert projector is not desk and fig.styled("fr", View(present=True, width=1920, height=720), 0.6) is projector
    assert fig.styled("fr", View(present=True, width=1280, height=720), 0.75) is not projector  # another share
    assert fig.styled("fr", View(width=1280, height=800), 0.75) is desk  # a share means nothing off the projector
    assert fig.styled("fr", View(width=390, height=844)) is not desk  # a phone
    assert made() - start == 5
    assert pio.to_json(fig, validate=False) == before
    for i in range(shared.FrozenFigure.MAX_STYLES + 4):  # bounded: the least recently used go
        fig.styled("fr", View(width=300 + i, height=800))
    assert len(fig._styles) == shared.FrozenFigure.MAX_STYLES


def test_a_view_opened_again_styles_nothing(calls):
    """A second student on a view, and a rerun, get the styled charts the first one made: no styling per run."""
    first = link("convolution", step=4)
    styled = calls("styled")
    assert styled > 0
    second = link("convolution", step=4)
    second.run()
    assert calls("styled") == styled
    assert chart(first, "conv_fig") == chart(second, "conv_fig")
    link("convolution", step=4, lang="fr")  # another language: its own styled figures
    assert calls("styled") > styled


def mosaics(at: AppTest) -> list[str]:
    """The stages whose mosaic a Feature-maps run sent."""
    return [el.proto.id.rsplit("fm_mosaic_", 1)[1].split("-")[0] for el in at.get("plotly_chart")
            if "fm_mosaic_" in el.proto.id]


def test_only_the_open_tab_of_mosaics_is_built(calls):
    """Feature maps: the mosaics of the conv blocks whose tab is closed are neither built nor sent; opening a tab
    builds that block's, once for the class."""
    at = link("feature_maps", idx=5)
    assert [tab.label for tab in at.tabs][:3] == ["conv1", "conv2", "conv3"]
    assert mosaics(at) == ["conv1", "bn1", "relu1", "pool1"] and calls("stage_mosaics") == 1
    at.session_state["fm_stages_tab"] = "conv2"  # the student opens conv2's tab
    at.run()
    assert mosaics(at) == ["conv2", "bn2", "relu2", "pool2"] and calls("stage_mosaics") == 2
    other = link("feature_maps", idx=5)
    other.session_state["fm_stages_tab"] = "conv2"
    other.run()
    assert calls("stage_mosaics") == 2  # another student on that tab: built already


def test_a_folded_check_yourself_box_builds_nothing(calls):
    """The "Check yourself" box is folded: its question's grids are built only once a student opens it."""
    from ui.exercise_view import box_key

    at = link("convolution", step=4)
    assert calls("figure:grid_figure") == 0
    assert not [w for w in at.text_input if w.key.startswith("cy_convolution")]
    at.session_state[box_key("convolution")] = True
    at.run()
    assert calls("figure:grid_figure") > 0 and [w for w in at.text_input if w.key.startswith("cy_convolution")]
