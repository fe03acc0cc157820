"""A class in a lecture hall, measured: N students on the Class screen polling for the question, one projector,
N answers in the same second — over the app's own websocket, as bench/load.py talks to the server.

    python bench/classroom.py                       # 60 students, 30 s of idle polling, answers spread over 1 s
    python bench/classroom.py --students 120 --idle 60
    python bench/classroom.py --db postgresql+psycopg://u@/db?host=/tmp   # the store on PostgreSQL

What it does, without a browser: it starts `streamlit run app.py` (bench/server.py) with a class database of its own
and a known instructor key, opens a class, then
1. idle: N student tabs open /class?code=…, and each does what the browser does for the page's polling fragment
   (`st.fragment(run_every=…)`): at every `auto_rerun` interval it asks the server to rerun that fragment. The server's
   CPU time over `--idle` seconds, less the same time with no tab open, per student and per minute: what a class
   costs when nobody asks anything;
2. a question: the projector tab (/class?code=… taken back with the key, as the instructor does after a reload)
   clicks "Quick vote A–D"; the time until each student's page holds the answer buttons (no click on their side);
3. answers: each student taps one option at a random instant of the same second (`--spread`); the projector's own
   fragment polls the count, as the projector's browser does. Printed: answers lost (accepted by the server but not in
   the database, or not on the projector), and the p50 / p95 / max from a student's tap to the projector showing a
   count that includes it (answers counted in the order the server acknowledged them).

Figures, not tests. The load average is printed with them: on a shared machine the latencies mean little, the CPU
time per student somewhat more (it is the server process's own).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import websockets  # noqa: E402
from streamlit.proto.BackMsg_pb2 import BackMsg  # noqa: E402
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg  # noqa: E402

from bench.server import StreamlitServer  # noqa: E402
from cnnviz.classroom import ClassStore  # noqa: E402

KEY = "bench instructor key"
TIMEOUT = 120.0


def pct(values: list[float], q: float) -> float:
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(round(q * len(v) + 0.5)) - 1))] if v else float("nan")


@dataclass
class Tab:
    """One browser tab on /class, without the browser: it reads every message the server sends, keeps the
    widgets' ids and the polling fragments, and sends what the browser would send."""

    base: str  # ws://127.0.0.1:port
    query: str
    lang: str = "fr"
    page_hash: str = ""
    fragments: dict = field(default_factory=dict)  # fragment id -> interval (s)
    widgets: dict = field(default_factory=dict)  # element key (end of its id) -> id
    widget_fragment: dict = field(default_factory=dict)  # element key -> the fragment it is drawn in ("" if none)
    metric: int | None = None
    counts: list = field(default_factory=list)  # (time, count) each time the projector's metric is drawn
    finished: int = 0
    errors: list = field(default_factory=list)
    picks_seen: float | None = None  # when the answer buttons first arrived
    ws: object = None

    async def open(self) -> None:
        self.ws = await websockets.connect(f"{self.base}/_stcore/stream", subprotocols=["streamlit"], max_size=None,
                                           compression=None, open_timeout=60, ping_interval=None)
        self._done = asyncio.Event()
        self._reader = asyncio.create_task(self._read())
        await self.rerun()
        await self.wait_finished(self.finished + 1)

    async def close(self) -> None:
        self._reader.cancel()
        await self.ws.close()

    async def rerun(self, widgets: list | None = None, fragment_id: str | None = None, auto: bool = True) -> None:
        """A rerun request: the page's, or (fragment_id) one fragment's — a timer's (auto) or a widget's in it."""
        msg = BackMsg()
        cs = msg.rerun_script
        cs.query_string = self.query
        if self.page_hash:
            cs.page_script_hash = self.page_hash
        else:
            cs.page_name = "class"
        if fragment_id:
            cs.fragment_id = fragment_id
            cs.is_auto_rerun = auto
        for wid, kind, value in widgets or []:
            w = cs.widget_states.widgets.add()
            w.id = wid
            setattr(w, kind, value)
        cs.context_info.locale = "fr-FR" if self.lang == "fr" else "en-GB"
        cs.context_info.url = f"{self.base.replace('ws://', 'http://')}/class?{self.query}"
        await self.ws.send(msg.SerializeToString())

    async def wait_finished(self, n: int, timeout: float = TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while self.finished < n:
            self._done.clear()
            try:
                await asyncio.wait_for(self._done.wait(), max(0.01, deadline - time.monotonic()))
            except TimeoutError:
                self.errors.append("timeout")
                return

    async def poll(self, stop: asyncio.Event) -> None:
        """The browser's timer for each `run_every` fragment of the page (students' timers are out of phase: they
        opened the page at different moments)."""
        next_at: dict[str, float] = {}
        await asyncio.sleep(random.random() * max(self.fragments.values(), default=1.0))
        while not stop.is_set():
            now = time.monotonic()
            for fid, interval in list(self.fragments.items()):
                due = next_at.setdefault(fid, now + interval)
                if now >= due:
                    next_at[fid] = now + interval
                    try:
                        await self.rerun(fragment_id=fid)
                    except websockets.ConnectionClosed:
                        return
            await asyncio.sleep(0.05)

    async def _read(self) -> None:
        try:
            async for data in self.ws:
                fm = ForwardMsg()
                fm.ParseFromString(data)
                kind = fm.WhichOneof("type")
                if kind == "new_session":
                    self.page_hash = fm.new_session.page_script_hash or self.page_hash
                    if not fm.metadata.run.fragment_ids:  # a full run: its fragments register again
                        self.fragments.clear()
                elif kind == "navigation":
                    self.page_hash = fm.navigation.page_script_hash or self.page_hash
                elif kind == "page_info_changed":
                    self.query = fm.page_info_changed.query_string
                elif kind == "auto_rerun":
                    self.fragments[fm.auto_rerun.fragment_id] = fm.auto_rerun.interval
                elif kind == "stop_auto_rerun":
                    for fid in fm.stop_auto_rerun.fragment_ids:
                        self.fragments.pop(fid, None)
                elif kind == "delta" and fm.delta.WhichOneof("type") == "new_element":
                    self._element(fm.delta.new_element, fm.delta.fragment_id)
                elif kind == "script_finished":
                    self.finished += 1
                    self._done.set()
        except (websockets.ConnectionClosed, asyncio.CancelledError):
            pass

    def _element(self, el, fragment_id: str = "") -> None:
        kind = el.WhichOneof("type")
        if kind == "exception":
            self.errors.append(f"{el.exception.type}: {el.exception.message}"[:200])
        elif kind == "metric":
            self.metric = int(el.metric.body)
            self.counts.append((time.perf_counter(), self.metric))
        elif kind in ("button", "text_input", "download_button"):
            wid = getattr(el, kind).id
            key = wid.rsplit("-", 1)[-1]
            self.widgets[key] = wid
            self.widget_fragment[key] = fragment_id
            if key.startswith("class_pick_") and self.picks_seen is None:
                self.picks_seen = time.perf_counter()


async def run(args, base: str, url: str, server: StreamlitServer | None) -> None:
    store = ClassStore(url)
    code = store.open_class(KEY)
    n = args.students
    cpu = server.cpu_seconds if server else (lambda: float("nan"))
    print(f"class {code}; {n} students; load average {os.getloadavg()}", flush=True)

    # 0. the server alone, for as long as the idle phase: its own background cost
    c0 = cpu()
    await asyncio.sleep(args.baseline)
    baseline = (cpu() - c0) / args.baseline

    # 1. the students arrive (a few at a time, as a class does) and poll
    students = [Tab(base, f"code={code}&lang={args.lang}", args.lang) for _ in range(n)]
    for i in range(0, n, 10):
        await asyncio.gather(*(s.open() for s in students[i:i + 10]))
    stop = asyncio.Event()
    pollers = [asyncio.create_task(s.poll(stop)) for s in students]
    interval = next(iter(students[0].fragments.values()), float("nan"))
    await asyncio.sleep(2)
    c0, t0 = cpu(), time.perf_counter()
    runs0 = sum(s.finished for s in students)
    await asyncio.sleep(args.idle)
    idle_cpu, idle_wall = cpu() - c0, time.perf_counter() - t0
    polls = sum(s.finished for s in students) - runs0
    net = idle_cpu - baseline * idle_wall
    print(f"idle: {n} students polling every {interval:g} s for {idle_wall:.0f} s: {polls} fragment runs "
          f"({polls / idle_wall:.1f}/s); server CPU {idle_cpu:.2f} s ({idle_cpu / idle_wall:.0%} of a core), "
          f"{baseline:.3f} s/s with nobody; per student per minute: {net / n / idle_wall * 60 * 1e3:.0f} ms "
          f"({idle_cpu / max(polls, 1) * 1e3:.1f} ms per poll); load average {os.getloadavg()}", flush=True)

    # 2. the projector takes the class back with the key, and asks a quick vote
    projector = Tab(base, f"code={code}&lang={args.lang}", args.lang)
    await projector.open()
    done = projector.finished
    await projector.rerun([(projector.widgets["class_key"], "string_value", KEY),
                           (projector.widgets["class_start"], "trigger_value", True)])
    await projector.wait_finished(done + 1)
    await asyncio.sleep(0.5)
    projector_poll = asyncio.create_task(projector.poll(stop))
    done = projector.finished
    asked = time.perf_counter()
    await projector.rerun([(projector.widgets["class_quick_choice"], "trigger_value", True)])
    await projector.wait_finished(done + 1)
    deadline = time.monotonic() + 30
    while any(s.picks_seen is None for s in students) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    appear = [s.picks_seen - asked for s in students if s.picks_seen is not None]
    missing = n - len(appear)
    print(f"question: on {len(appear)} of {n} phones without a click, p50 {statistics.median(appear):.2f} s, "
          f"p95 {pct(appear, 0.95):.2f} s, max {max(appear):.2f} s after the instructor's click"
          + (f"; {missing} never showed it" if missing else ""), flush=True)
    for s in students:
        if s.picks_seen is None and os.environ.get("CNNVIZ_BENCH_DEBUG"):
            print("  never showed it:", s.fragments, s.finished, s.errors, sorted(s.widgets)[:8])

    # 3. everyone taps within the same second
    qid = store.current(code)["id"]
    rng = random.Random(0)
    submits: dict[int, float] = {}
    acks: dict[int, float] = {}

    async def tap(i: int, s: Tab) -> None:
        await asyncio.sleep(rng.random() * args.spread)
        key = f"class_pick_{qid}_{i % 4}"
        if key not in s.widgets:
            s.errors.append("no answer buttons")
            return
        done = s.finished
        submits[i] = time.perf_counter()
        # as the browser does: a widget drawn in a fragment reruns that fragment only
        await s.rerun([(s.widgets[key], "trigger_value", True)], fragment_id=s.widget_fragment.get(key) or None,
                      auto=False)
        await s.wait_finished(done + 1)
        acks[i] = time.perf_counter()

    c0 = cpu()
    await asyncio.gather(*(tap(i, s) for i, s in enumerate(students)))
    deadline = time.monotonic() + 20
    while (projector.metric or 0) < len(acks) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.5)
    stop.set()
    await asyncio.gather(*pollers, projector_poll)
    results = store.results(code, qid, KEY)
    order = sorted(acks, key=acks.get)  # the k-th acknowledged answer is in any count >= k
    latency = []
    for rank, i in enumerate(order, start=1):
        shown = next((t for t, c in projector.counts if c >= rank and t >= submits[i]), None)
        if shown is not None:
            latency.append(shown - submits[i])
    lost = len(acks) - results["count"]
    print(f"answers: {len(submits)} sent over {args.spread:g} s, {len(acks)} acknowledged, {results['count']} in the "
          f"database, projector shows {projector.metric}; lost: {lost + (len(submits) - len(acks))}; "
          f"tap -> projector count p50 {statistics.median(latency or [float('nan')]):.2f} s, "
          f"p95 {pct(latency, 0.95):.2f} s, max {max(latency or [float('nan')]):.2f} s; "
          f"server CPU during the answers {cpu() - c0:.2f} s", flush=True)
    errors = [e for s in [*students, projector] for e in s.errors]
    if errors:
        print(f"errors: {len(errors)}, e.g. {errors[:3]}")
    print(f"load average at the end {os.getloadavg()}")
    for s in [*students, projector]:
        await s.close()
    store.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--students", type=int, default=60)
    ap.add_argument("--idle", type=float, default=30.0, help="seconds of polling with no question (default 30)")
    ap.add_argument("--baseline", type=float, default=10.0, help="seconds of the server alone (default 10)")
    ap.add_argument("--spread", type=float, default=1.0, help="the answers' taps spread over this (default 1 s)")
    ap.add_argument("--lang", default="fr", choices=["fr", "en"])
    ap.add_argument("--db", help="the class database (default: an SQLite file in a temporary folder)")
    ap.add_argument("--url", help="an already running server (its CNNVIZ_DB must be --db, its key " + repr(KEY) + ")")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="cnnviz-class-bench-")
    url = args.db or f"sqlite:///{tmp}/class.sqlite"
    server = None
    if args.url:
        base = args.url.rstrip("/").replace("http://", "ws://")
    else:
        # CNNVIZ_WARM=0: the server's own warm-up of the lecture's views would land in the idle measure
        server = StreamlitServer(env={"CNNVIZ_DB": url, "CNNVIZ_INSTRUCTOR_KEY": KEY, "CNNVIZ_RUNS": tmp,
                                      "CNNVIZ_WARM": "0"},
                                 log=os.environ.get("CNNVIZ_LOAD_LOG", os.devnull))
        print(f"streamlit healthy in {server.wait_healthy():.1f} s on port {server.port}; {os.cpu_count()} CPUs",
              flush=True)
        base = f"ws://127.0.0.1:{server.port}"
    try:
        asyncio.run(run(args, base, url, server))
    finally:
        if server:
            server.stop()


if __name__ == "__main__":
    main()
