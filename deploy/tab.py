"""A browser tab without the browser: opens one view of a running cnnviz over Streamlit's own websocket and runs it,
as the page's JavaScript would. bench/load.py measures a class with many of these; deploy/warmup.py opens the
lecture's views on every replica at start-up.

    tab = Tab("http://127.0.0.1:8600", "feature_maps", extra="idx=12")
    await tab.connect(); run = await tab.run_once(); await tab.close()

Like a browser, a tab first loads the page over HTTP and keeps the cookies it is given (a load balancer's
stickiness cookie, HAProxy's SERVERID), then opens `/_stcore/stream` with them, so that behind HAProxy every
request of the tab reaches the same replica. It sends a BackMsg `rerun_script` (the query string, the page
name, then the page's script hash) and reads ForwardMsgs until `script_finished`. The first run is a fresh visit;
later runs tell the server which large messages the tab already holds (`cached_message_hashes`), so an unchanged
chart comes back as a reference. When the connection drops (its replica died), `reconnect()` opens a new
websocket with the same cookies and runs the same view again. Streamlit's page reconnects the same way (after a
back-off of a few seconds, keeping what it shows) and sends the run at the student's next click
(tests/e2e/test_serve_failover.py).
"""

from __future__ import annotations

import asyncio
import time
import urllib.request
from dataclasses import dataclass, field
from http.cookies import SimpleCookie

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

DEFAULT_PAGE = "home"  # the navigation's default page: its URL is "/", not "/home"
RUN_TIMEOUT = 180.0  # s: a page run that takes longer counts as an error
CACHE_AGE = 2  # script runs a message stays in the emulated browser cache (global.maxCachedMessageAge)


@dataclass
class Run:
    screen: str
    first: bool
    seconds: float
    nbytes: int
    error: str = ""


@dataclass
class Tab:
    """One browser tab on `base` (http://host:port), showing `screen` with the query string lang=..&`extra`."""

    base: str
    screen: str
    lang: str = "fr"
    extra: str = ""  # more of the first visit's query string (e.g. "idx=12")
    cookies: dict[str, str] = field(default_factory=dict)
    runs: list[Run] = field(default_factory=list)
    page_hash: str = ""
    query: str = ""
    cache: dict[str, int] = field(default_factory=dict)  # message hash -> last run that used it
    n_run: int = 0
    ws: object = None

    @property
    def path(self) -> str:
        return "" if self.screen == DEFAULT_PAGE else self.screen

    def _take_cookies(self, headers: list[str]) -> None:
        for header in headers:
            jar = SimpleCookie()
            jar.load(header)
            self.cookies.update({name: morsel.value for name, morsel in jar.items()})

    def _load_page(self) -> None:
        """GET the page as the browser's address bar does (its cookies kept); the HTML itself is not used."""
        query = self.query or f"lang={self.lang}" + (f"&{self.extra}" if self.extra else "")
        with urllib.request.urlopen(f"{self.base.rstrip('/')}/{self.path}?{query}", timeout=60) as r:
            r.read()
            self._take_cookies(r.headers.get_all("Set-Cookie") or [])

    async def connect(self, load_page: bool = True) -> None:
        """Load the page (once; `load_page=False`: not at all), then open the websocket with the tab's cookies."""
        if load_page and not self.n_run:
            await asyncio.to_thread(self._load_page)
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else None
        ws_base = self.base.rstrip("/").replace("http://", "ws://").replace("https://", "wss://")
        self.ws = await websockets.connect(f"{ws_base}/_stcore/stream", subprotocols=["streamlit"],
                                           additional_headers=headers, max_size=None, compression=None,
                                           open_timeout=60, ping_interval=None, proxy=None)
        self._take_cookies(self.ws.response.headers.get_all("Set-Cookie"))

    async def reconnect(self, give_up: float = 60.0) -> float:
        """After the connection dropped: a new websocket with the same cookies (retried every 0.1 s, as long as
        the balancer refuses it), then the same view run again (the student's next click). Returns the seconds it
        took, the run included; the run is in self.runs."""
        t0 = time.perf_counter()
        await self.close()
        while True:
            try:
                await self.connect(load_page=False)
                break
            except (OSError, websockets.InvalidHandshake, TimeoutError):
                if time.perf_counter() - t0 > give_up:
                    raise
                await asyncio.sleep(0.1)
        await self.run_once()
        return time.perf_counter() - t0

    async def close(self) -> None:
        if self.ws is not None:
            try:
                await self.ws.close()
            except (OSError, websockets.WebSocketException):
                pass

    def _back(self) -> bytes:
        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = self.query
        if self.page_hash:
            cs.page_script_hash = self.page_hash
        else:  # a first visit: the page named by the URL, as the browser does for /feature_maps ("/" for home)
            cs.page_name = self.path
        cs.context_info.locale = "fr-FR" if self.lang == "fr" else "en-GB"
        cs.context_info.timezone = "Europe/Paris"
        cs.context_info.url = f"{self.base.rstrip('/')}/{self.path}?{self.query}"
        cs.cached_message_hashes.extend(self.cache)
        return msg.SerializeToString()

    async def run_once(self) -> Run:
        """One page run: rerun sent -> script finished (or an error: an exception element, a timeout, a closed
        socket)."""
        first = not self.page_hash
        if not self.query:
            self.query = f"lang={self.lang}" + (f"&{self.extra}" if self.extra else "")
        self.n_run += 1
        nbytes, error = 0, ""
        t0 = time.perf_counter()
        try:
            await self.ws.send(self._back())
            async with asyncio.timeout(RUN_TIMEOUT):
                while True:
                    data = await self.ws.recv()
                    nbytes += len(data)
                    fm = ForwardMsg()
                    fm.ParseFromString(data)
                    kind = fm.WhichOneof("type")
                    if fm.metadata.cacheable and fm.hash:
                        self.cache[fm.hash] = self.n_run
                    elif kind == "ref_hash":
                        self.cache[fm.ref_hash] = self.n_run
                    if kind == "delta" and fm.delta.WhichOneof("type") == "new_element":
                        if fm.delta.new_element.WhichOneof("type") == "exception":
                            ex = fm.delta.new_element.exception
                            error = error or f"{ex.type}: {ex.message}"[:200]
                    elif kind == "new_session":
                        self.page_hash = fm.new_session.page_script_hash or self.page_hash
                    elif kind == "navigation":
                        self.page_hash = fm.navigation.page_script_hash or self.page_hash
                    elif kind == "page_info_changed":
                        self.query = fm.page_info_changed.query_string
                    elif kind == "page_not_found":
                        error = error or f"page not found: {self.screen}"
                    elif kind == "script_finished":
                        status = fm.script_finished
                        if status == ForwardMsg.FINISHED_WITH_COMPILE_ERROR:
                            error = error or "compile error"
                        if status in (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_WITH_COMPILE_ERROR):
                            break
        except TimeoutError:
            error = f"timeout after {RUN_TIMEOUT:.0f} s"
        except websockets.ConnectionClosed as exc:
            error = f"connection closed: {exc}"
        self.cache = {h: n for h, n in self.cache.items() if self.n_run - n < CACHE_AGE}
        run = Run(self.screen, first, time.perf_counter() - t0, nbytes, error)
        self.runs.append(run)
        return run
