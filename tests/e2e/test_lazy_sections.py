"""Folded sections built only when opened, in a real headless Chromium: Feature maps' mosaics arrive tab by tab (a
tab switch reruns that part alone), the Convolution screen's "Check yourself" box draws its question once opened."""

import pytest

from tests.e2e.conftest import SHOTS, no_exception, settled_chart, wait_ready

pytestmark = pytest.mark.e2e


def mosaics(page) -> list[str]:
    """The stages whose mosaic the page shows (their chart containers' keys)."""
    keys = page.locator('[class*="st-key-fm_mosaic_"]').evaluate_all(
        "els => els.map(e => [...e.classList].find(c => c.startsWith('st-key-fm_mosaic_')))")
    return [k.removeprefix("st-key-fm_mosaic_") for k in keys]


def test_feature_maps_tabs_bring_their_mosaics(server, page):
    page.goto(f"{server}/feature_maps?lang=fr")
    wait_ready(page)
    no_exception(page)
    settled_chart(page, "fm_mosaic_relu1", 60_000)
    assert mosaics(page) == ["conv1", "bn1", "relu1", "pool1"]  # the open tab's, not the others'
    tabs = page.get_by_role("tab")
    tabs.filter(has_text="conv2").click()
    settled_chart(page, "fm_mosaic_relu2", 60_000)
    wait_ready(page)
    no_exception(page)
    assert mosaics(page) == ["conv2", "bn2", "relu2", "pool2"]
    assert page.get_by_role("tab", selected=True).inner_text() == "conv2"
    block = page.get_by_test_id("stTabs").first
    block.scroll_into_view_if_needed()
    SHOTS.joinpath("fr").mkdir(parents=True, exist_ok=True)
    block.screenshot(path=str(SHOTS / "fr" / "feature_maps_tab_conv2.png"))


def test_check_yourself_box_draws_its_question_once_opened(server, page):
    page.goto(f"{server}/convolution?lang=en")
    wait_ready(page)
    box = page.get_by_test_id("stExpander").filter(has_text="Check yourself")
    assert box.get_by_test_id("stTextInput").count() == 0  # folded: nothing built
    box.get_by_text("Check yourself").click()
    box.get_by_test_id("stTextInput").wait_for()
    wait_ready(page)
    no_exception(page)
    box.scroll_into_view_if_needed()
    box.screenshot(path=str(SHOTS / "en" / "check_yourself_opened.png"))
