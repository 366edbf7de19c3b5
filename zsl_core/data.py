"""Datasets: CIFAR-10 in its official python layout or any image-folder tree, downloaded, verified, decoded.

Two on-disk layouts are understood (see :func:`load_dataset`):

* the **official python layout** of CIFAR-10 — ``cifar-10-python.tar.gz`` or its extracted
  ``cifar-10-batches-py/`` folder (``data_batch_1`` … ``data_batch_5``, ``test_batch``, ``batches.meta``);
* the **image-folder layout** — a folder, ``.tar`` or ``.tar.gz`` holding ``train/<class>/<image>`` and
  ``test/<class>/<image>`` (optionally under one top-level folder), in any format Pillow reads.

Every image is brought to 32×32 RGB ``uint8`` (the paper's CIFAR-10 resolution). Decoded arrays are cached
under ``cache_dir()/datasets`` keyed by the source's path, size and modification time, so only the first
load of a source pays for decoding.

Security: the official batches are Python pickles. They are unpickled only from an archive whose MD5 matched
the published one (or from a source the user named explicitly), and always with a restricted unpickler that
can build nothing but dicts, lists, bytes, numbers and numpy arrays. Archives are read member by member
without being extracted; :func:`safe_extract` is provided for callers that do need files on disk.

References
----------
Krizhevsky, A. (2009). Learning multiple layers of features from tiny images. (CIFAR-10)
Socher, R., Ganjoo, M., Manning, C. D., Ng, A. Y. (2013). Zero-Shot Learning Through Cross-Modal Transfer.
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import io
import os
import pickle
import posixpath
import tarfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Iterator, Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .cache import Progress, cache_dir, load_arrays, make_key, report, save_arrays

__all__ = [
    "CIFAR10_URL",
    "CIFAR10_MD5",
    "CIFAR10_ARCHIVE",
    "EXTENSIONS",
    "MAX_PIXELS",
    "DatasetError",
    "Dataset",
    "default_data_dir",
    "load_dataset",
    "download_cifar10",
    "prepare_image",
    "safe_extract",
]

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
_BATCHES_DIR = "cifar-10-batches-py"
_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
_OFFICIAL_FILES = (*_TRAIN_BATCHES, "test_batch", "batches.meta")

#: File extensions accepted for uploads (lower case, no dot).
EXTENSIONS = ("jpg", "jpeg", "png", "webp", "bmp", "gif")

#: Largest image (in pixels) :func:`prepare_image` accepts. A 50-megapixel phone photo is legitimate; an image
#: far beyond that is much more likely a decompression bomb. Pillow itself refuses images above
#: ``2 * Image.MAX_IMAGE_PIXELS`` (~179 MP by default), so the effective limit is the smaller of the two; we
#: deliberately do not change Pillow's process-wide setting from library code.
MAX_PIXELS = 200_000_000

#: Bump when a change here changes what a cached decoded dataset contains.
_LOADER_VERSION = "data-1"

_SPLITS = ("train", "test")
_HELP = (
    "To use a local copy, pass its path (--data PATH on the command line, the data field in the app) or set "
    "ZSL_DATA_DIR to the folder that holds it. Accepted layouts: the official CIFAR-10 python archive "
    f"{CIFAR10_ARCHIVE} or its extracted {_BATCHES_DIR}/ folder; or an image-folder tree with "
    "train/<class>/<image> and test/<class>/<image> (any format Pillow reads), as a folder, .tar or .tar.gz."
)


class DatasetError(Exception):
    """A dataset or image could not be found, downloaded, verified or read; the message says what to do."""


class _ChecksumError(DatasetError):
    """An official archive on disk failed its MD5 check (lets ``load_dataset`` replace its own download)."""


# --------------------------------------------------------------------------------------------------- Dataset


@dataclass(frozen=True, eq=False)
class Dataset:
    """An image classification dataset at 32×32 RGB, split into train and test.

    The image and label arrays are made read-only, so the memoised :attr:`fingerprint` stays valid.

    Parameters
    ----------
    name : str
        Human-readable name (e.g. ``"CIFAR-10"``).
    class_names : list of str
        Every class, seen and unseen together; labels index into it.
    train_images, test_images : ndarray of shape (n, 32, 32, 3), dtype uint8
        RGB images.
    train_labels, test_labels : ndarray of shape (n,), dtype int64
        Indices into ``class_names``.
    warnings : tuple of str, default ()
        Problems met while loading that did not stop it, e.g. image files that could not be decoded and were
        skipped. Not part of the fingerprint.
    """

    name: str
    class_names: list
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    warnings: tuple = field(default=())

    def __post_init__(self):
        # Frozen: normalise through object.__setattr__ (only ever done here, before anyone sees the object).
        names = [str(c) for c in self.class_names]
        if len(names) < 2:
            raise DatasetError(f"a dataset needs at least 2 classes, got {len(names)}: {names}")
        if len(set(names)) != len(names):
            raise DatasetError(f"class names must be unique, got {names}")
        object.__setattr__(self, "class_names", names)
        object.__setattr__(self, "warnings", tuple(str(w) for w in self.warnings))
        for split in _SPLITS:
            images = np.asarray(getattr(self, f"{split}_images"))
            labels = np.asarray(getattr(self, f"{split}_labels"))
            if images.dtype != np.uint8 or images.ndim != 4 or images.shape[1:] != (32, 32, 3):
                raise DatasetError(
                    f"{split}_images must be uint8 of shape (n, 32, 32, 3), got {images.dtype} {images.shape}"
                )
            if labels.shape != (images.shape[0],) or (labels.size and not np.issubdtype(labels.dtype, np.integer)):
                raise DatasetError(
                    f"{split}_labels must be integers of shape ({images.shape[0]},), got {labels.dtype} {labels.shape}"
                )
            labels = labels.astype(np.int64, copy=False)
            if labels.size and (labels.min() < 0 or labels.max() >= len(names)):
                raise DatasetError(f"{split}_labels must lie in [0, {len(names)}), got [{labels.min()}, {labels.max()}]")
            images = np.ascontiguousarray(images)
            labels = np.ascontiguousarray(labels)
            images.setflags(write=False)
            labels.setflags(write=False)
            object.__setattr__(self, f"{split}_images", images)
            object.__setattr__(self, f"{split}_labels", labels)

    def __setstate__(self, state):
        # Unpickling (st.cache_data, multiprocessing) bypasses __post_init__ and yields writable arrays.
        self.__dict__.update(state)
        for split in _SPLITS:
            getattr(self, f"{split}_images").setflags(write=False)
            getattr(self, f"{split}_labels").setflags(write=False)

    # functools.cached_property writes straight into the instance __dict__, bypassing the frozen __setattr__.
    @functools.cached_property
    def fingerprint(self) -> str:
        """A short sha256 of the class names, images and labels (computed once, then memoised)."""
        h = hashlib.sha256()
        h.update("\x00".join(self.class_names).encode("utf-8"))
        for split in _SPLITS:
            for array in (getattr(self, f"{split}_images"), getattr(self, f"{split}_labels")):
                h.update(f"{split}{array.dtype}{array.shape}".encode())
                h.update(memoryview(array).cast("B"))
        return h.hexdigest()[:20]

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def class_index(self, name: str) -> int:
        """The label index of class ``name``; raises ``KeyError`` naming the known classes otherwise."""
        try:
            return self.class_names.index(name)
        except ValueError:
            raise KeyError(f"unknown class {name!r}; the classes are {', '.join(self.class_names)}") from None

    def counts(self, split: str = "train") -> np.ndarray:
        """Images per class in ``split`` (``"train"`` or ``"test"``), shape (n_classes,)."""
        if split not in _SPLITS:
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        return np.bincount(getattr(self, f"{split}_labels"), minlength=self.n_classes)

    def describe(self) -> str:
        """A one-paragraph human summary: name, sizes, classes, and any load warnings."""
        lines = [
            f"{self.name}: {self.n_classes} classes, {len(self.train_labels)} train / "
            f"{len(self.test_labels)} test images (32x32 RGB)",
            "classes: " + ", ".join(self.class_names),
        ]
        if self.warnings:
            lines.append(f"{len(self.warnings)} warning(s): " + "; ".join(self.warnings[:3])
                         + (" ..." if len(self.warnings) > 3 else ""))
        return "\n".join(lines)

    def subset(self, train_per_class: int | None, test_per_class: int | None, seed: int = 0) -> "Dataset":
        """A deterministic, stratified subset: at most ``k`` images of every class from each split.

        Parameters
        ----------
        train_per_class, test_per_class : int or None
            Images kept per class (all of a class's images when it has fewer); ``None`` keeps the whole split.
        seed : int, default 0
            Seed of the random choice; the same seed always gives the same subset. Kept images stay in their
            original order.

        Returns
        -------
        Dataset
            A new dataset with the same class list (so labels keep their meaning).
        """
        for arg, value in (("train_per_class", train_per_class), ("test_per_class", test_per_class)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1):
                raise ValueError(f"{arg} must be a positive integer or None, got {value!r}")
        rng = np.random.default_rng(seed)
        picked = {}
        for split, k in (("train", train_per_class), ("test", test_per_class)):
            labels = getattr(self, f"{split}_labels")
            if k is None:
                picked[split] = None
                continue
            keep = []
            for c in range(self.n_classes):
                idx = np.flatnonzero(labels == c)
                keep.append(idx if len(idx) <= k else rng.choice(idx, size=int(k), replace=False))
            picked[split] = np.sort(np.concatenate(keep)) if keep else np.zeros(0, np.int64)
        if picked["train"] is None and picked["test"] is None:
            return self

        def take(split):
            idx = picked[split]
            images, labels = getattr(self, f"{split}_images"), getattr(self, f"{split}_labels")
            return (images, labels) if idx is None else (images[idx], labels[idx])

        (xtr, ytr), (xte, yte) = take("train"), take("test")
        tag = f"{train_per_class or 'all'}/{test_per_class or 'all'} per class, seed {seed}"
        return Dataset(f"{self.name} [{tag}]", self.class_names, xtr, ytr, xte, yte, self.warnings)


# ------------------------------------------------------------------------------------------------ images


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


# -------------------------------------------------------------------------------------- safe extraction


def safe_extract(tar: tarfile.TarFile, dest: str | os.PathLike) -> list[Path]:
    """Extract a tar archive into ``dest``, refusing anything that could write outside it.

    Every member is checked before anything is written: absolute names, ``..`` components, symbolic or hard
    links whose target leaves ``dest``, and device files are rejected. On top of that Python's ``"data"``
    extraction filter is applied (it also drops set-uid bits and odd permissions).

    Parameters
    ----------
    tar : tarfile.TarFile
        An archive opened for random access (not a ``"r|"`` stream).
    dest : path
        Target folder (created if missing).

    Returns
    -------
    list of Path
        The paths of the extracted regular files.

    Raises
    ------
    DatasetError
        Naming the first unsafe member; nothing is extracted in that case.
    """
    root = Path(dest).resolve()
    root.mkdir(parents=True, exist_ok=True)
    members = tar.getmembers()
    files = []
    for member in members:
        _check_member(member, root)
        if member.isfile():
            files.append(root / member.name)
    tar.extractall(root, members=members, filter="data")
    return files


def _check_member(member: tarfile.TarInfo, root: Path) -> None:
    name = member.name
    problem = None
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or os.path.isabs(name):
        problem = "has an absolute path"
    elif ".." in Path(name.replace("\\", "/")).parts:
        problem = "contains '..'"
    elif not _inside(root / name, root):
        problem = "points outside the destination"
    elif member.issym() or member.islnk():
        base = (root / name).parent if member.issym() else root
        target = member.linkname
        if os.path.isabs(target) or not _inside(base / target, root):
            problem = f"is a link to {target!r} outside the destination"
    elif member.isdev():
        problem = "is a device file"
    if problem:
        raise DatasetError(f"refusing to extract the archive: member {name!r} {problem}")


def _inside(path: Path, root: Path) -> bool:
    resolved = Path(os.path.normpath(path))
    return resolved == root or root in resolved.parents


# ------------------------------------------------------------------------------------------- download


def default_data_dir() -> Path:
    """The data folder: ``$ZSL_DATA_DIR`` or ``cache_dir()/data`` (created on demand)."""
    env = os.environ.get("ZSL_DATA_DIR")
    path = Path(env).expanduser() if env else cache_dir() / "data"
    if path.is_file():
        # A user who sets ZSL_DATA_DIR to the archive itself means "use this file": load_dataset(None) takes
        # it as the source.
        return path
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DatasetError(f"cannot use the data folder {path}: {error}. {_HELP}") from error
    return path


def download_cifar10(dest_dir: str | os.PathLike, *, url: str = CIFAR10_URL, md5: str | None = CIFAR10_MD5,
                     progress: Progress = None, timeout: float = 60.0) -> Path:
    """Download the official CIFAR-10 python archive into ``dest_dir`` and verify its MD5.

    The file is streamed to ``<dest>/cifar-10-python.tar.gz.part`` while its MD5 is computed, and renamed to
    its final name only when complete and verified, so an interrupted or corrupt download never looks like a
    usable archive. An archive already there with the right checksum is reused.

    Parameters
    ----------
    dest_dir : path
        Folder to put ``cifar-10-python.tar.gz`` in (created if missing).
    url : str
        Where to download from.
    md5 : str or None
        Expected MD5 hex digest; ``None`` skips verification (the loader then still uses its restricted
        unpickler).
    progress : callable, optional
        ``progress("Downloading CIFAR-10", bytes_done, bytes_total)``; ``bytes_total`` is 0 when the server
        does not send a length.
    timeout : float, default 60
        Seconds to wait for the server on connect and on each read.

    Returns
    -------
    Path
        The verified archive.

    Raises
    ------
    DatasetError
        Network failure, an incomplete transfer, or a checksum mismatch (the partial file is removed).
    """
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    final = dest / CIFAR10_ARCHIVE
    if final.is_file() and (md5 is None or _md5_file(final) == md5.lower()):
        return final
    part = dest / (CIFAR10_ARCHIVE + ".part")
    step = "Downloading CIFAR-10"
    digest = hashlib.md5()
    done = 0
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0)
            report(progress, step, 0, total)
            last = time.monotonic()
            while True:
                chunk = response.read(1 << 18)
                if not chunk:
                    break
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                now = time.monotonic()
                if now - last > 0.1:
                    report(progress, step, done, total)
                    last = now
            if total and done != total:
                raise DatasetError(f"the download of {url} stopped after {done} of {total} bytes. {_HELP}")
            out.flush()
            os.fsync(out.fileno())
        got = digest.hexdigest()
        if md5 is not None and got != md5.lower():
            raise DatasetError(
                f"checksum mismatch for {url}: expected MD5 {md5.lower()}, got {got}. The file was removed; "
                f"retry later, or download it yourself. {_HELP}"
            )
        report(progress, step, done, total or done)
        os.replace(part, final)
        return final
    except DatasetError:
        _remove(part)
        raise
    except (OSError, ValueError, http.client.HTTPException) as exc:
        # http.client.IncompleteRead, timeouts, refused connections and HTTP errors all land here.
        _remove(part)
        reason = getattr(exc, "reason", None) or exc
        raise DatasetError(f"could not download CIFAR-10 from {url} ({type(exc).__name__}: {reason}). {_HELP}") from exc
    except BaseException:
        _remove(part)
        raise


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def _md5_file(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# -------------------------------------------------------------------------------------- official layout


class _BatchUnpickler(pickle.Unpickler):
    """Unpickles CIFAR batches and nothing else: only numpy array reconstruction may be looked up.

    The rest of a CIFAR batch (dicts, lists, bytes, ints) needs no global lookup at all, so a pickle that
    tries to reach ``os.system`` or any other callable is refused before it can run.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): np._core.multiarray._reconstruct,
        ("numpy.core.numeric", "_frombuffer"): np._core.numeric._frombuffer,
        ("numpy._core.numeric", "_frombuffer"): np._core.numeric._frombuffer,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        # Python 3 writes bytes as _codecs.encode(str, 'latin1') at protocol <= 2.
        ("_codecs", "encode"): __import__("codecs").encode,
    }

    def find_class(self, module, name):
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"a CIFAR batch may not reference {module}.{name}") from None


def _unpickle(raw: bytes, what: str) -> dict:
    try:
        obj = _BatchUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except Exception as exc:
        raise DatasetError(f"{what} is not a valid CIFAR-10 batch ({exc})") from exc
    if not isinstance(obj, dict):
        raise DatasetError(f"{what} is not a valid CIFAR-10 batch (got a {type(obj).__name__}, not a dict)")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _decode_batch(raw: bytes, what: str, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    batch = _unpickle(raw, what)
    data, labels = batch.get("data"), batch.get("labels")
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        raise DatasetError(f"{what}: 'data' must be a uint8 array of shape (n, 3072)")
    labels = np.asarray(labels, dtype=np.int64) if labels is not None else None
    if labels is None or labels.shape != (data.shape[0],):
        raise DatasetError(f"{what}: 'labels' must list one label per image")
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise DatasetError(f"{what}: labels out of range for {n_classes} classes")
    # Rows are 3 channel planes of 32x32, row-major: (n, 3, 32, 32) -> (n, 32, 32, 3).
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def _official_from_blobs(blobs: dict[str, bytes], where: str) -> dict:
    missing = [name for name in _OFFICIAL_FILES if name not in blobs]
    if missing:
        raise DatasetError(f"{where} lacks {', '.join(missing)} of the official CIFAR-10 python layout")
    meta = _unpickle(blobs["batches.meta"], f"{where}: batches.meta")
    names = meta.get("label_names")
    if not isinstance(names, list) or len(names) < 2:
        raise DatasetError(f"{where}: batches.meta has no usable 'label_names'")
    names = [n.decode("utf-8") if isinstance(n, bytes) else str(n) for n in names]
    parts = [_decode_batch(blobs[b], f"{where}: {b}", len(names)) for b in _TRAIN_BATCHES]
    test_images, test_labels = _decode_batch(blobs["test_batch"], f"{where}: test_batch", len(names))
    return dict(name="CIFAR-10", class_names=names,
                train_images=np.concatenate([p[0] for p in parts]),
                train_labels=np.concatenate([p[1] for p in parts]),
                test_images=test_images, test_labels=test_labels, warnings=())


def _read_official_tar(path: Path, md5: str | None, progress: Progress) -> dict:
    if md5 is not None:
        report(progress, "Verifying archive checksum", 0, 1)
        got = _md5_file(path)
        if got != md5.lower():
            raise _ChecksumError(
                f"checksum mismatch for {path}: expected MD5 {md5.lower()}, got {got}. The file is corrupt or not "
                f"the official CIFAR-10 archive; delete it and download it again (or, for a copy you trust, load it "
                f"with md5=None)."
            )
        report(progress, "Verifying archive checksum", 1, 1)
    step = f"Reading {path.name}"
    blobs = {}
    for member_name, raw in _iter_tar_files(path, progress, step):
        base = posixpath.basename(member_name)
        if base in _OFFICIAL_FILES:
            blobs[base] = raw
    return _official_from_blobs(blobs, str(path))


def _read_official_dir(folder: Path, progress: Progress) -> dict:
    blobs = {}
    for i, name in enumerate(_OFFICIAL_FILES):
        report(progress, f"Reading {folder.name}", i, len(_OFFICIAL_FILES))
        file = folder / name
        if file.is_file():
            blobs[name] = file.read_bytes()
    report(progress, f"Reading {folder.name}", len(_OFFICIAL_FILES), len(_OFFICIAL_FILES))
    return _official_from_blobs(blobs, str(folder))


# ---------------------------------------------------------------------------------- image-folder layout


def _iter_tar_files(path: Path, progress: Progress, step: str) -> Iterator[tuple[str, bytes]]:
    """Yield ``(member name, bytes)`` for every regular file, streaming (nothing is written to disk).

    Progress is reported in bytes of the archive file consumed, which needs no separate listing pass.
    """
    total = path.stat().st_size
    last = 0.0
    try:
        with open(path, "rb") as raw, tarfile.open(fileobj=raw, mode="r|*") as tar:
            report(progress, step, 0, total)
            for member in tar:
                if member.isfile():
                    handle = tar.extractfile(member)
                    yield member.name, handle.read() if handle else b""
                now = time.monotonic()
                if now - last > 0.2:
                    report(progress, step, min(raw.tell(), total), total)
                    last = now
            report(progress, step, total, total)
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        raise DatasetError(f"{path} is not a readable tar archive ({exc})") from exc


def _split_class(parts: tuple[str, ...]) -> tuple[str, str] | None:
    """``(split, class)`` for ``[prefix/]split/class/file`` member paths, else ``None``."""
    if not parts or any(p in ("", ".", "..") for p in parts) or parts[0] == "__MACOSX":
        return None
    if parts[-1].startswith("."):  # .DS_Store, macOS AppleDouble "._x.jpg" files
        return None
    if len(parts) == 4:
        parts = parts[1:]
    if len(parts) == 3 and parts[0] in _SPLITS and not parts[1].startswith("."):
        return parts[0], parts[1]
    return None


class _Collector:
    """Accumulates decoded images per split and class; turns them into arrays with sorted class names."""

    def __init__(self, where: str):
        self.where = where
        self.images = {s: [] for s in _SPLITS}
        self.classes = {s: [] for s in _SPLITS}
        self.failed: list[str] = []
        self.seen_files = 0

    def add(self, split: str, cls: str, name: str, raw: bytes) -> None:
        self.seen_files += 1
        try:
            self.images[split].append(prepare_image(raw, 32, name=name))
            self.classes[split].append(cls)
        except DatasetError as exc:
            self.failed.append(str(exc))

    def result(self, name: str) -> dict:
        if self.seen_files == 0:
            raise DatasetError(f"{self.where} has no train/<class>/<image> or test/<class>/<image> files. {_HELP}")
        class_names = sorted(set(self.classes["train"]) | set(self.classes["test"]))
        for split in _SPLITS:
            if not self.images[split]:
                why = f" ({len(self.failed)} files could not be decoded, e.g. {self.failed[0]})" if self.failed else ""
                raise DatasetError(f"{self.where} has no readable images under {split}/{why}. {_HELP}")
        if len(class_names) < 2:
            raise DatasetError(f"{self.where} has {len(class_names)} class folder(s) {class_names}; "
                               f"zero-shot learning needs at least 2 classes. {_HELP}")
        index = {c: i for i, c in enumerate(class_names)}
        warnings = []
        if self.failed:
            warnings.append(f"skipped {len(self.failed)} unreadable file(s), e.g. {self.failed[0]}")
        for split in _SPLITS:
            missing = sorted(set(class_names) - set(self.classes[split]))
            if missing:
                warnings.append(f"no {split} images for class(es) {', '.join(missing)}")
        out = dict(name=name, class_names=class_names, warnings=tuple(warnings))
        for split in _SPLITS:
            out[f"{split}_images"] = np.stack(self.images[split])
            out[f"{split}_labels"] = np.array([index[c] for c in self.classes[split]], dtype=np.int64)
            self.images[split] = []  # free the per-image list as soon as it is stacked
        return out


def _read_imagefolder_tar(path: Path, progress: Progress) -> dict:
    collector = _Collector(str(path))
    for member_name, raw in _iter_tar_files(path, progress, f"Decoding images in {path.name}"):
        where = _split_class(tuple(member_name.replace("\\", "/").split("/")))
        if where:
            collector.add(*where, member_name, raw)
    return collector.result(_strip_archive_suffix(path.name))


def _imagefolder_root(folder: Path) -> Path | None:
    """The folder holding ``train/`` and ``test/``: ``folder`` itself or its only sub-folder."""
    if any((folder / s).is_dir() for s in _SPLITS):
        return folder
    subs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "__MACOSX"))]
    if len(subs) == 1 and any((subs[0] / s).is_dir() for s in _SPLITS):
        return subs[0]
    return None


def _list_imagefolder(root: Path) -> list[tuple[str, str, Path]]:
    files = []
    for split in _SPLITS:
        base = root / split
        if not base.is_dir():
            continue
        for cls_dir in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for f in sorted(cls_dir.iterdir()):
                if f.is_file() and not f.name.startswith("."):
                    files.append((split, cls_dir.name, f))
    return files


def _read_imagefolder_dir(root: Path, progress: Progress) -> dict:
    missing = [s for s in _SPLITS if not (root / s).is_dir()]
    if missing:
        raise DatasetError(f"{root} has no {' or '.join(s + '/' for s in missing)} folder. {_HELP}")
    files = _list_imagefolder(root)
    collector = _Collector(str(root))
    step = f"Decoding images in {root.name}"
    report(progress, step, 0, len(files))
    last = time.monotonic()
    for i, (split, cls, f) in enumerate(files, 1):
        try:
            raw = f.read_bytes()
        except OSError as exc:
            collector.seen_files += 1
            collector.failed.append(f"{f}: {exc}")
            continue
        collector.add(split, cls, str(f), raw)
        if time.monotonic() - last > 0.2:
            report(progress, step, i, len(files))
            last = time.monotonic()
    report(progress, step, len(files), len(files))
    return collector.result(root.name)


def _strip_archive_suffix(name: str) -> str:
    for suffix in (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


# ---------------------------------------------------------------------------------------- resolution


def _tar_layout(path: Path) -> str | None:
    """``"official"``, ``"imagefolder"`` or ``None``, from the first few member names (stops early)."""
    if path.name == CIFAR10_ARCHIVE:
        return "official"
    try:
        with tarfile.open(path, mode="r|*") as tar:
            for i, member in enumerate(tar):
                parts = tuple(member.name.replace("\\", "/").split("/"))
                if _BATCHES_DIR in parts or posixpath.basename(member.name) in ("data_batch_1", "batches.meta"):
                    return "official"
                if member.isfile() and _split_class(parts):
                    return "imagefolder"
                if i > 200:
                    break
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise DatasetError(f"{path} is not a readable tar archive ({exc})") from exc
    return None


def _is_tar_name(path: Path) -> bool:
    return path.name.lower().endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz"))


def _is_official_dir(folder: Path) -> bool:
    return all((folder / name).is_file() for name in ("data_batch_1", "test_batch", "batches.meta"))


def _find(path: Path) -> tuple[str, Path] | None:
    """Which known layout ``path`` is or holds: ``(layout, path)``; ``None`` when there is none."""
    if path.is_file():
        if not tarfile.is_tarfile(path):
            raise DatasetError(f"{path} is neither a folder nor a tar archive. {_HELP}")
        layout = _tar_layout(path)
        if layout is None:
            raise DatasetError(f"{path} contains neither the official CIFAR-10 layout nor train/ and test/ "
                               f"image folders. {_HELP}")
        return f"{layout}-tar", path
    if _is_official_dir(path):
        return "official-dir", path
    if _is_official_dir(path / _BATCHES_DIR):
        return "official-dir", path / _BATCHES_DIR
    if (path / CIFAR10_ARCHIVE).is_file():
        return "official-tar", path / CIFAR10_ARCHIVE
    root = _imagefolder_root(path)
    if root is not None:
        return "imagefolder-dir", root
    for candidate in sorted(p for p in path.iterdir() if p.is_file() and _is_tar_name(p)):
        try:
            layout = _tar_layout(candidate) if tarfile.is_tarfile(candidate) else None
        except DatasetError:
            continue
        if layout:
            return f"{layout}-tar", candidate
    return None


def _source_key(layout: str, path: Path) -> str:
    """Cache key from the source's identity: path, size and mtime (for a folder, of every file in it)."""
    path = path.resolve()
    if path.is_file():
        st = path.stat()
        return make_key(kind="dataset", loader=_LOADER_VERSION, layout=layout, path=str(path),
                        size=st.st_size, mtime_ns=st.st_mtime_ns)
    # A folder's own mtime does not change when a file deep inside is replaced, so sign every file.
    h = hashlib.sha256()
    files = ([(path / n) for n in _OFFICIAL_FILES] if layout == "official-dir"
             else [f for _, _, f in _list_imagefolder(path)])
    for f in files:
        try:
            st = f.stat()
            h.update(f"{f.relative_to(path)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{f}\0missing\n".encode())
    return make_key(kind="dataset", loader=_LOADER_VERSION, layout=layout, path=str(path), files=h.hexdigest())


def _dataset_from_arrays(arrays: dict) -> Dataset:
    return Dataset(
        name=str(arrays["name"]),
        class_names=[str(c) for c in arrays["class_names"]],
        train_images=arrays["train_images"], train_labels=arrays["train_labels"],
        test_images=arrays["test_images"], test_labels=arrays["test_labels"],
        warnings=tuple(str(w) for w in arrays["warnings"]),
    )


def _load_layout(layout: str, path: Path, *, md5: str | None, progress: Progress, use_cache: bool) -> Dataset:
    key = _source_key(layout, path)
    cache_file = cache_dir() / "datasets" / f"{key}.npz"
    if use_cache:
        arrays = load_arrays(cache_file)  # None when missing or corrupt (a corrupt file is removed)
        if arrays is not None:
            try:
                return _dataset_from_arrays(arrays)
            except (KeyError, DatasetError, ValueError):
                cache_file.unlink(missing_ok=True)  # readable but not ours / an older layout: rebuild
    if layout == "official-tar":
        fields = _read_official_tar(path, md5, progress)
    elif layout == "official-dir":
        fields = _read_official_dir(path, progress)
    elif layout == "imagefolder-tar":
        fields = _read_imagefolder_tar(path, progress)
    else:
        fields = _read_imagefolder_dir(path, progress)
    dataset = Dataset(**fields)
    if use_cache:
        save_arrays(cache_file, name=np.array(dataset.name), class_names=np.array(dataset.class_names),
                    warnings=np.array(dataset.warnings, dtype=str),
                    train_images=dataset.train_images, train_labels=dataset.train_labels,
                    test_images=dataset.test_images, test_labels=dataset.test_labels)
    return dataset


def load_dataset(source: str | os.PathLike | None = None, *, download: bool = True, progress: Progress = None,
                 url: str = CIFAR10_URL, md5: str | None = CIFAR10_MD5, cache: bool = True) -> Dataset:
    """Load a dataset from a folder or archive, or CIFAR-10 from the data folder (downloading it if allowed).

    Parameters
    ----------
    source : path or None
        One of:

        * an image-folder tree — a folder, ``.tar`` or ``.tar.gz`` with ``train/<class>/<image>`` and
          ``test/<class>/<image>``, possibly under one top-level folder. Class names are the folder names,
          sorted; every image is converted to RGB and brought to 32×32 with :func:`prepare_image`;
        * the official ``cifar-10-python.tar.gz`` (its MD5 is checked against ``md5`` before anything in it
          is unpickled) or an extracted ``cifar-10-batches-py/`` folder;
        * a folder containing any of these.

        ``None`` means :func:`default_data_dir` (``$ZSL_DATA_DIR`` or ``<cache>/data``), searched the same
        way; when it holds nothing usable and ``download`` is true, CIFAR-10 is downloaded there.
    download : bool, default True
        Whether ``source=None`` may download CIFAR-10 (also replacing a corrupt archive there). An explicit
        ``source`` is never downloaded to.
    progress : callable, optional
        ``progress(step, done, total)`` while downloading, verifying and decoding.
    url, md5 : str
        Where to download CIFAR-10 from and its expected MD5; ``md5=None`` skips checksum verification of an
        official archive (the restricted unpickler is still used).
    cache : bool, default True
        Read and write the decoded arrays under ``cache_dir()/datasets``, keyed by the source's path, size
        and modification time, so the next load takes about a second.

    Returns
    -------
    Dataset
        Image files in an image-folder source that cannot be decoded are skipped and counted in
        ``Dataset.warnings``; if a whole split ends up empty a :class:`DatasetError` is raised instead.

    Raises
    ------
    DatasetError
        The source does not exist or holds no known layout, has no ``train/`` or ``test/`` images or fewer
        than 2 classes, an archive fails its checksum, or the download failed. The message says how to point
        at a local copy.
    """
    if source is None and default_data_dir().is_file():
        source = default_data_dir()
    if source is None:
        folder = default_data_dir()
        found = _find(folder)
        if found is None:
            if not download:
                raise DatasetError(f"no dataset found in the data folder {folder} and downloading is switched "
                                   f"off. {_HELP}")
            download_cifar10(folder, url=url, md5=md5, progress=progress)
            found = ("official-tar", folder / CIFAR10_ARCHIVE)
    else:
        path = Path(source).expanduser()
        if not path.exists():
            raise DatasetError(f"the dataset path {path} does not exist. {_HELP}")
        found = _find(path)
        if found is None:
            raise DatasetError(f"no dataset found in {path}. {_HELP}")
    layout, path = found
    try:
        return _load_layout(layout, path, md5=md5, progress=progress, use_cache=cache)
    except _ChecksumError:
        # Only the archive we download ourselves (data folder, official name) is replaced; a file the user
        # named, or download=False, gets the error. The MD5 is checked on a cache miss only: a cache hit is
        # keyed by the same size and mtime, so that file was verified when it was decoded.
        if not (source is None and download and path == folder / CIFAR10_ARCHIVE):
            raise
        path.unlink()
        path = download_cifar10(folder, url=url, md5=md5, progress=progress)
        return _load_layout("official-tar", path, md5=md5, progress=progress, use_cache=cache)
