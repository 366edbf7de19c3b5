"""Datasets: CIFAR-10 in its official python layout or any image-folder tree, downloaded, verified, decoded.

Two on-disk layouts are understood (see :func:`load_dataset`):

* the **official python layout** of CIFAR-10 — ``cifar-10-python.tar.gz`` or its extracted
  ``cifar-10-batches-py/`` folder (``data_batch_1`` … ``data_batch_5``, ``test_batch``, ``batches.meta``);
* the **image-folder layout** — a folder, ``.tar`` or ``.tar.gz`` holding ``train/<class>/<image>`` and
  ``test/<class>/<image>`` (optionally under one top-level folder).

Every image is brought to 32×32 RGB ``uint8`` (the paper's CIFAR-10 resolution).

| module | concept |
| --- | --- |
| ``dataset`` | the :class:`Dataset` type (arrays, fingerprint, stratified subsets) |
| ``images`` | :func:`prepare_image`: one upload / photo / file → 32×32 RGB, safely |
| ``archives`` | streaming tar and ZIP members (verified, bounded), :func:`safe_extract` |
| ``cifar10`` | the official layout: verified download, restricted unpickling |
| ``imagefolder`` | the image-folder layout |
| ``loader`` | :func:`load_dataset`: layout detection and the decoded-array cache |
| ``serving`` | a shared server: :func:`check_allowed_path`, :func:`load_uploaded_dataset` |

References
----------
Krizhevsky, A. (2009). Learning multiple layers of features from tiny images. (CIFAR-10)
"""

from .archives import safe_extract
from .cifar10 import CIFAR10_MD5, CIFAR10_URL, download_cifar10
from .dataset import Dataset
from .errors import CIFAR10_ARCHIVE, DatasetError, DatasetWarning
from .images import EXTENSIONS, FORMATS, MAX_BYTES, MAX_PIXELS, ImageSource, describe_preparation, prepare_image
from .loader import default_data_dir, load_dataset
from .serving import ALLOWED_DIRS_ENV, check_allowed_path, load_uploaded_dataset, public_message

__all__ = ["CIFAR10_URL", "CIFAR10_MD5", "CIFAR10_ARCHIVE", "EXTENSIONS", "FORMATS", "MAX_BYTES", "MAX_PIXELS",
           "ALLOWED_DIRS_ENV", "DatasetError", "DatasetWarning", "Dataset", "ImageSource", "default_data_dir",
           "load_dataset", "load_uploaded_dataset", "check_allowed_path", "public_message", "download_cifar10", "prepare_image",
           "describe_preparation",
           "safe_extract"]
