"""Accessibility in a real Chromium: axe-core (pip axe-playwright-python bundles it) on every screen in both
languages and in the presenter view, and the keyboard.

axe's serious and critical violations fail the test, except the ones that are Streamlit's own markup, listed in
STREAMLIT_OWN with their upstream issue (nothing an app can change; each is matched on the exact element, so
the same rule on one of ours still fails). Keyboard: the folded sidebar takes no focus; the step controls, the
unit to explain (its row and column fields and "Explain", shortcut E) are reached and worked with keys only;
every chart has a text alternative in the reader's language."""

import pytest

import ui.screens
from tests.e2e.conftest import no_exception, wait_ready
from tests.e2e.test_presenter import settle

pytestmark = pytest.mark.e2e

SCREENS = ["" if s.id == "home" else s.id for s in ui.screens.SCREENS]  # every screen of the registry
# (rule id, CSS selector of the element it is about) -> why it is not ours
STREAMLIT_OWN = {
    # The sidebar's navigation: <ul data-testid="stSidebarNavItems"> holds each section as a <div> (its header,
    # then its <li>s), so the <ul> has <div> children and the <li>s a <div> parent. Streamlit's markup
    # (streamlit/streamlit#8399, "Basic accessibility web features", open).
    ("list", '[data-testid="stSidebarNavItems"]'): "streamlit/streamlit#8399",
    ("listitem", '[data-testid="stSidebarNavItems"] li'): "streamlit/streamlit#8399",
}
SERIOUS = {"serious", "critical"}


def ours(page, violation: dict) -> list:
    """The nodes of a violation that are not Streamlit's own markup (STREAMLIT_OWN)."""
    left = []
    for node in violation["nodes"]:
        selector = node["target"][0] if node["target"] else ""
        own = [css for (rule, css) in STREAMLIT_OWN if rule == violation["id"]]
        if own and selector and page.evaluate("([sel, owns]) => { const e = document.querySelector(sel);"
                                              " return !!e && owns.some(o => e.matches(o)); }", [selector, own]):
            continue
        left.append((selector, node.get("failureSummary", "")[:200]))
    return left


@pytest.fixture(scope="module")
def axe():
    from axe_playwright_python.sync_playwright import Axe

    return Axe()


@pytest.mark.parametrize("lang", ["en", "fr"])
@pytest.mark.parametrize("path", SCREENS)
def test_axe_finds_nothing_serious_of_ours(server, page, axe, path, lang):
    page.goto(f"{server}/{path}?lang={lang}")
    settle(page)
    no_exception(page)
    results = axe.run(page).response
    problems = {v["id"]: ours(page, v) for v in results["violations"] if v["impact"] in SERIOUS}
    problems = {k: v for k, v in problems.items() if v}
    assert not problems, problems


@pytest.mark.parametrize("path", ["convolution", "feature_maps?cls=7&stage=relu2&channel=5&ex_stage=conv2&ex_ch=5"
                                                  "&ex_row=6&ex_col=7", "architecture", "training"])
def test_axe_in_the_presenter_view(server, browser, axe, path):
    ctx = browser.new_context(viewport={"width": 1280, "height": 720})
    try:
        page = ctx.new_page()
        page.set_default_timeout(90_000)
        page.goto(f"{server}/{path}{'&' if '?' in path else '?'}lang=fr&present=1")
        settle(page)
        results = axe.run(page).response
        problems = {v["id"]: ours(page, v) for v in results["violations"] if v["impact"] in SERIOUS}
        assert not {k: v for k, v in problems.items() if v}, problems
    finally:
        ctx.close()


def test_every_chart_has_a_text_alternative_in_the_reader_s_language(server, page):
    page.goto(f"{server}/convolution?lang=fr")
    settle(page)
    labels = page.evaluate("() => [...document.querySelectorAll('[data-testid=stPlotlyChart]')]"
                           ".map(e => [e.getAttribute('role'), e.getAttribute('aria-label')])")
    assert labels and all(role == "figure" and (label or "").startswith("Graphique\u00a0:") for role, label in labels)
    assert "Entrée 5×5" in labels[0][1] and "Sortie 3×3" in labels[0][1]


def focused(page) -> dict:
    return page.evaluate("""() => { const e = document.activeElement;
        return {sidebar: !!e.closest('[data-testid=stSidebar]'), tag: e.tagName, text: (e.innerText || '').trim(),
                label: e.getAttribute('aria-label') || '', key: (e.closest('[class*=st-key-]') || {}).className || ''}; }""")


def tab_until(page, match, limit: int = 120) -> list:
    """Press Tab until `match(focused)`; every stop on the way."""
    stops = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        f = focused(page)
        stops.append(f)
        if match(f):
            return stops
    raise AssertionError(f"not reached with Tab: {stops[-10:]}")


def test_no_focus_stops_in_the_folded_sidebar_and_the_steps_work_with_keys(server, browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 720})
    page = ctx.new_page()
    page.set_default_timeout(90_000)
    try:
        page.goto(f"{server}/convolution?lang=fr&present=1")
        settle(page)
        page.locator("h1").first.click()  # start from the page, as a reader would
        stops = tab_until(page, lambda f: "Suivant" in f["text"])
        assert not any(s["sidebar"] for s in stops), [s for s in stops if s["sidebar"]]
        page.keyboard.press("Enter")  # "Next" with the keyboard
        page.get_by_text("Étape 2 sur 9").wait_for()
        settle(page, 800)
        tab_until(page, lambda f: "conv_step" in f["key"] and f["label"] == "Étape")  # the step slider
        page.keyboard.press("End")  # the slider: the last output cell
        page.get_by_text("Étape 9 sur 9").wait_for()
        settle(page, 800)
        page.locator("h1").first.click()  # and the step shortcut (←), anywhere on the page
        page.keyboard.press("ArrowLeft")
        page.get_by_text("Étape 8 sur 9").wait_for()
        no_exception(page)
    finally:
        ctx.close()


def test_the_unit_to_explain_is_chosen_with_the_keyboard(server, page):
    page.goto(f"{server}/feature_maps?lang=fr&cls=7&idx=0&stage=relu2&channel=5")
    settle(page)
    page.locator("h1").first.click()
    tab_until(page, lambda f: f["tag"] == "INPUT" and "fm_cell_row" in f["key"])
    page.keyboard.press("Control+A")
    page.keyboard.type("3")
    page.keyboard.press("Tab")  # the value is taken, the focus goes on
    settle(page, 800)
    tab_until(page, lambda f: f["tag"] == "INPUT" and "fm_cell_col" in f["key"])
    page.keyboard.press("Control+A")
    page.keyboard.type("4")
    page.keyboard.press("Enter")
    settle(page, 800)
    page.locator("h1").first.click()  # the shortcut works from anywhere on the page
    page.keyboard.press("e")
    page.get_by_text("relu2, canal 5, ligne 3, colonne 4").first.wait_for()
    wait_ready(page)
    assert "ex_row=3" in page.url and "ex_col=4" in page.url
    no_exception(page)
