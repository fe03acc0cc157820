"""What one session can pile up in Streamlit's upload store, and what remains after it ends.

    python bench/uploads.py                       # N = 20 and 60 files, without then with the clean-up
    python bench/uploads.py --n 60 --mode plain   # one case
    python bench/uploads.py --mode cleanup        # the server runs ui.uploads.limit_uploads() (as app.py would)
    python bench/uploads.py --mode arena          # plain, with MALLOC_ARENA_MAX=2 (RSS only)

A real `streamlit run app.py` on 127.0.0.1 (a free port). One client does what a browser does to get a session
(GET /_stcore/health for the XSRF cookie, the websocket /_stcore/stream with the token in its subprotocol, a `rerun_script`,
the session id from `new_session`), then what no browser does: PUT N files of ~5 MB (just under
server.maxUploadSize) to /_stcore/upload_file/<session>/<fresh uuid>, each a new file id that no widget
references. A browser never does this: a single-file st.file_uploader DELETEs its previous file when the
next one is dropped. Then the tab closes (websocket closed) and we wait past server.disconnectedSessionTTL
(set short here with --ttl; Streamlit's default is 120 s), let another tab connect and close (a write to the
session storage is what reaps an expired entry), and wait again.

Printed at each step: the server's RSS (/proc VmRSS) and the bytes the upload manager holds, read from
Streamlit's own /_stcore/metrics (family cache_memory_bytes, category UploadedFileManager; Streamlit caches
that family for 5 s, so each reading waits 5.5 s). Figures, not tests. One case takes about 30 s + the TTL (the default run: 4 cases, ~3 min).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402  (a dependency of Streamlit)
import websockets  # noqa: E402  (a dependency of Streamlit's server stack)
from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402

from bench.server import StreamlitServer  # noqa: E402

FILE_BYTES = 5_000_000  # ~4.8 MiB: under maxUploadSize = 5 (MiB) with the multipart framing
MB = 1e6


def serve_with_cleanup(args: list[str]) -> None:
    """`streamlit run ...` in this process, with ui.uploads.limit_uploads() installed as soon as the runtime
    exists, as app.py's first script run would (the bench must not edit app.py)."""

    def install() -> None:
        from streamlit import runtime

        while not runtime.exists():
            time.sleep(0.05)
        from ui.uploads import limit_uploads

        limit_uploads()

    threading.Thread(target=install, daemon=True).start()
    from streamlit.web import cli

    sys.argv = ["streamlit", *args]
    cli.main()


class Server(StreamlitServer):
    """The app's server in one of the bench's modes, with a short disconnectedSessionTTL."""

    def __init__(self, mode: str, ttl: int):
        launcher = [sys.executable, str(Path(__file__).resolve()), "--serve-cleanup"] if mode == "cleanup" else None
        super().__init__(options=[f"server.disconnectedSessionTTL={ttl}"],
                         env={"MALLOC_ARENA_MAX": "2"} if mode == "arena" else None, launcher=launcher,
                         log=os.environ.get("CNNVIZ_UPLOADS_LOG", os.devnull))

    def stored(self) -> int:
        """Bytes held by the UploadedFileManager, from /_stcore/metrics (0 when it holds no file)."""
        time.sleep(5.5)  # the cache_memory_bytes family is cached 5 s by the server
        text = requests.get(f"{self.url}/_stcore/metrics", params={"families": "cache_memory_bytes"},
                            timeout=30).text
        return sum(int(float(m)) for m in re.findall(r'cache_type="UploadedFileManager"[^}]*}\s+(\S+)', text))


class Tab:
    """A browser tab without the browser: XSRF cookie, websocket, one script run -> session id."""

    def __init__(self, url: str):
        self.url = url
        self.http = requests.Session()
        self.http.get(url + "/_stcore/health", timeout=30)  # sets the _streamlit_xsrf cookie (as the page does)
        self.xsrf = self.http.cookies.get("_streamlit_xsrf", "")
        self.ws = None
        self.session_id = ""

    async def open(self) -> None:
        headers = {"Origin": self.url}
        if self.xsrf:
            headers["Cookie"] = f"_streamlit_xsrf={self.xsrf}"
        protocols = ["streamlit", self.xsrf] if self.xsrf else ["streamlit"]
        self.ws = await websockets.connect(self.url.replace("http://", "ws://") + "/_stcore/stream",
                                           subprotocols=protocols, additional_headers=headers,
                                           max_size=None, open_timeout=60, ping_interval=None)
        msg = BackMsg()
        msg.rerun_script.query_string = "lang=en"
        msg.rerun_script.page_name = ""
        msg.rerun_script.context_info.url = self.url + "/?lang=en"
        await self.ws.send(msg.SerializeToString())
        async with asyncio.timeout(120):
            while True:
                fm = ForwardMsg()
                fm.ParseFromString(await self.ws.recv())
                kind = fm.WhichOneof("type")
                if kind == "new_session":
                    self.session_id = fm.new_session.initialize.session_id
                elif kind == "script_finished":
                    break

    def put(self, data: bytes) -> int:
        headers = {"X-Xsrftoken": self.xsrf} if self.xsrf else {}
        r = self.http.put(f"{self.url}/_stcore/upload_file/{self.session_id}/{uuid.uuid4()}",
                          files={"file": ("photo.png", data, "image/png")}, headers=headers, timeout=60)
        return r.status_code

    async def close(self) -> None:
        await self.ws.close()


def line(step: str, server: Server, rss0: int) -> None:
    rss, stored = server.rss(), server.stored()
    print(f"  {step:<44} RSS {rss / MB:7.1f} MB ({(rss - rss0) / MB:+7.1f})   stored {stored / MB:7.1f} MB",
          flush=True)


async def case(mode: str, n: int, ttl: int) -> None:
    print(f"\nmode={mode}  N={n} files x {FILE_BYTES / MB:.1f} MB  disconnectedSessionTTL={ttl} s", flush=True)
    server = Server(mode, ttl)
    try:
        server.wait_healthy()
        tab = Tab(server.url)
        await tab.open()
        time.sleep(1)
        rss0 = server.rss()
        line("session open, no upload", server, rss0)
        data = os.urandom(FILE_BYTES)
        t0 = time.perf_counter()
        codes = [await asyncio.to_thread(tab.put, data) for _ in range(n)]
        dt = time.perf_counter() - t0
        ok = sum(c == 204 for c in codes)
        print(f"  {n} PUTs in {dt:.1f} s: {ok} accepted (204), others {sorted(set(codes) - {204})}", flush=True)
        line(f"after {n} uploads, tab open", server, rss0)
        await tab.close()
        line("tab closed (~6 s)", server, rss0)
        time.sleep(max(0, ttl + 1 - 6))
        line(f"tab closed, past the TTL ({ttl} s)", server, rss0)
        other = Tab(server.url)  # another tab comes and goes: the storage write reaps the expired session
        await other.open()
        await other.close()
        line("another tab came and went", server, rss0)
        time.sleep(10)
        line("+ 10 s", server, rss0)
    finally:
        server.stop()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--serve-cleanup":
        serve_with_cleanup(sys.argv[2:])
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, nargs="+", default=[20, 60], help="files uploaded by the session")
    ap.add_argument("--mode", nargs="+", default=["plain", "cleanup"], choices=["plain", "cleanup", "arena"])
    ap.add_argument("--ttl", type=int, default=15, help="server.disconnectedSessionTTL (s); Streamlit's default 120")
    a = ap.parse_args()
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, "
          f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, Python {platform.python_version()}")
    for mode in a.mode:
        for n in a.n:
            asyncio.run(case(mode, n, a.ttl))


if __name__ == "__main__":
    main()
