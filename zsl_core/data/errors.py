"""What every part of the data package shares: the user-facing error and warning, and the help on layouts."""

from __future__ import annotations

__all__ = ["DatasetError", "ChecksumError", "DatasetWarning", "HELP", "SPLITS", "CIFAR10_ARCHIVE", "BATCHES_DIR"]

CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
BATCHES_DIR = "cifar-10-batches-py"
SPLITS = ("train", "test")
HELP = (
    "To use a local copy, pass its path (--data PATH on the command line, the data field in the app) or set "
    "ZSL_DATA_DIR to the folder that holds it. Accepted layouts: the official CIFAR-10 python archive "
    f"{CIFAR10_ARCHIVE} or its extracted {BATCHES_DIR}/ folder; or an image-folder tree with "
    "train/<class>/<image> and test/<class>/<image> (JPEG, PNG, WebP, GIF or BMP images), as a folder, .tar or .tar.gz."
)


class DatasetError(Exception):
    """A dataset or image could not be found, downloaded, verified or read; the message says what to do."""


class ChecksumError(DatasetError):
    """An official archive on disk failed its MD5 check (lets ``load_dataset`` replace its own download)."""


class DatasetWarning(str):
    """A problem met while loading that did not stop it; the string itself is the one-line message.

    Being a ``str``, it prints, joins and compares like the plain messages ``Dataset.warnings`` always held;
    the attributes give the same facts for a table or a count in the app.

    Attributes
    ----------
    kind : str
        ``"skipped"`` (files that could not be decoded or were too large), ``"no_images"`` (classes with
        no image in one split) or ``"other"``.
    count : int
        How many files (``"skipped"``) or classes (``"no_images"``) are concerned.
    examples : tuple of str
        A few of them: the skipped files' messages, or the class names.
    split : str
        ``"train"``, ``"test"`` or ``""`` when it concerns both.
    """

    def __new__(cls, message: str, kind: str = "other", count: int = 0, examples=(), split: str = ""):
        self = super().__new__(cls, message)
        self.kind = str(kind)
        self.count = int(count)
        self.examples = tuple(str(e) for e in examples)
        self.split = str(split)
        return self

    def __reduce__(self):  # pickling (st.cache_data, multiprocessing) keeps the attributes
        return (DatasetWarning, (str(self), self.kind, self.count, self.examples, self.split))

    def to_dict(self) -> dict:
        return {"message": str(self), "kind": self.kind, "count": self.count, "examples": list(self.examples),
                "split": self.split}

    @classmethod
    def from_dict(cls, d: dict) -> "DatasetWarning":
        return cls(d["message"], d.get("kind", "other"), d.get("count", 0), d.get("examples", ()), d.get("split", ""))
