"""What the Training screen's preview (before Start) costs the server for one link, before and after issue 22 item 2:
`/training?model=custom&layers=64-3-1-0 ×16&batch=1024&fc=128` (16 layers of 64 filters on 28×28 images).

Before, the preview measured SGD steps at the link's own batch size (2 warm-up steps, then at least 2 more: ~157 s and
1.2 → 7.96 GB on the report's server), once per batch value. Now the memory a step needs is computed from the shapes
first (cnnviz.training_cost.check_memory: refused above MAX_TRAIN_BYTES, nothing runs), and a network that fits is measured
on a small batch (NetworkSize.preview_batch: here 8 images) and scaled.

Each case runs in a fresh process, which prints its wall time and its peak resident memory (ru_maxrss) over its
baseline after imports.

    python bench/training_preview.py                  # after: the link (refused) and batch 64 (measured on 8 images)
    python bench/training_preview.py --before 256     # the old preview at batch 256 (~3 GB; 1024 takes ~8 GB)

Figures, not tests; print os.getloadavg() with them (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ";".join(["64-3-1-0"] * 16)
SHAPE = (1, 28, 28)
N_TRAIN, N_EVAL = 9000, 3000  # the screen's defaults: 10,000 images, 10 % validation, then 2,000 test images


def _child(mode: str, batch: int) -> None:
    """One preview in this process; prints a JSON line (seconds, peak MB over the baseline, what it said)."""
    import resource

    sys.path.insert(0, str(ROOT))
    import numpy as np
    import torch
    import torch.nn.functional as F

    from cnnviz import CnnvizError
    from cnnviz.layers import net_from_layers
    from cnnviz.loop import sgd_step
    from cnnviz.training_cost import check_memory, new_network, seconds_per_image

    torch.set_num_threads(int(os.environ.get("CNNVIZ_THREADS", "2")))
    net = net_from_layers(LAYERS, 128, True, 0.25, SHAPE, 10)
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    said = ""
    if mode == "before":  # the preview as it was: SGD steps at the link's batch size
        model = new_network("convnet", net, SHAPE, 10)
        opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
        x, y = torch.randn(batch, *SHAPE), torch.randint(0, 10, (batch,))
        times = []
        for i in range(4):  # 2 warm-up steps, then (at least) 2 measured ones
            s = time.perf_counter()
            sgd_step(model, opt, F.cross_entropy, x, y)
            if i >= 2:
                times.append(time.perf_counter() - s)
        per_batch = float(np.median(times))
        said = f"{per_batch * (N_TRAIN / batch + N_EVAL / batch / 3):.0f} s per epoch"
    else:
        try:
            size = check_memory("convnet", net, SHAPE, 10, batch)
            measured = size.preview_batch(batch)
            per_image = seconds_per_image("convnet", net, SHAPE, 10, measured)
            said = f"measured on {measured} image(s): {per_image * (N_TRAIN + N_EVAL / 3):.0f} s per epoch"
        except CnnvizError as exc:
            said = "refused: " + str(exc)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(dict(mode=mode, batch=batch, seconds=round(seconds, 2), peak_mb=round((peak - base) / 1024),
                          said=said)))


def run(mode: str, batch: int) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", mode, str(batch)], capture_output=True, text=True,
                         timeout=1800, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--before", type=int, nargs="*", default=[], help="also run the old preview at these batch sizes")
    p.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        _child(args.child[0], int(args.child[1]))
        return
    print(f"load average before: {os.getloadavg()}")
    cases = [("after", 1024), ("after", 64), *(("before", b) for b in args.before)]
    for mode, batch in cases:
        r = run(mode, batch)
        print(f"{mode:6} batch {batch:5}: {r['seconds']:7.2f} s, peak +{r['peak_mb']:6} MB — {r['said']}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
