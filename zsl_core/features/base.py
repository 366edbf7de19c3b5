"""What every feature extractor shares: the scikit-learn-like base class, input checks, throttled progress."""

from __future__ import annotations

import inspect
import time

import numpy as np

from ..cache import Progress, report

__all__ = ["FeatureExtractor", "FEATURES_VERSION", "Throttle", "check_images"]

#: Bump when a change to this module changes the features it computes (enters every cache key).
FEATURES_VERSION = "1"

#: Coates' per-patch contrast normalisation adds this to the patch variance (pixel values on 0-255).
CONTRAST_EPS = 10.0
#: Coates' standardisation of the final features adds this to each feature's variance.
STANDARDISE_EPS = 0.01


class Throttle:
    """Forward progress at most every ``interval`` seconds (and always at the end) so that a fast loop
    does not flood a UI with updates while a slow one still reports at least every ~0.5 s."""

    def __init__(self, progress: Progress, step: str, total: int, interval: float = 0.25):
        self.progress, self.step, self.total, self.interval = progress, step, total, interval
        self.last = -np.inf

    def __call__(self, done: int) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        if done >= self.total or now - self.last >= self.interval:
            self.last = now
            report(self.progress, self.step, done, self.total)


def check_images(images, min_size: int = 1) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(f"images must have shape (n, height, width, 3), got {images.shape}")
    if images.dtype != np.uint8:
        raise ValueError(f"images must be uint8 RGB (0-255), got dtype {images.dtype}")
    if images.shape[1] < min_size or images.shape[2] < min_size:
        raise ValueError(f"images of {images.shape[1]}x{images.shape[2]} pixels are smaller than the "
                         f"{min_size}x{min_size} patch size")
    return images


class FeatureExtractor:
    """Base class: sklearn-like, hyper-parameters in ``__init__``, learned state in attributes ending in ``_``.

    Subclasses implement ``fit``, ``transform``, ``state`` and ``load_state``; ``n_features`` gives the
    output dimension d.
    """

    name: str = ""
    #: Parameters that change only how fast features are computed, not their values (left out of cache keys).
    execution_params: tuple[str, ...] = ()

    @classmethod
    def _param_names(cls) -> list[str]:
        sig = inspect.signature(cls.__init__)
        return [p.name for p in sig.parameters.values() if p.name != "self"]

    def get_params(self) -> dict:
        """Every hyper-parameter, including defaults, as a JSON-serialisable dict."""
        return {name: getattr(self, name) for name in self._param_names()}

    def cache_version(self) -> str:
        """What besides the parameters determines the features (code version, pretrained weights)."""
        return FEATURES_VERSION

    def fit(self, images: np.ndarray, progress: Progress = None) -> "FeatureExtractor":
        return self

    def fit_transform(self, images: np.ndarray, progress: Progress = None) -> np.ndarray:
        """``fit(images).transform(images)``, in one pass where the extractor allows it."""
        return self.fit(images, progress).transform(images, progress)

    def transform(self, images: np.ndarray, progress: Progress = None) -> np.ndarray:
        raise NotImplementedError

    def state(self) -> dict[str, np.ndarray]:
        return {}

    def load_state(self, arrays: dict[str, np.ndarray]) -> "FeatureExtractor":
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"
