"""Your own network in a real browser: designed on Architecture, trained on Training (a small subset, 1 epoch),
then compared with the saved runs and offered for download."""

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.e2e.conftest import no_exception, screenshot, wait_ready

pytestmark = pytest.mark.e2e


def query(page) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlsplit(page.url).query).items()}


def test_design_train_compare(server, page):
    page.goto(f"{server}/architecture?lang=en&preset=fmnist&layers=8-3-1-1;16-3-1-1&fc=32&bn=1")
    wait_ready(page)
    no_exception(page)
    page.get_by_role("button", name="Train this network").click()
    page.get_by_text("Your network: convolution layers 8-3-1-1;16-3-1-1").wait_for()
    wait_ready(page)
    no_exception(page)
    q = query(page)
    assert urlsplit(page.url).path.endswith("/training")
    assert (q["model"], q["layers"], q["fc"]) == ("custom", "8-3-1-1;16-3-1-1", "32")
    main = page.get_by_test_id("stMain")
    page.get_by_text("This network has 26,746 parameters").wait_for()  # and its time per epoch, measured
    assert "Computed on the processor (CPU)" in main.inner_text()

    # the link reproduces it; a small training of one epoch
    page.goto(page.url + "&subset=1000&epochs=1&batch=100")
    wait_ready(page)
    assert "8-3-1-1;16-3-1-1" in main.inner_text()
    page.get_by_role("button", name="Start").click()
    page.get_by_text("Test phase").wait_for(timeout=120_000)
    wait_ready(page)
    no_exception(page)
    text = main.inner_text()
    assert "Compare runs" in text and "Rename, delete or download a saved run" in text
    assert page.get_by_test_id("stDataFrame").count() >= 2  # the classification report and the runs' settings
    assert page.get_by_role("button", name="Download this run (.zip)").count() >= 1
    assert main.locator(".js-plotly-plot").count() >= 3  # loss, per-epoch, confusion, comparison
    screenshot(page, "training_own_network")
