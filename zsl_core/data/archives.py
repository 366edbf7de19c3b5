"""Archives: streaming their files without extracting, verified to the end; extracting safely when needed.

The loaders never write an archive's members to disk: :func:`iter_tar_files` and :func:`iter_zip_files` hand
over the *bytes* of regular files, and a member's name is only a label (split and class) — never a path that is
opened. Links, devices and ``..`` names therefore cannot reach outside anything, which is why the loaders do
not need :func:`safe_extract`; it is kept (and hardened) for a caller that really needs files on disk.

Streaming is verified: a tar archive must run to its end-of-archive marker and its compressed stream must
pass its own checksum, so a damaged or truncated download is an error naming the file, never a partial
dataset. Every member is read with a bounded size.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import stat
import tarfile
import time
import zipfile
import zlib
from pathlib import Path
from typing import BinaryIO, Iterator, NamedTuple

from ..cache import Progress, report
from .errors import DatasetError
from .images import MAX_BYTES

__all__ = ["Member", "safe_extract", "iter_tar_files", "iter_tar_stream", "iter_zip_files", "open_tar_stream",
           "is_tar_name", "strip_archive_suffix"]

_DAMAGED = (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError, ValueError)

#: Why a link member is skipped: tar and ZIP readers say it the same way (counted as a skipped file).
_LINK = "a link, not an image file (links in an archive are not followed)"


class Member(NamedTuple):
    """One regular file of an archive: its name and its bytes, or why they were not read."""

    name: str
    data: bytes | None  # None when skipped (see problem)
    size: int
    problem: str = ""


# ------------------------------------------------------------------------------------------------- tar


def open_tar_stream(raw: BinaryIO) -> BinaryIO:
    """The decompressed byte stream of a tar file, chosen by content (gzip, bzip2, xz or none).

    The stdlib decompressors are used rather than tarfile's own ``r|gz`` stream because they verify the
    compressed stream's CRC and length at its end and raise on truncation.
    """
    head = raw.read(6)
    raw.seek(0)
    if head.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if head.startswith(b"BZh"):
        return bz2.BZ2File(raw)
    if head.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(raw)
    return raw


def iter_tar_stream(raw: BinaryIO, where: str, *, progress: Progress = None, step: str = "Reading archive",
                    total: int = 0, max_member_bytes: int = MAX_BYTES,
                    max_total_bytes: int | None = None) -> Iterator[Member]:
    """Yield every regular file of a (compressed) tar archive, then check the archive was whole.

    Parameters
    ----------
    raw : binary file object, seekable
        The archive as stored (compressed or not).
    where : str
        How to name the archive in messages (a path, or the name of an upload).
    progress, step, total
        ``progress(step, bytes of raw consumed, total)``, at most every 0.2 s.
    max_member_bytes : int
        A member declaring more is not read: it is yielded with ``data=None`` and a ``problem`` (skipping it
        costs decompression time but no memory).
    max_total_bytes : int, optional
        Refuse the archive once its uncompressed size passes this (for uploads: bounds the time a small
        file that expands hugely can cost).

    Raises
    ------
    DatasetError
        The archive is damaged (bad compressed data or checksum, a header that is not a tar header,
        truncation before the end-of-archive marker) or over ``max_total_bytes``. Raised after the members
        read so far were yielded: callers must build nothing final until the iteration has finished.
    """
    last = 0.0
    try:
        stream = _LastRead(open_tar_stream(raw))
        # "r:" rather than "r|": tar.offset then says where tarfile stopped, for the end-of-archive check.
        with tarfile.open(fileobj=stream, mode="r:") as tar:
            report(progress, step, 0, total)
            for member in tar:
                end = member.offset_data + member.size
                if max_total_bytes is not None and end > max_total_bytes:
                    raise DatasetError(f"{where} expands to more than {max_total_bytes / 2**20:.0f} MB; refusing it")
                if member.isfile():
                    if member.size > max_member_bytes:
                        yield Member(member.name, None, member.size,
                                     f"{member.size / 2**20:.0f} MB, over the {max_member_bytes / 2**20:.0f} MB "
                                     f"limit for one file")
                    else:
                        handle = tar.extractfile(member)
                        yield Member(member.name, handle.read() if handle else b"", member.size)
                elif member.issym() or member.islnk():
                    yield Member(member.name, None, 0, _LINK)
                now = time.monotonic()
                if now - last > 0.2:
                    report(progress, step, min(raw.tell(), total), total)
                    last = now
            # tarfile ends its iteration silently on a zero block (the real end) but also on an empty,
            # truncated or invalid header: only the first is a whole archive. Its last read was that block
            # (looked up rather than re-read: seeking back in a compressed stream decompresses it again).
            block = stream.block_at(tar.offset)
            if len(block) < tarfile.BLOCKSIZE or block.count(0) != tarfile.BLOCKSIZE:
                why = "it is cut short" if len(block) < tarfile.BLOCKSIZE else "a header is damaged"
                raise DatasetError(f"{where} is damaged ({why} at byte {tar.offset} of its tar stream); nothing "
                                   f"from it was used. Download or create the archive again")
            # Read to the end so the decompressor checks the stream's CRC and length.
            while stream.read(1 << 20):
                pass
            report(progress, step, total, total)
    except DatasetError:
        raise
    except _DAMAGED as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise DatasetError(f"{where} is damaged or not a tar archive ({reason}); nothing from it was used. "
                           f"Download or create the archive again") from exc


class _LastRead:
    """A read-only stream that remembers its last read (position and bytes); everything else passes through."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream
        self._last = (-1, b"")

    def read(self, size: int = -1) -> bytes:
        position = self._stream.tell()
        data = self._stream.read(size)
        self._last = (position, data)
        return data

    def block_at(self, position: int) -> bytes:
        """The bytes of the last read if it started at ``position``, else ``b""``."""
        return self._last[1] if self._last[0] == position else b""

    def seek(self, *args) -> int:
        return self._stream.seek(*args)

    def tell(self) -> int:
        return self._stream.tell()


def iter_tar_files(path: Path, progress: Progress, step: str, *, max_member_bytes: int = MAX_BYTES,
                   max_total_bytes: int | None = None) -> Iterator[Member]:
    """:func:`iter_tar_stream` over a tar file on disk (progress in bytes of the file)."""
    total = path.stat().st_size
    try:
        raw = open(path, "rb")
    except OSError as exc:
        raise DatasetError(f"{path} cannot be read ({exc.strerror or exc})") from exc
    with raw:
        yield from iter_tar_stream(raw, str(path), progress=progress, step=step, total=total,
                                   max_member_bytes=max_member_bytes, max_total_bytes=max_total_bytes)


# ------------------------------------------------------------------------------------------------- zip


def iter_zip_files(raw: BinaryIO, where: str, *, max_member_bytes: int = MAX_BYTES,
                   max_total_bytes: int | None = None, max_files: int | None = None) -> Iterator[Member]:
    """Yield every regular file of a ZIP archive, reading no member beyond its declared size.

    Declared sizes bound the reads (zipfile never returns more than a member declares, and checks its CRC),
    so ``max_member_bytes``, ``max_total_bytes`` and ``max_files`` are checked against the central directory
    before anything is decompressed. Encrypted members and unsupported compression methods are skipped
    (yielded with ``data=None`` and a ``problem``).

    Raises
    ------
    DatasetError
        Not a ZIP file, a damaged member (bad CRC or header), or over one of the limits.
    """
    try:
        with zipfile.ZipFile(raw) as archive:
            infos = [i for i in archive.infolist() if not i.is_dir()]
            if max_files is not None and len(infos) > max_files:
                raise DatasetError(f"{where} holds {len(infos)} files, more than the {max_files} allowed")
            if max_total_bytes is not None:
                declared = sum(i.file_size for i in infos if i.file_size <= max_member_bytes)
                if declared > max_total_bytes:
                    raise DatasetError(f"{where} expands to more than {max_total_bytes / 2**20:.0f} MB; refusing it")
            for info in infos:
                name = _zip_name(info)
                if stat.S_ISLNK(info.external_attr >> 16):  # a symlink made by a Unix zip: its bytes are the target
                    yield Member(name, None, info.file_size, _LINK)
                    continue
                if info.file_size > max_member_bytes:
                    yield Member(name, None, info.file_size,
                                 f"{info.file_size / 2**20:.0f} MB, over the {max_member_bytes / 2**20:.0f} MB "
                                 f"limit for one file")
                    continue
                try:
                    with archive.open(info) as handle:
                        data = handle.read(max_member_bytes + 1)
                except (RuntimeError, NotImplementedError) as exc:  # encrypted / unsupported method
                    yield Member(name, None, info.file_size, " ".join(str(exc).split()))
                    continue
                yield Member(name, data, info.file_size)
    except DatasetError:
        raise
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, zlib.error, lzma.LZMAError,
            ValueError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise DatasetError(f"{where} is damaged or not a ZIP archive ({reason}); nothing from it was used") from exc


def _zip_name(info: zipfile.ZipInfo) -> str:
    """A member's name; UTF-8 even when the archiver did not set the ZIP "UTF-8" flag (zipfile then decodes
    it as the old DOS code page 437, which would turn "café" into "cafÃ©"-like noise)."""
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


# --------------------------------------------------------------------------------------------- extract


def safe_extract(tar: tarfile.TarFile, dest: str | os.PathLike) -> list[Path]:
    """Extract a tar archive into ``dest``, refusing anything that could write outside it.

    Every member is checked before anything is written: absolute names, ``..`` components, device files,
    and any path or link that leaves ``dest`` once the archive's own symbolic links are followed — a link to
    a link, or a member stored "under" a link (``d -> .`` then ``d/d/d/x -> ../../..``), is resolved the
    way the file system will resolve it after extraction, not only by its spelling. Links already present
    in ``dest`` are followed too. On top of that Python's ``"data"`` extraction filter is applied (it also
    drops set-uid bits and odd permissions).

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
    links = {}
    for member in members:
        parts = _parts(member.name)
        if member.issym() and parts:
            links[parts] = member.linkname
    files = []
    for member in members:
        _check_member(member, root, links)
        if member.isfile():
            files.append(root.joinpath(*_parts(member.name)))
    tar.extractall(root, members=members, filter="data")
    return files


def _parts(name: str) -> tuple[str, ...]:
    return tuple(p for p in name.replace("\\", "/").split("/") if p not in ("", "."))


def _resolve(parts, links: dict, budget: list) -> tuple[str, ...] | None:
    """Where ``parts`` (relative to the root) lands once the archive's symlinks are followed; ``None`` when it
    climbs above the root (or links loop)."""
    out: list[str] = []
    for part in parts:
        if part in ("", "."):
            continue
        if part == "..":
            if not out:
                return None
            out.pop()
            continue
        out.append(part)
        target = links.get(tuple(out))
        if target is not None:
            budget[0] -= 1
            if budget[0] < 0 or target.startswith(("/", "\\")) or os.path.isabs(target) or \
                    (len(target) > 1 and target[1] == ":"):
                return None
            resolved = _resolve((*out[:-1], *target.replace("\\", "/").split("/")), links, budget)
            if resolved is None:
                return None
            out = list(resolved)
    return tuple(out)


def _check_member(member: tarfile.TarInfo, root: Path, links: dict) -> None:
    name = member.name
    parts = _parts(name)
    problem = None
    budget = [64]
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":") or os.path.isabs(name):
        problem = "has an absolute path"
    elif ".." in parts:
        problem = "contains '..'"
    elif member.isdev():
        problem = "is a device file"
    elif member.issym():
        parent = _resolve(parts[:-1], links, budget)
        target = None if parent is None else _resolve((*parent, *member.linkname.replace("\\", "/").split("/")),
                                                      links, budget)
        if parent is None or target is None or not _really_inside(root, target):
            problem = f"is a link to {member.linkname!r} outside the destination"
    elif member.islnk():
        target = _resolve(_parts(member.linkname), links, budget)
        if ".." in _parts(member.linkname) or target is None or not _really_inside(root, target):
            problem = f"is a link to {member.linkname!r} outside the destination"
    else:
        where = _resolve(parts, links, budget)
        if where is None or not _really_inside(root, where):
            problem = "points outside the destination (through a link)"
    if problem:
        raise DatasetError(f"refusing to extract the archive: member {name!r} {problem}")


def _really_inside(root: Path, parts: tuple[str, ...]) -> bool:
    """Whether ``root/parts`` stays inside ``root`` on disk too (links already in the folder are followed)."""
    resolved = Path(os.path.realpath(root.joinpath(*parts)))
    return resolved == root or root in resolved.parents


# ----------------------------------------------------------------------------------------------- names


def is_tar_name(path: Path) -> bool:
    return path.name.lower().endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz"))


def strip_archive_suffix(name: str) -> str:
    for suffix in (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar", ".zip"):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name
