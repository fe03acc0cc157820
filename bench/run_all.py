"""Benchmarks: print one table of the figures the issues ask for (server times, latency, throughput).

    python bench/run_all.py            # everything (about 2 minutes on 2 cores)
    python bench/run_all.py --quick    # fewer repetitions, no browser cold start
    python bench/load.py               # concurrent sessions over the websocket (a table of its own)

Figures, not tests: nothing here asserts a time. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.chdir(ROOT)

import torch  # noqa: E402

ROWS: list[tuple[str, str, str]] = []


def record(what: str, value: str, goal: str = "") -> None:
    ROWS.append((what, value, goal))
    print(f"  {what}: {value}", flush=True)


def timed(fn, repeat: int) -> float:
    """Median wall time of fn() in milliseconds, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def bench_screens(repeat: int) -> None:
    """Server time of a step change and of a warm re-render, measured through AppTest (no browser)."""
    from streamlit.testing.v1 import AppTest

    def app(page):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
        at.switch_page(f"pages/{page}.py").run()
        return at

    steps = {"convolution": ("conv_step", [1, 5, 9]), "pooling": ("pool_step", [1, 3, 4])}
    for page, (key, values) in steps.items():
        at = app(page)
        cycle = iter(values * (repeat + 2))
        ms = timed(lambda at=at, key=key, cycle=cycle: at.slider(key=key).set_value(next(cycle)).run(), repeat)
        record(f"{page}: step change (server)", f"{ms:.0f} ms", "≤ 100 ms")
    at = app("multichannel")
    cycle = iter([0, 1, 2] * (repeat + 2))
    ms = timed(lambda: at.number_input(key="mc_cell_i").set_value(next(cycle)).run(), repeat)
    record("multichannel: cell change (server)", f"{ms:.0f} ms", "≤ 100 ms")
    for page in ("home", "convolution", "multichannel", "pooling", "feature_maps", "translation", "training",
                 "architecture"):
        at = app(page)
        ms = timed(lambda at=at: at.run(), repeat)
        record(f"{page}: warm re-render (server)", f"{ms:.0f} ms", "≤ 300 ms" if page in ("feature_maps", "translation") else "")


def bench_network(repeat: int) -> None:
    from cnnviz.checkpoints import SHIPPED, load_checkpoint
    from cnnviz.data import load_dataset
    from cnnviz.explore import inspect
    from cnnviz.shift import consistency

    model, _ = load_checkpoint(SHIPPED)
    test = load_dataset("fashion-mnist", "test")
    ms = timed(lambda: inspect(model, test.images[0]), repeat * 5)
    record("forward pass + all feature maps, one image", f"{ms:.1f} ms", "≤ 30 ms")
    t0 = time.perf_counter()
    value = consistency(model, test.images, max_shift=3)
    record("consistency over 10,000 test images (k = 3)", f"{time.perf_counter() - t0:.1f} s (value {value:.4f})", "≤ 30 s")


def bench_figures(repeat: int) -> None:
    """What one chart costs the server (build + plotly's JSON) and weighs on the wire (bench/figures.py)."""
    sys.path.insert(0, str(ROOT / "bench"))
    import figures

    for label, ms, size, frames in figures.worst_conv_animation():
        if label.startswith(("1×1, stride 1, padding 3, dilation 1", "3×3, stride 1, padding 1, dilation 1")):
            record(f"convolution animation, 12×12 input, {label} ({frames} frames)", f"{ms:.0f} ms, {size / 1e3:,.0f} kB",
                   "≤ 300 ms, ≤ 1 MB")
    ms, size, n = figures.feature_maps_run(repeat)
    record(f"feature maps: the {n} charts of one run, built + JSON", f"{ms:.0f} ms, {size / 1e3:,.0f} kB", "≤ 500 kB")
    ms, size, points = figures.live_loss(repeat=repeat)
    record("live loss chart after 115,000 batches (redrawn every second)", f"{ms:.0f} ms, {size / 1e3:,.0f} kB, "
           f"{points:,} points", "≤ 2 × 1,000 points")


def bench_training(batches: int, pairs: int) -> None:
    """Images/s of the app's TrainingJob (in its thread) vs a bare PyTorch loop: same model, data, batch, threads."""
    from bench.gpu import resident
    from cnnviz.data import load_dataset
    from cnnviz.training import TrainConfig, TrainingJob

    train = load_dataset("fashion-mnist", "train")
    bs = 64

    def bare() -> float:  # the same model, optimiser and data, the batches gathered in a plain loop
        return resident(train, torch.device("cpu"), batches, batch=bs)

    def app_job() -> float:
        cfg = TrainConfig(batch_size=bs, epochs=1, max_steps=batches, eval_each_epoch=False)
        job = TrainingJob(cfg, train)
        t0 = time.perf_counter()
        job.start()
        while job.alive:  # a page polling the job once a second
            job.snapshot()
            job.wait(1.0)
        return batches * bs / (time.perf_counter() - t0)

    bare(), app_job()  # warm-up
    runs_bare, runs_app = [], []
    for i in range(pairs):  # interleaved, alternating who goes first: a slow spell of the machine hits both
        first, second = (bare, app_job) if i % 2 == 0 else (app_job, bare)
        x, y = first(), second()
        runs_bare.append(x if first is bare else y)
        runs_app.append(y if first is bare else x)
    b, a = statistics.median(runs_bare), statistics.median(runs_app)
    ratios = sorted(p / q for p, q in zip(runs_app, runs_bare))
    spread = f"{min(runs_bare):,.0f}–{max(runs_bare):,.0f}"
    record(f"training, bare PyTorch loop ({torch.get_num_threads()} threads, batch {bs})", f"{b:,.0f} images/s "
           f"(median of {pairs}; {spread})")
    record("training, the app's TrainingJob (same settings)", f"{a:,.0f} images/s "
           f"(median of {pairs}; {min(runs_app):,.0f}–{max(runs_app):,.0f})")
    record("ratio app / bare", f"{statistics.median(ratios):.2f} (median of the {pairs} pairs; "
           f"{ratios[0]:.2f}–{ratios[-1]:.2f})", "≥ 0.9")


def bench_cold_start() -> None:
    """From `streamlit run` to the home page rendered in headless Chromium."""
    import socket
    import urllib.request

    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.headless", "true"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.1)
        healthy = time.perf_counter() - t0
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"])
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            page.get_by_text("Learning from examples").wait_for(timeout=120_000)
            shown = time.perf_counter() - t0
            browser.close()
    finally:
        proc.terminate()
    record("cold start: server healthy", f"{healthy:.1f} s")
    record("cold start: first page rendered in Chromium", f"{shown:.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get("CNNVIZ_THREADS", min(4, os.cpu_count() or 1))))
    repeat = 3 if args.quick else 7
    print(f"cnnviz benchmarks on {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    bench_screens(repeat)
    bench_network(repeat)
    bench_figures(repeat)
    bench_training(100 if args.quick else 150, 3 if args.quick else 9)
    if not args.quick:
        bench_cold_start()
    width = max(len(r[0]) for r in ROWS)
    print("\n| measure" + " " * (width - 7) + " | figure | goal |\n|" + "-" * (width + 2) + "|---|---|")
    for what, value, goal in ROWS:
        print(f"| {what.ljust(width)} | {value} | {goal} |")


if __name__ == "__main__":
    main()
