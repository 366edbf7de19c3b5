"""The paper's novelty detectors in word space (Socher et al. 2013, Sec. 5): Eq. 3 Gaussians and LoOP.

Both share the detectors' API (scikit-learn outlier-detector style):

``fit(F, y=None, centers=None)``
    ``F`` (n, D): mapped points of *seen* classes (best: of held-out validation images, see below),
    ``y`` (n,): their seen-class labels ``0..S-1``, ``centers`` (S, D): the seen classes' word vectors.
``score_samples(F)``
    higher = more familiar.
``novelty_score(F)``
    higher = more novel (the scale the model's threshold lives on).
``novelty_probability(F)``
    in [0, 1]; ``P(V = unseen | x)`` for the mixture gate of Eq. 2.
``decision_function(F) = score_samples(F) - offset_`` and ``predict(F)`` (+1 familiar, -1 novel).

The threshold slider only moves ``offset_`` (or the model's ``threshold_``): nothing is refitted.

Calibration. Mapped *training* points sit closer to their word vectors than mapped test points because the
mapping has fitted them, so a variance estimated on them is too small and the detector calls too much novel.
Fit the detectors on mapped points of validation images that the mapping was not fitted on (what
:class:`zsl_core.model.ZeroShotClassifier` does by default).

References
----------
R. Socher et al. *Zero-Shot Learning Through Cross-Modal Transfer.* NIPS 2013 (Eq. 3).
H.-P. Kriegel, P. Kröger, E. Schubert, A. Zimek. *LoOP: Local Outlier Probabilities.* CIKM 2009.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.special import erf, logsumexp

from ..base import check_is_fitted as _check_fitted
from ..persistence import register
from .base import _DetectorMixin, _check_F, _contamination_offset

__all__ = ["GaussianNoveltyDetector", "LoOPNoveltyDetector", "knn"]


@register
class GaussianNoveltyDetector(_DetectorMixin):
    """Isometric Gaussians around the seen classes' word vectors (Socher et al. 2013, Eq. 3).

    The marginal likelihood of a mapped point ``f`` is

    .. math:: p(f) = \\sum_{y \\in Y_s} P(y)\\, \\mathcal N(f;\\, w_y, σ_y^2 I),

    with ``σ_y^2 = mean_i ||f_i - w_y||^2 / D`` over the fitting points of class ``y`` (maximum likelihood for
    a fixed centre) and ``P(y)`` the class frequencies of the fitting points. The paper calls ``f`` novel when
    ``p(f)`` is below a threshold.

    Parameters
    ----------
    centers : {'word', 'centroid'}, default 'word'
        ``'word'`` (the paper): Gaussians centred on the class word vectors. ``'centroid'``: centred on the mean
        of the fitting points of each class (absorbs a systematic bias of the mapping, e.g. ridge shrinkage).
    shared_variance : bool, default False
        One ``σ^2`` pooled over classes instead of one per class.
    priors : {'empirical', 'uniform'}, default 'empirical'
    lambda_ : float, default 3
        Width of the LoOP-style probability (see :meth:`novelty_score`).
    contamination : float in [0, 1), default 0.1
        ``offset_`` flags this fraction of the fitting points as novel. Move ``offset_`` freely afterwards.

    Attributes
    ----------
    means_ : ndarray (S, D)
    sigma2_ : ndarray (S,)
    log_prior_ : ndarray (S,)
    offset_ : float
        Threshold on :meth:`score_samples` (novel iff ``score_samples < offset_``).
    reference_scores_, reference_novelty_ : ndarray (n_fit,)
        ``score_samples`` and ``novelty_score`` of the fitting points.
    ref_mean_, ref_rms_ : float
        Mean of ``-log p`` over the fitting points and the RMS deviation from it (for the probability).

    Notes
    -----
    ``score_samples`` = ``log p(f)`` and ``novelty_score`` = ``-log p(f)`` (unbounded, so a threshold sweep
    keeps its resolution among very novel points). :meth:`novelty_probability`, the weight of the unseen
    branch in the mixture gate, applies LoOP's normalisation (Kriegel et al. 2009) to ``-log p(f)``:
    ``max(0, erf(z / √2))`` with ``z = (-log p(f) - ref_mean_) / (lambda_ * ref_rms_)`` — ≈0 for typical
    seen points, →1 far outside every Gaussian, and increasing in ``-log p(f)``.
    """

    #: Shown in the app and the command line's help.
    label = 'Isometric Gaussians (paper, Eq. 3)'
    paper = True
    description = ("The paper's Eq. 3: novel when the mapped image is unlikely under Gaussians around the seen classes' word vectors.")

    def __init__(self, centers="word", shared_variance=False, priors="empirical", lambda_=3.0,
                 contamination=0.1):
        self.centers = centers
        self.shared_variance = shared_variance
        self.priors = priors
        self.lambda_ = lambda_
        self.contamination = contamination

    def fit(self, F, y, centers) -> "GaussianNoveltyDetector":
        """Estimate the class variances (and, with ``centers='centroid'``, means).

        Parameters
        ----------
        F : array-like of shape (n, D)
            Mapped points of seen classes.
        y : array-like of shape (n,)
            Seen-class labels in ``0..S-1``.
        centers : array-like of shape (S, D)
            The seen classes' word vectors.

        Returns
        -------
        self
        """
        F = _check_F(F)
        centers = np.asarray(centers, dtype=np.float64)
        if centers.ndim != 2 or centers.shape[1] != F.shape[1]:
            raise ValueError(f"centers must have shape (S, {F.shape[1]}); got {centers.shape}")
        y = np.asarray(y)
        if y.shape != (F.shape[0],):
            raise ValueError(f"y must have shape ({F.shape[0]},) to match F; got {y.shape}")
        S = centers.shape[0]
        if not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= S:
            raise ValueError(f"y must hold integer labels in 0..{S - 1} (one per row of centers)")
        counts = np.bincount(y, minlength=S)
        if (counts == 0).any():
            missing = np.flatnonzero(counts == 0).tolist()
            raise ValueError(f"every class needs at least one fitting point; none for classes {missing}")
        if self.centers not in ("word", "centroid"):
            raise ValueError(f"centers must be 'word' or 'centroid'; got {self.centers!r}")
        if self.priors not in ("empirical", "uniform"):
            raise ValueError(f"priors must be 'empirical' or 'uniform'; got {self.priors!r}")
        if not self.lambda_ > 0:
            raise ValueError(f"lambda_ must be > 0; got {self.lambda_!r}")
        D = F.shape[1]
        if self.centers == "word":
            means = centers.copy()
        else:
            means = np.zeros_like(centers)
            np.add.at(means, y, F)
            means /= counts[:, None]
        sq = ((F - means[y]) ** 2).sum(1)
        if self.shared_variance:
            sigma2 = np.full(S, sq.sum() / (F.shape[0] * D))
        else:
            sigma2 = np.bincount(y, weights=sq, minlength=S) / (counts * D)
        # A class whose points all sit on its centre would give σ=0 and an infinite density.
        floor = max(1e-12, 1e-6 * float(np.mean(sigma2)))
        self.means_ = means
        self.sigma2_ = np.maximum(sigma2, floor)
        prior = counts / counts.sum() if self.priors == "empirical" else np.full(S, 1.0 / S)
        self.log_prior_ = np.log(prior)
        self.n_features_in_ = D
        self.reference_scores_ = self.score_samples(F)
        self.reference_novelty_ = -self.reference_scores_
        nll = -self.reference_scores_
        self.ref_mean_ = float(nll.mean())
        self.ref_rms_ = float(max(np.sqrt(np.mean((nll - self.ref_mean_) ** 2)), 1e-12))
        off = _contamination_offset(self.reference_scores_, self.contamination)
        self.offset_ = off if off is not None else float(np.quantile(self.reference_scores_, 0.1))
        return self

    def class_log_likelihood(self, F) -> np.ndarray:
        """``log P(y) + log N(f; μ_y, σ_y² I)`` for every point and seen class.

        Parameters
        ----------
        F : array-like of shape (n, D)

        Returns
        -------
        ndarray of shape (n, S)
        """
        _check_fitted(self, "means_")
        F = _check_F(F, self.n_features_in_)
        D = self.n_features_in_
        sq = (F ** 2).sum(1)[:, None] - 2 * F @ self.means_.T + (self.means_ ** 2).sum(1)[None, :]
        sq = np.maximum(sq, 0)
        return (self.log_prior_[None, :] - 0.5 * D * np.log(2 * np.pi * self.sigma2_)[None, :]
                - sq / (2 * self.sigma2_[None, :]))

    def score_samples(self, F) -> np.ndarray:
        """Log marginal likelihood ``log p(f)`` (Eq. 3): higher = more familiar.

        Parameters
        ----------
        F : array-like of shape (n, D)

        Returns
        -------
        ndarray of shape (n,)
        """
        return logsumexp(self.class_log_likelihood(F), axis=1)

    def neg_log_likelihood(self, F) -> np.ndarray:
        """``-log p(f)``, shape (n,)."""
        return -self.score_samples(F)

    def _erf_score(self, F):
        z = (self.neg_log_likelihood(F) - self.ref_mean_) / (self.lambda_ * self.ref_rms_)
        return erf(z / math.sqrt(2))

    def novelty_score(self, F) -> np.ndarray:
        """``-log p(f)``: higher = more novel (the paper's threshold is on this, Eq. 3).

        Parameters
        ----------
        F : array-like of shape (n, D)

        Returns
        -------
        ndarray of shape (n,)
        """
        return self.neg_log_likelihood(F)


# -- k nearest neighbours ----------------------------------------------------------------------------------
def knn(queries: np.ndarray, reference: np.ndarray, k: int, exclude_self: bool = False,
        chunk_size: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours (Euclidean) with torch's chunked ``cdist`` + ``topk``.

    Parameters
    ----------
    queries : ndarray of shape (q, D)
    reference : ndarray of shape (r, D)
    k : int
    exclude_self : bool
        ``queries`` *is* ``reference``: a point is not its own neighbour (excluded by index, so exact
        duplicates still count as neighbours of each other).
    chunk_size : int
        Query rows per chunk (memory ``chunk_size × r`` floats).

    Returns
    -------
    dist : ndarray of shape (q, k), float64, ascending
    index : ndarray of shape (q, k), int64
    """
    Q = torch.from_numpy(np.ascontiguousarray(queries, dtype=np.float32))
    R = torch.from_numpy(np.ascontiguousarray(reference, dtype=np.float32))
    Q64 = torch.from_numpy(np.ascontiguousarray(queries, dtype=np.float64))
    R64 = torch.from_numpy(np.ascontiguousarray(reference, dtype=np.float64))
    # Centre on the reference mean: squared norms stay small, so the float32 expansion below loses little.
    centre = R.mean(0)
    Q, R = Q - centre, R - centre
    r_sq = (R * R).sum(1)
    kk = min(k + 2, R.shape[0])
    dists, idxs = [], []
    for start in range(0, Q.shape[0], chunk_size):
        q = Q[start:start + chunk_size]
        # ||q||² - 2 q·r + ||r||² in float32 (one BLAS call) only *selects* k + 2 candidates; their exact
        # distances are recomputed in float64 below, so float32 rounding can only reorder near-ties.
        d2 = torch.addmm(r_sq[None, :], q, R.T, alpha=-2.0)
        if exclude_self:
            rows = torch.arange(q.shape[0])
            d2[rows, rows + start] = float("inf")
        _, idx = torch.topk(d2, kk, dim=1, largest=False, sorted=False)
        exact = ((Q64[start:start + chunk_size, None, :] - R64[idx]) ** 2).sum(2)
        if exclude_self:
            exact[idx == (torch.arange(q.shape[0])[:, None] + start)] = float("inf")
        order = torch.argsort(exact, dim=1, stable=True)[:, :k]
        dists.append(torch.gather(exact, 1, order).sqrt())
        idxs.append(torch.gather(idx, 1, order))
    return torch.cat(dists).numpy(), torch.cat(idxs).numpy().astype(np.int64)


@register
class LoOPNoveltyDetector(_DetectorMixin):
    """Local Outlier Probabilities (Kriegel et al. 2009) over reference points of the seen classes.

    For a point ``o`` with context set ``S(o)`` (its ``k`` nearest reference points):

    * probabilistic set distance ``pdist(o) = λ · sqrt(Σ_{s∈S(o)} d(o, s)² / k)``,
    * ``PLOF(o) = pdist(o) / mean_{s∈S(o)} pdist(s) - 1``,
    * ``nPLOF = λ · sqrt(mean over reference points of PLOF²)``,
    * ``LoOP(o) = max(0, erf(PLOF(o) / (nPLOF · √2)))``.

    Reference points use their ``k`` nearest *other* reference points; a query uses its ``k`` nearest
    reference points.

    Parameters
    ----------
    n_neighbors : int, default 20
        ``k`` (the paper uses 20).
    lambda_ : float, default 3
        ``λ`` (the paper uses 3).
    max_reference : int or None, default 20000
        At most this many fitting points are kept as the reference set (a seeded random subsample). Exact
        kNN over the reference costs ``O(n · max_reference)``; 20,000 keeps a 40k-point fit to a few seconds
        on two cores while leaving thousands of points per class. ``None`` keeps all.
    contamination : float in [0, 1), default 0.1
        ``offset_`` flags this fraction of the reference points.
    random_state : int, default 0
    chunk_size : int, default 1024

    Attributes
    ----------
    reference_ : ndarray (r, D)
    reference_pdist_ : ndarray (r,)
    reference_plof_ : ndarray (r,)
    nplof_ : float
    reference_scores_, reference_novelty_ : ndarray (r,)
        ``score_samples`` and ``novelty_score`` of the reference points (leave-one-out: each point's
        neighbours are the *other* reference points).
    offset_ : float

    Notes
    -----
    ``score_samples`` = ``-PLOF / (nPLOF·√2)`` (continuous, higher = familiar); ``novelty_score`` =
    ``erf(PLOF / (nPLOF·√2))`` in (-1, 1) — the LoOP probability *before* it is clipped at 0, so thresholds
    in [0, 1) are thresholds on the LoOP probability while points with LoOP = 0 keep their order;
    ``novelty_probability`` = LoOP itself. ``y`` and ``centers`` are accepted by :meth:`fit` for API symmetry
    with :class:`GaussianNoveltyDetector` and ignored.
    """

    #: Shown in the app and the command line's help.
    label = 'LoOP (paper)'
    paper = True
    description = ('Local outlier probabilities (k = 20, λ = 3) of the mapped image among mapped seen images.')

    def __init__(self, n_neighbors=20, lambda_=3.0, max_reference=20000, contamination=0.1, random_state=0,
                 chunk_size=1024):
        self.n_neighbors = n_neighbors
        self.lambda_ = lambda_
        self.max_reference = max_reference
        self.contamination = contamination
        self.random_state = random_state
        self.chunk_size = chunk_size

    def fit(self, F, y=None, centers=None) -> "LoOPNoveltyDetector":
        """Store the reference set and its neighbourhood statistics.

        Parameters
        ----------
        F : array-like of shape (n, D)
            Mapped points of seen classes.
        y, centers : ignored

        Returns
        -------
        self
        """
        F = _check_F(F)
        k = self.n_neighbors
        if not (isinstance(k, (int, np.integer)) and k >= 1):
            raise ValueError(f"n_neighbors must be a positive integer; got {k!r}")
        if not self.lambda_ > 0:
            raise ValueError(f"lambda_ must be > 0; got {self.lambda_!r}")
        if self.max_reference is not None and self.max_reference < k + 1:
            raise ValueError(f"max_reference must be at least n_neighbors + 1 = {k + 1}")
        if F.shape[0] < k + 1:
            raise ValueError(f"LoOP with n_neighbors={k} needs at least {k + 1} fitting points; got {F.shape[0]}."
                             " Lower n_neighbors or pass more points")
        if self.max_reference is not None and F.shape[0] > self.max_reference:
            rng = np.random.default_rng(self.random_state)
            F = F[np.sort(rng.choice(F.shape[0], size=int(self.max_reference), replace=False))]
        dist, idx = knn(F, F, k, exclude_self=True, chunk_size=self.chunk_size)
        pdist = self.lambda_ * np.sqrt((dist ** 2).mean(1))
        plof = self._plof(pdist, idx, pdist)
        self.reference_ = F
        self.reference_pdist_ = pdist
        self.reference_plof_ = plof
        self.nplof_ = float(max(self.lambda_ * np.sqrt(np.mean(plof ** 2)), 1e-12))
        self.n_features_in_ = F.shape[1]
        self.reference_scores_ = -plof / (self.nplof_ * math.sqrt(2))
        self.reference_novelty_ = erf(-self.reference_scores_)
        off = _contamination_offset(self.reference_scores_, self.contamination)
        self.offset_ = off if off is not None else float(np.quantile(self.reference_scores_, 0.1))
        return self

    @staticmethod
    def _plof(pdist_o, idx, pdist_ref):
        expected = pdist_ref[idx].mean(1)
        # Duplicate points give pdist 0; their PLOF is 0 when the neighbours are duplicates too.
        with np.errstate(divide="ignore", invalid="ignore"):
            plof = np.where(expected > 0, pdist_o / np.where(expected > 0, expected, 1) - 1,
                            np.where(pdist_o > 0, np.inf, 0.0))
        return plof

    def plof(self, F) -> np.ndarray:
        """PLOF of query points against the reference set, shape (n,)."""
        _check_fitted(self, "reference_")
        F = _check_F(F, self.n_features_in_)
        dist, idx = knn(F, self.reference_, self.n_neighbors, chunk_size=self.chunk_size)
        pdist = self.lambda_ * np.sqrt((dist ** 2).mean(1))
        return self._plof(pdist, idx, self.reference_pdist_)

    def score_samples(self, F) -> np.ndarray:
        """``-PLOF / (nPLOF·√2)``: higher = more familiar.

        Parameters
        ----------
        F : array-like of shape (n, D)

        Returns
        -------
        ndarray of shape (n,)
        """
        return -self.plof(F) / (self.nplof_ * math.sqrt(2))

    def _erf_score(self, F):
        return erf(-self.score_samples(F))

    def novelty_score(self, F) -> np.ndarray:
        """``erf(PLOF / (nPLOF·√2))`` in (-1, 1); its positive part is the LoOP probability.

        Parameters
        ----------
        F : array-like of shape (n, D)

        Returns
        -------
        ndarray of shape (n,)
        """
        return self._erf_score(F)

    def loop(self, F) -> np.ndarray:
        """The LoOP probability ``max(0, erf(PLOF / (nPLOF·√2)))``, shape (n,)."""
        return self.novelty_probability(F)


