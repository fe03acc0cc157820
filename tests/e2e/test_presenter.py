"""The presenter view on a projector, measured in a real Chromium at 1280×720 and 1920×1080, on every step of the
lecture path (ui.screens.LECTURE_PATH, the links the home page gives):

- every number drawn inside a figure is at least 3 % of the screen's height (its font size and its drawn box,
  read from the SVG), and figures grow with the screen;
- what the step is about is on screen without scrolling at 1280×720;
- no chart toolbar (it covered titles), "Next in the lecture" leads through the steps, and the presenter view
  survives every way of changing screen.

Screenshots: docs/screenshots/presenter/720/ and presenter/1080/ (`make screenshots`)."""

import re
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from tests.e2e.conftest import SHOTS, no_exception, wait_ready
from ui.screens import BY_ID, LECTURE_PATH, query_for

pytestmark = pytest.mark.e2e

SIZES = [(1280, 720), (1920, 1080)]
STEPS = [screen for _, screen, _ in LECTURE_PATH]
VALUES = {screen: values for _, screen, values in LECTURE_PATH}

# Every text of the figures that shows a digit: its text, its computed font size and its drawn height (px). The
# hover labels (shown on demand) are left out; everything else drawn in a chart's SVG counts.
FIGURE_NUMBERS = """() => [...document.querySelectorAll('[data-testid=stPlotlyChart] svg.main-svg text')]
    .filter(t => !t.closest('.hoverlayer') && /[0-9]/.test(t.textContent))
    .filter(t => { const s = getComputedStyle(t); return s.display !== 'none' && s.visibility !== 'hidden'
                                                         && t.getBoundingClientRect().width > 0; })
    .map(t => [t.textContent, parseFloat(getComputedStyle(t).fontSize), t.getBoundingClientRect().height])"""


def lecture_url(server: str, screen: str, lang: str = "fr") -> str:
    query = {**query_for(screen, lang, **VALUES[screen]), "present": "1"}
    return f"{server}/{screen}?{urlencode(query)}"


# Every chart drawn for this window: cnnviz.figstyle writes the view it styled for in layout.meta (the browser's
# size reaches the server after the first run, which then runs again with figures sized for it).
CHARTS_FOR_THIS_WINDOW = """() => {
    const charts = [...document.querySelectorAll('.stPrintGraphic')];  // a chart's place, before plotly draws it
    const present = new URLSearchParams(location.search).get('present') === '1';
    return charts.every(chart => { const gd = chart.querySelector('.js-plotly-plot');
        const v = gd && (((gd.layout || {}).meta || {}).cnnviz || {}).view;
        return !!v && v.narrow === (window.innerWidth < 640) && v.present === present
            && (!present || v.height === window.innerHeight); }); }"""


def settle(page, quiet_ms: int = 1500) -> None:
    """The app idle for `quiet_ms` with the same charts drawn, every one for this window's size (a rerun mounts
    its charts anew: for a moment there are none)."""
    count = "() => document.querySelectorAll('.stPrintGraphic .js-plotly-plot').length"
    for _ in range(30):
        wait_ready(page)
        page.wait_for_function(CHARTS_FOR_THIS_WINDOW, timeout=60_000)
        before = page.evaluate(count)
        page.wait_for_timeout(quiet_ms)
        if (not page.locator('[data-testid="stStatusWidget"], [data-stale="true"]').count()
                and page.evaluate(count) == before and page.evaluate(CHARTS_FOR_THIS_WINDOW)):
            return


def in_view(page, locator, height: int) -> dict:
    box = locator.bounding_box()
    assert box is not None, locator
    assert box["y"] >= 0 and box["y"] + box["height"] <= height + 1, (locator, box)
    return box


@pytest.fixture
def projector(browser, request):
    """A page of the given size (the test's `size` parameter)."""
    width, height = request.param
    ctx = browser.new_context(viewport={"width": width, "height": height})
    page = ctx.new_page()
    page.set_default_timeout(90_000)
    yield page, width, height
    ctx.close()


@pytest.mark.parametrize("projector", SIZES, indirect=True, ids=["720p", "1080p"])
@pytest.mark.parametrize("screen", STEPS)
def test_numbers_in_figures_are_three_percent_of_the_screen(server, projector, screen):
    page, width, height = projector
    page.goto(lecture_url(server, screen))
    settle(page)
    no_exception(page)
    assert page.evaluate("() => window.innerHeight") == height
    folder = SHOTS / "presenter" / str(height)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{screen}.png"))  # the viewport, as the projector shows it
    numbers = page.evaluate(FIGURE_NUMBERS)
    if screen != "training":  # Training's charts come with a training (or saved runs); its numbers are text
        assert numbers, "no number drawn in the figures"
    small = [(text, size, round(drawn, 1)) for text, size, drawn in numbers
             if size < 0.03 * height or drawn < 0.03 * height]
    assert not small, small[:8]
    body = page.evaluate("""() => parseFloat(getComputedStyle(document.querySelector(
        '[data-testid="stMain"] [data-testid="stMarkdownContainer"] p')).fontSize)""")
    assert body >= 0.03 * height - 0.5  # the page's text too
    assert page.locator(".modebar").count() == 0  # no toolbar over a title


@pytest.mark.parametrize("screen", ["convolution", "pooling", "feature_maps"])
def test_figures_grow_with_the_screen(server, browser, screen):
    heights = []
    for width, height in SIZES:
        ctx = browser.new_context(viewport={"width": width, "height": height})
        try:
            page = ctx.new_page()
            page.set_default_timeout(90_000)
            page.goto(lecture_url(server, screen))
            settle(page)
            heights.append(page.get_by_test_id("stPlotlyChart").first.bounding_box()["height"])
        finally:
            ctx.close()
    assert heights[1] >= 1.4 * heights[0], heights  # 1080 / 720 = 1.5


# ---------------------------------------------------------------- what a step is about, without scrolling

@pytest.fixture
def p720(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 720})
    page = ctx.new_page()
    page.set_default_timeout(90_000)
    yield page
    ctx.close()


def test_convolution_step_in_view(server, p720):
    p720.goto(lecture_url(server, "convolution"))
    settle(p720)
    in_view(p720, p720.get_by_test_id("stPlotlyChart").first, 720)
    products = p720.get_by_test_id("stCode").filter(has_text="1×1 + 1×0 + 1×1 + 0×0 + 1×1 + 1×0 + 0×1 + 0×0 + 1×1 = 4")
    in_view(p720, products, 720)
    in_view(p720, p720.get_by_role("button", name="Suivant"), 720)
    in_view(p720, next_link(p720), 720)


def test_pooling_step_in_view(server, p720):
    p720.goto(lecture_url(server, "pooling"))
    settle(p720)
    in_view(p720, p720.get_by_test_id("stPlotlyChart").first, 720)
    in_view(p720, p720.get_by_text("max(12, 20, 8, 12) = 20", exact=False), 720)


def test_architecture_todo_answer_in_view(server, p720):
    p720.goto(lecture_url(server, "architecture"))
    settle(p720)
    answer = p720.get_by_test_id("stAlert").filter(has_text="nn.Linear(256 * 46 * 71, 120)")
    in_view(p720, answer, 720)
    assert "836\u202f096" in answer.inner_text()


def test_feature_map_and_its_explanation_in_view(server, p720):
    p720.goto(lecture_url(server, "feature_maps"))
    settle(p720)
    chart = p720.locator(".st-key-fm_big [data-testid=stPlotlyChart]")
    in_view(p720, chart, 720)
    x, y = cell_point(p720, ".st-key-fm_big", 6, 7)
    p720.mouse.click(x, y)
    p720.get_by_text("relu2, canal 5, ligne 6, colonne 7").first.wait_for()
    settle(p720)
    in_view(p720, chart, 720)
    in_view(p720, p720.get_by_text("relu2, canal 5, ligne 6, colonne 7").first, 720)
    in_view(p720, p720.get_by_test_id("stCode").filter(has_text="max(0,"), 720)  # the explanation's formula
    p720.screenshot(path=str(SHOTS / "presenter" / "720" / "feature_maps_explained.png"))


def test_translation_step_in_view(server, p720):
    p720.goto(lecture_url(server, "translation"))
    settle(p720)
    for i in range(2):  # the image and the shifted image, with their predictions
        in_view(p720, p720.get_by_test_id("stPlotlyChart").nth(i), 720)
    in_view(p720, p720.get_by_test_id("stAlert").first, 720)  # "the class changes" (or holds)
    # each shift's value read from the back row: at the text's size, above its thumb and under its label
    boxes = p720.evaluate("""() => [...document.querySelectorAll('[data-testid="stSlider"]')].map(s => {
        const value = s.querySelector('[data-testid="stSliderThumbValue"] p');
        const box = e => e.getBoundingClientRect();
        return {size: parseFloat(getComputedStyle(value).fontSize), value: box(value),
                thumb: box(s.querySelector('[data-testid="stSliderThumbValue"]').parentElement),
                label: box(s.querySelector('[data-testid="stWidgetLabel"]'))}; })""")
    assert len(boxes) >= 2
    for b in boxes:
        assert b["size"] >= 0.03 * 720, b
        assert b["value"]["bottom"] <= b["thumb"]["top"] + 1, b  # not on the thumb
        assert b["value"]["top"] >= b["label"]["bottom"] - 1, b  # nor on the label


def test_training_start_and_estimate_in_view(server, p720):
    p720.goto(lecture_url(server, "training"))
    settle(p720)
    estimate = p720.get_by_test_id("stAlert").filter(has_text="Une époque")
    estimate.wait_for()
    in_view(p720, estimate, 720)
    in_view(p720, p720.get_by_role("button", name="Démarrer"), 720)
    in_view(p720, p720.get_by_text("lr = 0,001"), 720)  # what the link set, said on the screen


@pytest.mark.parametrize("screen", ["approximation", "multichannel"])
def test_screens_off_the_lecture_path_fit_too(server, p720, screen):
    """The other screens' first figure in view at 1280×720, its numbers at least 3 % of the height too."""
    p720.goto(f"{server}/{screen}?lang=fr&present=1")
    settle(p720)
    no_exception(p720)
    in_view(p720, p720.get_by_test_id("stPlotlyChart").first, 720)
    small = [n for n in p720.evaluate(FIGURE_NUMBERS) if n[1] < 0.03 * 720 or n[2] < 0.03 * 720]
    assert not small, small[:8]
    p720.screenshot(path=str(SHOTS / "presenter" / "720" / f"{screen}.png"))


def cell_point(page, container: str, row: int, col: int, chart: int = 0, axis: str = "") -> tuple[float, float]:
    """The page coordinates of cell (row, col) of a heatmap chart, from plotly's own axes."""
    page.wait_for_function("([sel, chart]) => { const gd = document.querySelectorAll(sel + ' .js-plotly-plot')[chart];"
                           " return !!gd && !!gd._fullLayout; }", arg=[container, chart])
    return tuple(page.evaluate("""([sel, chart, axis, r, c]) => {
        const gd = document.querySelectorAll(sel + ' .js-plotly-plot')[chart];
        const xa = gd._fullLayout['xaxis' + axis], ya = gd._fullLayout['yaxis' + axis];
        const box = gd.getBoundingClientRect();
        return [box.left + xa._offset + xa.l2p(c), box.top + ya._offset + ya.l2p(r)];
    }""", [container, chart, axis, row, col]))


# ---------------------------------------------------------------- the lecture's thread, and the switch kept

def next_link(page):
    return page.get_by_role("link", name=re.compile(r"^Suite du cours"))


def query(page) -> dict:
    return {k: v[0] for k, v in parse_qs(urlsplit(page.url).query).items()}


def presenting(page) -> bool:
    """The presenter view is on: the link says so and the page's text is big."""
    size = page.evaluate("""() => parseFloat(getComputedStyle(document.querySelector(
        '[data-testid="stMain"] [data-testid="stMarkdownContainer"] p')).fontSize)""")
    return query(page).get("present") == "1" and size >= 21


def test_next_in_the_lecture_leads_through_the_steps_and_keeps_the_presenter_view(server, p720):
    page = p720
    page.goto(lecture_url(server, STEPS[0]))
    settle(page)
    for screen in STEPS[1:]:
        next_link(page).click()
        page.wait_for_url(f"**/{screen}?**")
        settle(page)
        no_exception(page)
        assert presenting(page), screen
        shown = query(page)  # the step's settings (a default one is left out of the address)
        for name, value in query_for(screen, "fr", **VALUES[screen]).items():
            default = BY_ID[screen].field(name).dump(BY_ID[screen].field(name).default) if name != "lang" else None
            assert shown.get(name, default) == value, (screen, name, shown)
    assert next_link(page).count() == 0  # the end of the path


def test_the_presenter_view_survives_every_way_of_changing_screen(server, browser):
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    page = ctx.new_page()
    page.set_default_timeout(90_000)
    try:
        page.goto(f"{server}/?lang=fr")
        wait_ready(page)
        page.get_by_test_id("stSidebar").get_by_text("Mode présentation").click()  # the sidebar's switch
        settle(page)
        assert presenting(page)
        # the home page's lecture links (without present=1 in them)
        page.get_by_role("link", name="2×2").first.click()
        page.wait_for_url("**/pooling?**")
        settle(page)
        assert presenting(page), "a lecture link"
        # the sidebar's navigation
        page.get_by_test_id("stExpandSidebarButton").click()
        page.get_by_test_id("stSidebarNav").get_by_text("Cartes de caractéristiques").click()
        page.wait_for_url("**/feature_maps?**")
        settle(page)
        assert presenting(page), "the sidebar's navigation"
        # st.switch_page: Feature maps' "open in Convolution" for a unit of the first layer
        page.goto(f"{server}/feature_maps?lang=fr&present=1&ex_stage=conv1&ex_ch=0&ex_row=5&ex_col=5")
        settle(page)
        page.get_by_role("button", name="Ouvrir dans l'écran Convolution").click()
        page.wait_for_url("**/convolution?**")
        settle(page)
        assert presenting(page), "st.switch_page"
        # the browser's own back button
        page.go_back()
        settle(page)
        assert presenting(page), "back"
        no_exception(page)
    finally:
        ctx.close()
