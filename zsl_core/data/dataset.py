"""The dataset type: 32×32 RGB images and integer labels, split into train and test, with a fingerprint."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field

import numpy as np

from .errors import SPLITS as _SPLITS, DatasetError, DatasetWarning

__all__ = ["Dataset"]


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
    warnings : tuple of DatasetWarning, default ()
        Problems met while loading that did not stop it, with counts and examples: image files that could
        not be decoded and were skipped (``kind="skipped"``), classes with no image in a split
        (``kind="no_images"``). Each is a one-line ``str``; plain strings given here become
        ``DatasetWarning(kind="other")``. Not part of the fingerprint.
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
        object.__setattr__(self, "warnings", tuple(w if isinstance(w, DatasetWarning) else DatasetWarning(str(w))
                                                   for w in self.warnings))
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
