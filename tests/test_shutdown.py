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
