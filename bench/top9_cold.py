"""The top-9 of a cold server (issue 22 item 11): twelve students ask at once for the top-9 of twelve different stages
of the shipped network on Fashion-MNIST's 10,000 test images.

Before, each stage cost its own pass over the test set (`stage_maxima`, cached per network and stage): twelve passes
at once on the server's cores (25-29 s each on the report's server). Now one pass computes every stage
(`all_stage_maxima`) in a background job started by the first request; everyone waits for that one pass, and any
other stage afterwards is immediate.

    python bench/top9_cold.py              # about a minute on 2 busy cores
    python bench/top9_cold.py --students 6

Figures, not tests; print os.getloadavg() with them (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from cnnviz.checkpoints import SHIPPED, load_checkpoint  # noqa: E402
from cnnviz.data import load_dataset  # noqa: E402
from cnnviz.explain.excite import MaximaJob, stage_maxima, top_activations  # noqa: E402


def at_once(n: int, ask) -> list[float]:
    """n threads call ask(i) at the same moment: each one's wait, in seconds."""
    barrier, waits = threading.Barrier(n), [0.0] * n

    def student(i: int) -> None:
        barrier.wait()
        t0 = time.perf_counter()
        ask(i)
        waits[i] = time.perf_counter() - t0

    threads = [threading.Thread(target=student, args=(i,)) for i in range(n)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return waits


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--students", type=int, default=12)
    p.add_argument("--skip-before", action="store_true", help="only the one-pass figures")
    args = p.parse_args()
    torch.set_num_threads(int(os.environ.get("CNNVIZ_THREADS", "2")))
    model, _ = load_checkpoint(SHIPPED)
    images = load_dataset("fashion-mnist", "test").images
    stages = [s for s in model.stages if s not in ("flatten", "dropout")]
    asked = [stages[i % len(stages)] for i in range(args.students)]
    print(f"load average before: {os.getloadavg()}; {args.students} students, stages {', '.join(asked)}")
    if not args.skip_before:
        waits = at_once(args.students, lambda i: top_activations(model, images, asked[i], 0, k=9,
                                                                  maxima=stage_maxima(model, images, asked[i])))
        print(f"before (one pass per stage): median wait {statistics.median(waits):.1f} s, max {max(waits):.1f} s")
    jobs: dict = {}
    lock = threading.Lock()

    def ask(i: int) -> None:  # what ui/explain_panel.py does: one job per network, started by the first request
        with lock:
            job = jobs.get("shipped") or jobs.setdefault("shipped", MaximaJob(model, images).start())
        while not job.done:
            time.sleep(0.5)  # the page's progress fragment polls every half second
        top_activations(model, images, asked[i], 0, k=9, maxima=job.result[asked[i]])

    waits = at_once(args.students, ask)
    print(f"after (one pass for every stage): median wait {statistics.median(waits):.1f} s, max {max(waits):.1f} s")
    t0 = time.perf_counter()
    ask(0)
    print(f"after, once computed: {(time.perf_counter() - t0) * 1000:.0f} ms for another stage")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
