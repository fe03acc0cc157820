"""The presenter view at a projector's 1280×720: big text, the main figure of each screen in the viewport."""

import pytest

from tests.e2e.conftest import SHOTS, no_exception, wait_ready

pytestmark = pytest.mark.e2e

MAIN = {"architecture": "stDataFrame"}  # each screen's main element: its first chart, or the layer table
SCREENS = ["approximation", "convolution", "multichannel", "pooling", "feature_maps", "translation", "architecture"]


@pytest.mark.parametrize("path", SCREENS)
def test_the_main_figure_fits_a_projector(server, browser, path):
    ctx = browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        page = ctx.new_page()
        page.set_default_timeout(60_000)
        page.goto(f"{server}/{path}?lang=fr&present=1")
        wait_ready(page)
        no_exception(page)
        main = page.get_by_test_id(MAIN.get(path, "stPlotlyChart")).first
        main.wait_for(state="visible")
        page.wait_for_timeout(500)
        (SHOTS / "presenter").mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "presenter" / f"{path}.png"))  # the viewport, as a projector shows it
        box = main.bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 720, (path, box)
        assert box["x"] < 150, (path, box)  # the sidebar is folded: the main block starts at the left edge
        size = page.evaluate("""() => parseFloat(getComputedStyle(
            document.querySelector('[data-testid="stMain"] [data-testid="stMarkdownContainer"] p')
            || document.querySelector('[data-testid="stMain"]')).fontSize)""")
        assert size >= 20, (path, size)
    finally:
        ctx.close()
