"""``load_dataset``: find which layout a path holds, decode it once, and cache the decoded arrays.

Decoded arrays are cached under ``cache_dir()/datasets`` keyed by the source's path, size and modification
time, so only the first load of a source pays for decoding.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import posixpath
import tarfile
from pathlib import Path

import numpy as np

from ..cache import Progress, cache_dir, load_arrays, make_key, save_arrays
from .archives import is_tar_name
from .cifar10 import (CIFAR10_MD5, CIFAR10_URL, OFFICIAL_FILES as _OFFICIAL_FILES, download_cifar10,
                      is_official_dir, is_our_download, read_official_dir, read_official_tar)
from .dataset import Dataset
from .errors import BATCHES_DIR as _BATCHES_DIR, CIFAR10_ARCHIVE, HELP as _HELP, ChecksumError, DatasetError, DatasetWarning
from .imagefolder import imagefolder_root, list_imagefolder, read_imagefolder_dir, read_imagefolder_tar, split_class
from .serving import REFUSED, allowed_data_dirs, check_allowed_path

__all__ = ["default_data_dir", "load_dataset"]

#: Bump when a change here changes what a cached decoded dataset contains.
_LOADER_VERSION = "data-2"  # 2: structured warnings, NFC class names


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
                if member.isfile() and split_class(parts):
                    return "imagefolder"
                if i > 200:
                    break
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise _damaged(path, exc) from exc
    return None



def _compressed(path: Path) -> bool:
    """Whether the file starts like a gzip, bzip2 or xz stream."""
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError:
        return False
    return head.startswith((b"\x1f\x8b", b"BZh", b"\xfd7zXZ\x00"))


def _damaged(path: Path, why) -> DatasetError:
    reason = " ".join(str(why).split()) or type(why).__name__
    return DatasetError(f"{path} is damaged or not a tar archive ({reason}); nothing from it was used. "
                        f"Download or create the archive again")


def _find(path: Path) -> tuple[str, Path] | None:
    """Which known layout ``path`` is or holds: ``(layout, path)``; ``None`` when there is none."""
    if path.is_file():
        if not tarfile.is_tarfile(path):
            if is_tar_name(path) or _compressed(path):
                raise _damaged(path, "no tar header could be read")
            raise DatasetError(f"{path} is neither a folder nor a tar archive. {_HELP}")
        layout = _tar_layout(path)
        if layout is None:
            raise DatasetError(f"{path} contains neither the official CIFAR-10 layout nor train/ and test/ "
                               f"image folders. {_HELP}")
        return f"{layout}-tar", path
    if is_official_dir(path):
        return "official-dir", path
    if is_official_dir(path / _BATCHES_DIR):
        return "official-dir", path / _BATCHES_DIR
    if (path / CIFAR10_ARCHIVE).is_file():
        return "official-tar", path / CIFAR10_ARCHIVE
    root = imagefolder_root(path)
    if root is not None:
        return "imagefolder-dir", root
    for candidate in sorted(p for p in path.iterdir() if p.is_file() and is_tar_name(p)):
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
             else [f for _, _, f in list_imagefolder(path)])
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
        warnings=tuple(DatasetWarning.from_dict(json.loads(str(w))) for w in arrays["warnings"]),
    )


def _load_layout(layout: str, path: Path, *, md5: str | None, progress: Progress, use_cache: bool) -> Dataset:
    key = _source_key(layout, path)
    cache_file = cache_dir() / "datasets" / f"{key}.npz"
    if use_cache:
        arrays = load_arrays(cache_file)  # None when missing or corrupt (a corrupt file is removed)
        if arrays is not None:
            try:
                return _dataset_from_arrays(arrays)
            except (KeyError, TypeError, DatasetError, ValueError):
                with contextlib.suppress(OSError):  # readable but not ours / an older layout: rebuild
                    cache_file.unlink()
    if layout == "official-tar":
        fields = read_official_tar(path, md5, progress)
    elif layout == "official-dir":
        fields = read_official_dir(path, progress)
    elif layout == "imagefolder-tar":
        fields = read_imagefolder_tar(path, progress)
    else:
        fields = read_imagefolder_dir(path, progress)
    dataset = Dataset(**fields)
    if use_cache:
        save_arrays(cache_file, name=np.array(dataset.name), class_names=np.array(dataset.class_names),
                    warnings=np.array([json.dumps(w.to_dict()) for w in dataset.warnings], dtype=str),
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
        When ``$ZSL_ALLOWED_DATA_DIRS`` is set, an explicit ``source`` must lie inside one of its folders
        (see :func:`check_allowed_path`).
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
        Image files in an image-folder source that cannot be decoded are skipped, and classes with no image
        in a split noted, in ``Dataset.warnings`` (:class:`DatasetWarning`: counts and examples); if a whole
        split ends up empty a :class:`DatasetError` is raised instead. A damaged archive (bad compressed data,
        cut short) is an error, never a partial dataset, and nothing of it is cached.

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
        # Confined (shared server): refused paths get one message that reveals nothing about the server,
        # and so does a missing one (its message would show where the allowed folders are).
        confined = allowed_data_dirs() is not None
        path = check_allowed_path(source) if confined else Path(source).expanduser()
        if confined and not path.exists():
            raise DatasetError(REFUSED)
        if not path.exists():
            raise DatasetError(f"the dataset path {path} does not exist. {_HELP}")
        found = _find(path)
        if found is None:
            raise DatasetError(f"no dataset found in {path}. {_HELP}")
    layout, path = found
    try:
        return _load_layout(layout, path, md5=md5, progress=progress, use_cache=cache)
    except ChecksumError:
        # Only an archive we downloaded ourselves (data folder, official name, our marker) is replaced, and
        # only once a verified copy has arrived; a file of the user's, or download=False, gets the error,
        # which says the file was left in place. The MD5 is checked on a cache miss only: a cache hit is
        # keyed by the same size and mtime, so that file was verified when it was decoded.
        if not (source is None and download and path == folder / CIFAR10_ARCHIVE and is_our_download(path)):
            raise
        path = download_cifar10(folder, url=url, md5=md5, progress=progress)
        return _load_layout("official-tar", path, md5=md5, progress=progress, use_cache=cache)
