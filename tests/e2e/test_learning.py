""""How the network learns" in a real headless Chromium: its four parts in French and English, the link to
Training with the toy's settings, and the presenter view at 1920×1080 and 1280×720 (screenshots in SHOTS)."""

import pytest

from tests.e2e.conftest import SHOTS, no_exception, screenshot, wait_ready

pytestmark = pytest.mark.e2e

PARTS = ("cost", "batches", "landscape", "momentum")
TITLE = {"en": "How the network learns", "fr": "Comment le réseau apprend"}
EXPECTED = {  # a text each part shows once its figures are computed
    ("en", "cost"): "Cross-entropy", ("fr", "cost"): "Entropie croisée",
    ("en", "batches"): "fitted slope", ("fr", "batches"): "pente ajustée",
    ("en", "landscape"): "At α = 0", ("fr", "landscape"): "En α = 0",
    ("en", "momentum"): "optim.SGD", ("fr", "momentum"): "optim.SGD",
}


@pytest.mark.parametrize("lang", ["en", "fr"])
@pytest.mark.parametrize("part", PARTS)
def test_each_part_draws_its_figures(server, page, lang, part):
    page.goto(f"{server}/learning?lang={lang}&part={part}")
    wait_ready(page, timeout=240_000)  # a fresh server computes the study and the landscape once
    no_exception(page)
    main = page.get_by_test_id("stMain")
    assert TITLE[lang] in main.locator("h1").first.inner_text()
    page.get_by_text(EXPECTED[lang, part]).first.wait_for(timeout=240_000)
    charts = page.get_by_test_id("stPlotlyChart")
    charts.nth(1).wait_for(state="visible", timeout=120_000)  # two figures at least, drawn by plotly
    page.locator(".js-plotly-plot .main-svg").nth(1).wait_for(timeout=120_000)
    screenshot(page, f"learning_{part}" if lang == "en" else f"fr/learning_{part}")


def test_the_training_link_carries_the_toys_settings(server, page):
    page.goto(f"{server}/learning?lang=en&part=momentum&lr=0.002&momentum=0.5")
    wait_ready(page)
    link = page.get_by_role("link", name="Train the network with this learning rate and momentum")
    href = link.get_attribute("href")
    assert "lr=0.002" in href and "momentum=0.5" in href
    link.click()
    page.wait_for_url("**/training**")
    wait_ready(page)
    no_exception(page)
    assert page.get_by_label("Learning rate", exact=False).first.input_value() in ("0.002", "0.0020")


@pytest.mark.parametrize("width, height", [(1920, 1080), (1280, 720)])
@pytest.mark.parametrize("part", PARTS)
def test_presenter_view(server, browser, part, width, height):
    ctx = browser.new_context(viewport={"width": width, "height": height})
    try:
        page = ctx.new_page()
        page.set_default_timeout(240_000)
        page.goto(f"{server}/learning?lang=fr&present=1&part={part}")
        wait_ready(page, timeout=240_000)
        no_exception(page)
        main = page.get_by_test_id("stPlotlyChart").first
        main.wait_for(state="visible")
        page.wait_for_timeout(500)
        (SHOTS / "presenter").mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "presenter" / f"learning_{part}_{width}.png"))  # what a projector shows
        box = main.bounding_box()
        assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= height, (part, box)
        ticks = page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot .xtick text')]
            .map(e => parseFloat(getComputedStyle(e).fontSize))""")
        assert ticks and min(ticks) >= 18, (part, ticks)  # axis labels a class can read
    finally:
        ctx.close()
