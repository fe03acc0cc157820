"""How long the instructor's "Close the vote" takes while the room keeps answering: N students (threads) answer
without pause on one ClassStore, the instructor closes after a moment. Printed per round: the close's time, the
answers before and during it. Figures, not tests.

    python bench/class_close.py                                   # an SQLite file in a temporary folder
    python bench/class_close.py --db postgresql+psycopg://postgres@/postgres?host=/tmp/pg --rounds 6

Students answering without pause are harsher than a lecture hall (a real student answers once or twice), the
point being the instructor's wait, which used to grow with the room: a pool shared with the answers, and
PostgreSQL row locks that let new share lockers pass a waiting update (see ClassStore._answers_wait).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cnnviz import CnnvizError  # noqa: E402
from cnnviz.classroom import ClassStore  # noqa: E402

KEY = "bench instructor key"
QUESTION = {"kind": "choice", "prompt": {"id": "class.q.quick_choice"}, "options": [{"letter": c} for c in "ABCD"],
            "answer": 2}


def one_round(store: ClassStore, students: int, before: float) -> tuple[float, int, int]:
    """-> (seconds the close took, answers before it, answers during it)."""
    code = store.open_class(KEY)
    qid = store.ask(code, KEY, QUESTION)
    counts = [0] * students
    go = threading.Barrier(students + 1)

    def student(i: int) -> None:
        go.wait()
        n = 0
        while True:
            try:
                store.answer(code, qid, f"s{i}-{n}", n % 4)
            except CnnvizError:
                return
            counts[i] += 1
            n += 1

    threads = [threading.Thread(target=student, args=(i,), daemon=True) for i in range(students)]
    for th in threads:
        th.start()
    go.wait()
    time.sleep(before)
    answered = sum(counts)
    start = time.perf_counter()
    store.close(code, qid, KEY)
    took = time.perf_counter() - start
    for th in threads:
        th.join(60)
    return took, answered, sum(counts) - answered


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--db", help="the class database's URL (default: an SQLite file in a temporary folder)")
    ap.add_argument("--students", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--before", type=float, default=0.3, help="seconds of answers before the close (default 0.3)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = ClassStore(args.db or f"sqlite:///{tmp}/class.sqlite")
        print(f"{store!r}, {args.students} students answering without pause, load {os.getloadavg()[0]:.1f}")
        took = []
        for r in range(args.rounds):
            seconds, answered, during = one_round(store, args.students, args.before)
            took.append(seconds)
            print(f"round {r + 1}: close {seconds * 1000:.0f} ms, {answered} answers before it, {during} during it")
        print(f"close: median {statistics.median(took) * 1000:.0f} ms, max {max(took) * 1000:.0f} ms")
        store.dispose()


if __name__ == "__main__":
    main()
