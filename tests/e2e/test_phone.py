"""A 390×844 phone with a touch screen (Chromium's emulation: has_touch, is_mobile): a tap on a chart's cell acts
on that cell, and the screens are laid out for the width.

The tap: plotly.js 3.8 selected the point of the *previous* tap (it reads the hover data of the last pointer
move, which a finger does not make; ui/browser.py makes one). Without that fix the first test below fails the
way a student saw it: tap (2, 2) → nothing, tap (0, 1) → step 9, ...

Screenshots: docs/screenshots/phone/."""

import re

import pytest

from tests.e2e.conftest import no_exception, screenshot, settled_chart
from tests.e2e.test_presenter import cell_point, settle

pytestmark = pytest.mark.e2e


@pytest.fixture
def phone(browser):
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, has_touch=True, is_mobile=True,
                              device_scale_factor=2)
    page = ctx.new_page()
    page.set_default_timeout(90_000)
    yield page
    ctx.close()


def tap_cell(page, container: str, row: int, col: int, axis: str = "") -> None:
    """A finger on cell (row, col) of a chart, scrolled into view first (a tap outside the screen is lost)."""
    x, y = cell_point(page, container, row, col, axis=axis)
    if not 100 < y < 780:
        page.evaluate("(dy) => document.querySelector('[data-testid=stMain]').scrollBy(0, dy)", y - 420)
        page.wait_for_timeout(400)
        x, y = cell_point(page, container, row, col, axis=axis)
    page.touchscreen.tap(x, y)


def step_shown(page) -> int:
    return int(re.search(r"Step (\d+) of", page.get_by_test_id("stMain").inner_text()).group(1))


def test_a_tap_on_an_output_cell_goes_to_that_step(server, phone):
    phone.goto(f"{server}/convolution?lang=en")
    settle(phone)
    for row, col in [(2, 2), (0, 1), (1, 0), (2, 1), (2, 1)]:  # the last: the same cell again still shows it
        tap_cell(phone, ".st-key-conv_fig", row, col, axis="3")
        phone.get_by_text(f"Step {3 * row + col + 1} of 9").wait_for(timeout=30_000)
        settle(phone, 800)
        assert step_shown(phone) == 3 * row + col + 1, (row, col)
    no_exception(phone)


def test_a_tap_on_a_map_cell_explains_that_cell(server, phone):
    phone.goto(f"{server}/feature_maps?lang=en&cls=7&idx=0&stage=relu2&channel=5")
    settle(phone)
    for row, col in [(6, 7), (3, 4), (10, 2)]:
        tap_cell(phone, ".st-key-fm_big", row, col)
        phone.get_by_text(f"relu2, channel 5, row {row}, column {col}").first.wait_for(timeout=30_000)
        settle(phone, 800)
        assert "ex_row=%d" % row in phone.url and "ex_col=%d" % col in phone.url
    no_exception(phone)


def test_convolution_is_laid_out_for_a_phone(server, phone):
    phone.goto(f"{server}/convolution?lang=fr")
    settle(phone)
    no_exception(phone)
    boxes = phone.evaluate("""() => { const gd = document.querySelector('.st-key-conv_fig .js-plotly-plot');
        return ['', '2', '3'].map(s => { const xa = gd._fullLayout['xaxis' + s], ya = gd._fullLayout['yaxis' + s];
            return [xa._offset, xa._length, ya._offset, ya._length]; }); }""")
    tops = [b[2] for b in boxes]
    assert tops == sorted(tops) and tops[1] > tops[0] + boxes[0][3] - 1  # stacked: input, kernel, output
    assert min(b[1] for b in boxes) > 150  # each grid has the width, not a third of 358 px
    code = phone.get_by_test_id("stCode").first
    assert "= 4" in code.inner_text()
    assert code.evaluate("e => { const p = e.querySelector('pre') || e; return p.scrollWidth <= p.clientWidth + 1 }")
    box = code.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390  # the sum on the screen, no sideways scrolling
    assert phone.locator(".modebar").count() == 0  # a phone shows the toolbar all the time: none over titles
    screenshot(phone, "phone/convolution")


def test_feature_maps_mosaics_are_readable_on_a_phone(server, phone):
    phone.goto(f"{server}/feature_maps?lang=fr")
    settle(phone)
    no_exception(phone)
    mosaic = settled_chart(phone, "fm_mosaic_conv1", 60_000)
    # 6 maps a row on a phone (16 on a desktop): each map drawn at about 44 px, not 17
    per_map = mosaic.evaluate("gd => gd._fullLayout.xaxis._length / gd._fullLayout.xaxis.range.reduce((a, b) => Math.abs(b - a)) * 28")
    assert per_map >= 40, per_map
    screenshot(phone, "phone/feature_maps")


def test_other_screens_on_a_phone(server, phone):
    for path, name in [("training?lang=fr", "training"), ("translation?lang=fr&compare=1", "translation"),
                       ("architecture?lang=fr", "architecture")]:
        phone.goto(f"{server}/{path}")
        settle(phone)
        no_exception(phone)
        screenshot(phone, f"phone/{name}")
