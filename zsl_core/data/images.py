"""Decoding one image (an upload, a photo, a dataset file) into a 32×32 RGB array, safely.

Uploads come from anyone, so :func:`prepare_image` trusts nothing about them:

* **the format is read from the content**, never from the file name, and only JPEG, PNG, WebP, BMP and GIF
  decoders are ever tried (Pillow's EPS plugin would start Ghostscript; TIFF and ICO are refused too);
* **the size is checked from the header before decoding**: at most :data:`MAX_PIXELS`, below Pillow's own
  limit, so a small file that decodes huge (a 657 KB 13000×13000 PNG) is refused for the cost of its header;
  big JPEGs decode at a reduced scale (``draft``);
* **reads are bounded**: at most :data:`MAX_BYTES` are read from any path or stream, and a path must be a
  regular file (not ``/dev/zero``, a pipe or a terminal);
* **every failure is a** :class:`~zsl_core.data.DatasetError` with a one-line message.
"""

from __future__ import annotations

import io
import os
import stat
import struct
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import DatasetError

__all__ = ["EXTENSIONS", "FORMATS", "MAX_PIXELS", "MAX_BYTES", "ImageSource", "prepare_image", "read_limited",
           "describe_preparation"]

#: File extensions offered by upload widgets (lower case, no dot). Only a hint for the file picker: what is
#: decoded is decided by :data:`FORMATS` and the file's content.
EXTENSIONS = ("jpg", "jpeg", "png", "webp", "bmp", "gif")

#: The only Pillow decoders ever tried, in this order. Passed to ``Image.open(formats=...)``, so a file whose
#: content is EPS, PDF, TIFF, ICO, PSD... is never handed to the plugin for it, whatever its name says.
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")
# Pillow's JPEG plugin reports multi-picture JPEGs from cameras as "MPO".
_DECODED_AS = frozenset(FORMATS) | {"MPO"}

#: Largest image (width × height, from its header) :func:`prepare_image` decodes. A 50-megapixel phone
#: photo is legitimate; an image far beyond that is more likely a decompression bomb. This must stay below
#: Pillow's own refusal (``2 * Image.MAX_IMAGE_PIXELS``, ~179 MP) and its warning (~89 MP) so that our
#: check, with its clear message, is the one that fires; Pillow's process-wide setting is left alone.
MAX_PIXELS = 64_000_000

#: Most bytes read for one image, from a path, a stream or an upload (64 MiB; the app's upload widget allows
#: 50 MB). Reading stops there, so ``/dev/zero`` or a 10 GB file cannot exhaust memory.
MAX_BYTES = 64 * 2**20

# Pillow's transposition for each EXIF orientation (as in ImageOps.exif_transpose), applied to the small
# result instead of the full-size photo so that rotating never costs a full-size copy.
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# Content signatures of formats we refuse, only to say what a rejected file is.
_KNOWN = (
    (b"%!PS", "a PostScript/EPS document"), (b"\xc5\xd0\xd3\xc6", "an EPS document"), (b"%PDF", "a PDF document"),
    (b"II*\x00", "a TIFF image"), (b"MM\x00*", "a TIFF image"), (b"II+\x00", "a TIFF image"),
    (b"MM\x00+", "a TIFF image"), (b"\x00\x00\x01\x00", "an ICO icon"), (b"\x00\x00\x02\x00", "a CUR cursor"),
    (b"8BPS", "a Photoshop document"), (b"icns", "an ICNS icon"), (b"\x00\x00\x00\x0cjP  ", "a JPEG 2000 image"),
    (b"\xffO\xffQ", "a JPEG 2000 image"), (b"DDS ", "a DDS texture"), (b"qoif", "a QOI image"),
    (b"gimp xcf", "a GIMP image"), (b"PK\x03\x04", "a ZIP archive"), (b"\x1f\x8b", "a gzip archive"),
)

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
        Encoded image bytes, an open binary file, or a path to a regular file — JPEG, PNG, WebP, GIF or BMP
        by content (an animated image gives its first frame); or a Pillow image; or an array of shape
        (h, w), (h, w, 1), (h, w, 3) or (h, w, 4) (``uint8``; ``uint16``; ``bool``; or float in [0, 1] or
        [0, 255]).
    size : int, default 32
        Side of the output square.
    name : str, optional
        What to call the image in error messages (e.g. the uploaded file's name).

    Returns
    -------
    ndarray of shape (size, size, 3), dtype uint8
        RGB. Transparent areas are composited onto white; palette, greyscale, CMYK and 16-bit images are
        converted; EXIF orientation is applied.

    Raises
    ------
    DatasetError
        With a one-line message: empty input, more than :data:`MAX_BYTES`, a path that is not a regular
        file, content that is not one of :data:`FORMATS` (the message names what it is when known, e.g. "a
        TIFF image"), more than :data:`MAX_PIXELS` pixels, or a truncated or corrupt file.
    """
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    size = int(size)
    label = name or (str(data) if isinstance(data, (str, os.PathLike)) else "the image")
    if isinstance(data, np.ndarray):
        image = _array_to_pil(data, label)
    elif isinstance(data, Image.Image):
        image = data
        if image.format is not None and image.format not in _DECODED_AS:
            raise DatasetError(f"{label} is a {image.format} image; accepted formats are {_accepted()}")
    else:
        image = _open_image(read_limited(data, label), label)
    try:
        out = _to_array(image, size, label)
    except DatasetError:
        raise
    except Image.DecompressionBombError as exc:
        raise DatasetError(f"{label} is too large to decode ({exc})") from exc
    except MemoryError as exc:
        raise DatasetError(f"{label} is too large to decode in the memory available") from exc
    except Exception as exc:  # noqa: BLE001 - hostile input: any decoder failure is the user's bad file
        raise DatasetError(f"{label} is truncated or corrupt and cannot be decoded ({_short(exc)})") from exc
    if out.shape != (size, size, 3):  # pragma: no cover - defensive; every branch yields RGB
        raise DatasetError(f"{label} decoded to an unexpected shape {out.shape}")
    return out


def describe_preparation(data: ImageSource, *, name: str | None = None) -> dict:
    """What :func:`prepare_image` does to a photo, for showing it: the part kept and whether white was added.

    Reads the header only (and the transparency information Pillow keeps with it); nothing is decoded.

    Returns
    -------
    dict
        ``size``: ``(width, height)`` as displayed (EXIF orientation applied); ``crop``: ``(left, top, right,
        bottom)`` of the centre square kept, in those displayed coordinates; ``cropped``: whether anything was
        cut off; ``kept_share``: the share of the photo's area kept; ``transparent``: whether transparent
        areas are filled with white; ``rotated``: whether the EXIF orientation turned it.

    Raises
    ------
    DatasetError
        As :func:`prepare_image` for a file it would refuse.
    """
    label = name or (str(data) if isinstance(data, (str, os.PathLike)) else "the image")
    if isinstance(data, np.ndarray):
        image = _array_to_pil(data, label)
    elif isinstance(data, Image.Image):
        image = data
    else:
        image = _open_image(read_limited(data, label), label)
    width, height = image.size
    try:
        orientation = int(image.getexif().get(0x0112, 1))
    except Exception:  # noqa: BLE001 - a damaged EXIF block only loses the rotation
        orientation = 1
    rotated = orientation in (5, 6, 7, 8)
    if rotated:
        width, height = height, width
    mode = image.mode
    transparent = mode in ("RGBA", "LA", "La", "PA", "RGBa") or "transparency" in image.info
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    return {"size": (width, height), "crop": (left, top, left + side, top + side), "cropped": width != height,
            "kept_share": side * side / max(1, width * height), "transparent": bool(transparent),
            "rotated": orientation in _ORIENTATION}


def read_limited(data, label: str, limit: int | None = None, *, expected: str = "an image") -> bytes:
    """The bytes of ``data`` (bytes, an open binary file, or a path to a regular file), at most ``limit``.

    Parameters
    ----------
    data : bytes-like, binary file object, str or os.PathLike
    label : str
        Name used in messages.
    limit : int, optional
        Default :data:`MAX_BYTES`. One byte more than this is read, to tell "exactly at the limit" from
        "over it", and then reading stops.
    expected : str
        What the content should be, for the message about empty input (``"an image"``).

    Raises
    ------
    DatasetError
        Over the limit, empty, a path that is missing or not a regular file, or an unreadable object.
    """
    limit = MAX_BYTES if limit is None else int(limit)
    if isinstance(data, (str, os.PathLike)):
        path = Path(data)
        try:
            # Checked before opening: opening a pipe blocks, and a device (/dev/zero) never ends.
            info = path.stat()
        except OSError:
            raise DatasetError(f"{label} does not exist or cannot be read") from None
        if not stat.S_ISREG(info.st_mode):
            raise DatasetError(f"{label} is not a regular file")
        if info.st_size > limit:
            raise DatasetError(f"{label} is larger than the {_mb(limit)} limit ({_mb(info.st_size)})")
        try:
            with open(path, "rb") as handle:
                raw = handle.read(limit + 1)
        except OSError as exc:
            raise DatasetError(f"{label} cannot be read ({exc.strerror or exc})") from None
    elif isinstance(data, (bytes, bytearray, memoryview)):
        raw = data
    elif hasattr(data, "read"):
        chunks, total = [], 0
        try:
            while total <= limit:
                chunk = data.read(min(1 << 20, limit + 1 - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
        except (OSError, ValueError) as exc:
            raise DatasetError(f"{label} cannot be read ({exc})") from None
        if chunks and isinstance(chunks[0], str):
            raise DatasetError(f"{label} is text, not image bytes (open the file in binary mode)")
        raw = b"".join(chunks)
    elif isinstance(data, str):  # pragma: no cover - str is a path above
        raise DatasetError(f"{label} is text, not image bytes")
    else:
        raise DatasetError(f"cannot read an image from a {type(data).__name__}; pass bytes, a binary file, a "
                           f"path, a PIL image or an array")
    if len(raw) > limit:
        raise DatasetError(f"{label} is larger than the {_mb(limit)} limit")
    if len(raw) == 0:
        raise DatasetError(f"{label} is empty (0 bytes), not {expected}")
    return bytes(raw) if isinstance(raw, memoryview) else raw


def _open_image(raw: bytes, label: str) -> Image.Image:
    """Identify the format from the content and read the header (no pixel is decoded here)."""
    # Our limit first, from the header's own numbers: Pillow's check inside Image.open would otherwise
    # print its DecompressionBombWarning (89-179 MP) or raise with its own text (above), and Pillow's WebP
    # plugin allocates the canvas while opening. Process-wide warning filters are not thread-safe, so the
    # size is read here rather than Pillow's warning silenced.
    size = _header_size(raw)
    if size is not None and size[0] * size[1] > MAX_PIXELS:
        raise DatasetError(_too_large(label, f"{size[0]}x{size[1]} = {size[0] * size[1] / 1e6:.0f} megapixels"))
    try:
        image = Image.open(io.BytesIO(raw), formats=FORMATS)
    except Image.DecompressionBombError as exc:  # a header _header_size could not read: say it our way
        pixels = next((int(w) for w in str(exc).replace("(", " ").split() if w.isdigit()), 0)
        raise DatasetError(_too_large(label, f"{pixels / 1e6:.0f} megapixels" if pixels else "by its header")) from None
    except UnidentifiedImageError:
        raise DatasetError(f"{label} is {_what(raw)}; accepted formats are {_accepted()} "
                           f"(read from the content, not the file name)") from None
    except Exception as exc:  # noqa: BLE001 - a header that crashes a plugin is a corrupt file
        raise DatasetError(f"{label} is truncated or corrupt and cannot be decoded ({_short(exc)})") from exc
    if image.format not in _DECODED_AS:  # pragma: no cover - formats= already guarantees this
        raise DatasetError(f"{label} is a {image.format} image; accepted formats are {_accepted()}")
    return image


def _header_size(raw: bytes) -> tuple[int, int] | None:
    """Width and height from the header of a PNG, GIF (its first frame included), BMP, WebP or JPEG, read
    without Pillow; ``None`` when the header is not one of these or is damaged (Pillow then decides)."""
    head = bytes(raw[:64])
    try:
        if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
            return struct.unpack(">II", head[16:24])
        if head[:6] in (b"GIF87a", b"GIF89a"):
            width, height = struct.unpack("<HH", head[6:10])
            pos = 13 + (3 << ((head[10] & 7) + 1) if head[10] & 0x80 else 0)
            while pos < len(raw) and raw[pos] == 0x21:  # extension blocks before the first frame
                pos += 2
                while pos < len(raw) and raw[pos]:
                    pos += raw[pos] + 1
                pos += 1
            if pos < len(raw) and raw[pos] == 0x2C:  # the first frame may reach past the screen (Pillow grows it)
                x, y, w, h = struct.unpack("<HHHH", raw[pos + 1:pos + 9])
                width, height = max(width, x + w), max(height, y + h)
            return width, height
        if head[:2] == b"BM":
            if struct.unpack("<I", head[14:18])[0] == 12:  # OS/2 BITMAPCOREHEADER
                return struct.unpack("<HH", head[18:22])
            width, height = struct.unpack("<ii", head[18:26])
            return abs(width), abs(height)
        if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
            chunk = head[12:16]
            if chunk == b"VP8X":
                return 1 + int.from_bytes(head[24:27], "little"), 1 + int.from_bytes(head[27:30], "little")
            if chunk == b"VP8L":
                bits = int.from_bytes(head[21:25], "little")
                return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
            if chunk == b"VP8 ":
                width, height = struct.unpack("<HH", head[26:30])
                return width & 0x3FFF, height & 0x3FFF
            return None
        if head[:2] == b"\xff\xd8":
            pos = 2
            while pos + 9 < len(raw):
                if raw[pos] != 0xFF:
                    return None
                marker = raw[pos + 1]
                if marker == 0xFF:  # fill byte
                    pos += 1
                elif marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
                    pos += 2
                elif 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # start of frame
                    height, width = struct.unpack(">HH", raw[pos + 5:pos + 9])
                    return width, height
                elif marker == 0xDA:  # start of scan before any frame header: damaged
                    return None
                else:
                    pos += 2 + struct.unpack(">H", raw[pos + 2:pos + 4])[0]
    except (struct.error, IndexError):
        return None
    return None


def _to_array(image: Image.Image, size: int, label: str) -> np.ndarray:
    width, height = image.size
    if width < 1 or height < 1:
        raise DatasetError(f"{label} has no pixels ({width}x{height})")
    if width * height > MAX_PIXELS:
        raise DatasetError(_too_large(label, f"{width}x{height} = {width * height / 1e6:.0f} megapixels"))
    # JPEG can decode at 1/2, 1/4 or 1/8 scale for free; ask for at least 4x the final side so the Lanczos
    # resize below still has detail to work with. A 50 MP photo then decodes to ~1 MP.
    want = 4 * size
    if image.format in ("JPEG", "MPO") and min(width, height) > 2 * want:
        scale = want / min(width, height)
        image.draft("RGB", (max(want, int(width * scale)), max(want, int(height * scale))))
    # load() decodes now (the current frame: the first of an animation), so a truncated file fails here;
    # Pillow raises unless the process-wide ImageFile.LOAD_TRUNCATED_IMAGES was switched on.
    image.load()
    try:
        orientation = int(image.getexif().get(0x0112, 1))
    except Exception:  # noqa: BLE001 - a damaged EXIF block only loses the rotation
        orientation = 1
    image = _to_rgb_or_rgba(image)
    # Centre square, and a cheap integer box-reduce in the same step, which bounds the time and memory of the
    # Lanczos pass on big images (what Pillow's reducing_gap does) while keeping >= 3x the final resolution
    # for it to filter. For RGBA Pillow reduces premultiplied, so transparent pixels' colours cannot bleed.
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    box = (left, top, left + side, top + side)
    factor = side // (3 * size)
    if factor >= 2:
        image = image.reduce(factor, box)
    elif (width, height) != (side, side):
        image = image.crop(box)
    if image.mode == "RGBA":
        # Flatten onto white before the Lanczos filter, so fully transparent pixels (whose colour is
        # arbitrary) cannot bleed into the result.
        white = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, image).convert("RGB")
    if image.size != (size, size):
        image = image.resize((size, size), Image.Resampling.LANCZOS)
    if orientation in _ORIENTATION:
        image = image.transpose(_ORIENTATION[orientation])
    return np.array(image, dtype=np.uint8, copy=True)


def _array_to_pil(array: np.ndarray, label: str) -> Image.Image:
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))):
        raise DatasetError(f"{label}: an image array must have shape (h, w), (h, w, 1), (h, w, 3) or (h, w, 4), "
                           f"got {a.shape}")
    if a.size == 0:
        raise DatasetError(f"{label} has no pixels (shape {a.shape})")
    if a.shape[0] * a.shape[1] > MAX_PIXELS:
        raise DatasetError(_too_large(label, f"{a.shape[1]}x{a.shape[0]}"))
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
        a = np.asarray(image).astype(np.float32)
        if mode == "F" and a.size and a.max() <= 1.0:
            top = 1.0
        elif mode.startswith("I;16") or (a.size and a.max() > 255):
            top = 65535.0
        else:
            top = 255.0
        grey = np.clip(a * (255.0 / top), 0, 255).round().astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    return image.convert("RGB")  # P, L, 1, CMYK, YCbCr, LAB, HSV


def _what(raw: bytes) -> str:
    """What refused content is, in words ("a TIFF image", "text", ...), for the error message."""
    head = bytes(raw[:64])
    for magic, what in _KNOWN:
        if head.startswith(magic):
            return what
    if head[4:8] == b"ftyp":
        return "an HEIC/AVIF image" if head[8:12] in (b"heic", b"heix", b"mif1", b"avif", b"msf1") else "a video"
    try:
        text = bytes(raw[:512]).decode("utf-8")
    except UnicodeDecodeError:
        return "not an image in an accepted format"
    if text.lstrip().startswith(("<svg", "<?xml")):
        return "an SVG or XML document, not an image file"
    return "text, not an image"


def _accepted() -> str:
    return "JPEG, PNG, WebP, GIF and BMP"


def _too_large(label: str, detail) -> str:
    return (f"{label} is too large ({detail}; the limit is {MAX_PIXELS / 1e6:.0f} megapixels): refusing it as a "
            f"possible decompression bomb")


def _mb(n: int) -> str:
    return f"{n / 2**20:.0f} MB" if n >= 2**20 else f"{n} bytes"


def _short(exc: BaseException) -> str:
    """An exception as one short line (some decoders put newlines or whole buffers into messages)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."
