"""Translation: shifting images and maps, equivariance of the maps, invariance of the prediction.

A convolution commutes with a shift of its input (equivariance) away from the borders; pooling
subsamples, so after it a shift of s pixels becomes a shift of s/2 — exact only for even s — and the
output is only approximately invariant. `consistency` measures that on a whole test set as in
Zhang (2019), "Making convolutional networks shift-invariant again": how often two random shifts of
the same image get the same top-1 class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from cnnviz.data import to_tensor
from cnnviz.device import device_of


def shift(a: np.ndarray, dx: int, dy: int, circular: bool = False, axes=(0, 1)) -> np.ndarray:
    """Move an array's content dx columns right and dy rows down (zero fill, or wrap around)."""
    ry, rx = axes
    out = np.roll(a, (dy, dx), axis=(ry, rx))
    if circular:
        return out
    for axis, d in ((ry, dy), (rx, dx)):  # blank what wrapped around
        if d:
            index = [slice(None)] * a.ndim
            index[axis] = slice(0, d) if d > 0 else slice(d, None)
            out[tuple(index)] = 0
    return out


def shift_image(img: np.ndarray, dx: int, dy: int, circular: bool = False) -> np.ndarray:
    """uint8 image (H, W) or (H, W, 3) shifted by (dx, dy) pixels; black enters from the edge."""
    return shift(img, dx, dy, circular, axes=(0, 1))


def equivariance_gap(maps_of_shifted: np.ndarray, maps: np.ndarray, dx: int, dy: int, scale: int,
                     circular: bool = False, border: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(difference maps, shifted original maps): maps(shift(x)) − shift(maps(x)) at a layer whose
    resolution is 1/scale of the input. Shifts are divided by `scale` (rounded); `border` cells on
    each side are set to 0 in the difference (they see the zero fill)."""
    sx, sy = int(round(dx / scale)), int(round(dy / scale))
    expected = shift(maps, sx, sy, circular, axes=(1, 2))  # (C, H, W)
    diff = maps_of_shifted - expected
    if border:
        diff = diff.copy()
        diff[:, :border], diff[:, -border:], diff[:, :, :border], diff[:, :, -border:] = 0, 0, 0, 0
    return diff, expected


def relative_gap(diff: np.ndarray, reference: np.ndarray) -> float:
    """‖difference‖ / ‖reference‖: 0 for exact equivariance."""
    return float(np.linalg.norm(diff) / (np.linalg.norm(reference) or 1.0))


@torch.inference_mode()
def probabilities_over_shifts(model, img: np.ndarray, k: int, circular: bool = False) -> np.ndarray:
    """Softmax for every shift (dx, dy) in −k..k: (2k+1 [dy], 2k+1 [dx], classes)."""
    shifts = [(dx, dy) for dy in range(-k, k + 1) for dx in range(-k, k + 1)]
    batch = np.stack([shift_image(img, dx, dy, circular) for dx, dy in shifts])
    probs = torch.softmax(model(to_tensor(batch).to(device_of(model))), 1).cpu().numpy()
    return probs.reshape(2 * k + 1, 2 * k + 1, -1)


@torch.inference_mode()
def consistency(model, images: np.ndarray, max_shift: int = 3, circular: bool = False, seed: int = 0,
                batch_size: int = 1000, progress: Callable[[float], None] | None = None) -> float:
    """Share of images whose top-1 class is the same under two different random shifts in [−k, k]²."""
    rng = np.random.default_rng(seed)
    n = len(images)
    s1 = rng.integers(-max_shift, max_shift + 1, size=(n, 2))
    s2 = rng.integers(-max_shift, max_shift + 1, size=(n, 2))
    same = np.all(s1 == s2, axis=1)
    while same.any():  # two *different* shifts, as in the paper
        s2[same] = rng.integers(-max_shift, max_shift + 1, size=(int(same.sum()), 2))
        same = np.all(s1 == s2, axis=1)
    agree, device = 0, device_of(model)
    for start in range(0, n, batch_size):
        stop = min(n, start + batch_size)
        chunk = images[start:stop]
        a = np.stack([shift_image(im, *s, circular) for im, s in zip(chunk, s1[start:stop])])
        b = np.stack([shift_image(im, *s, circular) for im, s in zip(chunk, s2[start:stop])])
        preds = model(to_tensor(np.concatenate([a, b])).to(device)).argmax(1)
        agree += int((preds[:len(chunk)] == preds[len(chunk):]).sum())
        if progress:
            progress(stop / n)
    return agree / n


def stage_scale(input_hw: tuple[int, int], map_hw: tuple[int, int]) -> int:
    """How many input pixels one cell of a map spans (1 before any pooling, 2 after one, ...)."""
    return 2 ** max(0, int(round(np.log2(input_hw[1] / map_hw[1]))))  # 28/3 after three poolings -> 8


# ---------------------------------------------------------------- remedies, compared (issue 13)
# The shipped network and two remedies for translation, fine-tuned from it: anti-aliased pooling
# (arch compact_blur: max with stride 1, binomial blur, subsample) and random training shifts of up to
# 3 pixels. `make train-blur` / `make train-shift` rebuild them; `python -m cnnviz.shift` prints the table.
REMEDY_NETWORKS = {  # id -> checkpoint file in checkpoints/
    "standard": "fashion_compact.pt",
    "blur": "fashion_compact_blur.pt",
    "shift": "fashion_compact_shift.pt",
}
TABLE_KS = (1, 2, 3, 4)
TABLE_SEED = 0


def remedy_paths(folder=None) -> dict:
    """id -> path of the shipped networks compared on the Translation screen (those present on disk)."""
    from cnnviz.checkpoints import SHIPPED_DIR

    folder = SHIPPED_DIR if folder is None else folder
    paths = {name: folder / file for name, file in REMEDY_NETWORKS.items()}
    return {name: p for name, p in paths.items() if p.exists()}


@dataclass
class ConsistencyRow:
    """One network measured on a test set: accuracy, and consistency for each k, zero fill and circular."""

    network: str
    accuracy: float
    zero: dict  # k -> consistency with zero fill
    circular: dict  # k -> consistency with circular shifts
    images: int = 0
    seed: int = TABLE_SEED

    def to_meta(self) -> dict:
        """What a checkpoint's metadata stores (primitives only: lists, floats, ints)."""
        ks = sorted(self.zero)
        return {"ks": ks, "zero": [self.zero[k] for k in ks], "circular": [self.circular[k] for k in ks],
                "images": self.images, "seed": self.seed, "accuracy": self.accuracy}

    @staticmethod
    def from_meta(network: str, meta: dict) -> "ConsistencyRow | None":
        """The row stored in a checkpoint's metadata (key "consistency"), or None if absent or malformed."""
        c = meta.get("consistency")
        try:
            ks = [int(k) for k in c["ks"]]
            return ConsistencyRow(network, float(c["accuracy"]), dict(zip(ks, map(float, c["zero"]))),
                                  dict(zip(ks, map(float, c["circular"]))), int(c["images"]), int(c["seed"]))
        except (TypeError, KeyError, ValueError):
            return None


@torch.inference_mode()
def top1_accuracy(model, images: np.ndarray, labels: np.ndarray, batch_size: int = 2000) -> float:
    """Top-1 accuracy on unshifted images."""
    correct = 0
    for start in range(0, len(images), batch_size):
        preds = model(to_tensor(images[start:start + batch_size])).argmax(1).numpy()
        correct += int((preds == np.asarray(labels[start:start + batch_size])).sum())
    return correct / max(1, len(images))


def consistency_table(models: dict, images: np.ndarray, labels: np.ndarray, ks=TABLE_KS, seed: int = TABLE_SEED,
                      progress: Callable[[float], None] | None = None) -> list[ConsistencyRow]:
    """For each network (id -> model in eval mode): accuracy, and `consistency` for every k in `ks`, zero
    fill and circular, with the same seed (hence the same pairs of shifts for every network). This is the
    table that `python -m cnnviz.shift` prints and the Translation screen charts (figures_shift)."""
    rows, steps, done = [], len(models) * (1 + 2 * len(ks)), 0

    def tick():
        nonlocal done
        done += 1
        if progress:
            progress(done / steps)

    for name, model in models.items():
        acc = top1_accuracy(model, images, labels)
        tick()
        by_mode = {}
        for circular in (False, True):
            by_mode[circular] = {}
            for k in ks:
                by_mode[circular][int(k)] = consistency(model, images, int(k), circular, seed)
                tick()
        rows.append(ConsistencyRow(name, acc, by_mode[False], by_mode[True], len(images), seed))
    return rows


def stored_table(paths: dict | None = None) -> list[ConsistencyRow]:
    """The table as stored in the checkpoints' metadata (no computing): id -> path, default the shipped
    networks. Networks without a stored measure are left out."""
    from cnnviz.checkpoints import load_checkpoint

    rows = []
    for name, path in (remedy_paths() if paths is None else paths).items():
        row = ConsistencyRow.from_meta(name, load_checkpoint(path)[1])
        if row is not None:
            rows.append(row)
    return rows


@torch.inference_mode()
def layer_gaps(model, img: np.ndarray, dx: int, dy: int, circular: bool = False) -> "dict[str, tuple[int, float, float]]":
    """Equivariance gap of every spatial stage for one image and one shift: stage -> (scale, gap over the
    whole map, gap away from the borders), as on the Translation screen (relative_gap of equivariance_gap)."""
    feats0 = model.forward_features(to_tensor(img[None]))
    feats1 = model.forward_features(to_tensor(shift_image(img, dx, dy, circular)[None]))
    out = {}
    for name, t0 in feats0.items():
        if name == "logits" or t0.ndim != 4:
            continue
        m0, m1 = t0[0].numpy(), feats1[name][0].numpy()
        scale = stage_scale(img.shape[:2], m0.shape[1:])
        diff, expected = equivariance_gap(m1, m0, dx, dy, scale, circular)
        border = max(1, 3 // scale + abs(dx) // scale + abs(dy) // scale)
        inner, _ = equivariance_gap(m1, m0, dx, dy, scale, circular, border=border)
        out[name] = (scale, relative_gap(diff, expected), relative_gap(inner, expected))
    return out


def format_table(rows: list[ConsistencyRow], markdown: bool = True) -> str:
    """The table as Markdown (the README's) or aligned text."""
    ks = sorted(rows[0].zero) if rows else list(TABLE_KS)
    head = (["network", "accuracy"] + [f"zero k={k}" for k in ks] + [f"circular k={k}" for k in ks])
    body = [[r.network, f"{r.accuracy:.2%}"] + [f"{r.zero[k]:.3f}" for k in ks] + [f"{r.circular[k]:.3f}" for k in ks]
            for r in rows]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in body])
    widths = [max(len(str(x)) for x in col) for col in zip(head, *body)]
    return "\n".join("  ".join(str(x).rjust(w) for x, w in zip(line, widths)) for line in [head, *body])


def main(argv=None) -> int:
    """python -m cnnviz.shift [--store] [--threads 2] [id=path ...]: the remedies table on the whole test set."""
    import argparse
    import time
    from pathlib import Path

    from cnnviz.checkpoints import load_checkpoint, save_checkpoint
    from cnnviz.data import load_dataset

    p = argparse.ArgumentParser(prog="python -m cnnviz.shift", description=main.__doc__)
    p.add_argument("networks", nargs="*", help="id=checkpoint.pt (default: the three shipped networks)")
    p.add_argument("--ks", type=int, nargs="+", default=list(TABLE_KS))
    p.add_argument("--seed", type=int, default=TABLE_SEED)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--text", action="store_true", help="aligned text instead of Markdown")
    p.add_argument("--store", action="store_true",
                   help="write each network's row into its checkpoint's metadata (weights unchanged)")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    paths = dict(n.split("=", 1) for n in args.networks) if args.networks else remedy_paths()
    loaded = {name: load_checkpoint(Path(path)) for name, path in paths.items()}
    test = load_dataset(next(iter(loaded.values()))[1]["dataset"], "test")
    t0 = time.perf_counter()
    rows = consistency_table({n: m for n, (m, _) in loaded.items()}, test.images, test.labels, args.ks, args.seed)
    print(format_table(rows, markdown=not args.text))
    print(f"{len(test)} test images, seed {args.seed}, {time.perf_counter() - t0:.0f} s")
    if args.store:
        for row in rows:
            model, meta = loaded[row.network]
            keep = {k: v for k, v in meta.items() if k not in ("arch", "path", "config")}
            keep.update(classes=list(meta["classes"]), input_shape=list(meta["input_shape"]),
                        consistency=row.to_meta(), consistency_k3=row.zero.get(3), test_accuracy=row.accuracy)
            print(f"stored in {save_checkpoint(paths[row.network], model, meta['arch'], keep)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
