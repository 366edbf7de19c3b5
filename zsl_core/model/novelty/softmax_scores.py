"""Novelty scores of the seen-class softmax: max probability, entropy, energy (input: raw logits).

A classifier that has learned the seen classes is less sure of an image of none of them; these scores read
that from its logits ``Wᵀz + b``. The logits must come from a softmax that did not see the images used to
calibrate the detector (the classifier keeps one fitted on the fitting part only for this), or the held-out
seen images look more familiar than test images will.

References
----------
D. Hendrycks, K. Gimpel. *A Baseline for Detecting Misclassified and Out-of-Distribution Examples in Neural
Networks.* ICLR 2017 (max softmax probability).
W. Liu, X. Wang, J. Owens, Y. Li. *Energy-based Out-of-distribution Detection.* NeurIPS 2020.
S. Vaze, K. Han, A. Vedaldi, A. Zisserman. *Open-Set Recognition: a Good Closed-Set Classifier is All You
Need?* ICLR 2022.
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp

from ..base import check_is_fitted
from ..persistence import register
from .base import _check_F, _ScoreDetector

__all__ = ["MaxSoftmaxDetector", "SoftmaxEntropyDetector", "EnergyDetector"]


class _LogitDetector(_ScoreDetector):
    """Reads the logits (n, S) of the seen softmax; nothing is estimated but the offset and the scale.

    Parameters
    ----------
    temperature : float, default 1
        ``T``: the scores read ``softmax(logits / T)``.
    contamination : float in [0, 1), default 0.1
        ``offset_`` flags this fraction of the fitting points as novel.

    Attributes
    ----------
    n_features_in_ : int
        Number of seen classes S.
    reference_scores_, reference_novelty_ : ndarray (n_fit,)
    offset_ : float
    """

    input = "logits"

    def __init__(self, temperature=1.0, contamination=0.1):
        self.temperature = temperature
        self.contamination = contamination

    def fit(self, logits, y=None):
        """Record the number of classes and the scores of the fitting rows.

        Parameters
        ----------
        logits : array-like of shape (n, S)
            Raw logits of held-out *seen* images, from a softmax that did not see them.
        y : ignored

        Returns
        -------
        self
        """
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0; got {self.temperature!r}")
        L = _check_F(logits, name="logits")
        if L.shape[1] < 2:
            raise ValueError("logits need at least 2 columns (seen classes)")
        self.n_features_in_ = L.shape[1]
        return self._finish_fit(self._score(L))

    def score_samples(self, logits) -> np.ndarray:
        """Higher = more familiar.

        Parameters
        ----------
        logits : array-like of shape (n, S)

        Returns
        -------
        ndarray of shape (n,)
        """
        check_is_fitted(self, "n_features_in_")
        return self._score(_check_F(logits, self.n_features_in_, name="logits"))

    def _log_softmax(self, L):
        Z = L / self.temperature
        return Z - logsumexp(Z, axis=1, keepdims=True)


@register
class MaxSoftmaxDetector(_LogitDetector):
    """Maximum softmax probability ``max_y softmax(z / T)_y`` (Hendrycks & Gimpel 2017): higher = familiar."""

    label = "Max softmax probability"
    description = "Novel when the seen-class softmax is unsure: its largest probability is low."

    def _score(self, L):
        return np.exp(self._log_softmax(L).max(1))


@register
class SoftmaxEntropyDetector(_LogitDetector):
    """Negative entropy of the seen softmax ``Σ_y p_y log p_y``: higher = more peaked = more familiar.

    Invariant to adding a constant to every logit of a row.
    """

    label = "Softmax entropy"
    description = "Novel when the seen-class softmax spreads its probability over many classes."

    def _score(self, L):
        lp = self._log_softmax(L)
        return (np.exp(lp) * lp).sum(1)


@register
class EnergyDetector(_LogitDetector):
    """Negative free energy ``T · logsumexp(z / T)`` of the *raw* logits (Liu et al. 2020): higher = familiar.

    Unlike the two probability scores it keeps the logits' scale: an image that excites no seen class at all
    has a low energy even when one class wins by a wide margin.
    """

    label = "Energy (logsumexp of the logits)"
    description = "Novel when the seen-class softmax's logits are all low (free energy, Liu et al. 2020)."

    def _score(self, L):
        return self.temperature * logsumexp(L / self.temperature, axis=1)
