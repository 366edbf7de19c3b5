"""Decoding one image (an upload, a photo, a dataset file) into a 32×32 RGB array, safely."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import DatasetError

__all__ = ["EXTENSIONS", "MAX_PIXELS", "ImageSource", "prepare_image"]

#: File extensions accepted for uploads (lower case, no dot).
EXTENSIONS = ("jpg", "jpeg", "png", "webp", "bmp", "gif")

#: Largest image (in pixels) :func:`prepare_image` accepts. A 50-megapixel phone photo is legitimate; an image
#: far beyond that is much more likely a decompression bomb. Pillow itself refuses images above
#: ``2 * Image.MAX_IMAGE_PIXELS`` (~179 MP by default), so the effective limit is the smaller of the two; we
#: deliberately do not change Pillow's process-wide setting from library code.
MAX_PIXELS = 200_000_000


ImageSource = Union[bytes, bytearray, memoryview, BinaryIO, os.PathLike, str, Image.Image, np.ndarray]


def prepare_image(data: ImageSource, size: int = 32, *, name: str | None = None) -> np.ndarray:
    """Decode any image and bring it to a ``(size, size, 3)`` RGB ``uint8`` array, as CIFAR-10 images are.

    The image is centre-cropped to a square, then resized with Lanczos filtering. CIFAR-10 images are square,
    roughly object-centred crops, so cropping (rather than squashing or padding) keeps an object's aspect
    ratio and scale closest to what the feature extractors were trained on; Lanczos is an anti-aliased
    filter, so strong downscaling (a 4000 px photo to 32 px) does not alias fine texture into noise.

    Parameters
    ----------
    data : bytes, file-like, path, PIL.Image.Image or ndarray
        Encoded image bytes (any format Pillow reads; an animated image gives its first frame), an open
        binary file, a path, a Pillow image, or an array of shape (h, w), (h, w, 1), (h, w, 3) or (h, w, 4)
        (``uint8``; ``uint16``; ``bool``; or float in [0, 1] or [0, 255]).
    size : int, default 32
        Side of the output square.
    name : str, optional
        What to call the image in error messages (a file name).

    Returns
    -------
    ndarray of shape (size, size, 3), dtype uint8
        RGB. Transparent areas are composited onto white; palette, greyscale, CMYK and 16-bit images are
        converted; EXIF orientation is applied.

    Raises
    ------
    DatasetError
        Empty input, bytes that are not an image, a truncated or corrupt file, or an image larger than
        :data:`MAX_PIXELS` (decompression-bomb guard).
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    size = int(size)
    label = name or "the image"
    if isinstance(data, np.ndarray):
        image = _array_to_pil(data, label)
    elif isinstance(data, Image.Image):
        image = data
    else:
        image = _open_image(data, label)
    try:
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise DatasetError(
                f"{label} is too large ({width}x{height} = {width * height / 1e6:.0f} megapixels; the limit is "
                f"{MAX_PIXELS / 1e6:.0f}): refusing it as a possible decompression bomb"
            )
        if width < 1 or height < 1:
            raise DatasetError(f"{label} has no pixels ({width}x{height})")
        # JPEG can decode at 1/2, 1/4 or 1/8 scale for free; ask for at least 4x the final side so the
        # Lanczos resize below still has detail to work with. A 50 MP photo then decodes to ~1 MP.
        want = 4 * size
        if min(width, height) > 2 * want:
            scale = want / min(width, height)
            image.draft("RGB", (max(want, int(width * scale)), max(want, int(height * scale))))
        # load() forces the full decode now, so a truncated file fails here (Pillow raises unless the
        # process-wide ImageFile.LOAD_TRUNCATED_IMAGES was switched on).
        image.load()
        image = ImageOps.exif_transpose(image)
        image = _to_rgb_or_rgba(image)
        if image.mode == "RGBA":
            # Flatten onto white before any filtering, so fully transparent pixels (whose colour is
            # arbitrary) cannot bleed into the result.
            white = Image.new("RGBA", image.size, (255, 255, 255, 255))
            image = Image.alpha_composite(white, image).convert("RGB")
        width, height = image.size
        factor = min(width, height) // (3 * size)
        if factor >= 2:
            # A cheap integer box-reduce first bounds the time and memory of the Lanczos pass on big photos
            # (what Pillow's reducing_gap does) while keeping >= 3x the final resolution for it to filter.
            image = image.reduce(factor)
            width, height = image.size
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        if (width, height) != (side, side):
            image = image.crop((left, top, left + side, top + side))
        if side != size:
            image = image.resize((size, size), Image.Resampling.LANCZOS)
        out = np.asarray(image, dtype=np.uint8)
    except DatasetError:
        raise
    except Image.DecompressionBombError as exc:
        raise DatasetError(f"{label} is too large: {exc}") from exc
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, MemoryError) as exc:
        raise DatasetError(f"{label} is truncated or corrupt and cannot be decoded ({exc})") from exc
    if out.shape != (size, size, 3):  # pragma: no cover - defensive; every branch above yields RGB
        raise DatasetError(f"{label} decoded to an unexpected shape {out.shape}")
    return np.array(out, copy=True)


def _open_image(data, label: str) -> Image.Image:
    """Open (header only) an image from bytes, a path or a binary file object."""
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        if not path.is_file():
            raise DatasetError(f"{label if label != 'the image' else path} does not exist or is not a file")
        data = path.read_bytes()
    elif hasattr(data, "read"):
        data = data.read()
    if isinstance(data, str):
        raise DatasetError(f"{label} is text, not image bytes")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DatasetError(
            f"cannot read an image from a {type(data).__name__}; pass bytes, a file, a path, a PIL image or an array"
        )
    if len(data) == 0:
        raise DatasetError(f"{label} is empty (0 bytes), not an image")
    try:
        return Image.open(io.BytesIO(bytes(data)))
    except Image.DecompressionBombError as exc:
        raise DatasetError(f"{label} is too large: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise DatasetError(
            f"{label} is not an image Pillow can read (accepted for upload: {', '.join(EXTENSIONS)})"
        ) from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise DatasetError(f"{label} is truncated or corrupt and cannot be decoded ({exc})") from exc


def _array_to_pil(array: np.ndarray, label: str) -> Image.Image:
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))):
        raise DatasetError(f"{label}: an image array must have shape (h, w), (h, w, 1), (h, w, 3) or (h, w, 4), "
                           f"got {a.shape}")
    if a.size == 0:
        raise DatasetError(f"{label} has no pixels (shape {a.shape})")
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    elif a.dtype == np.uint16:
        a = (a.astype(np.uint32) // 257).astype(np.uint8)  # 65535 -> 255 exactly
    elif np.issubdtype(a.dtype, np.floating):
        finite = a[np.isfinite(a)]
        scale = 255.0 if finite.size == 0 or finite.max() <= 1.0 else 1.0
        a = np.clip(np.nan_to_num(a) * scale, 0, 255).round().astype(np.uint8)
    elif a.dtype != np.uint8:
        if np.issubdtype(a.dtype, np.integer) and a.size and (a.min() < 0 or a.max() > 255):
            raise DatasetError(f"{label}: integer pixel values must lie in [0, 255], got [{a.min()}, {a.max()}]")
        if not np.issubdtype(a.dtype, np.integer):
            raise DatasetError(f"{label}: unsupported pixel dtype {a.dtype}")
        a = a.astype(np.uint8)
    mode = "L" if a.ndim == 2 else {3: "RGB", 4: "RGBA"}[a.shape[2]]
    return Image.fromarray(np.ascontiguousarray(a), mode=mode)


def _to_rgb_or_rgba(image: Image.Image) -> Image.Image:
    """Normalise any Pillow mode to RGB, or RGBA when it carries transparency (flattened onto white next)."""
    mode = image.mode
    if mode in ("RGB", "RGBA"):
        return image
    if mode in ("LA", "La", "PA", "RGBa") or (mode in ("P", "L", "RGB") and "transparency" in image.info):
        return image.convert("RGBA")
    if mode.startswith("I") or mode == "F":
        # 16-/32-bit greyscale: Pillow's convert() would clip everything above 255 to white; rescale instead.
        a = np.asarray(image).astype(np.float64)
        if mode == "F" and a.size and a.max() <= 1.0:
            top = 1.0
        elif mode.startswith("I;16") or (a.size and a.max() > 255):
            top = 65535.0
        else:
            top = 255.0
        grey = np.clip(a / top * 255.0, 0, 255).round().astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    return image.convert("RGB")  # P, L, 1, CMYK, YCbCr, LAB, HSV
