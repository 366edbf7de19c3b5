"""What a shared server needs: dataset paths confined to allowed folders, and datasets uploaded as archives.

When the app is served to a classroom, anything a visitor types reaches the server's file system. Setting
``ZSL_ALLOWED_DATA_DIRS`` (folders separated by ``os.pathsep``) confines dataset paths to those folders:
:func:`check_allowed_path` refuses anything else with one message that says nothing about the server — not
whether the path exists, not a file name. :func:`load_uploaded_dataset` lets a visitor bring a dataset as a
ZIP or tar upload instead, read from memory with bounded sizes and never written to disk.
"""

from __future__ import annotations

import io
import os
import time
from pathlib import Path
from typing import BinaryIO, Iterator

from ..cache import Progress, report
from .archives import Member, iter_tar_stream, iter_zip_files, strip_archive_suffix
from .dataset import Dataset
from .errors import DatasetError
from .images import MAX_BYTES, read_limited
from .imagefolder import read_imagefolder_members

__all__ = ["ALLOWED_DIRS_ENV", "REFUSED", "MAX_UPLOAD_BYTES", "MAX_UPLOAD_EXPANDED_BYTES", "MAX_UPLOAD_FILES",
           "allowed_data_dirs", "check_allowed_path", "public_message", "load_uploaded_dataset"]

#: Environment variable listing the folders dataset paths may point into (``os.pathsep``-separated).
ALLOWED_DIRS_ENV = "ZSL_ALLOWED_DATA_DIRS"

#: Largest uploaded archive read, in bytes (200 MiB: a few thousand photos).
MAX_UPLOAD_BYTES = 200 * 2**20
#: Largest total size of an upload's files once decompressed (bounds a small archive that expands hugely).
MAX_UPLOAD_EXPANDED_BYTES = 1024 * 2**20
#: Most files in one upload (decoding costs ~1 ms each on a shared server).
MAX_UPLOAD_FILES = 20_000

#: The one message every refused path gets (it echoes nothing and says nothing about existence).
REFUSED = ("this dataset path is not available on this server; use one of the datasets its owner provides, "
            "or upload a zipped image folder instead")


def allowed_data_dirs() -> tuple[Path, ...] | None:
    """The folders of ``$ZSL_ALLOWED_DATA_DIRS``, resolved; ``None`` when it is unset or empty (no confinement)."""
    value = os.environ.get(ALLOWED_DIRS_ENV, "")
    folders = [f.strip() for f in value.split(os.pathsep) if f.strip()]
    if not folders:
        return None
    return tuple(Path(os.path.realpath(Path(f).expanduser())) for f in folders)


def check_allowed_path(path: str | os.PathLike) -> Path:
    """The dataset path to load for ``path`` as typed by a visitor, or a refusal that reveals nothing.

    Without ``$ZSL_ALLOWED_DATA_DIRS`` this is ``Path(path).expanduser()``. With it, the path — absolute, or
    relative to each allowed folder in turn — is resolved with every symbolic link followed and must lie
    inside an allowed folder; the resolved path is returned (so a link swapped afterwards changes nothing).

    Parameters
    ----------
    path : str or os.PathLike
        What the visitor typed.

    Returns
    -------
    Path

    Raises
    ------
    DatasetError
        The same message for every refused path, whether or not it exists, without echoing it.
    """
    roots = allowed_data_dirs()
    try:
        text = os.fspath(path)
    except TypeError:
        raise DatasetError(REFUSED) from None
    if roots is None:
        return Path(text).expanduser()
    if not isinstance(text, str) or not text.strip() or "\0" in text:
        raise DatasetError(REFUSED)
    typed = Path(text.strip())
    candidates = [typed] if typed.is_absolute() else [root / typed for root in roots]
    inside = []
    for candidate in candidates:
        try:
            real = Path(os.path.realpath(candidate))
        except (OSError, ValueError):
            continue
        if any(real == root or root in real.parents for root in roots):
            inside.append(real)
    if not inside:
        raise DatasetError(REFUSED)
    # A relative name may exist in one allowed folder and not another: take the first that exists.
    return next((p for p in inside if p.exists()), inside[0])


def public_message(text: str) -> str:
    """``text`` (an error or warning) with the server's folders taken out, for a visitor's screen.

    Paths inside an allowed folder, the data folder or the cache folder are shown relative to it
    (``/srv/zsl/datasets/pets.tar.gz`` -> ``pets.tar.gz``); the folders themselves become "the data
    folder", ``$ZSL_DATA_DIR``, ``$ZSL_CACHE_DIR`` or ``~``. Meant for a shared app; a single user's own
    messages can stay as they are.
    """
    folders = []
    for root in allowed_data_dirs() or ():
        folders.append((root, "the data folder"))
    for env in ("ZSL_DATA_DIR", "ZSL_CACHE_DIR"):
        if os.environ.get(env):
            folders.append((Path(os.environ[env]).expanduser(), f"${env}"))
    folders.append((Path.home(), "~"))
    # Longest first, and each in its written and resolved forms, so nested folders are replaced whole.
    spelled = {}
    for folder, words in folders:
        for form in {str(folder), os.path.realpath(folder)}:
            if form not in ("", os.sep):
                spelled.setdefault(form.rstrip(os.sep), words)
    for form in sorted(spelled, key=len, reverse=True):
        text = text.replace(form + os.sep, "").replace(form, spelled[form])
    return text


def load_uploaded_dataset(data: bytes | bytearray | memoryview | BinaryIO, name: str = "upload", *,
                          max_bytes: int = MAX_UPLOAD_BYTES, max_expanded_bytes: int = MAX_UPLOAD_EXPANDED_BYTES,
                          max_files: int = MAX_UPLOAD_FILES, progress: Progress = None) -> Dataset:
    """A dataset from an uploaded ZIP or tar (``.tar``, ``.tar.gz``, ``.tar.bz2``, ``.tar.xz``) archive.

    The archive must hold the image-folder layout ``[folder/]train/<class>/<image>`` and
    ``[folder/]test/<class>/<image>``, with the same rules as :func:`~zsl_core.data.load_dataset` (class-name
    cleaning, skipped files and empty classes in ``Dataset.warnings``). It is read from memory: nothing is
    written to disk and member names are used only as labels, so ``..``, absolute names and links cannot
    reach any file. Nothing is cached on disk (a shared server's disk is not filled by visitors; cache the
    result in memory, e.g. ``st.cache_data``, keyed by the bytes).

    Parameters
    ----------
    data : bytes or binary file object
        The uploaded archive (a Streamlit ``UploadedFile`` works). Never a path: this is for uploads.
    name : str
        The upload's file name, for messages and the dataset's name.
    max_bytes, max_expanded_bytes, max_files : int
        Limits on the archive's size, the total size of its files once decompressed, and their number;
        a file over :data:`~zsl_core.data.images.MAX_BYTES` is skipped and reported.
    progress : callable, optional
        ``progress("Decoding images in <name>", done, total)``.

    Returns
    -------
    Dataset

    Raises
    ------
    DatasetError
        Not a ZIP or tar archive, damaged, over a limit, or not the image-folder layout.
    """
    if isinstance(data, (str, os.PathLike)):
        raise TypeError("load_uploaded_dataset takes the uploaded bytes or file object, not a path; "
                        "use load_dataset(check_allowed_path(path)) for paths")
    name = os.path.basename(str(name)) or "upload"
    raw = read_limited(data, name, limit=max_bytes, expected="a ZIP or tar archive")
    step = f"Decoding images in {name}"
    buffer = io.BytesIO(raw)
    if raw[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        members = iter_zip_files(buffer, name, max_member_bytes=MAX_BYTES, max_total_bytes=max_expanded_bytes,
                                 max_files=max_files)
        members = _reporting(members, progress, step, len(raw), buffer)
    elif raw[:2] == b"\x1f\x8b" or raw[:3] == b"BZh" or raw[:6] == b"\xfd7zXZ\x00" or raw[257:262] == b"ustar":
        members = _counted(iter_tar_stream(buffer, name, progress=progress, step=step, total=len(raw),
                                           max_total_bytes=max_expanded_bytes), name, max_files)
    else:
        raise DatasetError(f"{name} is not a ZIP or tar archive; upload the dataset folder as a .zip or .tar.gz "
                           f"holding train/<class>/<image> and test/<class>/<image>")
    fields = read_imagefolder_members(members, name, strip_archive_suffix(name))
    return Dataset(**fields)


def _counted(members: Iterator[Member], where: str, max_files: int) -> Iterator[Member]:
    for i, member in enumerate(members, 1):
        if i > max_files:
            raise DatasetError(f"{where} holds more than the {max_files} files allowed")
        yield member


def _reporting(members: Iterator[Member], progress: Progress, step: str, total: int,
               buffer: io.BytesIO) -> Iterator[Member]:
    report(progress, step, 0, total)
    last = time.monotonic()
    for member in members:
        yield member
        if time.monotonic() - last > 0.2:
            report(progress, step, min(buffer.tell(), total), total)
            last = time.monotonic()
    report(progress, step, total, total)
