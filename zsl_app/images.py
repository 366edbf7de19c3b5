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


def outline_crop(photo: np.ndarray, size: tuple[int, int], crop: tuple[int, int, int, int]) -> np.ndarray:
    """The displayed photo with the part the model keeps outlined and the rest dimmed (drawing only).

    ``size`` and ``crop`` are in the photo's own pixels (``zsl_core.data.describe_preparation``); ``photo`` is
    its display copy, possibly smaller.
    """
    from PIL import Image, ImageDraw

    h, w = photo.shape[:2]
    sx, sy = w / max(1, size[0]), h / max(1, size[1])
    left, top, right, bottom = crop[0] * sx, crop[1] * sy, crop[2] * sx - 1, crop[3] * sy - 1
    out = photo.astype(np.float32)
    mask = np.ones((h, w), bool)
    mask[int(top):int(bottom) + 1, int(left):int(right) + 1] = False
    out[mask] = out[mask] * 0.45 + 255 * 0.55  # what is cut off fades
    image = Image.fromarray(out.astype(np.uint8))
    ImageDraw.Draw(image).rectangle([left, top, right, bottom], outline=(234, 88, 12), width=max(2, w // 100))
    return np.asarray(image)


def on_white(data: bytes, max_side: int = 448) -> np.ndarray:
    """The display copy of a photo with transparent parts shown on white, as the model sees them."""
    import io

    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as im:
        im.draft("RGB", (max_side, max_side))
        im = ImageOps.exif_transpose(im)
        im.thumbnail((max_side, max_side))
        if im.mode in ("RGBA", "LA", "PA", "P"):
            im = im.convert("RGBA")
            white = Image.new("RGBA", im.size, (255, 255, 255, 255))
            im = Image.alpha_composite(white, im)
        return np.asarray(im.convert("RGB"))
