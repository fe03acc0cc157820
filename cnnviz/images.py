"""Uploaded images, opened safely and converted to a network's input.

Safety rules (DESIGN.md): only PNG, JPEG, GIF, BMP and WebP are opened; the byte size and the pixel
count are checked before decoding (decompression bombs are errors, not warnings); truncated files
are errors. Odd but valid images are converted with a note saying what was done: 16-bit, CMYK,
palette, RGBA (composited on white), animated (first frame).
"""

from __future__ import annotations

import io
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


@dataclass
class LoadedImage:
    image: Image.Image  # "L" or "RGB"
    notes: list[str] = field(default_factory=list)  # conversions made, for the user


def open_image(data: bytes, name: str = "upload") -> LoadedImage:
    """Open uploaded bytes as an 8-bit "L" or "RGB" image, or raise ImageRejected with a clear reason."""
    if not data:
        raise ImageRejected(f"{name} is empty.")
    if len(data) > MAX_BYTES:
        raise ImageRejected(f"{name} is {len(data) / 2**20:.1f} MB; the limit is {MAX_BYTES // 2**20} MB.")
    notes: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data), formats=FORMATS)
        except Image.UnidentifiedImageError:
            raise ImageRejected(f"{name} is not a PNG, JPEG, GIF, BMP or WebP image.") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageRejected(f"{name} declares too many pixels (a decompression bomb?); refused.") from None
        w, h = img.size
        if w * h > MAX_PIXELS:
            raise ImageRejected(f"{name} is {w}×{h} pixels; at most {MAX_PIXELS:,} pixels are accepted.")
        if getattr(img, "n_frames", 1) > 1:
            notes.append(f"animated image with {img.n_frames} frames: the first frame is used")
            img.seek(0)
        try:
            img.load()
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageRejected(f"{name} is truncated or corrupt ({exc}).") from None
    return LoadedImage(_to_8bit(img, notes), notes)


def _to_8bit(img: Image.Image, notes: list[str]) -> Image.Image:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if mode.startswith("I;16") or a.max() > 255 else 255.0
        notes.append(f"{'16' if hi > 255 else '32'}-bit grayscale converted to 8-bit")
        return Image.fromarray(np.clip(np.round(a / hi * 255), 0, 255).astype(np.uint8), "L")
    if mode == "F":
        a = np.asarray(img, dtype=np.float64)
        a = (a - a.min()) / ((a.max() - a.min()) or 1.0)
        notes.append("floating-point image rescaled to 8-bit")
        return Image.fromarray(np.round(a * 255).astype(np.uint8), "L")
    if mode == "CMYK":
        notes.append("CMYK converted to RGB")
        return img.convert("RGB")
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        notes.append("transparency composited on a white background")
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode in ("1", "P"):
        return img.convert("RGB" if mode == "P" else "L")
    if mode in ("L", "RGB"):
        return img
    notes.append(f"{mode} converted to RGB")
    return img.convert("RGB")


def to_input(img: Image.Image, input_shape: tuple[int, int, int], invert: bool = False) -> np.ndarray:
    """Resize (keeping the aspect ratio, centred on black) to the network's input: uint8 (H, W) or (H, W, 3)."""
    c, h, w = input_shape
    img = img.convert("L" if c == 1 else "RGB")
    if invert:
        img = ImageOps.invert(img)
    img = ImageOps.pad(img, (w, h), method=Image.Resampling.LANCZOS, color=0)
    return np.asarray(img, dtype=np.uint8).copy()


def to_gray(img: Image.Image, max_side: int = 128) -> np.ndarray:
    """An image as a grayscale float array in [0, 1], at most max_side pixels on its longer side."""
    img = img.convert("L")
    img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return np.asarray(img, dtype=np.float64) / 255.0
