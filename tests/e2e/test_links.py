"""Links in a real browser: a shared link reproduces a view on a fresh server, the address bar follows the
widgets, "Copy link" gives a link that another browser opens the same way, and the browser's language is the
default language."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import no_exception, wait_ready

pytestmark = pytest.mark.e2e


def query(page) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(page.url).query).items()}


def test_a_link_opens_its_view_on_a_fresh_server(fresh_server, page):
    """The server's very first request is this deep link (Streamlit's legacy pages mode): the full app is drawn,
    the link's settings and step are applied, and the first click is not lost."""
    page.goto(f"{fresh_server}/convolution?lang=fr&input=1,2,0,1;0,1,3,1;4,0,1,2;2,2,2,0&stride=1&padding=1&step=3")
    wait_ready(page)
    no_exception(page)
    main = page.get_by_test_id("stMain")
    assert "La convolution, pas à pas" in main.inner_text()
    assert page.get_by_test_id("stSidebar").count() == 1  # the app's frame, not the legacy page list
    assert "Étape 3 sur 16" in main.inner_text()  # 4×4 padded by 1 is 6×6; a 3×3 kernel -> 4×4 steps
    expect(page.get_by_label("Remplissage de zéros (padding)", exact=True)).to_have_value("1")
    page.get_by_role("button", name="Suivant ▶").click()  # the first click after the deep link
    page.get_by_text("Étape 4 sur 16").wait_for()
    wait_ready(page)
    assert query(page)["step"] == "4"
    assert query(page)["padding"] == "1" and query(page)["lang"] == "fr"
    box = page.get_by_label("Pas (stride)", exact=True)
    box.fill("2")
    box.press("Enter")
    page.get_by_text("Étape 4 sur 4").wait_for()  # stride 2: 2×2 steps, step 4 kept
    wait_ready(page)
    assert query(page)["stride"] == "2"
    no_exception(page)


def test_copy_link_opens_the_same_view_in_another_browser(server, browser, page):
    page.goto(f"{server}/pooling?lang=en")
    wait_ready(page)
    page.get_by_label("Stride", exact=True).fill("1")
    page.get_by_label("Stride", exact=True).press("Enter")
    wait_ready(page)
    page.get_by_role("button", name="Next ▶").click()
    page.get_by_text("Step 2 of 9").wait_for()
    wait_ready(page)
    page.get_by_test_id("stSidebar").get_by_text("Copy link").click()
    link = page.get_by_test_id("stPopoverBody").get_by_test_id("stCode").inner_text().strip()
    assert re.match(rf"^{re.escape(server)}/pooling\?lang=en&", link), link
    other = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        p2 = other.new_page()
        p2.goto(link)
        wait_ready(p2)
        assert "Step 2 of 9" in p2.get_by_test_id("stMain").inner_text()
        assert p2.get_by_label("Stride", exact=True).input_value() == "1"
        no_exception(p2)
    finally:
        other.close()


def test_the_browser_language_is_the_default(server, browser):
    ctx = browser.new_context(locale="fr-FR", viewport={"width": 1400, "height": 1000})
    try:
        p = ctx.new_page()
        p.goto(f"{server}/")
        wait_ready(p)
        assert "voir l'intérieur" in p.get_by_test_id("stMain").inner_text()
        assert query(p)["lang"] == "fr"
    finally:
        ctx.close()


def test_hostile_links_show_no_exception(server, page):
    for path in ("convolution", "pooling", "multichannel", "feature_maps", "translation", "training",
                 "architecture"):
        page.goto(f"{server}/{path}?lang=xx&stride=<script>alert(1)</script>&step=-5&network=../../etc/passwd"
                  f"&dx=1e99&input={'9,' * 3000}&layers=<b>x</b>")
        wait_ready(page)
        no_exception(page)
        assert page.locator("script:has-text('alert(1)')").count() == 0
        assert page.locator("b:has-text('x')").count() == 0
