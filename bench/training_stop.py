"""How long the Training screen's Stop takes to answer, before and after issue 22 item 9.

Before, the Stop button stopped the job and then waited in the page for the job's thread to evaluate the 10,000 test
images and write the run (7-15 s in Chromium on the report's server). Now the button only asks the job to stop and
reruns the page at once; the loop stops before its next batch and the test phase runs afterwards in the job's thread,
its progress on the page. This measures, on a job training the shipped CompactCNN on Fashion-MNIST (batch 64):

    what the old handler waited for: stop() + wait() until the run is saved
    what the new handler waits for:  stop() (returns at once), then the loop's acknowledgement (status "stopped"),
                                     and, in the background, until the run is saved

    python bench/training_stop.py            # 3 rounds of each, about a minute on 2 busy cores
    python bench/training_stop.py --rounds 5

Figures, not tests; print os.getloadavg() with them (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from cnnviz.data import load_dataset  # noqa: E402
from cnnviz.training import TrainConfig, TrainingJob  # noqa: E402


def started(train, test, folder: str, steps: int) -> TrainingJob:
    cfg = TrainConfig(arch="compact", batch_size=64, epochs=50, subset=10_000, eval_limit=2000)
    job = TrainingJob(cfg, train, test, runs_dir=folder).start()
    while job.snapshot().step < steps:
        time.sleep(0.01)
    return job


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--steps", type=int, default=20, help="batches trained before Stop")
    args = p.parse_args()
    torch.set_num_threads(int(os.environ.get("CNNVIZ_THREADS", "2")))
    train, test = load_dataset("fashion-mnist", "train"), load_dataset("fashion-mnist", "test")
    print(f"load average before: {os.getloadavg()}")
    old, answer, ack, saved = [], [], [], []
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.rounds):
            job = started(train, test, folder, args.steps)
            t0 = time.perf_counter()
            job.stop()
            job.wait(120)  # the old handler: the page waited for the evaluation and the write
            old.append(time.perf_counter() - t0)
            job.close()

            job = started(train, test, folder, args.steps)
            t0 = time.perf_counter()
            job.stop()  # the new handler: nothing more, the page reruns
            answer.append(time.perf_counter() - t0)
            while job.snapshot().status == "running":
                time.sleep(0.001)
            ack.append(time.perf_counter() - t0)
            job.wait(120)
            saved.append(time.perf_counter() - t0)
            assert job.snapshot().saved_path
            job.close()
    med = statistics.median
    print(f"before: Stop answered after {med(old):.2f} s (median of {args.rounds}; max {max(old):.2f} s)")
    print(f"after:  Stop answered after {med(answer) * 1000:.1f} ms; the loop stopped {med(ack) * 1000:.0f} ms after "
          f"the click (max {max(ack) * 1000:.0f} ms); the run saved {med(saved):.2f} s after it, in the background")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
