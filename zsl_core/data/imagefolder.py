"""The image-folder layout: ``train/<class>/<image>`` and ``test/<class>/<image>``, as a folder or a tar."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ..cache import Progress, report
from .archives import iter_tar_files, strip_archive_suffix
from .errors import HELP as _HELP, SPLITS as _SPLITS, DatasetError
from .images import prepare_image

__all__ = ["read_imagefolder_tar", "read_imagefolder_dir", "imagefolder_root", "list_imagefolder", "split_class"]


def split_class(parts: tuple[str, ...]) -> tuple[str, str] | None:
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


def read_imagefolder_tar(path: Path, progress: Progress) -> dict:
    collector = _Collector(str(path))
    for member_name, raw in iter_tar_files(path, progress, f"Decoding images in {path.name}"):
        where = split_class(tuple(member_name.replace("\\", "/").split("/")))
        if where:
            collector.add(*where, member_name, raw)
    return collector.result(strip_archive_suffix(path.name))


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
