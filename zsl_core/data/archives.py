"""Tar archives: streaming their files without extracting, and extracting safely when files are needed."""

from __future__ import annotations

import os
import tarfile
import time
from pathlib import Path
from typing import Iterator

from ..cache import Progress, report
from .errors import DatasetError

__all__ = ["safe_extract", "iter_tar_files", "is_tar_name", "strip_archive_suffix"]


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



def iter_tar_files(path: Path, progress: Progress, step: str) -> Iterator[tuple[str, bytes]]:
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


def is_tar_name(path: Path) -> bool:
    return path.name.lower().endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz"))



def strip_archive_suffix(name: str) -> str:
    for suffix in (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name
