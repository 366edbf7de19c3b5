"""Small image helpers for display (never used for the model's input)."""

from __future__ import annotations

import hashlib

import numpy as np


def enlarge(image: np.ndarray, size: int = 128) -> np.ndarray:
    """Nearest-neighbour upscaling of an (h, w, 3) uint8 image to about ``size`` pixels a side, so each of the
    model's pixels stays a crisp square."""
    factor = max(1, int(size) // max(image.shape[:2]))
    return np.repeat(np.repeat(np.asarray(image), factor, axis=0), factor, axis=1)


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def display_photo(data: bytes, max_side: int = 448) -> np.ndarray:
    """An uploaded photo, decoded and shrunk for display (the browser never gets a 50-megapixel original).

    Call only after ``zsl_core.data.prepare_image`` accepted the bytes.
    """
    import io

    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as im:
        im.draft("RGB", (max_side, max_side))  # JPEG: decode at a reduced scale
        im = ImageOps.exif_transpose(im)
        im = im.convert("RGB")
        im.thumbnail((max_side, max_side))
        return np.asarray(im)
