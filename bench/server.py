"""A real `streamlit run app.py` on loopback for the benchmarks (bench/load.py, bench/uploads.py): a free port,
health-checked, its resident memory and CPU time read from /proc (Linux), stopped politely.

    server = StreamlitServer(options=["runner.postScriptGC=false"], env={"CNNVIZ_THREADS": "1"})
    server.wait_healthy()
    ... server.url, server.rss(), server.cpu_seconds(), server.peak_rss ...
    server.stop()

`Watched(lambda: pid)` samples the same figures of a process started elsewhere (the replicas of
deploy/class_server.py, for bench/load.py --class). The browser tests start theirs in tests/e2e/conftest.py
(pytest's temporary folders and failures).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_of(pid: int) -> int:
    """Resident memory of a process (bytes; 0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_seconds_of(pid: int) -> float:
    """CPU time a process has used (user + system, all its threads): its cost per page run does not depend on what
    else the machine runs, unlike a page run's wall time."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


class Watched:
    """A running server process, its resident memory sampled every 0.25 s (peak_rss). `pid` is a function: a
    replica started again (deploy/class_server.py) has another pid."""

    def __init__(self, pid, start: bool = True):
        self.pid = pid
        self.peak_rss = 0
        self._stop = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        if start:
            self._sampler.start()

    def rss(self) -> int:
        return rss_of(self.pid())

    def cpu_seconds(self) -> float:
        return cpu_seconds_of(self.pid())

    def _sample(self) -> None:
        while not self._stop.wait(0.25):
            self.peak_rss = max(self.peak_rss, self.rss())

    def reset_peak(self) -> None:
        self.peak_rss = self.rss()

    def stop_watching(self) -> None:
        self._stop.set()


class StreamlitServer(Watched):
    """`<launcher> run app.py` on 127.0.0.1:<free port>. `options` are "name=value" Streamlit options; `launcher`
    is what runs Streamlit's command line (default `python -m streamlit`); `log` gets its output."""

    def __init__(self, options: list[str] = (), env: dict | None = None, launcher: list[str] | None = None,
                 log: str = os.devnull):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = ["run", "app.py", "--server.headless", "true", "--server.port", str(self.port),
                "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
                *[part for opt in options for part in (f"--{opt.split('=', 1)[0]}", opt.split("=", 1)[1])]]
        self.proc = subprocess.Popen([*(launcher or [sys.executable, "-m", "streamlit"]), *args], cwd=ROOT,
                                     stdout=open(log, "w"), stderr=subprocess.STDOUT, env={**os.environ, **(env or {})})
        super().__init__(lambda: self.proc.pid, start=False)  # memory sampled once healthy

    def wait_healthy(self, timeout: float = 90.0) -> float:
        """Seconds until /_stcore/health answered ok; then the peak RSS is sampled every 0.25 s."""
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {self.proc.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=2) as r:
                    if r.read() == b"ok":
                        self._sampler.start()
                        return time.perf_counter() - t0
            except OSError:
                time.sleep(0.2)
        raise TimeoutError("server not healthy")

    def stop(self) -> None:
        self._stop.set()
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
