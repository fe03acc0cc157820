"""Timings of the "explain every number" panel on the shipped network (medians; not a test).

    python bench/explain.py            # needs the Fashion-MNIST test set for the top-9 line
    python bench/explain.py --threads 2

Prints: one unit explained with its figures (conv3, a 128-channel input, the worst case), every kind of
stage, the top-9 images of a channel over the 10,000 test images the first time (one pass computing every
channel of the stage, what a page caches per network and stage) and then for another channel from that
cache, and Grad-CAM (deep copy of the model + Captum).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from cnnviz import DatasetUnavailable  # noqa: E402
from cnnviz.checkpoints import SHIPPED, load_checkpoint  # noqa: E402
from cnnviz.data import load_dataset, load_samples, to_tensor  # noqa: E402
from cnnviz.explain import explain_unit, grad_cam, stage_maxima, top_activations  # noqa: E402
from cnnviz.figures_explain import (  # noqa: E402
    clickable_map_figure,
    gradcam_figure,
    receptive_field_figure,
    top_activations_figure,
    unit_figure,
)


def timed(fn, repeat: int = 7) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model, meta = load_checkpoint(SHIPPED)
    image = load_samples("fashion-mnist").images[0]
    load = os.getloadavg()[0]
    print(f"torch threads: {torch.get_num_threads()}; load average {load:.1f} on {os.cpu_count()} CPUs"
          + ("  (busy machine: timings inflated)" if load > (os.cpu_count() or 1) else ""))

    def panel(stage="conv3", ch=5, r=3, c=3):
        e = explain_unit(model, image, stage, ch, r, c)
        with torch.inference_mode():
            fmap = model.forward_features(to_tensor(image[None]))[stage][0, ch].numpy()
        return (e, unit_figure(e, "fr"), clickable_map_figure(fmap, "fr", stage, (r, c)),
                receptive_field_figure(image, e.receptive_field, "fr", stage))

    panel()
    s, _ = timed(panel)
    print(f"explain panel, conv3 unit (128 input channels) + 3 figures: {s * 1e3:7.1f} ms  (goal ≤ 150 ms)")
    s, _ = timed(lambda: explain_unit(model, image, "conv3", 5, 3, 3))
    print(f"  explain_unit alone:                                       {s * 1e3:7.1f} ms")
    for stage in ("conv1", "bn1", "relu1", "pool1", "conv2", "fc1", "logits"):
        rc = (0, 0) if stage in ("fc1", "logits") else (3, 3)
        s, _ = timed(lambda stage=stage, rc=rc: explain_unit(model, image, stage, 1, *rc))
        print(f"  explain_unit {stage:7s}                                    {s * 1e3:7.1f} ms")

    try:
        test = load_dataset("fashion-mnist", "test", download=False)
    except DatasetUnavailable as exc:
        print(f"top-9: skipped ({exc})")
    else:
        for stage in ("conv1", "conv3", "pool3"):
            t, cpu = time.perf_counter(), time.process_time()
            maxima = stage_maxima(model, test.images, stage)
            first = time.perf_counter() - t
            tops = top_activations(model, test.images, stage, 7, k=9, maxima=maxima)
            total = time.perf_counter() - t
            cpu = time.process_time() - cpu  # on a busy machine, CPU time / threads ≈ the time on idle cores
            s, _ = timed(lambda maxima=maxima, stage=stage: top_activations(model, test.images, stage, 11, k=9,
                                                                          maxima=maxima))
            f, _ = timed(lambda tops=tops, stage=stage: top_activations_figure(test.images, tops, "fr", stage, 7,
                                                                             test.labels, test.classes))
            print(f"top-9 of {stage} over {len(test):,} images, first time (all channels): {total:6.2f} s "
                  f"(pass {first:.2f} s; CPU {cpu:.2f} s = {cpu / torch.get_num_threads():.2f} s per thread); "
                  f"another channel from the cache {s * 1e3:.1f} ms; figure {f * 1e3:.1f} ms")

    t = time.perf_counter()
    grad_cam(model, image)
    print(f"Grad-CAM, first call (imports Captum):                  {(time.perf_counter() - t) * 1e3:7.1f} ms")
    s, cam = timed(lambda: grad_cam(model, image))
    print(f"Grad-CAM on {cam.stage} (deep copy + Captum + upsampling):    {s * 1e3:7.1f} ms")
    s, _ = timed(lambda: __import__("copy").deepcopy(model))
    print(f"  of which the deep copy of the model:                  {s * 1e3:7.1f} ms")
    s, _ = timed(lambda: gradcam_figure(image, cam, "fr", meta["classes"]))
    print(f"  Grad-CAM figure:                                      {s * 1e3:7.1f} ms")


if __name__ == "__main__":
    main()
