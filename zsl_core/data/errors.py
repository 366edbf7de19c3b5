"""What every part of the data package shares: the user-facing error and the help text on layouts."""

from __future__ import annotations

__all__ = ["DatasetError", "ChecksumError", "HELP", "SPLITS", "CIFAR10_ARCHIVE", "BATCHES_DIR"]

CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
BATCHES_DIR = "cifar-10-batches-py"
SPLITS = ("train", "test")
HELP = (
    "To use a local copy, pass its path (--data PATH on the command line, the data field in the app) or set "
    "ZSL_DATA_DIR to the folder that holds it. Accepted layouts: the official CIFAR-10 python archive "
    f"{CIFAR10_ARCHIVE} or its extracted {BATCHES_DIR}/ folder; or an image-folder tree with "
    "train/<class>/<image> and test/<class>/<image> (any format Pillow reads), as a folder, .tar or .tar.gz."
)


class DatasetError(Exception):
    """A dataset or image could not be found, downloaded, verified or read; the message says what to do."""


class ChecksumError(DatasetError):
    """An official archive on disk failed its MD5 check (lets ``load_dataset`` replace its own download)."""
