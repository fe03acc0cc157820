"""A server opens the lecture's views on itself at start-up (deploy/warmup.py, started by ui.frame's once-per-server
start-up from its first visitor's run): a real `streamlit run`, one visitor, then the warm-up's line on the
server's console, which says what the server computed meanwhile (cnnviz.shared.CALLS: maps, figures)."""

import asyncio
import re
import threading
import time

from streamlit.testing.v1 import AppTest

from bench.server import StreamlitServer
from deploy.tab import Tab
from deploy.warmup import languages, lecture_views
from tests.apptest import TIMEOUT


def test_the_languages_to_warm_come_from_the_environment():
    assert languages({}) == ["fr"] and languages({"CNNVIZ_WARM": "1"}) == ["fr"]  # the course's language
    assert languages({"CNNVIZ_WARM": "0"}) == [] and languages({"CNNVIZ_WARM": "off"}) == []
    assert languages({"CNNVIZ_WARM": " en , fr,de"}) == ["en", "fr"]


async def visit(base: str, screen: str):
    tab = Tab(base, screen, "fr")
    await tab.connect()
    try:
        return await tab.run_once()
    finally:
        await tab.close()


def test_a_server_warms_the_lecture_views_on_itself(tmp_path):
    log = tmp_path / "server.log"
    server = StreamlitServer(env={"CNNVIZ_WARM": "fr"}, log=str(log))
    try:
        server.wait_healthy()
        assert "cnnviz warm-up" not in log.read_text()
        first = asyncio.run(visit(server.url, "home"))  # the first visitor: the warm-up starts, the page does not wait
        assert not first.error
        deadline = time.monotonic() + 900
        while "cnnviz warm-up:" not in log.read_text() and time.monotonic() < deadline and server.proc.poll() is None:
            time.sleep(1)
    finally:
        server.stop()
    [line] = [x for x in log.read_text().splitlines() if x.startswith("cnnviz warm-up:")]
    assert f"{len(lecture_views('fr'))} views (fr)" in line and " 0 errors" in line, line
    computed = {name: int(n) for name, n in re.findall(r"([\w:]+) x(\d+)", line)}
    # what the lecture path's views compute: the Feature maps and Translation maps, the shifted probabilities,
    # the mosaics, the Convolution and Pooling animations, and their charts styled for a reader
    for name in ("image_maps", "shift_probabilities", "stage_mosaics", "figure:conv_view", "figure:pool_view",
                 "figure:mosaic_figure", "figure:input_figure", "styled"):
        assert computed.get(name, 0) >= 1, (name, line)


def test_apptest_runs_start_no_warm_up(monkeypatch):
    """AppTest runs the pages with a stand-in runtime and no server: nothing to open views on."""
    from ui import frame

    monkeypatch.setenv("CNNVIZ_WARM", "fr")
    frame._startup.clear()
    try:
        at = AppTest.from_file("../app.py", default_timeout=TIMEOUT).run()
        assert not at.exception
        assert not [th for th in threading.enumerate() if th.name == "cnnviz-warm-up"]
    finally:
        frame._startup.clear()


def test_first_visitors_at_once_on_a_fresh_server_get_their_pages(tmp_path):
    """A fresh server's first requests run in Streamlit's legacy pages mode; with several at once, another
    session's navigation ends that mode in the middle of a run: each page must still run inside the app's frame
    (ui.frame.require_app), never without its settings (it raised KeyError)."""
    server = StreamlitServer(log=str(tmp_path / "server.log"))
    views = [("convolution", "step=3"), ("multichannel", "seed=2"), ("translation", "idx=4"), ("feature_maps", "idx=3"),
             ("pooling", "step=2"), ("learning", "")]

    async def at_once():
        tabs = [Tab(server.url, screen, "fr", extra) for screen, extra in views]
        await asyncio.gather(*(tab.connect() for tab in tabs))
        try:
            return await asyncio.gather(*(tab.run_once() for tab in tabs))
        finally:
            await asyncio.gather(*(tab.close() for tab in tabs))

    try:
        server.wait_healthy()
        runs = asyncio.run(at_once())
    finally:
        server.stop()
    assert [(r.screen, r.error) for r in runs] == [(screen, "") for screen, _ in views]
