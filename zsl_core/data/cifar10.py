"""CIFAR-10 in its official python layout: download with a verified checksum, and safe unpickling.

Security: the official batches are Python pickles. They are unpickled only from an archive whose MD5 matched
the published one (or from a source the user named explicitly), and always with a restricted unpickler that
can build nothing but dicts, lists, bytes, numbers and numpy arrays.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import os
import pickle
import posixpath
import time
import urllib.request
from pathlib import Path

import numpy as np

from ..cache import Progress, atomic_write_text, report
from .archives import iter_tar_files
from .errors import BATCHES_DIR, CIFAR10_ARCHIVE, HELP as _HELP, ChecksumError, DatasetError
from .images import read_limited

__all__ = ["CIFAR10_URL", "CIFAR10_MD5", "CIFAR10_ARCHIVE", "download_cifar10", "is_our_download",
           "read_official_tar", "read_official_dir", "is_official_dir"]

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"
_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
OFFICIAL_FILES = (*_TRAIN_BATCHES, "test_batch", "batches.meta")
_OFFICIAL_FILES = OFFICIAL_FILES
#: The largest official file is a 31 MB training batch.
_MAX_BATCH_BYTES = 256 * 2**20


def download_cifar10(dest_dir: str | os.PathLike, *, url: str = CIFAR10_URL, md5: str | None = CIFAR10_MD5,
                     progress: Progress = None, timeout: float = 60.0) -> Path:
    """Download the official CIFAR-10 python archive into ``dest_dir`` and verify its MD5.

    The file is streamed to ``<dest>/cifar-10-python.tar.gz.part`` while its MD5 is computed, and renamed to
    its final name only when complete and verified, so an interrupted or corrupt download never looks like a
    usable archive. An archive already there with the right checksum is reused.

    Nothing the product did not write is ever deleted or overwritten: a ``cifar-10-python.tar.gz`` already
    there whose checksum does not match is replaced only if this function downloaded it (a small marker
    file, ``.cifar-10-python.tar.gz.zsl-download``, records that, with the file's size and time); a file of
    the user's is left in place and the error says so. Only the ``.part`` file is ever removed.

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
        Network failure, an incomplete transfer, or a checksum mismatch (the partial file is removed); or a
        ``cifar-10-python.tar.gz`` of the user's with the wrong checksum is in the way (it is left there).
    """
    dest = Path(dest_dir)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"cannot create the data folder {dest} ({exc.strerror or exc}). {_HELP}") from exc
    final = dest / CIFAR10_ARCHIVE
    if final.is_file():
        got = None if md5 is None else _md5_file(final)
        if md5 is None or got == md5.lower():
            return final
        if not is_our_download(final):
            raise DatasetError(
                f"{final} is already there but is not the official CIFAR-10 archive (MD5 {got}, expected "
                f"{md5.lower()}); it was left in place. Move or rename it (or delete it if it is a broken copy) "
                f"and try again. {_TRUSTED_COPY}"
            )
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
        _mark_ours(final, got)
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


def _marker(path: Path) -> Path:
    return path.with_name(f".{path.name}.zsl-download")


def _mark_ours(path: Path, md5: str) -> None:
    """Record that ``path`` is our own download (size and mtime, so a file put there later is not ours)."""
    st = path.stat()
    try:
        atomic_write_text(_marker(path), json.dumps({"size": st.st_size, "mtime_ns": st.st_mtime_ns, "md5": md5}))
    except OSError:
        pass  # without the marker the file counts as the user's: never replaced, which is the safe side


def is_our_download(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a file :func:`download_cifar10` wrote (and nobody replaced since)."""
    path = Path(path)
    try:
        mark = json.loads(_marker(path).read_text())
        st = path.stat()
        return mark["size"] == st.st_size and mark["mtime_ns"] == st.st_mtime_ns
    except (OSError, ValueError, KeyError, TypeError):
        return False


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


#: What a user can do with a CIFAR-10 archive of their own that is not byte-identical to the official one: an
#: extracted batches folder is read (with the restricted unpickler) without the archive's checksum.
_TRUSTED_COPY = (f"For a copy you trust, extract it (tar -xzf {CIFAR10_ARCHIVE}) and pass the extracted "
                 f"{BATCHES_DIR} folder instead (--data PATH on the command line, the data field in the app).")


def read_official_tar(path: Path, md5: str | None, progress: Progress) -> dict:
    if md5 is not None:
        report(progress, "Verifying archive checksum", 0, 1)
        got = _md5_file(path)
        report(progress, "Verifying archive checksum", 1, 1)  # checked: the line ends before the verdict
        if got != md5.lower():
            raise ChecksumError(
                f"checksum mismatch for {path}: expected MD5 {md5.lower()}, got {got}; the file was left in place. "
                f"It is corrupt or not the official CIFAR-10 archive: move it away or delete it to download a fresh "
                f"copy. {_TRUSTED_COPY}"
            )
    step = f"Reading {path.name}"
    blobs = {}
    for member in iter_tar_files(path, progress, step, max_member_bytes=_MAX_BATCH_BYTES):
        base = posixpath.basename(member.name)
        if base in _OFFICIAL_FILES:
            if member.data is None:
                raise DatasetError(f"{path}: {member.name} is {member.problem}; not a CIFAR-10 batch")
            blobs[base] = member.data
    return _official_from_blobs(blobs, str(path))


def read_official_dir(folder: Path, progress: Progress) -> dict:
    blobs = {}
    for i, name in enumerate(_OFFICIAL_FILES):
        report(progress, f"Reading {folder.name}", i, len(_OFFICIAL_FILES))
        file = folder / name
        if file.is_file():
            blobs[name] = read_limited(file, str(file), limit=_MAX_BATCH_BYTES)
    report(progress, f"Reading {folder.name}", len(_OFFICIAL_FILES), len(_OFFICIAL_FILES))
    return _official_from_blobs(blobs, str(folder))



def is_official_dir(folder: Path) -> bool:
    return all((folder / name).is_file() for name in ("data_batch_1", "test_batch", "batches.meta"))
