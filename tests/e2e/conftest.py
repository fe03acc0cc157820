"""Real-browser fixtures: a health-checked `streamlit run` server and Debian's headless Chromium via Playwright."""

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("CNNVIZ_SCREENSHOTS", ROOT / "screenshots"))
CHROMIUM = os.environ.get("CNNVIZ_CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(tmp_path_factory, **env_extra) -> tuple[subprocess.Popen, str]:
    """`streamlit run app.py` on a free port, user runs in a temporary folder -> (process, base URL), once healthy."""
    port = free_port()
    env = dict(os.environ, CNNVIZ_RUNS=str(tmp_path_factory.mktemp("runs")), CNNVIZ_NO_DOWNLOAD="1",
               CNNVIZ_THREADS="2", **env_extra)
    log = open(tmp_path_factory.mktemp("server") / "streamlit.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                             "--server.port", str(port), "--server.address", "127.0.0.1"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"streamlit did not start; see {log.name}")
        time.sleep(0.3)
    return proc, url


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """One server for the suite; yields its base URL."""
    proc, url = start_server(tmp_path_factory)
    yield url
    stop_server(proc)


@pytest.fixture
def fresh_server(tmp_path_factory):
    """A server that has served nothing yet: its first request is a deep link (Streamlit's legacy pages mode)."""
    proc, url = start_server(tmp_path_factory)
    yield url
    stop_server(proc)


@pytest.fixture(scope="module")  # per module: Playwright's event loop must not outlive the browser tests
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"])
        yield b
        b.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    context.close()


def wait_ready(page, timeout=60_000):
    """Wait for the app to render and for the script run to end (no 'running' indicator)."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout)
    page.wait_for_selector('[data-testid="stMain"] h1', timeout=timeout)
    deadline = time.monotonic() + timeout / 1000
    while time.monotonic() < deadline:
        running = page.locator('[data-testid="stStatusWidget"]').count()
        stale = page.locator('[data-stale="true"]').count()
        if not running and not stale:
            break
        page.wait_for_timeout(200)
    page.wait_for_timeout(300)


SETTLED_JS = """(sel) => { const found = document.querySelectorAll(sel);
    return found.length === 1 && !found[0].closest('[data-stale="true"]') && found[0].getBoundingClientRect().height > 0; }"""


def settled_chart(page, key: str, timeout: float = 180_000):
    """The plotly chart of element `key`, once it is the only one: while a rerun moves a chart, Streamlit shows
    the new one beside the old (stale) one until the run ends, and a strict locator then finds two."""
    selector = f".st-key-{key} .js-plotly-plot"
    page.wait_for_function(SETTLED_JS, arg=selector, timeout=timeout)
    return page.locator(selector)


def no_exception(page):
    assert page.get_by_test_id("stException").count() == 0, page.get_by_test_id("stException").first.inner_text()


def screenshot(page, name: str):
    """The whole page: Streamlit scrolls inside its main block, so the viewport grows to fit it first."""
    (SHOTS / name).parent.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    height = page.evaluate("""() => Math.max(...[...document.querySelectorAll('[data-testid="stMain"], '
        + '[data-testid="stMainBlockContainer"]')].map(e => e.scrollHeight), 600)""")
    page.set_viewport_size({"width": size["width"], "height": min(int(height) + 40, 7000)})
    page.wait_for_timeout(700)  # plotly redraws at the new size
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
    page.set_viewport_size(size)
