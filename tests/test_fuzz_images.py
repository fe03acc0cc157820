"""Fuzzing the upload decoder: mutated and truncated PNG, JPEG, GIF, BMP and WebP files never raise
anything but ImageRejected, and whatever opens is an 8-bit "L" or "RGB" image.

The CI run tries CNNVIZ_FUZZ_CASES cases (default 3,000, a few seconds); a longer run on demand:

    CNNVIZ_FUZZ_CASES=20000 .venv/bin/pytest -q tests/test_fuzz_images.py
"""

from __future__ import annotations

import io
import os
import random
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from cnnviz.images import ImageRejected, open_image

CASES = int(os.environ.get("CNNVIZ_FUZZ_CASES", "3000"))


def _seeds() -> list[bytes]:
    """Small valid files of every accepted format, in several modes (palette, alpha, animation...)."""
    rng = np.random.default_rng(0)
    rgb = Image.fromarray(rng.integers(0, 256, (24, 20, 3), dtype=np.uint8), "RGB")
    gray = Image.fromarray(rng.integers(0, 256, (17, 23), dtype=np.uint8), "L")
    rgba = Image.fromarray(rng.integers(0, 256, (12, 12, 4), dtype=np.uint8), "RGBA")
    out = []

    def save(img, fmt, **kw):
        buf = io.BytesIO()
        img.save(buf, format=fmt, **kw)
        out.append(buf.getvalue())

    save(rgb, "PNG")
    save(gray, "PNG", optimize=True)
    save(rgba, "PNG")
    save(rgb.convert("P"), "PNG")
    save(Image.fromarray((np.arange(256, dtype=np.uint16).reshape(16, 16) * 250)), "PNG")
    save(rgb, "JPEG", quality=80)
    save(gray, "JPEG", progressive=True)
    save(Image.new("CMYK", (16, 8), (0, 255, 255, 0)), "JPEG")
    save(rgb.convert("P"), "GIF")
    frames = [Image.new("L", (16, 16), v) for v in (10, 200, 90)]
    save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    save(rgb, "BMP")
    save(gray.convert("1"), "BMP")
    save(rgb, "WEBP", quality=70)
    save(rgba, "WEBP", lossless=True)
    return out


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to four random edits: truncation, byte flips, random overwrite, insertion, deletion,
    duplicated block, an interesting integer (0, 0xFF, 0x7FFFFFFF...) written over a length field."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        n = len(b)
        if n == 0:
            break
        i = rng.randrange(n)
        if op == 0:
            del b[rng.randrange(1, n + 1):]
        elif op == 1:
            for _ in range(rng.randint(1, 8)):
                j = rng.randrange(n)
                b[j] ^= 1 << rng.randrange(8)
        elif op == 2:
            b[i:i + rng.randint(1, 16)] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif op == 3:
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 32)))
        elif op == 4:
            del b[i:i + rng.randint(1, 32)]
        elif op == 5:
            j = rng.randrange(n)
            b[i:i] = b[j:j + rng.randint(1, 64)]
        else:
            value = rng.choice([0, 1, 0xFF, 0xFFFF, 0x7FFF, 0x8000, 0x7FFFFFFF, 0xFFFFFFFF, 0x10000])
            width = rng.choice([1, 2, 4])
            b[i:i + width] = (value & ((1 << 8 * width) - 1)).to_bytes(width, rng.choice(["big", "little"]))
    return bytes(b)


def fuzz(cases: int, seed: int = 1234) -> Counter:
    rng = random.Random(seed)
    seeds = _seeds()
    outcome: Counter = Counter()
    for k in range(cases):
        data = mutate(seeds[k % len(seeds)], rng)
        try:
            loaded = open_image(data, "fuzz")
        except ImageRejected as exc:
            assert str(exc) and not str(exc).startswith("err."), exc.code
            outcome[exc.code] += 1
        else:
            assert loaded.image.mode in ("L", "RGB")
            np.asarray(loaded.image)  # the pixels really are there
            outcome["opened"] += 1
    return outcome


def test_seeds_open():
    for data in _seeds():
        assert open_image(data).image.mode in ("L", "RGB")


def test_fuzz_decoder_only_raises_image_rejected():
    outcome = fuzz(CASES)
    assert sum(outcome.values()) == CASES
    assert outcome["opened"] > 0 and outcome["err.img_corrupt"] > 0
    print(f"\n{CASES} mutated files: {dict(outcome)}")


@pytest.mark.parametrize("cut", [8, 20, 33, 57, 100])
def test_truncations_of_every_seed_are_refused_with_a_reason(cut):
    """A file cut short (every seed is longer than 100 bytes) lacks its pixels: refused as "not an image" or
    "damaged", with a sentence in both languages, never another exception nor a half-decoded image."""
    for data in _seeds():
        assert len(data) > cut
        with pytest.raises(ImageRejected) as info:
            open_image(data[:cut], "cut")
        assert info.value.code in ("err.img_not_image", "err.img_corrupt"), info.value.code
        for lang in ("en", "fr"):
            message = info.value.message(lang)
            assert "cut" in message and "{" not in message and not message.startswith("err.")
