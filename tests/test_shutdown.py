"""SIGTERM during a training or an evaluation ends the process cleanly (exit 0, no "terminate called
without an active exception", no temporary file in runs/), the run saved once, complete.

Each case runs a real TrainingJob in a child Python process, as the Streamlit server would (a daemon
worker thread inside torch), then sends SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from cnnviz.checkpoints import load_checkpoint

CHILD = textwrap.dedent("""
    import signal, sys, time
    import numpy as np
    from cnnviz.data import FASHION_MNIST_CLASSES, Dataset
    from cnnviz.training import TrainConfig, TrainingJob, install_clean_shutdown

    runs, scenario = sys.argv[1], sys.argv[2]
    if scenario == "chained":  # a handler already there, like Streamlit's: it must still run
        def previous(signum, frame):
            print("previous handler ran", flush=True)
            sys.exit(0)
        signal.signal(signal.SIGTERM, previous)

    def data(split, n):
        rng = np.random.default_rng(0)
        return Dataset("fashion-mnist", split, rng.integers(0, 256, (n, 28, 28), dtype=np.uint8),
                       rng.integers(0, 10, n).astype(np.int64), FASHION_MNIST_CLASSES, "synthetic")

    evaluating = scenario == "evaluate"
    cfg = TrainConfig(arch="compact", epochs=1000, max_steps=3 if evaluating else 0, eval_each_epoch=False)
    test = data("test", 300_000 if evaluating else 200)
    assert install_clean_shutdown()
    job = TrainingJob(cfg, data("train", 2000), test, runs_dir=runs).start()
    said = False
    while True:
        snap = job.snapshot()
        if not said and (snap.saving if evaluating else snap.step >= 5):
            print("ready", flush=True)
            said = True
        time.sleep(0.01)
""")


@pytest.mark.parametrize("scenario", ["train", "evaluate", "chained"])
def test_sigterm_ends_cleanly(tmp_path, scenario):
    runs = tmp_path / "runs"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent), OMP_NUM_THREADS="1")
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(runs), scenario], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        line = child.stdout.readline()
        assert line.strip() == "ready", (line, child.stderr.read()[-2000:] if child.poll() is not None else "")
        assert time.monotonic() < deadline
        t0 = time.monotonic()
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    took = time.monotonic() - t0
    assert child.returncode == 0, (child.returncode, err[-2000:])
    assert "terminate called" not in err and "Traceback" not in err, err[-2000:]
    if scenario == "chained":
        assert "previous handler ran" in out
    assert took < 45, f"the shutdown took {took:.1f} s"  # ~1 s alone; generous on 2 busy shared cores
    files = sorted(runs.iterdir())
    assert [p.suffix for p in files] == [".pt"], files  # one complete run, no temporary file
    model, meta = load_checkpoint(files[0])
    assert meta["steps"] >= 3


STREAMLIT_APP = textwrap.dedent("""
    import os, pathlib, time
    import numpy as np
    import streamlit as st
    from cnnviz.data import FASHION_MNIST_CLASSES, Dataset
    from cnnviz.training import TrainConfig, TrainingJob, install_clean_shutdown

    @st.cache_resource
    def job():
        install_clean_shutdown()  # from a script thread, as ui/frame.py does: the exit hook only
        rng = np.random.default_rng(0)
        d = Dataset("fashion-mnist", "train", rng.integers(0, 256, (2000, 28, 28), dtype=np.uint8),
                    rng.integers(0, 10, 2000).astype(np.int64), FASHION_MNIST_CLASSES, "synthetic")
        cfg = TrainConfig(epochs=1000, eval_each_epoch=False)
        return TrainingJob(cfg, d, d, runs_dir=os.environ["RUNS"]).start()

    j = job()
    while j.snapshot().step < 5:
        time.sleep(0.05)
    pathlib.Path(os.environ["READY"]).write_text("ready")
    st.write("running")
""")


def test_streamlit_server_sigterm_during_training(tmp_path):
    """The real server: a session starts a training, SIGTERM stops Streamlit; exit 0 (was -6, "terminate
    called without an active exception"), the run saved once, no temporary file."""
    import asyncio
    import socket
    import urllib.request

    from streamlit.proto.BackMsg_pb2 import BackMsg
    from websockets.asyncio.client import connect

    app, runs, ready = tmp_path / "app.py", tmp_path / "runs", tmp_path / "ready"
    app.write_text(STREAMLIT_APP)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent), RUNS=str(runs), READY=str(ready),
               OMP_NUM_THREADS="1")
    server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", str(app), "--server.headless", "true",
                               "--server.port", str(port), "--server.fileWatcherType", "none",
                               "--browser.gatherUsageStats", "false"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    async def open_session():
        async with connect(f"ws://127.0.0.1:{port}/_stcore/stream", subprotocols=["streamlit"]) as ws:
            msg = BackMsg()
            msg.rerun_script.query_string = ""
            msg.rerun_script.page_script_hash = ""
            await ws.send(msg.SerializeToString())
            for _ in range(1200):
                if ready.exists():
                    return
                await asyncio.sleep(0.1)

    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.2)
        asyncio.run(open_session())
        assert ready.exists(), "the session never started its training"
        server.send_signal(signal.SIGTERM)
        _, err = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.returncode == 0, (server.returncode, err[-2000:])
    assert "terminate called" not in err and "Traceback" not in err, err[-2000:]
    files = sorted(runs.iterdir())
    assert [p.suffix for p in files] == [".pt"], files
    assert load_checkpoint(files[0])[1]["steps"] >= 5
