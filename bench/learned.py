"""What "What the network learned" costs (issue 24): the first view of a channel's image, a stage's mosaic, the
scrambled-weights test. Prints figures; not a test.

    python bench/learned.py                      # the shipped network, 2 threads (the course server's cores)
    python bench/learned.py --threads 1 --steps 128 256 --stages conv1 relu2 conv3 logits --mosaic relu3

First view: one uncached `channel_image` of one channel (what a student waits for before the server's cache
holds it), for each stage and number of steps, median of --repeat runs. Goal: ≤ 2 s on 2 cores at the screen's
default (256 steps). The mosaic: every channel of a stage (MosaicJob, in its thread, as the page runs it).
The cascade: Grad-CAM and the input gradient after each of the layers is re-initialised.

The load average is printed with the figures: on a machine others use, they are upper bounds.
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

from cnnviz.checkpoints import SHIPPED, load_checkpoint  # noqa: E402
from cnnviz.data import images_to_browse  # noqa: E402
from cnnviz.explain import MosaicJob, cascading_randomisation, channel_image  # noqa: E402


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=str(SHIPPED))
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, nargs="+", default=[128, 256])
    p.add_argument("--stages", nargs="+", default=["relu1", "relu2", "conv3", "logits"])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--mosaic", nargs="*", default=["conv3"], help="stages whose mosaic is timed (none: skip)")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    model, meta = load_checkpoint(args.checkpoint)
    print(f"network {Path(args.checkpoint).name}, input {meta['input_shape']}, torch threads {args.threads}, "
          f"load average before {os.getloadavg()[0]:.2f}")
    channel_image(model, args.stages[0], 0, steps=4)  # warm-up (first calls allocate)
    print("first view of one channel (seconds, median of", args.repeat, "):")
    for stage in args.stages:
        for steps in args.steps:
            times = []
            for r in range(args.repeat):
                start = time.perf_counter()
                channel_image(model, stage, r, steps=steps, seed=r)
                times.append(time.perf_counter() - start)
            print(f"  {stage:8s} {steps:4d} steps: {statistics.median(times):6.2f} s  (min {min(times):.2f})")
    with torch.inference_mode():
        sizes = {k: v.shape[1] for k, v in model.forward_features(torch.zeros(1, *meta["input_shape"])).items()}
    for stage in args.mosaic:
        job = MosaicJob(model, stage, sizes[stage], steps=max(args.steps))
        job.wait()
        if job.progress().error is not None:
            raise job.progress().error
        print(f"mosaic of {stage} ({sizes[stage]} channels, {max(args.steps)} steps, in a thread): {job.seconds:.1f} s")
    image = images_to_browse(meta["dataset"]).images[0]
    cascading_randomisation(model, image)  # warm-up (Captum's import)
    start = time.perf_counter()
    cascade = cascading_randomisation(model, image)
    print(f"cascading randomisation ({len(cascade.layers)} layers, Grad-CAM + gradient each): "
          f"{time.perf_counter() - start:.2f} s")
    print(f"load average after {os.getloadavg()[0]:.2f} (cores: {os.cpu_count()})")


if __name__ == "__main__":
    main()
