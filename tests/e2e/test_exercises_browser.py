"""The Exercises screen in a real headless Chromium: a seeded link in English and in French, an answer typed with
the French decimal comma, the solution's link, a phone and the presenter view (screenshots of each)."""

import pytest

from cnnviz.exercises import make_exercise
from tests.e2e.conftest import no_exception, screenshot, wait_ready

pytestmark = pytest.mark.e2e


def first_avg_seed() -> int:
    return next(s for s in range(500) if make_exercise("pool_cell", s).data["mode"] == "avg"
                and not float(make_exercise("pool_cell", s).answer).is_integer())


def answer_and_check(page, typed: str, check: str) -> None:
    field = page.get_by_test_id("stTextInput").locator("input").first
    field.fill(typed)
    page.get_by_role("button", name=check).first.click()
    wait_ready(page)


@pytest.mark.parametrize("lang, check, right", [("en", "Check", "Right"), ("fr", "Vérifier", "Exact")])
def test_a_seeded_exercise_answered_in_the_readers_notation(server, page, lang, check, right):
    ex = make_exercise("conv_cell", 17)
    page.goto(f"{server}/exercises?kind=conv_cell&seed=17&lang={lang}")
    wait_ready(page)
    no_exception(page)
    page.get_by_test_id("stPlotlyChart").nth(2).wait_for(state="visible")  # input, kernel, output with its "?"
    screenshot(page, "exercises" if lang == "en" else "fr/exercises")
    answer_and_check(page, ex.answer_text(lang), check)
    page.get_by_test_id("stAlertContentSuccess").filter(has_text=right).wait_for()
    screenshot(page, "exercises_solved" if lang == "en" else "fr/exercises_solved")
    page.get_by_test_id("stPageLink").first.click()  # the solution's link: the Convolution screen on that cell
    wait_ready(page)
    no_exception(page)
    assert "/convolution" in page.url
    assert page.get_by_test_id("stCode").first.inner_text().strip().endswith(f"= {ex.answer_text('en')}")


def test_french_decimal_comma_on_a_phone(server, browser):
    seed = first_avg_seed()
    ex = make_exercise("pool_cell", seed)
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(f"{server}/exercises?kind=pool_cell&seed={seed}&lang=fr")
        wait_ready(page)
        answer_and_check(page, f"{ex.answer + 1:.2f}".replace(".", ","), "Vérifier")
        page.get_by_test_id("stAlertContentWarning").wait_for()
        answer_and_check(page, f"{ex.answer:.2f}".replace(".", ","), "Vérifier")
        page.get_by_test_id("stAlertContentSuccess").wait_for()
        no_exception(page)
        screenshot(page, "phone/fr/exercises")
    finally:
        context.close()


def test_presenter_view(server, browser):
    for width, height in ((1920, 1080), (1280, 720)):
        context = browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        page.set_default_timeout(60_000)
        try:
            page.goto(f"{server}/exercises?kind=conv_cell&seed=17&lang=fr&present=1")
            wait_ready(page)
            no_exception(page)
            grid = page.get_by_test_id("stPlotlyChart").first
            grid.wait_for(state="visible")
            page.wait_for_timeout(500)
            page.screenshot(path=str(_shot("presenter/exercises" + ("" if width == 1280 else f"_{width}"))))
            box = grid.bounding_box()  # the question's grids in the projector's viewport
            assert box is not None and box["y"] + box["height"] <= height, (width, box)
        finally:
            context.close()


def _shot(name: str):
    from tests.e2e.conftest import SHOTS

    (SHOTS / name).parent.mkdir(parents=True, exist_ok=True)
    return SHOTS / f"{name}.png"


def test_check_yourself_on_the_convolution_screen(server, page):
    page.goto(f"{server}/convolution?lang=fr")
    wait_ready(page)
    box = page.get_by_test_id("stExpander").filter(has_text="Testez-vous")
    box.get_by_text("Testez-vous").click()
    field = box.get_by_test_id("stTextInput").locator("input")
    field.fill("4")  # the course's first cell: 1×1 + 1×0 + 1×1 + 0×0 + 1×1 + 1×0 + 0×1 + 0×0 + 1×1
    box.get_by_role("button", name="Vérifier").click()
    wait_ready(page)
    box.get_by_test_id("stAlertContentSuccess").wait_for()
    no_exception(page)
    box.scroll_into_view_if_needed()
    page.wait_for_timeout(500)
    box.screenshot(path=str(_shot("fr/check_yourself")))
