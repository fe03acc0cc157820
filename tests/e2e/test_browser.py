"""The whole app in a real headless Chromium: every screen, the key interaction of each, two sessions at once."""

import re

import pytest

from tests.e2e.conftest import no_exception, screenshot, wait_ready

pytestmark = pytest.mark.e2e

SCREENS = {
    "": "home",
    "convolution": "convolution",
    "multichannel": "multichannel",
    "pooling": "pooling",
    "feature_maps": "feature_maps",
    "translation": "translation",
    "training": "training",
    "architecture": "architecture",
}


@pytest.mark.parametrize("path", list(SCREENS))
def test_every_screen_loads(server, page, path):
    page.goto(f"{server}/{path}")
    wait_ready(page)
    no_exception(page)
    if path == "training":  # its chart appears once a training starts (test_training_start_stop)
        page.get_by_role("button", name="Start").wait_for()
    elif path:  # every other screen but home shows its main chart
        page.get_by_test_id("stPlotlyChart").first.wait_for(state="visible")
    screenshot(page, SCREENS[path])


def test_convolution_step(server, page):
    page.goto(f"{server}/convolution")
    wait_ready(page)
    main = page.get_by_test_id("stMain")
    assert "Step 1 of 9" in main.inner_text()
    assert "1×1 + 1×0 + 1×1 + 0×0 + 1×1 + 1×0 + 0×1 + 0×0 + 1×1 = 4" in main.inner_text()
    page.get_by_role("button", name="Next ▶").click()
    page.get_by_text("Step 2 of 9").wait_for()
    wait_ready(page)
    assert "= 3" in page.get_by_test_id("stCode").first.inner_text()  # the seed's second output cell
    no_exception(page)
    screenshot(page, "convolution_step2")
