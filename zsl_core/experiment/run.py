"""A trained model with its test scores (:class:`Run`), and :func:`train`, which makes one."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from ..cache import Progress, make_key
from .config import Config
from .stages import MODEL_VERSION, check_dataset, fit_model, load_data, load_features, load_statistics

__all__ = ["Run", "train"]




@dataclass
class Run:
    """A trained model with its test-set scores: everything the app's pages and the report read.

    Attributes
    ----------
    config : Config
    dataset : zsl_core.data.Dataset
    features : zsl_core.features.FeatureSet
    model : zsl_core.model.ZeroShotClassifier
    scores : zsl_core.model.ZSLScores
        Of the test images, computed once; every threshold's figures follow from them.
    timings : dict[str, float]
        Seconds per stage of :func:`train`.
    statistics : ClassStatistics or None
        Of the training features (the all-pairs matrix reuses them).
    """

    config: Config
    dataset: Any
    features: Any
    model: Any
    scores: Any
    timings: dict = field(default_factory=dict)
    statistics: Any = None

    # -- who is who ----------------------------------------------------------------------------------------
    @property
    def class_names(self) -> list[str]:
        return list(self.model.class_names_)

    @property
    def y_test(self) -> np.ndarray:
        return np.asarray(self.dataset.test_labels)

    @property
    def seen(self) -> np.ndarray:
        return np.asarray(self.model.seen_)

    @property
    def unseen(self) -> np.ndarray:
        return np.asarray(self.model.unseen_)

    @property
    def seen_names(self) -> list[str]:
        return [self.class_names[i] for i in self.seen]

    @property
    def unseen_names(self) -> list[str]:
        return [self.class_names[i] for i in self.unseen]

    @cached_property
    def key(self) -> str:
        """Identifies the model (its features, settings and code), e.g. for caches of derived figures."""
        return make_key(features=self.features.key, config=self.config.to_dict(), version=MODEL_VERSION)

    # -- the threshold -------------------------------------------------------------------------------------
    @property
    def threshold(self) -> float:
        """The model's own threshold (chosen on seen-class validation images, never on test images)."""
        return float(self.model.threshold_)

    def resolve(self, threshold: float | None) -> float:
        return self.threshold if threshold is None else float(threshold)

    def threshold_for_share(self, share: float) -> float:
        """The cutoff that calls ``share`` of the test images novel (see ``evaluation.threshold_for_share``)."""
        from ..evaluation import threshold_for_share

        return threshold_for_share(self.scores.novelty, share)

    def share_for_threshold(self, threshold: float | None = None) -> float:
        """Share of the test images called novel at ``threshold``."""
        from ..evaluation import share_for_threshold

        return share_for_threshold(self.scores.novelty, self.resolve(threshold))

    # -- figures -------------------------------------------------------------------------------------------
    @cached_property
    def sweep(self) -> dict[str, np.ndarray]:
        """``evaluation.threshold_sweep`` over every threshold of the test scores (computed once)."""
        from ..evaluation import threshold_sweep

        return threshold_sweep(self.scores, self.y_test, self.seen, self.unseen)

    def at_threshold(self, threshold: float | None = None) -> dict[str, float]:
        """Seen / unseen / overall accuracy, H and the share called novel at one threshold (test split)."""
        from ..evaluation import threshold_sweep

        row = threshold_sweep(self.scores, self.y_test, self.seen, self.unseen,
                              thresholds=np.array([self.resolve(threshold)]))
        return {k: float(np.asarray(v)[0]) for k, v in row.items()}

    def predictions(self, threshold: float | None = None) -> np.ndarray:
        """Predicted class of every test image through Eq. 2 at ``threshold``."""
        return np.asarray(self.model.predict_from_scores(self.scores, self.resolve(threshold)))

    def confusion(self, threshold: float | None = None) -> np.ndarray:
        """Confusion counts (row = true class, column = predicted) of the test images at ``threshold``."""
        from ..evaluation import confusion_matrix

        return confusion_matrix(self.y_test, self.predictions(threshold), len(self.class_names))


def train(config: Config, progress: Progress = None, *, dataset=None, features=None, statistics=None,
          words=None, cache: bool = True, like=None) -> Run:
    """Run the experiment of ``config``: every stage, reusing the ones passed in (already computed).

    Parameters
    ----------
    config : Config
    progress : callable(step, done, total) or None
    dataset, features, statistics, words : optional
        Stages computed earlier for the same config (the app passes its cached ones).
    cache : bool
        Read / write the fitted model in the cache.
    like : ZeroShotClassifier or None
        A model of the same features, held-out classes, map and softmax settings (e.g. another novelty
        detector) whose map and softmax are reused instead of refitted.

    Returns
    -------
    Run
    """
    timings = {}
    t = time.perf_counter()
    dataset = dataset if dataset is not None else load_data(config, progress)
    check_dataset(config, dataset)  # labels only: an impossible setting costs no feature computation
    timings["data_s"] = time.perf_counter() - t
    t = time.perf_counter()
    features = features if features is not None else load_features(config, dataset, progress)
    timings["features_s"] = time.perf_counter() - t
    t = time.perf_counter()
    if statistics is None and config.mapping == "linear":
        statistics = load_statistics(features, dataset, config.seed, progress)
    timings["statistics_s"] = time.perf_counter() - t
    t = time.perf_counter()
    model = fit_model(config, dataset, features, statistics, words, progress, cache=cache, like=like)
    timings["fit_s"] = time.perf_counter() - t
    t = time.perf_counter()
    scores = model.decompose(features.X_test)
    timings["scores_s"] = time.perf_counter() - t
    return Run(config, dataset, features, model, scores, timings, statistics)
