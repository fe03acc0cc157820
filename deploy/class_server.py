"""A class on one machine: N identical `streamlit run app.py` replicas on loopback ports, HAProxy in front on one
port, sticky by cookie, health-checked, started and stopped together.

    python -m deploy.class_server --replicas 2 --port 8600   # what `make class REPLICAS=2 PORT=8600` runs
    python -m deploy.class_server --print-config             # the haproxy.cfg it would write, nothing started

Why this shape (README, "Running it for a class"): one Streamlit process runs its sessions' Python on one core at
a time, so a machine with N cores serves a class best with N replicas. A browser's session lives in one replica's
memory, so every request of a browser must reach the same replica: HAProxy inserts a cookie (SERVERID=r1) in the
first answer and routes by it. Not by client address: a lecture hall behind one school NAT has one address and
would all land on one replica. The websocket (`/_stcore/stream`) is upgraded and may stay idle for long
(`timeout tunnel`); `GET /_stcore/health` tells HAProxy which replicas are up. When a replica dies, HAProxy sends
its browsers to another one (`option redispatch`): Streamlit's page reconnects by itself, keeps showing its view,
and its next click runs there; since every view lives in the URL, it is the same view.

Every replica gets the launcher's environment unchanged (CNNVIZ_RUNS, CNNVIZ_DB, CNNVIZ_MODEL, ...), so they
share the trainings in runs/ and the class database, plus two things a class needs: one Streamlit cookie secret for
all of them (a cookie signed by one replica is valid on the others) and, unless CNNVIZ_THREADS is set, the cores
divided between them (N replicas each with every core's PyTorch threads would fight over the cores).

Once a replica is up, the views a lecture opens are opened on it in the background (deploy/warmup.py), so the
first students do not pay for them and a page that moves there after its replica died finds it ready.

Ctrl-C or SIGTERM stops HAProxy, then sends SIGTERM to every replica (each stops its trainings and saves them,
cnnviz.training.install_clean_shutdown) and waits for them. The children run in their own process groups, so a
Ctrl-C in the terminal reaches only this launcher, which stops them in that order; on Linux they also get
SIGTERM if the launcher itself is killed. A replica that dies is started again on its port.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
COOKIE = "SERVERID"  # HAProxy's stickiness cookie: the replica's name, r1 .. rN
HEALTH = "/_stcore/health"  # Streamlit's health check: 200 "ok" once the server runs
TUNNEL_TIMEOUT = "1h"  # an idle websocket (Streamlit pings every 30 s; a tab left open for a lecture)
STOP_SECONDS = 30.0  # a replica's time to save its trainings after SIGTERM (the jobs stop within ~10 s)
MAX_REPLICAS = 64


def replica_name(i: int) -> str:
    """The name of replica i (0-based) in HAProxy and in the stickiness cookie: r1, r2, ..."""
    return f"r{i + 1}"


def default_replicas() -> int:
    """One replica per core."""
    return max(1, os.cpu_count() or 1)


def replica_ports(port: int, n: int) -> list[int]:
    """The replicas' loopback ports: the ones after the class's port (8600 -> 8601, 8602, ...)."""
    return [port + 1 + i for i in range(n)]


def haproxy_config(ports: list[int], port: int, address: str = "0.0.0.0", stats_socket: str | None = None) -> str:
    """haproxy.cfg for replicas listening on 127.0.0.1:`ports`, HAProxy listening on address:`port`."""
    if not ports:
        raise ValueError("at least one replica")
    servers = "\n".join(f"    server {replica_name(i)} 127.0.0.1:{p} cookie {replica_name(i)}"
                        for i, p in enumerate(ports))
    stats = f"    stats socket {stats_socket} mode 600 level operator\n" if stats_socket else ""
    return f"""\
# cnnviz for a class: {len(ports)} Streamlit replica(s) behind HAProxy (written by deploy/class_server.py)
global
    maxconn 4096
    log stderr format short local0 notice   # replicas going down or up; not every request
{stats}
defaults
    mode http
    log global
    option dontlognull
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout http-request 15s
    timeout queue 30s
    timeout check 10s
    timeout tunnel {TUNNEL_TIMEOUT}   # the websocket once upgraded: long idle periods are normal
    timeout client-fin 30s
    timeout server-fin 30s
    # a replica that does not answer: try another at once (the browser's cookie names a dead replica)
    option redispatch 1
    retries 3

frontend cnnviz
    bind {address}:{port}
    default_backend replicas

backend replicas
    # a new browser goes to the replica with the fewest open connections (each tab holds a websocket)
    balance leastconn
    # stickiness by cookie, not by address: a lecture hall behind one NAT still spreads
    cookie {COOKIE} insert indirect nocache httponly
    option httpchk
    http-check send meth GET uri {HEALTH}
    http-check expect status 200
    # a replica busy with a page run may answer late: slow is not down (a dead one refuses at once, and its
    # browsers are redispatched on that refusal, before the checks mark it down)
    default-server check inter 2s fall 3 rise 2
{servers}
"""


def replica_env(base: dict, n: int, cores: int | None = None, secret: str | None = None) -> dict:
    """The environment of every replica: `base` (the launcher's) with one Streamlit cookie secret for all, one
    instructor key for all (CNNVIZ_INSTRUCTOR_KEY, made here when unset: a class opened on one replica must be
    driven from any of them) and, unless CNNVIZ_THREADS is set, the cores shared between the n replicas."""
    env = dict(base)
    env.setdefault("STREAMLIT_SERVER_COOKIE_SECRET", secret or secrets.token_hex(32))
    if not env.get("CNNVIZ_INSTRUCTOR_KEY", "").strip():
        env["CNNVIZ_INSTRUCTOR_KEY"] = secrets.token_urlsafe(12)
    if not env.get("CNNVIZ_THREADS", "").strip():
        env["CNNVIZ_THREADS"] = str(max(1, (cores or os.cpu_count() or 1) // n))
    env["CNNVIZ_WARM"] = "0"  # the launcher warms each replica itself (ClassServer._warm), not the replica on itself
    return env


def replica_command(port: int, python: str = sys.executable) -> list[str]:
    return [python, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port", str(port),
            "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"]


def port_free(port: int, address: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((address, port))
        except OSError:
            return False
    return True


def healthy(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status == 200 and r.read() == b"ok"
    except OSError:
        return False


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the launcher dies (Linux prctl PR_SET_PDEATHSIG); no-op elsewhere.
    (Linux sends it when the *thread* that started the child ends: start children from a long-lived thread, as
    main() and bench/load.py do, from the main one.)"""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)
    except (OSError, AttributeError):
        pass


@dataclass
class Child:
    name: str
    command: list[str]
    log: Path
    proc: subprocess.Popen | None = None
    started: float = 0.0
    failures: int = 0  # quick deaths in a row: the next start waits longer
    next_start: float = 0.0

    def start(self, env: dict) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.command, cwd=REPO_ROOT, env=env, stdin=subprocess.DEVNULL,
                                         stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                         preexec_fn=_die_with_parent)
        self.started = time.monotonic()

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


@dataclass
class ClassServer:
    """N replicas and HAProxy; `start()`, then `check()` now and then (restarts dead replicas), then `stop()`."""

    replicas: int
    port: int
    address: str = "0.0.0.0"
    ports: list[int] | None = None  # the replicas' ports (default: replica_ports(port, replicas))
    workdir: Path | None = None  # haproxy.cfg, the stats socket and every process's log (default: a new temp folder)
    env: dict | None = None  # the replicas' base environment (default: os.environ)
    haproxy: str = "haproxy"
    warm: bool = True  # open the lecture's views on each replica once it is up (in the background)
    lang: str = "fr"  # the language of the warmed views
    say: Callable[[str], None] = print
    replica_procs: list[Child] = field(default_factory=list, init=False)
    proxy: Child | None = field(default=None, init=False)
    _stopping: threading.Event = field(default_factory=threading.Event, init=False)
    warmed: threading.Event = field(default_factory=threading.Event, init=False)  # the first warm-up has ended

    def __post_init__(self):
        if not 1 <= self.replicas <= MAX_REPLICAS:
            raise ValueError(f"replicas: 1 to {MAX_REPLICAS}, not {self.replicas}")
        self.ports = list(self.ports or replica_ports(self.port, self.replicas))
        if len(self.ports) != self.replicas or len({*self.ports, self.port}) != self.replicas + 1:
            raise ValueError(f"{self.replicas} distinct replica ports other than {self.port}: {self.ports}")
        self.workdir = Path(self.workdir or tempfile.mkdtemp(prefix=f"cnnviz-class-{self.port}-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.config_path = self.workdir / "haproxy.cfg"
        self.stats_socket = self.workdir / "haproxy.sock"
        self.url = f"http://{'127.0.0.1' if self.address in ('0.0.0.0', '::', '') else self.address}:{self.port}"
        self.child_env = replica_env(os.environ if self.env is None else self.env, self.replicas)

    # ------------------------------------------------------------ start

    def start(self, timeout: float = 180.0) -> ClassServer:
        """Start the replicas, wait until each answers its health check, then HAProxy; raise RuntimeError with
        the reason (a busy port, a replica that exits, HAProxy's complaint) after stopping what was started."""
        # Debian installs it in /usr/sbin, which a user's PATH may lack
        haproxy = shutil.which(self.haproxy) or shutil.which(self.haproxy, path="/usr/sbin:/sbin")
        if haproxy is None:
            raise RuntimeError(f"{self.haproxy} not found: install Debian's haproxy (make class does)")
        self.haproxy = haproxy
        busy = [p for p in self.ports if not port_free(p)]
        if not port_free(self.port, self.address if self.address not in ("", "::") else "0.0.0.0"):
            busy.append(self.port)
        if busy:
            raise RuntimeError(f"port(s) in use: {', '.join(map(str, busy))}")
        self.config_path.write_text(haproxy_config(self.ports, self.port, self.address, str(self.stats_socket)))
        check = subprocess.run([self.haproxy, "-c", "-q", "-f", str(self.config_path)], capture_output=True,
                               text=True)
        if check.returncode:
            raise RuntimeError(f"haproxy rejects {self.config_path}: {check.stdout}{check.stderr}".strip())
        try:
            for i, p in enumerate(self.ports):
                child = Child(replica_name(i), replica_command(p), self.workdir / f"{replica_name(i)}.log")
                child.start(self.child_env)
                self.replica_procs.append(child)
            deadline = time.monotonic() + timeout
            for child, p in zip(self.replica_procs, self.ports):
                self._wait(child, f"http://127.0.0.1:{p}{HEALTH}", deadline)
            self.proxy = Child("haproxy", [self.haproxy, "-db", "-f", str(self.config_path)],
                               self.workdir / "haproxy.log")
            self.proxy.start(os.environ)
            self._wait(self.proxy, f"{self.url}{HEALTH}", deadline)
        except BaseException:
            self.stop()
            raise
        if self.warm:
            threading.Thread(target=self._warm_all, daemon=True, name="warm-up").start()
        else:
            self.warmed.set()
        return self

    def _warm_all(self) -> None:
        threads = [threading.Thread(target=self._warm, args=(c, p), daemon=True)
                   for c, p in zip(self.replica_procs, self.ports)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.warmed.set()

    def _warm(self, child: Child, port: int) -> None:
        """Wait until the replica answers, then open the lecture's views on it; say how long it took."""
        from deploy.warmup import warm

        url = f"http://127.0.0.1:{port}"
        while not healthy(f"{url}{HEALTH}"):
            if self._stopping.is_set() or not child.running():
                return
            time.sleep(0.5)
        t0 = time.monotonic()
        runs = warm(url, self.lang)
        failed = [f"{r.screen} ({r.error})" for r in runs if r.error]
        if not self._stopping.is_set():
            self.say(f"{child.name}: {len(runs)} views warmed in {time.monotonic() - t0:.1f} s"
                     + (f"; failed: {', '.join(failed)}" if failed else ""))

    def _wait(self, child: Child, url: str, deadline: float) -> None:
        while not healthy(url):
            if not child.running():
                raise RuntimeError(f"{child.name} exited ({child.proc.returncode}); see {child.log}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{child.name} not healthy at {url}; see {child.log}")
            time.sleep(0.2)

    # ------------------------------------------------------------ supervise

    def check(self) -> None:
        """Start again a replica that exited (HAProxy's health check takes it back once it answers); a replica that
        keeps dying waits longer each time (up to a minute). RuntimeError when HAProxy itself exited."""
        if self._stopping.is_set():
            return
        if self.proxy is not None and not self.proxy.running():
            raise RuntimeError(f"haproxy exited ({self.proxy.proc.returncode}); see {self.proxy.log}")
        now = time.monotonic()
        for child in self.replica_procs:
            if child.running():
                continue
            if child.next_start == 0.0:
                lived = now - child.started
                child.failures = child.failures + 1 if lived < 30 else 0
                child.next_start = now + min(60.0, 2.0 ** child.failures - 1)
                self.say(f"{child.name} exited ({child.proc.returncode}) after {lived:.0f} s; starting it again"
                         f"{f' in {child.next_start - now:.0f} s' if child.next_start > now else ''}"
                         f" (log: {child.log})")
            if now >= child.next_start:
                child.next_start = 0.0
                child.start(self.child_env)
                if self.warm:
                    threading.Thread(target=self._warm, args=(child, self.ports[self.replica_procs.index(child)]),
                                     daemon=True).start()

    # ------------------------------------------------------------ stop

    def stop(self, timeout: float = STOP_SECONDS) -> dict[str, int | None]:
        """HAProxy first (no new requests), then SIGTERM to every replica at once, each given `timeout` seconds
        to save its trainings before SIGKILL. Returns name -> exit status (negative: the signal that ended it)."""
        self._stopping.set()
        status: dict[str, int | None] = {}
        if self.proxy is not None:
            status["haproxy"] = _terminate([self.proxy], 5.0)[0]
        for child, code in zip(self.replica_procs, _terminate(self.replica_procs, timeout)):
            status[child.name] = code
        return status


def _terminate(children: list[Child], timeout: float) -> list[int | None]:
    """SIGTERM to each running child, wait up to `timeout` s for all, SIGKILL the rest; their exit statuses."""
    for c in children:
        if c.running():
            c.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for c in children:
        if c.proc is None:
            continue
        try:
            c.proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            c.proc.kill()
            c.proc.wait()
    return [None if c.proc is None else c.proc.returncode for c in children]


def _status(code: int | None) -> str:
    if code is None:
        return "not started"
    return f"exit {code}" if code >= 0 else "stopped by SIGTERM" if code == -signal.SIGTERM else f"signal {-code}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicas", type=int, default=default_replicas(),
                    help=f"Streamlit servers (default: one per core, {default_replicas()} here)")
    ap.add_argument("--port", type=int, default=8600, help="HAProxy's port, the class's address (default 8600)")
    ap.add_argument("--address", default="0.0.0.0", help="HAProxy's address (default 0.0.0.0: every interface)")
    ap.add_argument("--replica-ports", type=lambda s: [int(p) for p in s.split(",")],
                    help="comma-separated loopback ports of the replicas (default: the ports after --port)")
    ap.add_argument("--workdir", type=Path, help="haproxy.cfg and the logs (default: a new folder under /tmp)")
    ap.add_argument("--no-warmup", action="store_true", help="do not open the lecture's views at start-up")
    ap.add_argument("--lang", default="fr", choices=["fr", "en"], help="language of the warmed views (default fr)")
    ap.add_argument("--print-config", action="store_true", help="print the haproxy.cfg and exit")
    args = ap.parse_args(argv)
    ports = args.replica_ports or replica_ports(args.port, args.replicas)
    if args.print_config:
        print(haproxy_config(ports, args.port, args.address), end="")
        return 0
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        server = ClassServer(args.replicas, args.port, args.address, ports, args.workdir, warm=not args.no_warmup,
                             lang=args.lang)
    except ValueError as exc:
        print(f"class_server: {exc}", file=sys.stderr)
        return 2
    print(f"Starting {args.replicas} replica(s) on 127.0.0.1:{','.join(map(str, ports))} (logs in {server.workdir})",
          flush=True)
    t0 = time.monotonic()
    try:
        server.start()
    except RuntimeError as exc:
        print(f"class_server: {exc}", file=sys.stderr)
        return 1
    print(f"A class on {server.url}/ (every address of this machine when --address is 0.0.0.0): {args.replicas} "
          f"replica(s) behind HAProxy, ready in {time.monotonic() - t0:.1f} s. Ctrl-C stops them.", flush=True)
    if not os.environ.get("CNNVIZ_INSTRUCTOR_KEY", "").strip():  # made by replica_env: only this console shows it
        print(f"Instructor key for this class (every replica): {server.child_env['CNNVIZ_INSTRUCTOR_KEY']}", flush=True)
    code = 0
    try:
        while not stop.wait(0.5):
            server.check()
    except RuntimeError as exc:
        print(f"class_server: {exc}", file=sys.stderr)
        code = 1
    finally:
        print("Stopping: HAProxy, then every replica (trainings are saved)...", flush=True)
        status = server.stop()
        print("Stopped: " + ", ".join(f"{name} {_status(c)}" for name, c in status.items()), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
