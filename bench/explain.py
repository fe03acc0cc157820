"""Timings of the "explain every number" panel on the shipped network (medians; not a test).

    python bench/explain.py            # needs the Fashion-MNIST test set for the top-9 line
    python bench/explain.py --threads 2
    python bench/explain.py --screen   # also: the Feature maps screen's server time (AppTest reruns)

Prints: one unit explained with its figures (conv3, a 128-channel input, the worst case), every kind of
stage, the top-9 images of a channel over the 10,000 test images the first time (one pass computing every
channel of the stage, what a page caches per network and stage) and then for another channel from that
cache, and Grad-CAM (deep copy of the model + Captum). The screen's own work (ui/explain_panel.py): a clicked
unit explained from the page's forward pass plus its figures serialised as Streamlit sends them, and a drawing
turned into a new prediction (the canvas PNG decoded, converted, the network run, the prediction's figures); with
--screen, whole reruns of the Feature maps screen after a click and after a drawing.
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


def screen_panel(model, image, meta) -> None:
    """What the screen does for a click and for a drawing, figures serialised to JSON as Streamlit does."""
    import base64
    import io

    import numpy as np
    import plotly.io as pio
    from PIL import Image

    from cnnviz.explore import inspect
    from cnnviz.figures import input_figure, probability_figure
    from cnnviz.images import canvas_to_image
    from ui.explain_panel import _features  # the page's forward pass reused (no Streamlit call in it)

    result = inspect(model, image)

    def clicked(stage, ch, r, c):
        e = explain_unit(model, image, stage, ch, r, c, features=_features(result))
        figs = [unit_figure(e, "fr"), clickable_map_figure(result.maps[stage][ch], "fr", stage, (r, c), height=420),
                receptive_field_figure(image, e.receptive_field, "fr", stage)]
        return sum(len(pio.to_json(f, validate=False)) for f in figs if f is not None)

    for stage, unit in (("conv3", (5, 3, 3)), ("conv2", (5, 3, 4)), ("pool1", (4, 5, 7)), ("bn2", (3, 4, 8))):
        s, size = timed(lambda stage=stage, unit=unit: clicked(stage, *unit))
        print(f"screen: a click on {stage:5s} -> its panel (explain + 3 figures as JSON): {s * 1e3:7.1f} ms, "
              f"{size / 1e3:.0f} kB  (goal ≤ 150 ms)")

    rgba = np.zeros((280, 280, 4), np.uint8)
    rgba[40:240, 90:110] = rgba[40:240, 170:190] = 255  # two white strokes on black, as the canvas sends them
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG")
    url = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()

    def drawing():
        png = base64.b64decode(url.split(";base64,", 1)[1])
        img = canvas_to_image(np.asarray(Image.open(io.BytesIO(png))), tuple(meta["input_shape"]))
        res = inspect(model, img)
        figs = [input_figure(img, "input", height=300, lang="fr"),
                probability_figure(res.probs, meta["classes"], None, lang="fr")]
        return res.pred, sum(len(pio.to_json(f, validate=False)) for f in figs)

    s, (pred, _) = timed(drawing)
    print(f"screen: a drawing -> new prediction ({meta['classes'][pred]}; decode, convert, run, 2 figures): "
          f"{s * 1e3:7.1f} ms  (goal ≤ 300 ms)")


def screen_reruns(image_index: int = 0) -> None:
    """Whole reruns of the Feature maps screen in AppTest (server time of a rerun, all its charts included)."""
    import numpy as np
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=120)
    at.switch_page("pages/feature_maps.py")
    at.query_params.update({"lang": "fr", "stage": "pool2", "channel": "3"})
    at.run()
    at.run()
    base, _ = timed(lambda: at.run(), repeat=3)
    units = iter([(r, c) for r in range(7) for c in range(7)])

    def click():
        r, c = next(units)
        S = at.session_state
        S["fm_ex_stage"], S["fm_ex_ch"], S["fm_ex_row"], S["fm_ex_col"] = "pool2", 3, r, c  # what a click sets
        at.run()

    s, _ = timed(click, repeat=5)
    print(f"screen rerun (AppTest), nothing explained: {base * 1e3:7.1f} ms; after a click (panel shown): "
          f"{s * 1e3:7.1f} ms -> the panel adds {(s - base) * 1e3:.0f} ms")
    at.session_state["fm_source"] = "draw"
    rng = np.random.default_rng(0)

    def draw():
        drawn = np.zeros((28, 28), np.uint8)
        drawn[4:24, rng.integers(4, 20):][:, :6] = 255
        at.session_state["fm_drawn"] = drawn
        at.run()

    s, _ = timed(draw, repeat=5)
    print(f"screen rerun (AppTest) after a new drawing, every map and the panel redrawn: {s * 1e3:7.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--screen", action="store_true", help="also time whole reruns of the Feature maps screen")
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

    screen_panel(model, image, meta)
    if args.screen:
        screen_reruns()
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
