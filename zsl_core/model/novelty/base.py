"""What every novelty detector shares: input checks, the contamination offset and the outlier API.

A detector reads one kind of input (its class attribute ``input``):

* ``'mapped'``: points ``f = θ(x)`` in word space (the paper's Gaussian and LoOP, the relative word score);
* ``'logits'``: raw logits ``Wᵀz + b`` of a seen-class softmax (max softmax, entropy, energy);
* ``'features'``: the raw image features (cosine kNN, relative Mahalanobis);
* ``'scores'``: the novelty scores of other detectors, one column each (the learned gate).

``fit`` takes that input of seen-class images, their seen-class labels ``y`` where the detector uses them,
and keyword-only context the classifier supplies (word vectors, prototypes); :func:`fit_detector` passes a
detector only the context its ``fit`` names, so every detector keeps a plain scikit-learn signature.
"""

from __future__ import annotations

import inspect
import math

import numpy as np
from scipy.special import erf

from ..base import check_is_fitted

__all__ = ["fit_detector", "INPUT_KINDS"]

#: The inputs a detector can read (see the module notes).
INPUT_KINDS = ("mapped", "logits", "features", "scores")


def _check_F(F, dim=None, name="F") -> np.ndarray:
    F = np.asarray(F, dtype=np.float64)
    if F.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n_points, dim); got shape {F.shape}")
    if dim is not None and F.shape[1] != dim:
        raise ValueError(f"{name} has {F.shape[1]} columns; the detector was fitted on {dim}-d points")
    if not np.isfinite(F).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return F


def _check_labels(y, n, n_classes=None) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"y must have shape ({n},), one label per row; got {y.shape}")
    if y.size and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0
                   or (n_classes is not None and y.max() >= n_classes)):
        raise ValueError("y must hold seen-class indices 0..S-1")
    return y.astype(np.int64)


def _contamination_offset(scores: np.ndarray, contamination) -> float:
    """Offset on ``score_samples`` that flags a ``contamination`` fraction of the fitting points."""
    if contamination == "auto" or contamination is None:
        return None
    if not 0 <= contamination < 1:
        raise ValueError(f"contamination must be in [0, 1) or 'auto'; got {contamination!r}")
    if contamination == 0:
        return float(scores.min()) - 1e-12
    return float(np.quantile(scores, contamination))


def fit_detector(detector, Z, y=None, **context):
    """``detector.fit(Z, y, **context)`` with only the context keywords its ``fit`` accepts."""
    names = inspect.signature(detector.fit).parameters
    return detector.fit(Z, y, **{k: v for k, v in context.items() if k in names})


class _DetectorMixin:
    """``decision_function``, ``predict`` and ``novelty_probability`` from ``score_samples`` / ``offset_``."""

    #: Which input the detector reads (see the module notes).
    input = "mapped"
    #: One of the paper's detectors (Socher et al. 2013) rather than an addition of this project.
    paper = False

    def decision_function(self, F) -> np.ndarray:
        """``score_samples(F) - offset_``: negative = novel.

        Parameters
        ----------
        F : array-like of shape (n, ·)

        Returns
        -------
        ndarray of shape (n,)
        """
        return self.score_samples(F) - self.offset_

    def predict(self, F) -> np.ndarray:
        """+1 for familiar (``decision_function >= 0``), -1 for novel.

        Parameters
        ----------
        F : array-like of shape (n, ·)

        Returns
        -------
        ndarray of shape (n,), int64
        """
        return np.where(self.decision_function(F) >= 0, 1, -1).astype(np.int64)

    def novelty_probability(self, F) -> np.ndarray:
        """The (LoOP or LoOP-style) probability of being novel, in [0, 1] (see the class notes).

        Parameters
        ----------
        F : array-like of shape (n, ·)

        Returns
        -------
        ndarray of shape (n,)
        """
        return np.clip(self._erf_score(F), 0.0, 1.0)


class _ScoreDetector(_DetectorMixin):
    """Base of the added detectors: ``novelty_score = -score_samples``, and a LoOP-style probability.

    Subclasses implement ``_fit(Z, y, **context)`` (returning the scores of the points that calibrate the
    offset and the probability) and ``_score(Z)`` on a checked input.
    """

    def novelty_score(self, Z) -> np.ndarray:
        """``-score_samples(Z)``: higher = more novel (the scale the model's threshold lives on).

        Parameters
        ----------
        Z : array-like of shape (n, ·)

        Returns
        -------
        ndarray of shape (n,)
        """
        return -self.score_samples(Z)

    def _finish_fit(self, reference_scores):
        """Store the fitting points' scores, the contamination offset and the probability's scale."""
        ref = np.asarray(reference_scores, dtype=np.float64)
        self.reference_scores_ = ref
        self.reference_novelty_ = -ref
        self.ref_mean_ = float(self.reference_novelty_.mean()) if ref.size else 0.0
        self.ref_rms_ = float(max(np.sqrt(np.mean((self.reference_novelty_ - self.ref_mean_) ** 2)), 1e-12)
                              if ref.size else 1.0)
        off = _contamination_offset(ref, self.contamination) if ref.size else None
        self.offset_ = off if off is not None else (float(np.quantile(ref, 0.1)) if ref.size else -np.inf)
        return self

    def calibrate(self, Z):
        """Set ``offset_`` and the probability's scale on held-out seen points ``Z`` (instead of the fitting
        points): for detectors whose fitting points score in-sample (a kNN reference, Gaussian moments)."""
        check_is_fitted(self, "n_features_in_")
        return self._finish_fit(self.score_samples(Z))

    def _erf_score(self, Z):
        # LoOP's normalisation (Kriegel et al. 2009) of the novelty score, as for the paper's Gaussian:
        # ≈0 for typical seen points, →1 far beyond them. λ = 3 as LoOP's default.
        z = (self.novelty_score(Z) - self.ref_mean_) / (3.0 * self.ref_rms_)
        return erf(z / math.sqrt(2))
