"""Uploaded images, opened safely, and drawings, converted to a network's input.

Safety rules (DESIGN.md): only PNG, JPEG, GIF, BMP and WebP are opened; the byte size and the pixel
count are checked before decoding (decompression bombs are errors, not warnings); truncated files
are errors. Odd but valid images are converted with a note saying what was done: 16-bit, CMYK,
palette, RGBA (composited on white), animated (first frame).
"""

from __future__ import annotations

import io
import struct
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps

from cnnviz import CnnvizError

FORMATS = ["PNG", "JPEG", "GIF", "BMP", "WEBP"]
MAX_BYTES = 5 * 1024 * 1024
MAX_PIXELS = 4096 * 4096  # width × height, checked from the header before decoding


# Pillow's own guard against decompression bombs, lowered to our limit: above it Pillow warns (we turn
# the warning into an error below), above twice the limit it refuses by itself.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS


class ImageRejected(CnnvizError):
    """The upload is not an image we can safely use; the message says why."""


class Note(str):
    """A conversion made to an upload, for the user: the English text, plus its catalogue id and
    parameters so a page can word it in the reader's language (`note.message("fr")`)."""

    def __new__(cls, code: str, **params):
        from cnnviz.i18n import tr

        self = super().__new__(cls, tr("en", code, **params))
        self.code, self.params = code, params
        return self

    def message(self, lang: str = "en") -> str:
        from cnnviz.i18n import tr

        return tr(lang, self.code, **self.params)


@dataclass
class LoadedImage:
    image: Image.Image  # "L" or "RGB"
    notes: list[Note] = field(default_factory=list)  # conversions made, for the user


# Everything Pillow (and the codecs under it) may raise on bytes that start like an image and then go
# wrong: a malformed chunk, a bad length, a truncated stream, an absurd palette, a bomb, no memory.
DECODE_ERRORS = (OSError, SyntaxError, ValueError, TypeError, struct.error, EOFError, IndexError, KeyError,
                 ZeroDivisionError, OverflowError, AttributeError, NotImplementedError, AssertionError,
                 MemoryError, RecursionError, Image.DecompressionBombError, Image.DecompressionBombWarning)


def open_image(data: bytes, name: str = "upload") -> LoadedImage:
    """Open uploaded bytes as an 8-bit "L" or "RGB" image, or raise ImageRejected with a clear reason.

    Nothing else escapes: every failure of the decoder, wherever it happens (header, frames, pixel data,
    conversion), becomes an ImageRejected."""
    if not data:
        raise ImageRejected("err.img_empty", name=name)
    if len(data) > MAX_BYTES:
        raise ImageRejected("err.img_too_large_bytes", name=name, mb=round(len(data) / 2**20, 1),
                            limit=MAX_BYTES // 2**20)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return _open(bytes(data), name)
        except ImageRejected:
            raise
        except Image.UnidentifiedImageError:
            raise ImageRejected("err.img_not_image", name=name) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageRejected("err.img_bomb", name=name) from None
        except MemoryError:
            raise ImageRejected("err.img_memory", name=name) from None
        except DECODE_ERRORS as exc:
            raise ImageRejected("err.img_corrupt", name=name, kind=type(exc).__name__) from None


def _open(data: bytes, name: str) -> LoadedImage:
    notes: list[Note] = []
    img = Image.open(io.BytesIO(data), formats=FORMATS)
    w, h = img.size
    if w <= 0 or h <= 0:
        raise ImageRejected("err.img_corrupt", name=name, kind="size")
    if w * h > MAX_PIXELS:
        raise ImageRejected("err.img_too_many_pixels", name=name, w=w, h=h, limit=MAX_PIXELS)
    frames = getattr(img, "n_frames", 1)
    if frames > 1:
        notes.append(Note("err.img_note_animated", n=frames))
        img.seek(0)
    img.load()
    out = _to_8bit(img, notes)
    out.load()
    if out.mode not in ("L", "RGB"):  # never hand the pages something they did not expect
        out = out.convert("RGB")
    return LoadedImage(out, notes)


def _to_8bit(img: Image.Image, notes: list[Note]) -> Image.Image:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if mode.startswith("I;16") or a.max() > 255 else 255.0
        notes.append(Note("err.img_note_16bit" if hi > 255 else "err.img_note_32bit"))
        return Image.fromarray(np.clip(np.round(a / hi * 255), 0, 255).astype(np.uint8), "L")
    if mode == "F":
        a = np.nan_to_num(np.asarray(img, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        a = (a - a.min()) / ((a.max() - a.min()) or 1.0)
        notes.append(Note("err.img_note_float"))
        return Image.fromarray(np.round(a * 255).astype(np.uint8), "L")
    if mode == "CMYK":
        notes.append(Note("err.img_note_cmyk"))
        return img.convert("RGB")
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        notes.append(Note("err.img_note_alpha"))
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode in ("1", "P"):
        return img.convert("RGB" if mode == "P" else "L")
    if mode in ("L", "RGB"):
        return img
    notes.append(Note("err.img_note_mode", mode=mode))
    return img.convert("RGB")


def to_input(img: Image.Image, input_shape: tuple[int, int, int], invert: bool = False) -> np.ndarray:
    """Resize (keeping the aspect ratio, centred on black) to the network's input: uint8 (H, W) or (H, W, 3)."""
    c, h, w = input_shape
    img = img.convert("L" if c == 1 else "RGB")
    if invert:
        img = ImageOps.invert(img)
    img = ImageOps.pad(img, (w, h), method=Image.Resampling.LANCZOS, color=0)
    return np.asarray(img, dtype=np.uint8).copy()


def canvas_to_image(rgba: np.ndarray, input_shape: tuple[int, int, int] = (1, 28, 28)) -> np.ndarray:
    """A drawing canvas's RGBA array (H, W, 4), white strokes on black, -> the network's uint8 input.

    Transparent pixels are black (the Fashion-MNIST convention: the object is light on a dark ground),
    the drawing is cropped to its strokes with a margin, then `to_input` resizes it,
    centred, to (H, W) for one channel or (H, W, 3) for three. An empty canvas gives a black image.
    """
    src = np.asarray(rgba)
    if src.ndim != 3 or src.shape[2] not in (3, 4) or src.size == 0 or src.dtype.kind not in "uif":
        raise ImageRejected("err.img_canvas", shape=str(tuple(src.shape)))
    a = np.nan_to_num(src.astype(np.float64))
    if src.dtype.kind == "f" and a.max() <= 1.0:  # floats in [0, 1]
        a = a * 255.0
    alpha = a[..., 3] / 255.0 if a.shape[2] == 4 else np.ones(a.shape[:2])
    rgb = a[..., :3] * alpha[..., None]  # composite over black
    ys, xs = np.nonzero(rgb.max(axis=2) > 8)
    if len(ys):  # crop to the strokes, square, with a 15 % margin, as MNIST-like sets centre their objects
        cy, cx = (ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2
        half = max(ys.max() - ys.min(), xs.max() - xs.min()) / 2 * 1.15 + 1
        y0, y1 = int(max(0, cy - half)), int(min(a.shape[0], cy + half + 1))
        x0, x1 = int(max(0, cx - half)), int(min(a.shape[1], cx + half + 1))
        rgb = rgb[y0:y1, x0:x1]
    img = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")
    return to_input(img, tuple(input_shape))


def to_gray(img: Image.Image, max_side: int = 128) -> np.ndarray:
    """An image as a grayscale float array in [0, 1], at most max_side pixels on its longer side."""
    img = img.convert("L")
    img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return np.asarray(img, dtype=np.float64) / 255.0
