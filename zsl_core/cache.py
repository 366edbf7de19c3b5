"""The on-disk cache: where it lives, how entries are keyed, and atomic, self-checking writes.

Every cached artefact is keyed by *everything that produced it* (dataset fingerprint, extractor name, every
parameter, the code's cache version), so a changed input can never be served a stale result. Files are
written to a temporary name in the same folder and moved into place with ``os.replace``, so a reader never
sees half a file; array files carry a checksum of their bytes so a truncated or corrupted file is noticed
on read, removed, and recomputed instead of crashing the caller.

A cache folder that cannot be written (read-only, uncreatable, or full) never fails the work it was meant to
save: the result is returned uncached and one :class:`CacheWarning` per folder is issued (Python ``warnings``,
and listed by :func:`cache_warnings` for the app and the command line to show).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Callable, Optional

import numpy as np

#: ``progress(step, done, total)``; ``None`` means silent.
Progress = Optional[Callable[[str, int, int], None]]

#: Bump when a change to the code changes what a cached artefact contains.
CACHE_VERSION = "1"


class CacheWarning(UserWarning):
    """The cache folder could not be written: results are computed again instead of being read back.

    Attributes
    ----------
    folder : pathlib.Path
        The cache folder that could not be used.
    reason : str
        The operating system's reason (e.g. "Read-only file system", "No space left on device").
    """

    def __init__(self, folder: Path, reason: str):
        self.folder = Path(folder)
        self.reason = reason
        super().__init__(
            f"cannot write to the cache folder {folder} ({reason}): results are computed again each time "
            f"instead of being cached; set ZSL_CACHE_DIR to a writable folder with free space to keep them"
        )


_WARNED: dict[str, CacheWarning] = {}
_WARNED_LOCK = threading.Lock()


def _root() -> Path:
    return Path(os.environ.get("ZSL_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "zsl_explorer"))


def cache_dir() -> Path:
    """The cache folder: ``$ZSL_CACHE_DIR`` or ``~/.cache/zsl_explorer`` (created on demand).

    A folder that cannot be created is still returned (after one :class:`CacheWarning`): reads from it find
    nothing and writes to it are skipped, so everything is computed without caching.
    """
    path = _root()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        cache_unwritable(path, error)
    return path


def cache_unwritable(path: Path, error: OSError) -> None:
    """Record that writing ``path`` (a cache entry or folder) failed; warns once per cache folder.

    Called by every cache writer instead of raising: losing a cache entry costs only time.
    """
    root = _root()
    path = Path(path)
    folder = root if path == root or root in path.parents else path.parent
    reason = error.strerror or str(error) or type(error).__name__
    with _WARNED_LOCK:
        if str(folder) in _WARNED:
            return
        warning = CacheWarning(folder, reason)
        _WARNED[str(folder)] = warning
    warnings.warn(warning, stacklevel=3)


def cache_warnings() -> tuple[CacheWarning, ...]:
    """Every cache folder this process could not write to, one :class:`CacheWarning` each, oldest first.

    For the app and the command line to show (``str(w)`` is a one-line message naming the folder).
    """
    with _WARNED_LOCK:
        return tuple(_WARNED.values())


def make_key(**parts) -> str:
    """A short, stable hash of every input that produced an artefact.

    ``parts`` must be JSON-serialisable (numbers, strings, lists, dicts); keys are sorted so the order in
    which a caller names them does not matter.
    """
    canonical = json.dumps({"cache_version": CACHE_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:20]


def report(progress: Progress, step: str, done: int, total: int) -> None:
    """Call ``progress`` if there is one (saves an ``if`` at every call site)."""
    if progress is not None:
        progress(step, int(done), int(total))


@contextlib.contextmanager
def _atomic_file(path: Path):
    """Yield a binary handle on a temporary file beside ``path``; on success it replaces ``path`` (fsynced),
    on any error it is removed and ``path`` is left as it was."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see either the old file or the whole new one."""
    with _atomic_file(path) as handle:
        handle.write(data)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def cache_write_bytes(path: Path, data: bytes) -> bool:
    """:func:`atomic_write_bytes` for a cache entry: on an OS error (read-only, missing or full folder) the
    entry is simply not written, one :class:`CacheWarning` is issued, and ``False`` is returned."""
    try:
        atomic_write_bytes(path, data)
        return True
    except OSError as error:
        cache_unwritable(path, error)
        return False


def _digest(arrays: dict) -> str:
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(name.encode())
        h.update(str(a.dtype).encode())
        h.update(str(a.shape).encode())
        h.update(memoryview(a.reshape(-1)).cast("B"))  # flat: an empty 2-D array (shape (0, 3)) cannot be cast
    return h.hexdigest()


def save_arrays(path: Path, **arrays) -> bool:
    """Atomically store named arrays in an ``.npz`` file together with a checksum of their contents.

    Returns
    -------
    bool
        ``True`` when written. ``False`` when the folder cannot be written (read-only, uncreatable, disk
        full): nothing is left behind, one :class:`CacheWarning` is issued, and the caller carries on with
        the arrays it has — a cache that cannot be filled must never throw away the work it was to save.
    """
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    if "__checksum__" in arrays:
        raise ValueError("'__checksum__' is reserved")
    try:
        # Stream straight into the temporary file (features can be gigabytes: no second copy in memory).
        with _atomic_file(path) as handle:
            np.savez(handle, __checksum__=np.array(_digest(arrays)), **arrays)
        return True
    except OSError as error:
        cache_unwritable(path, error)
        return False


def load_arrays(path: Path) -> dict | None:
    """Read arrays written by :func:`save_arrays`.

    Returns ``None`` when the file is missing, unreadable, or its checksum does not match (a corrupt file is
    deleted so the caller recomputes and rewrites it).
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        expected = str(arrays.pop("__checksum__"))
        if _digest(arrays) != expected:
            raise ValueError("checksum mismatch")
        return arrays
    except Exception:
        # Truncated zip, bad CRC, missing checksum, wrong dtype...: all mean "recompute".
        try:
            path.unlink()
        except OSError:
            pass
        return None
