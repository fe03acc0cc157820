"""Issue 24 in a real browser: the image a channel wants beside its top-9 (a regulariser switched off, the mosaic
of a stage computed in the background and clicked), a class's image, and "Scramble the weights" beside
Grad-CAM; screenshots of each view in English and French, in the presenter view and on a phone."""

import re

import pytest

from tests.e2e.conftest import SHOTS, no_exception, settled_chart, wait_ready

pytestmark = pytest.mark.e2e


def section_shot(page, heading: str, name: str, key: str | None = None) -> None:
    """The view from `heading` (or from chart `key`) down, as the reader sees it: the viewport, the page above
    scrolled away."""
    if key:
        page.locator(f".st-key-{key}").scroll_into_view_if_needed()
        page.evaluate("(k) => document.querySelector(`.st-key-${k}`).scrollIntoView({block: 'start'})", key)
    else:
        page.evaluate("""(h) => { const el = [...document.querySelectorAll('h2, h3')]
            .find(e => e.innerText.includes(h)); if (el) el.scrollIntoView({block: 'start'}); }""", heading)
    page.wait_for_timeout(800)
    (SHOTS / "learned").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "learned" / f"{name}.png"))


def main_text(page) -> str:
    return page.get_by_test_id("stMain").inner_text()


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_the_image_a_channel_wants_beside_its_top9(server, page, lang):
    page.goto(f"{server}/feature_maps?lang={lang}&stage=relu3&channel=5&wants=1")
    wait_ready(page, 240_000)
    settled_chart(page, "fm_wanted_fig")
    settled_chart(page, "fm_top9_fig")
    no_exception(page)
    words = {"en": "higher than on each of the 10,000 test images", "fr": "plus que sur chacune des 10"}[lang]
    assert words in main_text(page)
    heading = {"en": "What excites relu3, channel 5", "fr": "Qu'est-ce qui excite relu3, canal 5"}[lang]
    section_shot(page, heading, f"wants_{lang}")
    page.get_by_text({"en": "Total variation", "fr": "Variation totale"}[lang], exact=True).click()
    wait_ready(page, 240_000)
    page.get_by_text({"en": "Some regularisers are off", "fr": "Certaines régularisations"}[lang]).wait_for()
    assert "tv=0" in page.url
    no_exception(page)
    section_shot(page, heading, f"wants_no_tv_{lang}")


def test_a_stage_mosaic_in_the_background_then_a_tile_clicked(server, page):
    page.goto(f"{server}/feature_maps?lang=en&stage=relu1&channel=3&wants=1&steps=128")
    wait_ready(page, 240_000)
    page.get_by_text("Every channel of relu1 (32), computed in the background").click()
    page.get_by_text(re.compile(r"Gradient ascent: \d+ of 32 done")).wait_for()  # the progress bar, polled
    settled_chart(page, "fm_wants_mosaic")
    wait_ready(page)
    no_exception(page)
    assert "mosaic=1" in page.url
    section_shot(page, "", "mosaic_en", key="fm_wants_mosaic")
    box = settled_chart(page, "fm_wants_mosaic").bounding_box()
    fig = page.evaluate("""() => { const gd = document.querySelector('.st-key-fm_wants_mosaic .js-plotly-plot');
        const xa = gd._fullLayout.xaxis, ya = gd._fullLayout.yaxis;
        return [xa._offset + xa.l2p(30 * 7 + 14), ya._offset + ya.l2p(14)]; }""")  # tile 7 (row 0): 28 px + 2 gap
    page.mouse.move(box["x"] + fig[0], box["y"] + fig[1])
    page.wait_for_timeout(300)
    page.mouse.click(box["x"] + fig[0], box["y"] + fig[1])
    page.get_by_text("What excites relu1, channel 7").wait_for()
    wait_ready(page, 240_000)
    assert "channel=7" in page.url
    no_exception(page)


def test_the_image_a_class_wants(server, page):
    page.goto(f"{server}/feature_maps?lang=fr&wants=1&wants_of=class&wants_class=7&mosaic=1&steps=128")
    wait_ready(page, 240_000)
    settled_chart(page, "fm_wanted_fig")
    settled_chart(page, "fm_wants_mosaic", 240_000)
    wait_ready(page)
    no_exception(page)
    assert "le logit de la classe Basket" in main_text(page)
    section_shot(page, "Qu'est-ce qui excite", "class_fr")
    section_shot(page, "", "class_mosaic_fr", key="fm_wants_mosaic")


@pytest.mark.parametrize("lang", ["en", "fr"])
def test_scramble_the_weights_next_to_grad_cam(server, page, lang):
    page.goto(f"{server}/feature_maps?lang={lang}&gradcam=1&scramble=1")
    wait_ready(page, 240_000)
    settled_chart(page, "fm_scramble_maps")
    settled_chart(page, "fm_scramble_rho")
    no_exception(page)
    text = main_text(page)
    assert {"en": "What to conclude.", "fr": "Ce qu'il faut en conclure."}[lang] in text
    section_shot(page, "Grad-CAM", f"scramble_{lang}")
    section_shot(page, "", f"scramble_rho_{lang}", key="fm_scramble_maps")


def test_presenter_and_phone(browser, server):
    for name, viewport in (("presenter_1280", {"width": 1280, "height": 720}),
                           ("presenter_1920", {"width": 1920, "height": 1080}), ("phone", {"width": 390, "height": 844})):
        context = browser.new_context(viewport=viewport)
        page = context.new_page()
        page.set_default_timeout(240_000)
        present = "&present=1" if name.startswith("presenter") else ""
        page.goto(f"{server}/feature_maps?lang=fr&stage=relu3&channel=5&wants=1{present}")
        wait_ready(page, 240_000)
        settled_chart(page, "fm_wanted_fig")
        no_exception(page)
        section_shot(page, "Qu'est-ce qui excite relu3", f"wants_{name}")
        page.goto(f"{server}/feature_maps?lang=en&gradcam=1&scramble=1{present}")
        wait_ready(page, 240_000)
        settled_chart(page, "fm_scramble_rho")
        no_exception(page)
        section_shot(page, "Grad-CAM", f"scramble_{name}")
        context.close()


def train_in_browser(page, server, lang: str, lr: str) -> None:
    """A small training started on the Training screen, waited for until its timeline shows."""
    page.goto(f"{server}/training?lang={lang}&subset=1500&epochs=1&val=20&lr={lr}")
    wait_ready(page)
    page.locator(".st-key-train_start button").click()
    page.locator(".st-key-train_moment").wait_for(timeout=300_000)  # the job ended, saved, and its timeline shows
    wait_ready(page, 120_000)
    no_exception(page)


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_scrub_through_a_training_beside_another(browser, server, lang):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(120_000)
    train_in_browser(page, server, lang, "0.001")  # the slide's learning rate
    page.locator(".st-key-train_reset button").click()
    wait_ready(page)
    train_in_browser(page, server, lang, "0.1")
    title = {"en": "Scrub through the training", "fr": "Revoir l'entraînement pas à pas"}[lang]
    section_shot(page, title, f"timeline_{lang}")
    box = page.locator(".st-key-train_scrub_with")
    box.click()
    options = page.get_by_role("option")
    options.nth(1).click()  # the other run (the first option is "no other run")
    wait_ready(page, 120_000)
    settled_chart(page, "train_timeline_1_confusion")
    slider = page.locator(".st-key-train_moment input[type=range]")
    slider.focus()
    page.keyboard.press("Home")  # the first moment: before any step
    wait_ready(page, 120_000)
    assert "moment=0" in page.url
    no_exception(page)
    section_shot(page, title, f"timeline_start_two_runs_{lang}")
    page.keyboard.press("End")
    wait_ready(page, 120_000)
    section_shot(page, "", f"timeline_end_two_runs_{lang}", key="train_timeline_accuracy")
    context.close()
