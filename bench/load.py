"""Load test: N concurrent sessions against a real `streamlit run app.py`, over the app's own websocket.

    python bench/load.py                         # 1, 10 and 30 sessions on the four network/operation screens
    python bench/load.py --sessions 30 --runs 3  # one level
    python bench/load.py --all-screens           # every screen of the registry (Training and Home included)
    python bench/load.py --url http://host:8501  # an already running server (no RSS then)
    python bench/load.py --url http://host:8600  # ... or a running `make class`: its balancer (cookies are kept)
    python bench/load.py --replicas 2            # two servers, the sessions spread over them (sticky sessions)
    python bench/load.py --class 2               # two replicas behind HAProxy (deploy/class_server.py)

Through a balancer (issue 20), the commands of the README's table:

    python bench/load.py --class 2 --sessions 30 --runs 3 --distinct                 # thirty at once, thirty views
    python bench/load.py --class 2 --sessions 120 --ramp 10 --think 3 --distinct     # a class of 120 clicking
    python bench/load.py --class 2 --sessions 120 --ramp 10 --think 3 --distinct --click   # ... each click a new view
    python bench/load.py --class 2 --sessions 30 --runs 6 --think 1 --kill-after 5   # a replica killed
    python bench/load.py --class 2 --sessions 1 --overhead 200                       # the balancer's own cost

Each session is a browser tab without the browser (deploy/tab.py): it loads the page over HTTP, keeps its cookies
(HAProxy's stickiness cookie), opens `/_stcore/stream` with them, sends a BackMsg `rerun_script` (query string,
page name, then the page's script hash) and reads ForwardMsgs until `script_finished`. Session i is given
screen i mod (number of screens) and runs it `--runs` times (with fewer sessions than screens, each session visits
its share of the screens in turn, one fresh tab each); the first run is a fresh visit (no cached messages), the
next ones are reruns where the session, like the browser, tells the server which large messages it already holds
(`cached_message_hashes`), so an unchanged chart comes back as a reference. All sessions of a level start
together, with no pause (the worst case); `--ramp` and `--think` make a class of students instead (arrivals
spread, a pause between clicks). By default every session opens the screen's default view, as a class following
the instructor does (what they have in common is computed once: ui/shared_cache.py); `--distinct` gives each
session its own view (another test image, seed or step), so that nothing is shared but the network.

`--kill-after S` (with --class) kills replica r1 (SIGKILL) S seconds into each level: the sessions it held see
their websocket close at their next click, reconnect through HAProxy with their cookie — which sends them to
another replica — and run the same view again there; printed: how many moved, how long from the closed socket to
their view run on the other replica, whether it was the same view (page and query string), errors. (Streamlit's
page, in a browser, first waits a back-off of a few seconds, keeping what it shows: tests/e2e/test_serve_failover.py.)
The launcher then starts r1 again.
`--overhead N` (with --class) times N requests straight to replica r1 and N through HAProxy to r1 (its cookie):
the health check over a new connection and over a kept-alive one, and a rerun of a warm view over the websocket.

Printed per screen and level: median / p95 / max of the page-run time (rerun sent -> script finished),
the bytes received by a first visit and by a rerun, errors (an exception element, a timeout, a closed
socket); per level: page runs per second, the servers' peak RSS (all replicas together) and CPU per page run,
the load average. Screens come from `ui.screens` (the one registry), so a page that is renamed or added needs no
change here. Figures, not tests. On a shared machine, keep runs short: a level of 30 sessions × 3 runs takes
about a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import websockets  # noqa: E402  (a dependency of Streamlit's server stack)

from bench.server import StreamlitServer, Watched, free_port  # noqa: E402
from deploy.tab import Run, Tab  # noqa: E402

DEFAULT_SCREENS = ("feature_maps", "translation", "convolution", "multichannel")
# --distinct: what session i changes in its link, so that no two sessions see the same view (nothing shared)
DISTINCT = {"feature_maps": lambda i: f"idx={i}", "translation": lambda i: f"idx={i}",
            "convolution": lambda i: f"padding={i % 4}&step={i // 4 % 9 + 1}", "multichannel": lambda i: f"seed={i}",
            "pooling": lambda i: f"step={i % 4 + 1}"}


def registry_screens() -> list[str]:
    """Screen ids (= URL paths) from the registry; the defaults if it cannot be read."""
    try:
        from ui.screens import SCREENS

        return [s.id for s in SCREENS]
    except Exception:  # noqa: BLE001 - the registry moved or fails: the load test still runs
        return list(DEFAULT_SCREENS)


@dataclass
class Recovery:
    """A tab whose replica died under it (--kill-after): reconnected through the balancer, its view run again."""

    screen: str
    seconds: float  # from the closed socket to the view's run finished on another replica
    same_view: bool  # the same page and query string as before
    moved: bool  # its stickiness cookie now names another replica
    error: str = ""


async def run_level(bases: list[str], screens: list[str], n: int, runs: int, think: float, lang: str,
                    ramp: float = 0.0, distinct: bool = False, kill: tuple[float, object] | None = None,
                    click: bool = False) -> tuple[list[Run], float, list[Recovery]]:
    """n tabs at once (or tab i starting at i·ramp/n s). With fewer tabs than screens, each tab visits its share of
    the screens in turn (a fresh tab per screen), so that every screen is measured at every level. Tab i talks to
    server i mod len(bases), as a load balancer with sticky sessions would spread them (one base: the balancer
    spreads them itself). `kill` = (seconds, function): the function is called that many seconds into the level
    (it kills a replica); a tab whose socket closes reconnects and runs its view again (a Recovery). `click` (with
    distinct): each run after the first asks for another view of the screen (a student clicking "next"), not the
    same view again."""
    plan = [[screens[i % len(screens)]] if n >= len(screens) else screens[i::n] for i in range(n)]
    runs_out: list[Run] = []
    recoveries: list[Recovery] = []

    async def tab(i: int, my_screens: list[str]) -> None:
        await asyncio.sleep(ramp * i / n)
        for screen in my_screens:
            vary = DISTINCT.get(screen) if distinct else None
            s = Tab(bases[i % len(bases)], screen, lang, extra=vary(i + 1) if vary else "")
            try:
                await s.connect()
            except (OSError, websockets.InvalidHandshake, TimeoutError) as exc:
                runs_out.append(Run(screen, True, 0.0, 0, f"connect: {exc}"))
                continue
            try:
                for r in range(runs):
                    cookies = dict(s.cookies)
                    if click and vary and r:  # a new view no one has opened yet: session i's r-th click
                        s.query = f"lang={lang}&{vary(i + 1 + r * n)}"
                    run = await s.run_once()
                    if run.error.startswith("connection closed"):
                        if kill is None:
                            break
                        s.runs.pop()  # the killed replica's run: measured as the recovery below
                        view = (s.page_hash, s.query)  # what the tab showed (the URL), as the page knows it
                        try:
                            seconds = await s.reconnect()
                        except (OSError, websockets.InvalidHandshake, TimeoutError) as exc:
                            recoveries.append(Recovery(screen, float("nan"), False, False, f"reconnect: {exc}"))
                            break
                        back = s.runs.pop()
                        same = view[0] in ("", s.page_hash) and view[1] == s.query
                        recoveries.append(Recovery(screen, seconds, same, s.cookies != cookies, back.error))
                    if think and r < runs - 1:
                        await asyncio.sleep(think)
            finally:
                runs_out.extend(s.runs)
                await s.close()

    async def killer() -> None:
        await asyncio.sleep(kill[0])
        await asyncio.to_thread(kill[1])

    t0 = time.perf_counter()
    await asyncio.gather(*(tab(i, p) for i, p in enumerate(plan)), *([killer()] if kill else []))
    return runs_out, time.perf_counter() - t0, recoveries


# ---------------------------------------------------------------- report

def pct(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank, q in [0, 1])."""
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(round(q * len(v) + 0.5)) - 1))]


def kb(n: float) -> str:
    return f"{n / 1e3:,.0f} kB" if n < 1e6 else f"{n / 1e6:,.1f} MB"


def load_average() -> str:
    return "load average " + " / ".join(f"{x:.1f}" for x in os.getloadavg()) + " (1 / 5 / 15 min)"


def summarize(level: int, runs: list[Run], wall: float, rss: int, rows: list[str], cpu: float = float("nan"),
              recoveries: list[Recovery] = ()) -> None:
    done = [r for r in runs if not r.error]
    errors = [r for r in runs if r.error]
    rate = len(runs) / wall if wall else 0.0
    per_run = f", server CPU {cpu / len(runs) * 1e3:.0f} ms per page run" if runs and cpu == cpu else ""
    print(f"\n{level} session(s): {len(runs)} page runs in {wall:.1f} s ({rate:.2f} runs/s), {len(errors)} errors,"
          f" server RSS {rss / 2**20:,.0f} MiB{per_run}; {load_average()}", flush=True)
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
    if recoveries:
        t = [r.seconds for r in recoveries if not r.error] or [float("nan")]
        bad = [r for r in recoveries if r.error]
        line = (f"replica killed: {len(recoveries)} tab(s) reconnected, {sum(r.moved for r in recoveries)} to another"
                f" replica, {sum(r.same_view for r in recoveries)} on the same view; view back in median"
                f" {statistics.median(t):.2f} s, p95 {pct(t, 0.95):.2f} s, max {max(t):.2f} s; {len(bad)} errors")
        print("  " + line, flush=True)
        for r in bad[:3]:
            print(f"    error: {r.error}", flush=True)
        rows.append(f"| {level} | {line} | | | | | | | {len(bad)} |")


# ---------------------------------------------------------------- the balancer's own cost

def _median_ms(times: list[float]) -> str:
    return f"median {statistics.median(times) * 1e3:.2f} ms, p95 {pct(times, 0.95) * 1e3:.2f} ms"


def overhead(direct: str, proxy: str, replica: str, n: int) -> None:
    """The same requests straight to a replica (`direct`, http://127.0.0.1:port) and through HAProxy (`proxy`) to
    that replica (its stickiness cookie), interleaved: what the balancer adds to each."""
    import http.client
    from urllib.parse import urlsplit

    cookie = {"Cookie": f"SERVERID={replica}"}

    def fresh(url: str, headers: dict) -> float:  # a new TCP connection per request
        t0 = time.perf_counter()
        with urllib.request.urlopen(urllib.request.Request(f"{url}/_stcore/health", headers=headers), timeout=10) as r:
            r.read()
        return time.perf_counter() - t0

    def kept(conn: http.client.HTTPConnection, headers: dict) -> float:  # one kept-alive connection
        t0 = time.perf_counter()
        conn.request("GET", "/_stcore/health", headers=headers)
        conn.getresponse().read()
        return time.perf_counter() - t0

    conns = {u: http.client.HTTPConnection(urlsplit(u).hostname, urlsplit(u).port, timeout=10) for u in (direct, proxy)}
    times = {k: [] for k in ("new direct", "new proxy", "kept direct", "kept proxy")}
    for _ in range(n):
        times["new direct"].append(fresh(direct, {}))
        times["new proxy"].append(fresh(proxy, cookie))
        times["kept direct"].append(kept(conns[direct], {}))
        times["kept proxy"].append(kept(conns[proxy], cookie))

    async def reruns() -> dict[str, list[float]]:  # a warm view's rerun over the websocket
        tabs = {"ws direct": Tab(direct, "convolution"), "ws proxy": Tab(proxy, "convolution", cookies={"SERVERID": replica})}
        for tab in tabs.values():
            await tab.connect()
            await tab.run_once()
        out = {k: [] for k in tabs}
        for _ in range(max(5, n // 10)):
            for k, tab in tabs.items():
                out[k].append((await tab.run_once()).seconds)
        for tab in tabs.values():
            await tab.close()
        return out

    times.update(asyncio.run(reruns()))
    print(f"\nthe balancer's own cost ({n} requests each, interleaved; {load_average()}):", flush=True)
    for what, label in (("new", "health check, new connection"), ("kept", "health check, kept-alive connection"),
                        ("ws", "rerun of a warm view (convolution), websocket")):
        d, p = times[f"{what} direct"], times[f"{what} proxy"]
        print(f"  {label}: direct {_median_ms(d)}; through HAProxy {_median_ms(p)}; added"
              f" {(statistics.median(p) - statistics.median(d)) * 1e3:+.2f} ms (median)", flush=True)


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
    ap.add_argument("--click", action="store_true",
                    help="with --distinct: every run after the first opens another view (a click), not the same again")
    ap.add_argument("--distinct", action="store_true",
                    help="each session opens another view (another image, seed or step): nothing to share")
    ap.add_argument("--url", action="append", default=[],
                    help="an already running server or balancer (http://host:port; repeat it for replicas); "
                         "default: start one")
    ap.add_argument("--replicas", type=int, default=1,
                    help="servers to start, the sessions spread over them (default 1; one per core is worth trying)")
    ap.add_argument("--class", dest="class_", type=int, metavar="N",
                    help="start N replicas behind HAProxy (deploy/class_server.py, as `make class`) and go through it")
    ap.add_argument("--kill-after", type=float, metavar="S",
                    help="with --class: kill replica r1 S seconds into each level; its tabs reconnect (measured)")
    ap.add_argument("--overhead", type=int, metavar="N",
                    help="with --class: time N requests straight to a replica and through HAProxy")
    ap.add_argument("--no-warmup", action="store_true", help="skip the first visit of each screen")
    ap.add_argument("--threads", type=int, help="CNNVIZ_THREADS of the server (PyTorch threads; default: its own)")
    ap.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                    help="a `streamlit run` option for the server, e.g. runner.postScriptGC=false (repeatable)")
    args = ap.parse_args()
    if (args.kill_after is not None or args.overhead) and not args.class_:
        ap.error("--kill-after and --overhead need --class N")
    if args.kill_after is not None and args.class_ < 2:
        ap.error("--kill-after needs at least two replicas (--class 2)")

    known = registry_screens()
    screens = known if args.all_screens else [s for s in args.screens.split(",") if s]
    unknown = [s for s in screens if s not in known]
    if unknown:
        print(f"note: {', '.join(unknown)} not in the registry ({', '.join(known)}); tried anyway")
    servers: list = []  # what is measured: StreamlitServer, or Watched replicas of a class
    stop = []
    klass = None
    env = {"CNNVIZ_THREADS": str(args.threads)} if args.threads else {}
    # The server's own warm-up of the lecture (deploy/warmup.py) off unless asked for: the warm-up below opens the
    # measured screens, and a warm-up still running would count in the figures.
    env["CNNVIZ_WARM"] = os.environ.get("CNNVIZ_WARM", "0")
    if args.url:
        bases = [u.rstrip("/") for u in args.url]
    elif args.class_:
        from deploy.class_server import ClassServer

        t0 = time.perf_counter()
        klass = ClassServer(args.class_, free_port(), "127.0.0.1", [free_port() for _ in range(args.class_)],
                            env={**os.environ, **env}, say=lambda text: print(f"  {text}", flush=True)).start()
        print(f"{args.class_} replica(s) behind HAProxy on {klass.url} in {time.perf_counter() - t0:.1f} s"
              f" (logs: {klass.workdir}); warming the lecture's views on each", flush=True)
        stop.append(klass.stop)
        klass.warmed.wait(600)
        servers = [Watched(lambda c=c: c.proc.pid) for c in klass.replica_procs]
        stop += [w.stop_watching for w in servers]
        bases = [klass.url]
    else:
        log = os.environ.get("CNNVIZ_LOAD_LOG", os.devnull)
        servers = [StreamlitServer(options=args.option, env=env or None, log=log)
                   for _ in range(max(1, args.replicas))]
        stop += [server.stop for server in servers]
        for server in servers:
            print(f"streamlit healthy in {server.wait_healthy():.1f} s on port {server.port}", flush=True)
        bases = [server.url for server in servers]
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, {load_average()}; screens: "
          f"{', '.join(screens)}; {args.runs} runs per session{', distinct views' if args.distinct else ''}{', each click a new view' if args.click else ''}, think {args.think:g} s, "
          f"ramp {args.ramp:g} s; server threads: "
          f"{args.threads or 'default'}; servers: {len(bases)}{f' (HAProxy before {args.class_} replicas)' if klass else ''};"
          f" options: {' '.join(args.option) or 'none'}", flush=True)
    rows: list[str] = []

    def kill_r1() -> None:
        victim = klass.replica_procs[0]
        print(f"  killing {victim.name} (pid {victim.proc.pid}, {len(klass.replica_procs)} replicas)", flush=True)
        victim.proc.kill()

    try:
        if args.overhead:
            overhead(f"http://127.0.0.1:{klass.ports[0]}", klass.url, klass.replica_procs[0].name, args.overhead)
        if not args.no_warmup and not klass:  # caches of each server (model, dataset) filled once, as after a first visitor
            warm = [r for base in bases for r in asyncio.run(run_level([base], screens, len(screens), 1, 0.0,
                                                                       args.lang))[0]]
            for r in warm:
                print(f"  warm-up {r.screen}: {r.seconds:.2f} s, {kb(r.nbytes)}{'  ERROR ' + r.error if r.error else ''}",
                      flush=True)
        for n in args.sessions:
            for server in servers:
                server.reset_peak()
            cpu0 = sum(server.cpu_seconds() for server in servers) if servers else float("nan")
            kill = (args.kill_after, kill_r1) if args.kill_after is not None else None
            runs, wall, recoveries = asyncio.run(run_level(bases, screens, n, args.runs, args.think, args.lang,
                                                           args.ramp, args.distinct, kill, args.click))
            rss = sum(max(server.peak_rss, server.rss()) for server in servers)  # all replicas together
            cpu = sum(server.cpu_seconds() for server in servers) - cpu0 if servers and not kill else float("nan")
            summarize(n, runs, wall, rss, rows, cpu, recoveries)
            if kill:  # the launcher starts the killed replica again (and warms it) before the next level
                from deploy.class_server import HEALTH, healthy

                deadline = time.monotonic() + 120
                while not healthy(f"http://127.0.0.1:{klass.ports[0]}{HEALTH}") and time.monotonic() < deadline:
                    klass.check()
                    time.sleep(0.5)
    finally:
        for done in reversed(stop):
            done()
    print("\n| sessions | screen | page runs | median | p95 | max | first visit | rerun | errors |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
