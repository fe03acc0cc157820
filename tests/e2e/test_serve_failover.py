"""In Chromium, through HAProxy (issue 20, item 1): a student's page whose replica dies reconnects by itself to the
other replica and keeps its view (every view lives in the URL), with no error; clicks work there.

What Streamlit's page does (seen in its websocket frames): it reconnects within a few seconds, keeps what it shows,
and does not run the script again by itself (it does only when a run was under way or a fragment reruns on a
timer); the new replica runs the view at the next click. That click's run is the new session's first: it comes with
the widgets' values, newer than the URL by that click, and they win over the URL (ui.frame._sent_by_browser), so
the click is not lost."""

import os
import shutil
import signal
import threading
import time

import pytest

from deploy.class_server import COOKIE, ClassServer
from deploy.warmup import warm
from tests.e2e.conftest import free_port, no_exception, screenshot, wait_ready

pytestmark = pytest.mark.skipif(not shutil.which("haproxy", path=f"{os.environ.get('PATH', '')}:/usr/sbin"),
                                reason="haproxy is not installed (make test installs it)")


@pytest.fixture
def klass(tmp_path):
    env = dict(os.environ, CNNVIZ_RUNS=str(tmp_path / "runs"), CNNVIZ_NO_DOWNLOAD="1",
               CNNVIZ_THREADS="1")
    server = ClassServer(2, free_port(), "127.0.0.1", [free_port(), free_port()], tmp_path / "class", env=env,
                         warm=False, say=lambda text: None).start()
    # each replica has served the screen once, as during a class (deploy/warmup.py does this for make class)
    threads = [threading.Thread(target=warm, args=(f"http://127.0.0.1:{p}", "fr", [("feature_maps", "")]))
               for p in server.ports]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    yield server
    server.stop()


def charts_back(page, n: int, timeout: float) -> float:
    """Seconds until the page shows n charts again, none stale and no script running."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if (page.get_by_test_id("stPlotlyChart").count() >= n and not page.locator('[data-stale="true"]').count()
                and not page.locator('[data-testid="stStatusWidget"]').count()):
            return time.monotonic() - t0
        page.wait_for_timeout(100)
    raise AssertionError(f"the page did not come back within {timeout} s")


def test_a_page_whose_replica_dies_comes_back_to_the_same_view(klass, page):
    url = f"{klass.url}/feature_maps?lang=fr&idx=12"
    page.goto(url)
    page.get_by_test_id("stPlotlyChart").first.wait_for()
    wait_ready(page)
    no_exception(page)
    charts = page.get_by_test_id("stPlotlyChart").count()  # the open tab's mosaics (folded tabs build nothing)
    assert charts >= 8
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    victim = next(c for c in klass.replica_procs if c.name == cookies[COOKIE])
    t0 = time.monotonic()
    victim.proc.send_signal(signal.SIGKILL)
    # Streamlit's page reconnects by itself; HAProxy sends it to the other replica and says so in the cookie
    while (now := {c["name"]: c["value"] for c in page.context.cookies()})[COOKIE] == victim.name:
        assert time.monotonic() - t0 < 60, "the page did not reconnect to the other replica"
        page.wait_for_timeout(100)
    charts_back(page, charts, 120)  # ... and runs the view again there
    back = time.monotonic() - t0
    no_exception(page)
    assert page.url == url  # the same view
    assert not page.get_by_role("dialog").count()  # no "connection error" box left
    print(f"reconnected to {now[COOKIE]} {back:.1f} s after {victim.name} was killed, the view kept")

    def step_up_to(value: int) -> bool:
        page.get_by_test_id("stNumberInputStepUp").first.click()
        try:
            page.wait_for_function(f"() => location.search.includes('idx={value}')", timeout=30_000)
        except Exception:  # noqa: BLE001 - playwright's TimeoutError: the click was not applied
            return False
        wait_ready(page)
        no_exception(page)
        return True

    first = step_up_to(13)  # the new replica's first run of this page
    wait_ready(page)
    no_exception(page)
    assert step_up_to(14 if first else 13)  # the next click works there too
    assert {c["name"]: c["value"] for c in page.context.cookies()}[COOKIE] == now[COOKIE]  # and stays there
    screenshot(page, "serve_failover")
    if not first:
        pytest.fail("the first click after a failover is lost: the new session's first run applied the URL")
