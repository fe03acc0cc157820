"""The library's share of a first view of a new image (issue 20, a class of 120 where every click opens a view no
one has opened yet): the Translation screen's 121 shifted images through the network, and the shift-consistency
measure over the test set, with the network as it is (`model_on`) and with its copy for outputs (`for_output`:
batch norms folded into their convolutions, channels-last weights).

    python bench/first_views.py            # a few seconds
    python bench/first_views.py --threads 2

One PyTorch thread by default: under `make class` each replica gets one core. Figures, not tests; the load
average is printed with them (the machine may be shared).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from cnnviz.checkpoints import SHIPPED, load_checkpoint  # noqa: E402
from cnnviz.data import images_to_browse  # noqa: E402
from cnnviz.device import for_output, model_on  # noqa: E402
from cnnviz.shift import consistency, probabilities_over_shifts  # noqa: E402


def median_ms(fn, repeat: int) -> float:
    fn()  # the first call allocates
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model, meta = load_checkpoint(SHIPPED)
    images = images_to_browse(meta["dataset"]).images
    nets = {"as it is (model_on)": model_on(model, "cpu"), "for outputs (for_output)": for_output(model, "cpu")}
    print(f"{os.cpu_count()} CPUs, {args.threads} PyTorch thread(s), load average "
          f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print("| network | 121 shifted images (Translation, k = 5) | consistency, 1,000 test images |")
    print("| --- | --- | --- |")
    for name, net in nets.items():
        with torch.inference_mode():
            shifts = median_ms(lambda net=net: probabilities_over_shifts(net, images[7], 5), args.repeat)
            whole = median_ms(lambda net=net: consistency(net, images[:1000], 3), max(3, args.repeat // 5))
        print(f"| {name} | {shifts:.1f} ms | {whole:.0f} ms |")


if __name__ == "__main__":
    main()
