"""The relative word-space score: the nearest unseen prototype against the nearest seen one.

The paper's Eq. 3 calls an image novel when its mapped point is far from every seen class — an absolute
density, so any unusual photo (a bird when no bird class exists) is called unseen and handed to whichever
unseen class is least far. A *relative* score asks instead which kind of class the mapped point is closer
to: with isotropic Gaussians of one shared variance ``σ²`` around the seen prototypes ``p_s`` and the unseen
prototypes ``p_u`` (the classifier's calibrated centres, built from word vectors only),

.. math:: \\text{score}(f) = \\max_s \\Big(-\\frac{\\lVert f - p_s\\rVert^2}{2σ^2}\\Big)
          - \\max_u \\Big(-\\frac{\\lVert f - p_u\\rVert^2}{2σ^2}\\Big)

(higher = more familiar): the log-likelihood ratio of the nearest seen against the nearest unseen
prototype. A threshold ``-γ`` on it is calibrated stacking (Chao et al. 2016): the most likely class over
seen and unseen prototypes after subtracting ``γ`` from every unseen class's score.

References
----------
W.-L. Chao, S. Changpinyo, B. Gong, F. Sha. *An Empirical Study and Analysis of Generalized Zero-Shot
Learning for Object Recognition in the Wild.* ECCV 2016.
"""

from __future__ import annotations

import numpy as np

from ..base import check_is_fitted
from ..persistence import register
from .base import _check_F, _check_labels, _ScoreDetector

__all__ = ["RelativeWordDetector"]


@register
class RelativeWordDetector(_ScoreDetector):
    """Likelihood ratio of the nearest seen and the nearest unseen prototype at ``f = θ(x)`` (see the module).

    Parameters
    ----------
    sigma2 : float or None, default None
        ``None``: the mean squared distance per dimension of the fitting points to their own class's seen
        prototype.
    contamination : float in [0, 1), default 0.1

    Attributes
    ----------
    seen_prototypes_ : ndarray (S, D)
    unseen_prototypes_ : ndarray (U, D)
    sigma2_ : float
    reference_scores_, reference_novelty_ : ndarray (n_fit,)
    offset_ : float
        ``-γ`` of calibrated stacking.
    n_features_in_ : int
    """

    input = "mapped"
    label = "Relative word score (seen vs unseen prototypes)"
    description = ("Novel when the mapped image lies nearer an unseen class's prototype than any seen one's "
                   "(calibrated stacking): an unusual photo near a seen class stays seen.")

    def __init__(self, sigma2=None, contamination=0.1):
        self.sigma2 = sigma2
        self.contamination = contamination

    def fit(self, F, y, *, seen_prototypes, unseen_prototypes):
        """Store the prototypes and estimate the shared variance.

        Parameters
        ----------
        F : array-like of shape (n, D)
            Mapped points of held-out seen images.
        y : array-like of shape (n,)
            Their seen classes ``0..S-1`` (rows of ``seen_prototypes``).
        seen_prototypes : array-like of shape (S, D)
        unseen_prototypes : array-like of shape (U, D)
            Built from the unseen classes' word vectors only, never from their images.

        Returns
        -------
        self
        """
        F = _check_F(F)
        Ps = _check_F(seen_prototypes, F.shape[1], "seen_prototypes")
        Pu = _check_F(unseen_prototypes, F.shape[1], "unseen_prototypes")
        if Ps.shape[0] < 1 or Pu.shape[0] < 1:
            raise ValueError("need at least one seen and one unseen prototype")
        y = _check_labels(y, F.shape[0], Ps.shape[0])
        if self.sigma2 is None:
            sigma2 = ((F - Ps[y]) ** 2).sum(1).mean() / F.shape[1] if F.shape[0] else 1.0
        else:
            if not self.sigma2 > 0:
                raise ValueError(f"sigma2 must be > 0; got {self.sigma2!r}")
            sigma2 = self.sigma2
        self.seen_prototypes_, self.unseen_prototypes_ = Ps, Pu
        self.sigma2_ = float(max(sigma2, 1e-12))
        self.n_features_in_ = F.shape[1]
        return self._finish_fit(self.score_samples(F))

    def class_scores(self, F):
        """``-||f - p||² / (2σ²)`` against the seen and the unseen prototypes: arrays (n, S) and (n, U)."""
        check_is_fitted(self, "sigma2_")
        F = _check_F(F, self.n_features_in_)

        def s(P):
            sq = (F ** 2).sum(1)[:, None] - 2 * F @ P.T + (P ** 2).sum(1)[None, :]
            return -np.maximum(sq, 0) / (2 * self.sigma2_)
        return s(self.seen_prototypes_), s(self.unseen_prototypes_)

    def score_samples(self, F) -> np.ndarray:
        """Nearest-seen minus nearest-unseen log-likelihood: higher = more familiar.

        Parameters
        ----------
        F : array-like of shape (n, D)

        Returns
        -------
        ndarray of shape (n,)
        """
        ss, su = self.class_scores(F)
        return ss.max(1) - su.max(1)
