"""The image-folder layout: ``train/<class>/<image>`` and ``test/<class>/<image>``, as a folder or an archive.

Class names are the folder names, cleaned so the word-vector lookup sees what a person reads: Unicode NFC
(a macOS archive spells "café" with a combining accent), surrounding spaces removed, names that were not
UTF-8 read as Latin-1. Two folders that would name the same class ("Cat" and "cat", "pickup_truck" and
"pickup truck") or a name with no letter or digit are refused before anything is trained on them.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Iterable

import numpy as np

from ..cache import Progress, report
from .archives import Member, iter_tar_files, strip_archive_suffix
from .errors import HELP as _HELP, SPLITS as _SPLITS, DatasetError, DatasetWarning
from .images import prepare_image

__all__ = ["read_imagefolder_tar", "read_imagefolder_dir", "read_imagefolder_members", "imagefolder_root",
           "list_imagefolder", "split_class", "class_name", "class_key"]

#: Separators the word-vector lookup splits class names on (see zsl_core.semantic).
_SEPARATORS = re.compile(r"[\s_\-]+")
#: Examples quoted in a warning (the count is always complete).
_EXAMPLES = 3


def split_class(parts: tuple[str, ...]) -> tuple[str, str] | None:
    """``(split, class folder)`` for ``[prefix/]split/class/file`` member paths, else ``None``."""
    if not parts or any(p in ("", ".", "..") for p in parts) or parts[0] == "__MACOSX":
        return None
    if parts[-1].startswith("."):  # .DS_Store, macOS AppleDouble "._x.jpg" files
        return None
    if len(parts) == 4:
        parts = parts[1:]
    if len(parts) == 3 and parts[0] in _SPLITS and not parts[1].startswith("."):
        return parts[0], parts[1]
    return None


def class_name(folder: str) -> str:
    """The class name a folder name stands for: NFC-normalised, surrounding whitespace removed.

    A name that was not valid UTF-8 (Python keeps its bytes as surrogate escapes) is read as Latin-1, the
    usual encoding of such old archives, instead of failing later. May return ``""``; :func:`class_key` and
    the loader refuse that.
    """
    if any("\udc80" <= ch <= "\udcff" for ch in folder):
        folder = folder.encode("utf-8", "surrogateescape").decode("latin-1")
    return unicodedata.normalize("NFC", folder).strip()


def class_key(name: str) -> str:
    """What two class names must differ in to be different classes: case, and the separators ``_``, ``-``
    and spaces, do not count (the word-vector lookup lower-cases and splits on them)."""
    return _SEPARATORS.sub(" ", name.casefold()).strip()


def _check_names(folders: Iterable[tuple[str, str]], where: str) -> None:
    """Refuse class folders that name no class or the same class: ``folders`` holds (split, folder name)."""
    by_key: dict[str, dict[str, set]] = {}
    for split, folder in folders:
        name = class_name(folder)
        if not any(ch.isalnum() for ch in name):
            raise DatasetError(f"{where}: the class folder {folder!r} in {split}/ has no letter or digit in its "
                               f"name; rename it to the class's name")
        if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in name):
            raise DatasetError(f"{where}: the class folder {ascii(folder)} in {split}/ has control characters in "
                               f"its name; rename it")
        by_key.setdefault(class_key(name), {}).setdefault(split, set()).add(folder)
    for spellings in by_key.values():
        names = {class_name(f) for folders_ in spellings.values() for f in folders_}
        clash = next((sorted(f) for f in spellings.values() if len(f) > 1), None)
        if clash is None and len(names) > 1:
            clash = sorted(f for folders_ in spellings.values() for f in folders_)
        if clash:
            shown = " and ".join(ascii(f) if not f.isprintable() or f != class_name(f) else repr(f) for f in clash[:2])
            raise DatasetError(f"{where}: the class folders {shown} name the same class (class names ignore case, "
                               f"surrounding spaces and the separators '_', '-' and space); merge or rename them")


class _Collector:
    """Accumulates decoded images per split and class; turns them into arrays with sorted class names."""

    def __init__(self, where: str):
        self.where = where
        self.images = {s: [] for s in _SPLITS}
        self.classes = {s: [] for s in _SPLITS}
        self.folders: set[tuple[str, str]] = set()
        self.files: Counter = Counter()  # (split, class) -> files met
        self.failed: list[tuple[str, str, str]] = []  # (split, class, message)

    def add(self, split: str, folder: str, name: str, source) -> None:
        """Decode ``source`` (bytes or a path) as an image of class folder ``folder``; a failure is counted."""
        cls = self._register(split, folder)
        try:
            self.images[split].append(prepare_image(source, 32, name=name))
            self.classes[split].append(cls)
        except DatasetError as exc:
            self.failed.append((split, cls, str(exc)))

    def skip(self, split: str, folder: str, name: str, problem: str) -> None:
        """Count a file of class folder ``folder`` that could not even be read."""
        self.failed.append((split, self._register(split, folder), f"{name}: {problem}"))

    def _register(self, split: str, folder: str) -> str:
        self.folders.add((split, folder))
        cls = class_name(folder)
        self.files[(split, cls)] += 1
        return cls

    def result(self, name: str) -> dict:
        if not self.files:
            raise DatasetError(f"{self.where} has no train/<class>/<image> or test/<class>/<image> files. {_HELP}")
        _check_names(self.folders, self.where)
        # A class none of whose files could be decoded is left out (and reported), not kept with no images.
        class_names = sorted(set(self.classes["train"]) | set(self.classes["test"]))
        for split in _SPLITS:
            if not self.images[split]:
                failed = [m for s, _, m in self.failed if s == split]
                why = f" ({len(failed)} files could not be decoded, e.g. {failed[0]})" if failed else ""
                raise DatasetError(f"{self.where} has no readable images under {split}/{why}. {_HELP}")
        if len(class_names) < 2:
            raise DatasetError(f"{self.where} has {len(class_names)} class folder(s) {class_names}; "
                               f"zero-shot learning needs at least 2 classes. {_HELP}")
        index = {c: i for i, c in enumerate(class_names)}
        out = dict(name=name, class_names=class_names, warnings=tuple(self._warnings(class_names)))
        for split in _SPLITS:
            out[f"{split}_images"] = np.stack(self.images[split])
            out[f"{split}_labels"] = np.array([index[c] for c in self.classes[split]], dtype=np.int64)
            self.images[split] = []  # free the per-image list as soon as it is stacked
        return out

    def _warnings(self, class_names: list[str]) -> list[DatasetWarning]:
        warnings = []
        if self.failed:
            lost = Counter((s, c) for s, c, _ in self.failed)
            worst = sorted(lost, key=lambda k: (-lost[k], k))
            per_class = ", ".join(f"{s}/{c}: {lost[(s, c)]} of {self.files[(s, c)]}" for s, c in worst[:4])
            more = f", and {len(worst) - 4} more classes" if len(worst) > 4 else ""
            examples = [m for _, _, m in self.failed[:_EXAMPLES]]
            warnings.append(DatasetWarning(
                f"skipped {len(self.failed)} unreadable file(s) of {sum(self.files.values())} "
                f"({per_class}{more}), e.g. {examples[0]}",
                kind="skipped", count=len(self.failed), examples=examples))
        dropped = sorted({cls for _, cls in self.files} - set(class_names))
        if dropped:
            warnings.append(DatasetWarning(
                f"left out {len(dropped)} class(es) with no readable image: {', '.join(dropped[:10])}"
                f"{' ...' if len(dropped) > 10 else ''}", kind="no_images", count=len(dropped), examples=dropped))
        for split in _SPLITS:
            present = set(self.classes[split])
            missing = [c for c in class_names if c not in present]
            if missing:
                consequence = ("they can only be held out as unseen classes" if split == "train"
                               else "their accuracy cannot be measured, and AUSUC is undefined while one is held out")
                warnings.append(DatasetWarning(
                    f"no {split} images for {len(missing)} class(es): {', '.join(missing[:10])}"
                    f"{' ...' if len(missing) > 10 else ''}; {consequence}",
                    kind="no_images", count=len(missing), examples=missing, split=split))
        return warnings


def read_imagefolder_members(members: Iterable[Member], where: str, name: str) -> dict:
    """The dataset fields from an archive's members (``[prefix/]split/class/file`` names); nothing is kept
    unless the whole iteration finishes (a damaged archive raises before :meth:`_Collector.result`)."""
    collector = _Collector(where)
    for member in members:
        found = split_class(tuple(member.name.replace("\\", "/").split("/")))
        if not found:
            continue
        if member.data is None:
            collector.skip(*found, member.name, member.problem)
        else:
            collector.add(*found, member.name, member.data)
    return collector.result(name)


def read_imagefolder_tar(path: Path, progress: Progress) -> dict:
    members = iter_tar_files(path, progress, f"Decoding images in {path.name}")
    return read_imagefolder_members(members, str(path), strip_archive_suffix(path.name))


def imagefolder_root(folder: Path) -> Path | None:
    """The folder holding ``train/`` and ``test/``: ``folder`` itself or its only sub-folder."""
    if any((folder / s).is_dir() for s in _SPLITS):
        return folder
    subs = [p for p in folder.iterdir() if p.is_dir() and not p.name.startswith((".", "__MACOSX"))]
    if len(subs) == 1 and any((subs[0] / s).is_dir() for s in _SPLITS):
        return subs[0]
    return None


def list_imagefolder(root: Path) -> list[tuple[str, str, Path]]:
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


def read_imagefolder_dir(root: Path, progress: Progress) -> dict:
    missing = [s for s in _SPLITS if not (root / s).is_dir()]
    if missing:
        raise DatasetError(f"{root} has no {' or '.join(s + '/' for s in missing)} folder. {_HELP}")
    files = list_imagefolder(root)
    # Names are known before any decoding here: refuse bad ones before spending minutes on the images.
    _check_names({(split, folder) for split, folder, _ in files}, str(root))
    collector = _Collector(str(root))
    step = f"Decoding images in {root.name}"
    report(progress, step, 0, len(files))
    last = time.monotonic()
    for i, (split, folder, f) in enumerate(files, 1):
        # Messages name files relative to the dataset, so a shared app never shows the server's paths.
        collector.add(split, folder, f.relative_to(root).as_posix(), f)
        if time.monotonic() - last > 0.2:
            report(progress, step, i, len(files))
            last = time.monotonic()
    report(progress, step, len(files), len(files))
    return collector.result(root.name)
