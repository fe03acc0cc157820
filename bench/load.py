"""Load test: N concurrent sessions against a real `streamlit run app.py`, over the app's own websocket.

    python bench/load.py                         # 1, 10 and 30 sessions on the four network/operation screens
    python bench/load.py --sessions 30 --runs 3  # one level
    python bench/load.py --all-screens           # every screen of the registry (Training and Home included)
    python bench/load.py --url http://host:8501  # an already running server (no RSS then)
    python bench/load.py --replicas 2            # two servers, the sessions spread over them (sticky sessions)

Each session speaks what a browser speaks, without a browser: it opens `/_stcore/stream`, sends a BackMsg
`rerun_script` (query string, page name, then the page's script hash) and reads ForwardMsgs until
`script_finished`. Session i is given screen i mod (number of screens) and runs it `--runs` times (with
fewer sessions than screens, each session visits its share of the screens in turn, one fresh tab each); the
first run is a fresh visit (no cached messages), the next ones are reruns where the session, like the
browser, tells the server which large messages it already holds (`cached_message_hashes`), so an
unchanged chart comes back as a reference. All sessions of a level start together, with no pause (the worst
case); `--ramp` and `--think` make a class of students instead (arrivals spread, a pause between clicks).
By default every session opens the screen's default view, as a class following the instructor does (what they
have in common is computed once: ui/shared_cache.py); `--distinct` gives each session its own view (another
test image, seed or step), so that nothing is shared but the network.

Printed per screen and level: median / p95 / max of the page-run time (rerun sent -> script finished),
the bytes received by a first visit and by a rerun, errors (an exception element, a timeout, a closed
socket); per level: page runs per second and the server's peak RSS. Screens come from `ui.screens`
(the one registry), so a page that is renamed or added needs no change here. Figures, not tests.
On a shared machine, keep runs short: a level of 30 sessions × 3 runs takes about a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import websockets  # noqa: E402  (a dependency of Streamlit's server stack)
from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402

from bench.server import StreamlitServer  # noqa: E402

DEFAULT_SCREENS = ("feature_maps", "translation", "convolution", "multichannel")
DEFAULT_PAGE = "home"  # the navigation's default page: its URL is "/", not "/home"
RUN_TIMEOUT = 180.0  # s: a page run that takes longer counts as an error
# --distinct: what session i changes in its link, so that no two sessions see the same view (nothing shared)
DISTINCT = {"feature_maps": lambda i: f"idx={i}", "translation": lambda i: f"idx={i}",
            "convolution": lambda i: f"padding={i % 4}&step={i // 4 % 9 + 1}", "multichannel": lambda i: f"seed={i}",
            "pooling": lambda i: f"step={i % 4 + 1}"}
CACHE_AGE = 2  # script runs a message stays in the emulated browser cache (global.maxCachedMessageAge)


def registry_screens() -> list[str]:
    """Screen ids (= URL paths) from the registry; the defaults if it cannot be read."""
    try:
        from ui.screens import SCREENS

        return [s.id for s in SCREENS]
    except Exception:  # noqa: BLE001 - the registry moved or fails: the load test still runs
        return list(DEFAULT_SCREENS)


# ---------------------------------------------------------------- one session

@dataclass
class Run:
    screen: str
    first: bool
    seconds: float
    nbytes: int
    error: str = ""


@dataclass
class Session:
    """One browser tab, without the browser."""

    base: str  # ws://127.0.0.1:port
    screen: str
    lang: str = "fr"
    runs: list[Run] = field(default_factory=list)
    page_hash: str = ""
    query: str = ""
    cache: dict[str, int] = field(default_factory=dict)  # message hash -> last run that used it
    n_run: int = 0
    ws: object = None
    extra: str = ""  # more of the first visit's query string (--distinct)

    async def connect(self) -> None:
        self.ws = await websockets.connect(f"{self.base}/_stcore/stream", subprotocols=["streamlit"],
                                           max_size=None, compression=None, open_timeout=60,
                                           ping_interval=None)

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()

    def _back(self) -> bytes:
        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = self.query
        if self.page_hash:
            cs.page_script_hash = self.page_hash
        else:  # a first visit: the page named by the URL, as the browser does for /feature_maps ("/" for home)
            cs.page_name = "" if self.screen == DEFAULT_PAGE else self.screen
        cs.context_info.locale = "fr-FR" if self.lang == "fr" else "en-GB"
        cs.context_info.timezone = "Europe/Paris"
        path = "" if self.screen == DEFAULT_PAGE else self.screen
        cs.context_info.url = f"{self.base.replace('ws://', 'http://')}/{path}?{self.query}"
        cs.cached_message_hashes.extend(self.cache)
        return msg.SerializeToString()

    async def run_once(self) -> Run:
        first = not self.page_hash
        if first:
            self.query = f"lang={self.lang}" + (f"&{self.extra}" if self.extra else "")
        self.n_run += 1
        nbytes, error = 0, ""
        t0 = time.perf_counter()
        await self.ws.send(self._back())
        try:
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


async def run_level(bases: list[str], screens: list[str], n: int, runs: int, think: float, lang: str,
                    ramp: float = 0.0, distinct: bool = False) -> tuple[list[Run], float]:
    """n tabs at once (or tab i starting at i·ramp/n s). With fewer tabs than screens, each tab visits its share of
    the screens in turn (a fresh tab per screen), so that every screen is measured at every level. Tab i talks to
    server i mod len(bases), as a load balancer with sticky sessions would spread them."""
    plan = [[screens[i % len(screens)]] if n >= len(screens) else screens[i::n] for i in range(n)]
    runs_out: list[Run] = []

    async def tab(i: int, my_screens: list[str]) -> None:
        await asyncio.sleep(ramp * i / n)
        for screen in my_screens:
            vary = DISTINCT.get(screen) if distinct else None
            s = Session(bases[i % len(bases)], screen, lang, extra=vary(i + 1) if vary else "")
            try:
                await s.connect()
            except (OSError, websockets.InvalidHandshake, TimeoutError) as exc:
                runs_out.append(Run(screen, True, 0.0, 0, f"connect: {exc}"))
                continue
            try:
                for r in range(runs):
                    run = await s.run_once()
                    if run.error.startswith("connection closed"):
                        break
                    if think and r < runs - 1:
                        await asyncio.sleep(think)
            finally:
                runs_out.extend(s.runs)
                await s.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(tab(i, p) for i, p in enumerate(plan)))
    return runs_out, time.perf_counter() - t0


# ---------------------------------------------------------------- report

def pct(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank, q in [0, 1])."""
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(round(q * len(v) + 0.5)) - 1))]


def kb(n: float) -> str:
    return f"{n / 1e3:,.0f} kB" if n < 1e6 else f"{n / 1e6:,.1f} MB"


def summarize(level: int, runs: list[Run], wall: float, rss: int, rows: list[str], cpu: float = float("nan")) -> None:
    done = [r for r in runs if not r.error]
    errors = [r for r in runs if r.error]
    rate = len(runs) / wall if wall else 0.0
    per_run = f", server CPU {cpu / len(runs) * 1e3:.0f} ms per page run" if runs and cpu == cpu else ""
    print(f"\n{level} session(s): {len(runs)} page runs in {wall:.1f} s ({rate:.2f} runs/s), {len(errors)} errors,"
          f" server RSS {rss / 2**20:,.0f} MiB{per_run}", flush=True)
    for screen in dict.fromkeys(r.screen for r in runs):
        mine = [r for r in runs if r.screen == screen]
        t = [r.seconds for r in mine if not r.error] or [float("nan")]
        first = [r.nbytes for r in mine if r.first and not r.error]
        again = [r.nbytes for r in mine if not r.first and not r.error]
        errs = [r for r in mine if r.error]
        line = (f"| {level} | {screen} | {len(mine)} | {statistics.median(t):.2f} s | {pct(t, 0.95):.2f} s | {max(t):.2f} s"
                f" | {kb(statistics.median(first)) if first else '—'} | {kb(statistics.median(again)) if again else '—'}"
                f" | {len(errs)} |")
        rows.append(line)
        print("  " + line, flush=True)
        for r in errs[:2]:
            print(f"    error: {r.error}", flush=True)
    all_t = [r.seconds for r in done] or [float("nan")]
    rows.append(f"| {level} | all ({rate:.1f} runs/s, server RSS {rss / 2**20:,.0f} MiB) | {len(runs)}"
                f" | {statistics.median(all_t):.2f} s | {pct(all_t, 0.95):.2f} s | {max(all_t):.2f} s | | | {len(errors)} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sessions", type=int, nargs="+", default=[1, 10, 30], help="levels (default 1 10 30)")
    ap.add_argument("--runs", type=int, default=3, help="page runs per session (default 3)")
    ap.add_argument("--screens", default=",".join(DEFAULT_SCREENS), help="comma-separated screen ids")
    ap.add_argument("--all-screens", action="store_true", help="every screen of the registry")
    ap.add_argument("--think", type=float, default=0.0, help="seconds between a session's runs (default 0)")
    ap.add_argument("--ramp", type=float, default=0.0,
                    help="spread the sessions' starts over this many seconds (default 0: all at once)")
    ap.add_argument("--lang", default="fr", choices=["fr", "en"])
    ap.add_argument("--distinct", action="store_true",
                    help="each session opens another view (another image, seed or step): nothing to share")
    ap.add_argument("--url", action="append", default=[],
                    help="an already running server (http://host:port; repeat it for replicas); default: start one")
    ap.add_argument("--replicas", type=int, default=1,
                    help="servers to start, the sessions spread over them (default 1; one per core is worth trying)")
    ap.add_argument("--no-warmup", action="store_true", help="skip the first visit of each screen")
    ap.add_argument("--threads", type=int, help="CNNVIZ_THREADS of the server (PyTorch threads; default: its own)")
    ap.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                    help="a `streamlit run` option for the server, e.g. runner.postScriptGC=false (repeatable)")
    args = ap.parse_args()

    known = registry_screens()
    screens = known if args.all_screens else [s for s in args.screens.split(",") if s]
    unknown = [s for s in screens if s not in known]
    if unknown:
        print(f"note: {', '.join(unknown)} not in the registry ({', '.join(known)}); tried anyway")
    servers: list[StreamlitServer] = []
    if args.url:
        bases = [u.rstrip("/").replace("http://", "ws://").replace("https://", "wss://") for u in args.url]
    else:
        env = {"CNNVIZ_THREADS": str(args.threads)} if args.threads else None
        log = os.environ.get("CNNVIZ_LOAD_LOG", os.devnull)
        servers = [StreamlitServer(options=args.option, env=env, log=log) for _ in range(max(1, args.replicas))]
        for server in servers:
            print(f"streamlit healthy in {server.wait_healthy():.1f} s on port {server.port}", flush=True)
        bases = [f"ws://127.0.0.1:{server.port}" for server in servers]
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; screens: "
          f"{', '.join(screens)}; {args.runs} runs per session{', distinct views' if args.distinct else ''}, think {args.think:g} s, "
          f"ramp {args.ramp:g} s; server threads: "
          f"{args.threads or 'default'}; servers: {len(bases)}; options: "
          f"{' '.join(args.option) or 'none'}", flush=True)
    rows: list[str] = []
    try:
        if not args.no_warmup:  # caches of each server (model, dataset) filled once, as after a first visitor
            warm = [r for base in bases for r in asyncio.run(run_level([base], screens, len(screens), 1, 0.0,
                                                                       args.lang))[0]]
            for r in warm:
                print(f"  warm-up {r.screen}: {r.seconds:.2f} s, {kb(r.nbytes)}{'  ERROR ' + r.error if r.error else ''}",
                      flush=True)
        for n in args.sessions:
            for server in servers:
                server.reset_peak()
            cpu0 = sum(server.cpu_seconds() for server in servers) if servers else float("nan")
            runs, wall = asyncio.run(run_level(bases, screens, n, args.runs, args.think, args.lang, args.ramp,
                                               args.distinct))
            rss = sum(max(server.peak_rss, server.rss()) for server in servers)  # all replicas together
            cpu = sum(server.cpu_seconds() for server in servers) - cpu0 if servers else float("nan")
            summarize(n, runs, wall, rss, rows, cpu)
    finally:
        for server in servers:
            server.stop()
    print("\n| sessions | screen | page runs | median | p95 | max | first visit | rerun | errors |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
