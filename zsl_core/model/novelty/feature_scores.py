"""Novelty scores in the image-feature space: cosine kNN and relative Mahalanobis (input: raw features).

These read the image features themselves, before the map θ throws most of them away (1,280 dimensions
against 50 in word space), so they can tell a cat from a dog where the mapped points overlap.

References
----------
Y. Sun, Y. Ming, X. Zhu, Y. Li. *Out-of-Distribution Detection with Deep Nearest Neighbors.* ICML 2022.
K. Lee, K. Lee, H. Lee, J. Shin. *A Simple Unified Framework for Detecting Out-of-Distribution Samples and
Adversarial Attacks.* NeurIPS 2018 (Mahalanobis).
J. Ren, S. Fort, J. Liu, et al. *A Simple Fix to Mahalanobis Distance for Improving Near-OOD Detection.*
arXiv:2106.09022, 2021 (relative Mahalanobis).
"""

from __future__ import annotations

import numpy as np
import torch

from ..base import check_is_fitted
from ..persistence import register
from .base import _check_F, _check_labels, _ScoreDetector

__all__ = ["CosineKNNDetector", "MahalanobisDetector", "unit_rows"]


def unit_rows(X) -> np.ndarray:
    """Rows scaled to unit L2 norm (float32); a zero row stays zero."""
    X = np.asarray(X, dtype=np.float32)
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)


@register
class CosineKNNDetector(_ScoreDetector):
    """Distance to the k-th nearest seen reference image on the unit sphere (Sun et al. 2022).

    ``score_samples(x) = -||x̂ - r̂_(k)||`` with ``x̂`` the L2-normalised features and ``r̂_(k)`` the k-th
    nearest normalised reference row; ``||â - b̂||² = 2 - 2 cos(a, b)``, so this ranks like the k-th largest
    cosine similarity.

    Parameters
    ----------
    n_neighbors : int, default 1
        ``k``. On frozen EfficientNet features k=1 ranked seen against unseen test images as well as larger
        k (issue 10: AUROC 0.699 for cat+truck).
    max_reference : int or None, default 10000
        At most this many fitting rows are kept (a seeded subsample, stored as float16): the reference is
        part of the fitted model, so it is kept to ~25 MB; ``None`` keeps all.
    contamination : float in [0, 1), default 0.1
    random_state : int, default 0
    chunk_size : int, default 2048
        Query rows per matrix product (memory ``chunk_size × n_reference`` floats).

    Attributes
    ----------
    reference_ : ndarray (r, d) float16
        Normalised reference rows.
    reference_labels_ : ndarray (r,) or None
        Their seen classes, when ``fit`` got labels (for :meth:`class_distances`).
    reference_scores_ : ndarray
        Leave-one-out scores of up to 2,000 reference rows (a row is not its own neighbour).
    offset_ : float
    n_features_in_ : int
    """

    input = "features"
    label = "Cosine kNN (image features)"
    description = "Novel when no seen training image has similar features (cosine distance to the nearest one)."

    def __init__(self, n_neighbors=1, max_reference=10000, contamination=0.1, random_state=0, chunk_size=2048):
        self.n_neighbors = n_neighbors
        self.max_reference = max_reference
        self.contamination = contamination
        self.random_state = random_state
        self.chunk_size = chunk_size

    def fit(self, X, y=None):
        """Store the normalised reference rows.

        Parameters
        ----------
        X : array-like of shape (r, d)
            Raw features of seen-class training images.
        y : array-like of shape (r,) or None
            Their seen classes (optional; kept for :meth:`class_distances`).

        Returns
        -------
        self
        """
        k = self.n_neighbors
        if not (isinstance(k, (int, np.integer)) and k >= 1):
            raise ValueError(f"n_neighbors must be a positive integer; got {k!r}")
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"X must be a 2-D array (n_rows, n_features); got shape {X.shape}")
        if self.max_reference is not None and self.max_reference < k + 1:
            raise ValueError(f"max_reference must be at least n_neighbors + 1 = {k + 1}")
        if X.shape[0] < k + 1:
            raise ValueError(f"need at least n_neighbors + 1 = {k + 1} reference rows; got {X.shape[0]}")
        labels = None if y is None else _check_labels(y, X.shape[0])
        rng = np.random.default_rng(self.random_state)
        keep = np.arange(X.shape[0])
        if self.max_reference is not None and X.shape[0] > self.max_reference:
            keep = np.sort(rng.choice(X.shape[0], size=int(self.max_reference), replace=False))
        # Only the kept rows are checked and converted (the fitting rows may be tens of thousands).
        self.reference_ = unit_rows(_check_F(np.take(X, keep, axis=0), name="X")).astype(np.float16)
        self.reference_labels_ = None if labels is None else labels[keep]
        self.n_features_in_ = X.shape[1]
        # Leave-one-out scores of a sample of the reference: enough for the offset and the probability's
        # scale, at a fraction of the r² cost of all of them.
        probe = np.sort(rng.choice(keep.size, size=min(keep.size, 2000), replace=False))
        d, _ = self._neighbors(self.reference_[probe].astype(np.float32), k, exclude=probe)
        return self._finish_fit(-d[:, -1])

    def _neighbors(self, Q, k, exclude=None):
        R = torch.from_numpy(self.reference_.astype(np.float32))
        Q = torch.from_numpy(np.ascontiguousarray(Q, dtype=np.float32))
        dists, idxs = [], []
        step = int(self.chunk_size)
        for s in range(0, Q.shape[0], step):
            sim = Q[s:s + step] @ R.T
            if exclude is not None:
                sim[torch.arange(sim.shape[0]), torch.from_numpy(exclude[s:s + step])] = -np.inf
            v, i = torch.topk(sim, min(k, R.shape[0]), dim=1)
            dists.append(torch.sqrt(torch.clamp(2 - 2 * v.double(), min=0)))
            idxs.append(i)
        return torch.cat(dists).numpy(), torch.cat(idxs).numpy().astype(np.int64)

    def kneighbors(self, X, n_neighbors=None):
        """Distances on the unit sphere and indices of the nearest reference rows, ascending.

        Parameters
        ----------
        X : array-like of shape (q, d)
        n_neighbors : int or None
            Default ``self.n_neighbors``.

        Returns
        -------
        dist : ndarray (q, k) float64
        index : ndarray (q, k) int64
        """
        check_is_fitted(self, "reference_")
        X = _check_F(X, self.n_features_in_, "X")
        return self._neighbors(unit_rows(X), int(n_neighbors or self.n_neighbors))

    def class_distances(self, X) -> np.ndarray:
        """Distance to the nearest reference row of every seen class, shape (q, S).

        The nearest reference row among any set of classes is the nearest of their columns, so one pass serves
        every subset of the seen classes (the learned gate's pseudo-unseen splits). Needs ``fit`` with labels.
        """
        check_is_fitted(self, "reference_")
        if self.reference_labels_ is None:
            raise ValueError("class_distances needs a detector fitted with labels (fit(X, y))")
        Q = torch.from_numpy(unit_rows(_check_F(X, self.n_features_in_, "X")))
        R = torch.from_numpy(self.reference_.astype(np.float32))
        lab = torch.from_numpy(self.reference_labels_)
        S = int(self.reference_labels_.max()) + 1
        out = []
        for s in range(0, Q.shape[0], int(self.chunk_size)):
            sim = Q[s:s + int(self.chunk_size)] @ R.T
            best = torch.full((sim.shape[0], S), -np.inf)
            best = best.scatter_reduce(1, lab.expand(sim.shape[0], -1), sim, reduce="amax")
            out.append(torch.sqrt(torch.clamp(2 - 2 * best.double(), min=0)))
        return torch.cat(out).numpy()

    def score_samples(self, X) -> np.ndarray:
        """``-(distance to the k-th nearest reference row)``: higher = more familiar.

        Parameters
        ----------
        X : array-like of shape (n, d)

        Returns
        -------
        ndarray of shape (n,)
        """
        d, _ = self.kneighbors(X)
        return -d[:, -1]


@register
class MahalanobisDetector(_ScoreDetector):
    """Class Gaussians with a shared covariance; the relative (default) or plain Mahalanobis score.

    ``MD_c(x) = (x - μ_c)ᵀ Σ⁻¹ (x - μ_c)`` with ``Σ`` the pooled within-class covariance (Lee et al. 2018) and
    ``MD_0(x)`` the same for one Gaussian over all seen rows (the "background"). ``relative=True`` (Ren et al.
    2021): ``score_samples = -min_c (MD_c(x) - MD_0(x))`` — what is typical of *every* image (texture,
    lighting) cancels, leaving what is typical of a class; ``relative=False``: ``-min_c MD_c(x)``.

    Parameters
    ----------
    relative : bool, default True
    reg : float, default 1e-6
        Ridge added to both covariances, relative to their mean eigenvalue (keeps them invertible).
    max_features : int, default 4096
        Refuse wider features (a ``d × d`` inverse of 12,800-d features costs minutes and gigabytes).
    contamination : float in [0, 1), default 0.1

    Attributes
    ----------
    means_ : ndarray (S, d)
    precision_, precision0_ : ndarray (d, d)
        Inverses of the regularised within-class and background covariances.
    mean0_ : ndarray (d,)
    reference_scores_ : ndarray
        Scores of the rows passed to :meth:`fit` (empty after :meth:`fit_moments`).
    offset_ : float
    n_features_in_ : int
    """

    input = "features"
    label = "Relative Mahalanobis (image features)"
    description = ("Novel when the features are no closer to a seen class's Gaussian than to the Gaussian of all "
                   "seen images (Ren et al. 2021).")

    def __init__(self, relative=True, reg=1e-6, max_features=4096, contamination=0.1):
        self.relative = relative
        self.reg = reg
        self.max_features = max_features
        self.contamination = contamination

    def fit(self, X, y):
        """Estimate the class means, the pooled covariance and the background Gaussian from rows.

        Parameters
        ----------
        X : array-like of shape (n, d)
            Raw features of seen-class images.
        y : array-like of shape (n,)
            Their seen classes ``0..S-1``.

        Returns
        -------
        self
        """
        X = _check_F(X, name="X")
        y = _check_labels(y, X.shape[0])
        S = int(y.max()) + 1
        counts = np.bincount(y, minlength=S).astype(np.float64)
        sums = np.stack([X[y == c].sum(0) for c in range(S)])
        grams = np.stack([X[y == c].T @ X[y == c] for c in range(S)])
        self.fit_moments(counts, sums, grams)
        return self._finish_fit(self.score_samples(X))

    def fit_moments(self, counts, sums, grams, shift=None):
        """Fit from per-class sufficient statistics (no pass over the rows).

        Parameters
        ----------
        counts : array-like of shape (S,)
        sums : array-like of shape (S, d)
            ``Σ_{x∈c} (x - shift)``.
        grams : array-like of shape (S, d, d)
            ``Σ_{x∈c} (x - shift)(x - shift)ᵀ``.
        shift : array-like of shape (d,) or None
            The offset the sums were taken around (e.g. ``ClassStatistics.shift_``); default 0.

        Returns
        -------
        self
            ``offset_`` is ``-inf`` until scores are known (the classifier sets its threshold on validation rows).
        """
        counts = np.asarray(counts, dtype=np.float64)
        sums = np.asarray(sums, dtype=np.float64)
        if (counts < 1).any():
            raise ValueError("every class needs at least one row")
        d = sums.shape[1]
        if d > self.max_features:
            raise ValueError(f"Mahalanobis over {d} features needs a {d}×{d} inverse; raise max_features or use "
                             "another detector")
        n = counts.sum()
        G = np.zeros((d, d))
        for g in grams:
            G += g
        means = sums / counts[:, None]
        within = (G - (counts[:, None] * means).T @ means) / n
        mu0 = sums.sum(0) / n
        total = G / n - np.outer(mu0, mu0)
        shift = np.zeros(d) if shift is None else np.asarray(shift, dtype=np.float64)
        self.means_ = means + shift
        self.mean0_ = mu0 + shift
        self.precision_ = self._inverse(within)
        self.precision0_ = self._inverse(total)
        self.n_features_in_ = d
        return self._finish_fit(np.zeros(0))

    def _inverse(self, cov):
        cov = 0.5 * (cov + cov.T)
        lam = self.reg * max(np.trace(cov) / cov.shape[0], 1e-300)
        A = torch.from_numpy(cov)
        # Fewer rows than features (a small subset) leave the covariance singular, and rounding in
        # G/n - μμᵀ can make it slightly indefinite: raise the ridge tenfold until the factorisation succeeds.
        for _ in range(12):
            L, info = torch.linalg.cholesky_ex(A + lam * torch.eye(A.shape[0], dtype=A.dtype))
            if int(info) == 0:
                break
            lam *= 10
        else:
            raise ValueError("the feature covariance could not be regularised into a positive-definite matrix")
        # (L Lᵀ)⁻¹ = L⁻ᵀ L⁻¹ from one triangular solve: several times faster than cholesky_inverse on CPU.
        Linv = torch.linalg.solve_triangular(L, torch.eye(L.shape[0], dtype=L.dtype), upper=False)
        return (Linv.T @ Linv).numpy()

    def mahalanobis(self, X):
        """Squared Mahalanobis distances to every class mean (n, S) and to the background mean (n,)."""
        check_is_fitted(self, "precision_")
        X = _check_F(X, self.n_features_in_, "X")
        XP = X @ self.precision_
        MP = self.means_ @ self.precision_
        md = (XP * X).sum(1)[:, None] - 2 * XP @ self.means_.T + (MP * self.means_).sum(1)[None, :]
        Xc = X - self.mean0_
        md0 = ((Xc @ self.precision0_) * Xc).sum(1)
        return np.maximum(md, 0), np.maximum(md0, 0)

    def score_samples(self, X) -> np.ndarray:
        """``-min_c (MD_c - MD_0)`` (relative) or ``-min_c MD_c``: higher = more familiar.

        Parameters
        ----------
        X : array-like of shape (n, d)

        Returns
        -------
        ndarray of shape (n,)
        """
        md, md0 = self.mahalanobis(X)
        return -(md - md0[:, None]).min(1) if self.relative else -md.min(1)
