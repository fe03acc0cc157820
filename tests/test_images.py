"""Uploaded images: every bad or odd file gives a clear message or a documented conversion, never a traceback."""

import io

import numpy as np
import pytest
from PIL import Image

from cnnviz.images import ImageRejected, open_image, to_input


def png(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", **kw)
    return buf.getvalue()


def test_plain_png_to_fashion_mnist_input():
    img = Image.fromarray(np.tile(np.arange(0, 256, 4, dtype=np.uint8), (40, 1)))  # 40×64 gradient
    loaded = open_image(png(img))
    assert loaded.notes == [] and loaded.image.mode == "L"
    x = to_input(loaded.image, (1, 28, 28))
    assert x.shape == (28, 28) and x.dtype == np.uint8
    inv = to_input(loaded.image, (1, 28, 28), invert=True)
    assert inv[14, 0] > x[14, 0]  # the dark left edge becomes light
    assert to_input(loaded.image, (3, 32, 32)).shape == (32, 32, 3)


def test_text_renamed_png():
    with pytest.raises(ImageRejected, match="not a PNG, JPEG"):
        open_image(b"hello, I am a text file\n" * 10, "notes.png")


def test_empty_file():
    with pytest.raises(ImageRejected, match="empty"):
        open_image(b"", "x.png")


def test_truncated_png():
    data = png(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)))
    with pytest.raises(ImageRejected, match="truncated or corrupt"):
        open_image(data[: len(data) // 2], "half.png")


def test_decompression_bomb():
    # A tiny file that declares 20000 × 20000 pixels: refused from the header, before decoding.
    data = png(Image.new("1", (20000, 20000)), optimize=True)
    assert len(data) < 200_000
    with pytest.raises(ImageRejected, match="pixels"):
        open_image(data, "bomb.png")


def test_too_many_bytes():
    with pytest.raises(ImageRejected, match="MB"):
        open_image(b"\x89PNG" + b"\x00" * (6 * 1024 * 1024), "huge.png")


def test_16_bit_png():
    a = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16).astype(np.uint16)
    loaded = open_image(png(Image.fromarray(a)), "deep.png")  # numpy uint16 -> a 16-bit PNG
    assert loaded.image.mode == "L" and any("16-bit" in n for n in loaded.notes)
    assert np.asarray(loaded.image).max() > 200  # rescaled, not clipped to black or white


def test_cmyk_jpeg():
    buf = io.BytesIO()
    Image.new("CMYK", (40, 30), (0, 255, 255, 0)).save(buf, format="JPEG")
    loaded = open_image(buf.getvalue(), "print.jpg")
    assert loaded.image.mode == "RGB" and any("CMYK" in n for n in loaded.notes)
    r, g, b = np.asarray(loaded.image)[15, 20]
    assert r > 200 and g < 60 and b < 60  # cyan-free, magenta + yellow: red


def test_rgba_png():
    img = Image.new("RGBA", (10, 10), (0, 0, 0, 0))  # fully transparent
    loaded = open_image(png(img), "alpha.png")
    assert loaded.image.mode == "RGB" and any("transparency" in n for n in loaded.notes)
    assert np.asarray(loaded.image).min() == 255  # composited on white


def test_animated_gif():
    frames = [Image.new("L", (16, 16), v) for v in (10, 200, 90)]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    loaded = open_image(buf.getvalue(), "anim.gif")
    assert any("3 frames" in n for n in loaded.notes)
    assert abs(int(np.asarray(loaded.image.convert("L"))[0, 0]) - 10) < 3  # the first frame


def test_other_format_refused():
    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="TIFF")
    with pytest.raises(ImageRejected, match="not a PNG"):
        open_image(buf.getvalue(), "scan.tif")
