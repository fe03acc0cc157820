"""Two real replicas behind a real HAProxy on loopback, started by `python -m deploy.class_server` as `make class`
does (issue 20, item 1): the app and its health check through the balancer, new browsers spread over the
replicas although they all come from one address, a browser's requests and websocket stick to its replica, a
page whose replica is killed comes back to the same view on the other one, the dead replica is started again,
and SIGTERM stops everything cleanly.

About a minute on 2 cores (two Streamlit servers, each running a page once)."""

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from deploy.class_server import COOKIE, HEALTH, port_free
from deploy.tab import Tab

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.skipif(not shutil.which("haproxy", path=f"{os.environ.get('PATH', '')}:/usr/sbin"),
                                reason="haproxy is not installed (make test installs it)")


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


class Launcher:
    def __init__(self, tmp: Path):
        self.port, *self.ports = free_ports(3)
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = tmp / "class"
        self.out = open(tmp / "launcher.log", "w+")
        env = dict(os.environ, CNNVIZ_RUNS=str(tmp / "runs"), CNNVIZ_NO_DOWNLOAD="1", CNNVIZ_THREADS="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "deploy.class_server", "--replicas", "2", "--port", str(self.port), "--address",
             "127.0.0.1", "--replica-ports", ",".join(map(str, self.ports)), "--workdir", str(self.workdir),
             "--no-warmup"], cwd=ROOT, env=env, stdout=self.out, stderr=subprocess.STDOUT)
        self.wait_for("A class on", 180)

    def output(self) -> str:
        self.out.flush()
        return Path(self.out.name).read_text()

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output():
            assert self.proc.poll() is None or text in self.output(), self.output()
            assert time.monotonic() < deadline, f"no {text!r} in:\n{self.output()}"
            time.sleep(0.2)

    def replica_pid(self, name: str) -> int:
        port = self.ports[int(name[1:]) - 1]
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid), "-f", f"server.port {port} "],
                             capture_output=True, text=True).stdout.split()
        assert len(out) == 1, out
        return int(out[0])

    def stats(self) -> dict[str, dict[str, str]]:
        """HAProxy's `show stat` per server name (r1, r2): scur (open connections), stot (all), status."""
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(self.workdir / "haproxy.sock"))
            s.sendall(b"show stat\n")
            data = b"".join(iter(lambda: s.recv(65536), b""))
        lines = data.decode().splitlines()
        head = lines[0].lstrip("# ").split(",")
        rows = [dict(zip(head, line.split(","))) for line in lines[1:] if line]
        return {r["svname"]: r for r in rows if r["pxname"] == "replicas"}


@pytest.fixture(scope="module")
def launcher(tmp_path_factory):
    launch = Launcher(tmp_path_factory.mktemp("serve"))
    yield launch
    if launch.proc.poll() is None:  # a test failed before the SIGTERM test: stop it all the same
        launch.proc.send_signal(signal.SIGTERM)
        try:
            launch.proc.wait(60)
        except subprocess.TimeoutExpired:
            launch.proc.kill()


def get(url: str, cookie: str | None = None):
    req = urllib.request.Request(url, headers={"Cookie": cookie} if cookie else {})
    with urllib.request.urlopen(req, timeout=30) as r:
        return r.status, r.read(), r.headers.get_all("Set-Cookie") or []


def test_the_app_and_its_health_check_answer_through_the_balancer(launcher):
    status, body, _ = get(f"{launcher.url}{HEALTH}")
    assert (status, body) == (200, b"ok")
    status, body, _ = get(f"{launcher.url}/feature_maps?lang=fr")
    assert status == 200 and b'<div id="root">' in body  # Streamlit's page, served by a replica
    assert all(r["status"].startswith("UP") for r in launcher.stats().values())


def test_browsers_from_one_address_spread_and_each_sticks_to_its_replica(launcher):
    given = []
    for _ in range(4):  # four new browsers, all from 127.0.0.1 (a lecture hall behind one NAT)
        _, _, cookies = get(f"{launcher.url}/")
        (cookie,) = [c for c in cookies if c.startswith(f"{COOKIE}=")]
        given.append(cookie.split(";")[0].split("=")[1])
    assert set(given) == {"r1", "r2"}, given
    before = launcher.stats()
    for _ in range(5):  # a browser holding r2's cookie: everything goes to r2, no new cookie
        status, _, cookies = get(f"{launcher.url}/convolution", cookie=f"{COOKIE}=r2")
        assert status == 200 and not [c for c in cookies if c.startswith(COOKIE)]
    after = launcher.stats()
    assert int(after["r2"]["stot"]) - int(before["r2"]["stot"]) == 5
    assert after["r1"]["stot"] == before["r1"]["stot"]


def test_a_page_whose_replica_dies_comes_back_to_the_same_view_on_the_other(launcher):
    async def scenario():
        tab = Tab(launcher.url, "convolution", "fr", extra="step=5")
        await tab.connect()
        first = await tab.run_once()  # a fresh replica's first run: torch, the app, the screen
        victim = tab.cookies[COOKIE]
        other = {"r1": "r2", "r2": "r1"}[victim]
        open_conns = launcher.stats()
        assert int(open_conns[victim]["scur"]) >= 1 and open_conns[other]["scur"] == "0"  # the websocket is there
        view = (tab.page_hash, tab.query)
        os.kill(launcher.replica_pid(victim), signal.SIGKILL)
        lost = await tab.run_once()  # the socket closes under the tab
        seconds = await tab.reconnect()
        back = tab.runs[-1]
        await tab.close()
        return first, lost, back, seconds, victim, other, view, tab

    first, lost, back, seconds, victim, other, view, tab = asyncio.run(scenario())
    assert not first.error, first.error
    assert lost.error.startswith("connection closed"), lost.error
    assert not back.error, back.error  # no error page: the view ran again
    assert (tab.page_hash, tab.query) == view and "step=5" in tab.query  # the same screen, the same settings
    assert tab.cookies[COOKIE] == other  # HAProxy sent it to the other replica and said so in the cookie
    print(f"the page came back on {other} in {seconds:.2f} s")
    # the launcher starts the dead replica again on its port, and HAProxy takes it back
    launcher.wait_for(f"{victim} exited (-9)", 30)
    deadline = time.monotonic() + 120
    while not launcher.stats()[victim]["status"].startswith("UP"):
        assert time.monotonic() < deadline, launcher.output()
        time.sleep(0.5)


def test_sigterm_stops_the_balancer_and_every_replica_cleanly(launcher):
    launcher.proc.send_signal(signal.SIGTERM)
    assert launcher.proc.wait(60) == 0, launcher.output()
    out = launcher.output()
    assert "Stopped: haproxy" in out and "r1 exit 0" in out and "r2 exit 0" in out, out  # SIGTERM, not killed
    assert all(port_free(p) for p in [launcher.port, *launcher.ports])
