"""The whole app in a real headless Chromium: every screen, the key interaction of each, two sessions at once."""

import re
from urllib.parse import urlsplit

import pytest

from tests.e2e.conftest import no_exception, screenshot, wait_ready

pytestmark = pytest.mark.e2e

SCREENS = {
    "": "home",
    "approximation": "approximation",
    "convolution": "convolution",
    "multichannel": "multichannel",
    "pooling": "pooling",
    "feature_maps": "feature_maps",
    "translation": "translation",
    "training": "training",
    "architecture": "architecture",
}


@pytest.mark.parametrize("lang", ["en", "fr"])
@pytest.mark.parametrize("path", list(SCREENS))
def test_every_screen_loads(server, page, path, lang):
    page.goto(f"{server}/{path}?lang={lang}")
    wait_ready(page)
    no_exception(page)
    if path == "training":  # its chart appears once a training starts (test_training_start_stop)
        page.get_by_role("button", name="Start" if lang == "en" else "Démarrer", exact=True).wait_for()
    elif path:  # every other screen but home shows its main chart
        page.get_by_test_id("stPlotlyChart").first.wait_for(state="visible")
    screenshot(page, SCREENS[path] if lang == "en" else f"fr/{SCREENS[path]}")


def test_convolution_step(server, page):
    page.goto(f"{server}/convolution?lang=en")
    wait_ready(page)
    main = page.get_by_test_id("stMain")
    assert "Step 1 of 9" in main.inner_text()
    code = page.get_by_test_id("stCode").first
    assert "1×1 + 1×0 + 1×1 + 0×0 + 1×1 + 1×0 + 0×1 + 0×0 + 1×1 = 4" in code.inner_text()
    page.get_by_role("button", name="Next ▶").click()
    page.get_by_text("Step 2 of 9").wait_for()
    wait_ready(page)
    assert "= 3" in page.get_by_test_id("stCode").first.inner_text()  # the seed's second output cell
    no_exception(page)
    screenshot(page, "convolution_step2")


def main_text(page) -> str:
    return page.get_by_test_id("stMain").inner_text()


def set_number(page, label: str, value) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")


def test_feature_maps_change_image(server, page):
    page.goto(f"{server}/feature_maps?lang=en")
    wait_ready(page)
    page.get_by_text("Prediction: Ankle boot").wait_for()
    set_number(page, "Image number (0–9,999)", 1)  # test image 1 is a pullover
    page.get_by_text("Prediction: Pullover").wait_for()
    wait_ready(page)
    no_exception(page)
    assert page.get_by_test_id("stPlotlyChart").count() >= 6  # input, probabilities, mosaics, large map, kernel


def test_translation_shift(server, page):
    page.goto(f"{server}/translation?lang=en")
    wait_ready(page)
    page.get_by_text("Shifted (2, 0)").wait_for()
    slider = page.get_by_role("slider").first  # dx
    slider.focus()
    slider.press("ArrowRight")
    page.get_by_text("Shifted (3, 0)").wait_for()
    wait_ready(page)
    no_exception(page)
    screenshot(page, "translation_shifted")


def test_bad_upload_shows_a_message(server, page, tmp_path):
    bad = tmp_path / "notes.png"
    bad.write_text("this is not an image\n" * 20)
    page.goto(f"{server}/feature_maps?lang=en")
    wait_ready(page)
    page.get_by_text("Upload", exact=True).click()
    wait_ready(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(str(bad))
    page.get_by_text("is not a PNG, JPEG, GIF, BMP or WebP image").wait_for()
    no_exception(page)


def start_training(page, server):
    page.goto(f"{server}/training?lang=en")
    wait_ready(page)
    set_number(page, "Training images (0 = all)", 4000)
    wait_ready(page)
    page.get_by_role("button", name="Start", exact=True).click()
    page.get_by_text("Training loss").first.wait_for()


def batches_done(page) -> int:
    m = re.search(r"(\d+)/(\d+) batches", main_text(page))
    return int(m.group(1)) if m else -1


def test_training_start_stop(server, page):
    start_training(page, server)
    assert "4000" in page.get_by_label("Training images (0 = all)", exact=True).input_value()
    assert page.get_by_label("Learning rate γ", exact=True).input_value() == "0.05"
    first = batches_done(page)
    page.wait_for_timeout(2500)
    assert batches_done(page) > first  # the live chart keeps growing
    page.get_by_role("button", name="Stop", exact=True).click()
    page.get_by_text("Confusion matrix").first.wait_for(timeout=90_000)
    page.get_by_text("Classification report").first.wait_for()
    wait_ready(page)
    no_exception(page)
    screenshot(page, "training_report")
    accuracy = re.search(r"Test accuracy\s+([\d.]+%)", main_text(page)).group(1)
    page.get_by_role("button", name="Inspect").first.click()  # a misclassified image
    page.get_by_text("Prediction:").first.wait_for()
    wait_ready(page)
    assert urlsplit(page.url).path == "/feature_maps"
    assert f"test accuracy {accuracy}" in page.get_by_test_id("stSidebar").inner_text()  # the run just trained
    no_exception(page)


def test_two_sessions_at_once(server, browser):
    """One session trains while another browses feature maps: both keep working."""
    ctx_a, ctx_b = browser.new_context(viewport={"width": 1400, "height": 1000}), browser.new_context(
        viewport={"width": 1400, "height": 1000})
    a, b = ctx_a.new_page(), ctx_b.new_page()
    for p in (a, b):
        p.set_default_timeout(60_000)
    try:
        start_training(a, server)
        b.goto(f"{server}/feature_maps?lang=en")
        wait_ready(b)
        set_number(b, "Image number (0–9,999)", 2)  # a trouser
        b.get_by_text("Prediction: Trouser").wait_for()
        no_exception(b)
        before = batches_done(a)
        a.wait_for_timeout(1500)
        assert batches_done(a) > before  # still training meanwhile
        a.get_by_role("button", name="Stop", exact=True).click()
        a.get_by_text("Confusion matrix").first.wait_for(timeout=90_000)
        no_exception(a)
    finally:
        ctx_a.close()
        ctx_b.close()
