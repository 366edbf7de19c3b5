"""Computing a dataset's features once: the extractor registry, cache keys and :func:`compute_features`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..cache import Progress, cache_dir, load_arrays, make_key, report, save_arrays
from .base import FeatureExtractor
from .coates import CoatesFeatures
from .efficientnet import EfficientNetFeatures

__all__ = ["EXTRACTORS", "FeatureSet", "make_extractor", "feature_key", "compute_features"]

#: The registry of feature extractors: name -> class (each class carries its ``label`` and ``description``).
EXTRACTORS: dict[str, type[FeatureExtractor]] = {"coates": CoatesFeatures, "efficientnet": EfficientNetFeatures}



@dataclass
class FeatureSet:
    """Features of a dataset's train and test images, and the fitted extractor (to encode new photos).

    Attributes
    ----------
    extractor : FeatureExtractor
    X_train : np.ndarray, shape (n_train, d) float32
    X_test : np.ndarray, shape (n_test, d) float32
    key : str
        The cache key (changes whenever the dataset, extractor, a parameter or the code version does).
    """

    extractor: FeatureExtractor
    X_train: np.ndarray
    X_test: np.ndarray
    key: str


def make_extractor(name: str, params: dict | None = None) -> FeatureExtractor:
    """``EXTRACTORS[name](**params)`` with messages that list what is valid."""
    if name not in EXTRACTORS:
        raise ValueError(f"unknown feature extractor {name!r}; choose one of {sorted(EXTRACTORS)}")
    cls = EXTRACTORS[name]
    params = dict(params or {})
    unknown = set(params) - set(cls._param_names())
    if unknown:
        raise ValueError(f"unknown parameter(s) {sorted(unknown)} for {name!r}; valid: {cls._param_names()}")
    extractor = cls(**params)
    extractor._validate_params()
    return extractor


def feature_key(dataset_fingerprint: str, extractor: FeatureExtractor) -> str:
    """Cache key of a dataset's features: every parameter that changes the values, and the code version."""
    params = {k: v for k, v in extractor.get_params().items() if k not in extractor.execution_params}
    return make_key(dataset=dataset_fingerprint, extractor=extractor.name, params=params,
                    version=extractor.cache_version())


def compute_features(dataset, name: str = "efficientnet", params: dict | None = None, *, cache: bool = True,
                     progress: Progress = None) -> FeatureSet:
    """Fit an extractor on ``dataset.train_images`` and encode train and test images, with caching.

    Parameters
    ----------
    dataset : zsl_core.data.Dataset
        Uses ``train_images`` (n_train, 32, 32, 3), ``test_images`` and ``fingerprint``.
    name : {"coates", "efficientnet"}
    params : dict, optional
        Extractor parameters; missing ones take their defaults (the cache key uses the resolved set).
    cache : bool
        Read and write ``cache_dir()/features/<name>-<key>.npz``. A corrupt file is recomputed.
    progress : callable(step, done, total), optional
        Steps: "Loading cached features", or "Sampling patches", "Whitening patches", "Learning
        dictionary" (coates), "Encoding train images", "Encoding test images", "Saving features".

    Returns
    -------
    FeatureSet
    """
    extractor = make_extractor(name, params)
    key = feature_key(dataset.fingerprint, extractor)
    path = cache_dir() / "features" / f"{name}-{key}.npz"
    n_train, n_test = len(dataset.train_images), len(dataset.test_images)
    if cache:
        arrays = load_arrays(path)
        if arrays is not None:
            try:
                X_train, X_test = arrays.pop("X_train"), arrays.pop("X_test")
                if X_train.shape != (n_train, extractor.n_features) or X_test.shape != (n_test, extractor.n_features):
                    raise ValueError("cached features do not match the dataset")
                extractor.load_state({k[len("state."):]: v for k, v in arrays.items() if k.startswith("state.")})
                report(progress, "Loading cached features", 1, 1)
                return FeatureSet(extractor, X_train, X_test, key)
            except (KeyError, ValueError):
                pass  # an old or foreign file under our key: recompute and overwrite it

    def renamed(step: str) -> Progress:
        if progress is None:
            return None
        return lambda _step, done, total: progress(step, done, total)

    X_train = extractor.fit_transform(dataset.train_images,
                                      progress if name == "coates" else renamed("Encoding train images"))
    X_test = extractor.transform(dataset.test_images, renamed("Encoding test images"))
    if cache:
        report(progress, "Saving features", 0, 1)
        save_arrays(path, X_train=X_train, X_test=X_test,
                    **{f"state.{k}": v for k, v in extractor.state().items()})
        report(progress, "Saving features", 1, 1)
    return FeatureSet(extractor, X_train, X_test, key)
