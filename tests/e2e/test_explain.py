"""Issue 11 in a real browser: click a cell of Feature maps' big map and see the panel explain it; step back;
draw on the canvas and see the prediction change; click an output cell of Convolution and see its step."""

import re

import pytest

from tests.e2e.conftest import no_exception, screenshot, settled_chart, wait_ready

pytestmark = pytest.mark.e2e

CELL_JS = """([key, axis, row, col]) => {
    const gd = document.querySelector(`.st-key-${key} .js-plotly-plot`);
    const xa = gd._fullLayout['xaxis' + axis], ya = gd._fullLayout['yaxis' + axis];
    const box = gd.getBoundingClientRect();
    return [box.left + xa._offset + xa.l2p(col), box.top + ya._offset + ya.l2p(row)];
}"""


def click_cell(page, key: str, row: int, col: int, axis: str = "") -> None:
    """Click the centre of cell (row, col) of the heatmap on axes x{axis}/y{axis} of chart `key`."""
    chart = settled_chart(page, key, 60_000)
    chart.scroll_into_view_if_needed()
    page.wait_for_timeout(300)
    x, y = page.evaluate(CELL_JS, [key, axis, row, col])
    page.mouse.move(x, y)
    page.wait_for_timeout(200)
    page.mouse.click(x, y)


def main_text(page) -> str:
    return page.get_by_test_id("stMain").inner_text()


def test_click_a_map_cell_and_step_back(server, page):
    page.goto(f"{server}/feature_maps?lang=en&stage=pool1&channel=4")
    wait_ready(page)
    click_cell(page, "fm_big", 5, 7)
    page.get_by_text("Where this number comes from: pool1, channel 4, row 5, column 7").wait_for()
    wait_ready(page)
    no_exception(page)
    assert "max of the window" in main_text(page)
    assert re.search(r"ex_stage=pool1&ex_ch=4&ex_row=5&ex_col=7", page.url)  # the link reproduces the unit
    page.get_by_role("button", name=re.compile("^Step back: relu1, channel 4")).click()
    page.get_by_text(re.compile(r"Where this number comes from: relu1, channel 4")).wait_for()
    wait_ready(page)
    assert "ReLU: max(0," in main_text(page)
    page.get_by_role("button", name=re.compile("^Step back: bn1")).click()
    page.get_by_text(re.compile(r"Where this number comes from: bn1")).wait_for()
    page.get_by_role("button", name=re.compile("^Step back: conv1")).click()
    page.get_by_text(re.compile(r"Where this number comes from: conv1")).wait_for()
    wait_ready(page)
    no_exception(page)
    assert "partial sum" in main_text(page) and "Open in the Convolution screen" in main_text(page)
    screenshot(page, "explain")
    page.get_by_role("button", name="Open in the Convolution screen").click()
    page.get_by_text("Step 1 of 1").wait_for()
    wait_ready(page)
    no_exception(page)


def test_draw_an_input(server, page):
    page.goto(f"{server}/feature_maps?lang=en")
    wait_ready(page)
    before = page.get_by_text(re.compile(r"^Prediction: ")).first.inner_text()
    page.get_by_text("Draw", exact=True).click()
    page.get_by_text("Draw something in the black square").wait_for()
    canvas = page.locator("canvas.upper-canvas").first
    canvas.wait_for(state="visible")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    x0, y0 = box["x"], box["y"]
    page.mouse.move(x0 + 100, y0 + 40)
    page.mouse.down()
    for i in range(1, 21):  # a tall bar, then a second leg: trousers-like
        page.mouse.move(x0 + 100, y0 + 40 + i * 10, steps=2)
    page.mouse.up()
    page.mouse.move(x0 + 180, y0 + 40)
    page.mouse.down()
    for i in range(1, 21):
        page.mouse.move(x0 + 180, y0 + 40 + i * 10, steps=2)
    page.mouse.up()
    page.get_by_text(re.compile(r"^Prediction: ")).first.wait_for(timeout=60_000)
    wait_ready(page)
    no_exception(page)
    after = page.get_by_text(re.compile(r"^Prediction: ")).first.inner_text()
    assert after != before, (before, after)
    assert "your drawing" in main_text(page)
    screenshot(page, "draw")


def test_click_a_convolution_output_cell(server, page):
    page.goto(f"{server}/convolution?lang=en")
    wait_ready(page)
    assert "Step 1 of 9" in main_text(page)
    click_cell(page, "conv_fig", 1, 2, axis="3")  # output cell (1, 2): step 6
    page.get_by_text("Step 6 of 9").wait_for()
    wait_ready(page)
    no_exception(page)
    assert "window at row 1, column 2" in main_text(page)


def test_open_in_convolution_keeps_the_language(server, page):
    """st.switch_page resets every widget's state, the language switch's too: the frame keeps a copy."""
    page.goto(f"{server}/feature_maps?lang=fr&ex_stage=conv1&ex_ch=25&ex_row=10&ex_col=19")
    wait_ready(page)
    page.get_by_role("button", name="Ouvrir dans l'écran Convolution").click()
    page.get_by_text("Étape 1 sur 1").wait_for()
    wait_ready(page)
    no_exception(page)
    assert "La convolution, pas à pas" in main_text(page) and "lang=fr" in page.url
