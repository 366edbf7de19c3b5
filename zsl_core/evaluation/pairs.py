"""2-way zero-shot accuracy of held-out pairs (Socher et al. 2013, Fig. 3), and the all-pairs matrix."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import torch

from ..cache import Progress, report
from ..model.base import validation_split
from ..model.classifier import UNSEEN_CENTERS, apply_prototype_map, prototype_map
from ..model.mapping import LinearMapping, TanhMLPMapping

__all__ = ["zero_shot_pair_accuracy", "all_pairs_matrix"]


class _PairRidge:
    """Per-class sufficient statistics so that a ridge map fitted on all classes but two costs a few d×d
    Cholesky solves instead of a pass over the data.

    For the classes kept, the training part's ``n, Σx, Σxxᵀ`` are sums of per-class sums; standardisation
    (with the kept classes' own mean and std) and centring are algebra on those sums, and every image of a
    class has the same target ``t_c`` so ``Σ x tᵀ = Σ_c (Σ_{x∈c} x) t_cᵀ``. The validation error used to
    choose ``alpha`` is likewise a quadratic form in the validation part's per-class sums.
    """

    def __init__(self, X, y, class_vectors, alphas, validation_fraction, random_state, progress):
        self.C = class_vectors.shape[0]
        self.T = np.asarray(class_vectors, dtype=np.float64)
        fit_idx, val_idx = validation_split(y, validation_fraction, random_state)
        # A common shift of every row changes none of the fits (each fit centres on its own mean) but keeps
        # the float32 products from cancelling catastrophically in Σxxᵀ - n μμᵀ for features far from 0.
        shift = np.asarray(X, dtype=np.float64).mean(0) if X.shape[0] else 0.0
        self.shift = shift
        self.parts = {}
        for name, idx in (("fit", fit_idx), ("val", val_idx)):
            n, s, G = np.zeros(self.C), np.zeros((self.C, X.shape[1])), []
            for c in range(self.C):
                rows = idx[y[idx] == c]
                Xc = torch.from_numpy(np.ascontiguousarray(X[rows] - shift, dtype=np.float32))
                n[c] = rows.size
                s[c] = Xc.double().sum(0).numpy()
                G.append((Xc.T @ Xc).double().numpy())
                report(progress, "class statistics", c + 1 + (self.C if name == "val" else 0), 2 * self.C)
            self.parts[name] = (n, s, np.stack(G))
        self.alphas = alphas

    def solve(self, keep):
        """Fit on the training part of the classes ``keep``; return (coef, intercept, mean, scale, alpha)."""
        n_c, s_c, G_c = self.parts["fit"]
        n = n_c[keep].sum()
        mu = s_c[keep].sum(0) / n
        G = G_c[keep].sum(0) - n * np.outer(mu, mu)          # centred Σ (x-μ)(x-μ)ᵀ
        sd = np.sqrt(np.clip(np.diag(G) / n, 0, None))
        sd = np.where(sd > 1e-12, sd, 1.0)
        Gs = G / np.outer(sd, sd)                              # of the standardised features
        T = self.T
        t_mean = (n_c[keep, None] * T[keep]).sum(0) / n
        B = ((s_c[keep] - n_c[keep, None] * mu).T @ (T[keep] - t_mean)) / sd[:, None]   # Σ z (t - t̄)ᵀ
        scale = float(np.trace(Gs)) / Gs.shape[0]
        alphas = np.asarray(self.alphas) * scale

        def solve(a):
            # One Cholesky per grid value (predictable cost, unlike an eigendecomposition; see mapping._grid).
            return _chol_solve(Gs, a, B)

        # Validation error  Σ_val ||Wᵀ z + t̄ - t||² as a quadratic form in the validation sums.
        nv, sv, Gv = self.parts["val"]
        nvk = nv[keep].sum()
        if nvk > 0 and len(alphas) > 1:
            Svk = sv[keep].sum(0)
            Zc = Gv[keep].sum(0) - np.outer(Svk, mu) - np.outer(mu, Svk) + nvk * np.outer(mu, mu)
            Q = Zc / np.outer(sd, sd)                          # Σ z zᵀ over validation rows
            R = ((sv[keep] - nv[keep, None] * mu) / sd).T @ (T[keep] - t_mean)   # Σ z (t - t̄)ᵀ
            const = (nv[keep, None] * (T[keep] - t_mean) ** 2).sum()
            errs, sols = np.full(len(alphas), np.nan), {}

            def evaluate(j):
                if j not in sols:
                    sols[j] = W = solve(alphas[j])
                    errs[j] = np.sum(W * (Q @ W)) - 2 * np.sum(W * R) + const

            # the same coarse-to-fine search as LinearMapping
            for j in range(0, len(alphas), 2):
                evaluate(j)
            best = int(np.nanargmin(errs))
            for j in (best - 1, best + 1):
                if 0 <= j < len(alphas):
                    evaluate(j)
            best = int(np.nanargmin(errs))
            coef = sols[best]
        else:
            best = len(alphas) // 2
            coef = solve(alphas[best])
        return coef, t_mean, mu + self.shift, sd, float(alphas[best])

    def val_centroids(self, keep, coef, t_mean, mu, sd):
        """Mean mapped validation image of each kept class, from the validation part's per-class sums."""
        nv, sv, _ = self.parts["val"]
        means = sv[keep] / np.maximum(nv[keep], 1)[:, None] + self.shift      # raw-feature class means
        return ((means - mu) / sd) @ coef + t_mean


def _clone(est, **override):
    """A fresh, unfitted copy of a mapping estimator with the same constructor parameters."""
    import inspect

    names = [p for p in inspect.signature(type(est).__init__).parameters if p != "self"]
    return type(est)(**{**{k: getattr(est, k) for k in names}, **override})


def _pair_accuracy_from_map(F, y, pair, prototypes):
    a, b = pair
    d = ((F[:, None, :] - prototypes[None]) ** 2).sum(2)
    pred = np.where(d[:, 1] < d[:, 0], b, a)
    return float(np.mean(pred == y))


def _check_pair_inputs(X_train, y_train, X_test, y_test, class_vectors):
    X_train = np.asarray(X_train)
    X_test = np.asarray(X_test)
    y_train = np.asarray(y_train, dtype=np.int64)
    y_test = np.asarray(y_test, dtype=np.int64)
    class_vectors = np.asarray(class_vectors, dtype=np.float64)
    if X_train.ndim != 2 or X_test.ndim != 2 or X_train.shape[1] != X_test.shape[1]:
        raise ValueError("X_train and X_test must be 2-D with the same number of columns")
    if y_train.shape != (X_train.shape[0],) or y_test.shape != (X_test.shape[0],):
        raise ValueError("y_train / y_test must have one label per row of X_train / X_test")
    C = class_vectors.shape[0]
    for name, yy in (("y_train", y_train), ("y_test", y_test)):
        if yy.size and (yy.min() < 0 or yy.max() >= C):
            raise ValueError(f"{name} must hold class indices in 0..{C - 1} (rows of class_vectors)")
    return X_train, y_train, X_test, y_test, class_vectors


def _fit_generic_pair(X_train, y_train, class_vectors, pair, mapping, mapping_params, validation_fraction,
                      random_state):
    """Fit a mapping on the classes other than ``pair``; return (predict, validation centroids (C-2, D)).

    Uses the same split as the fast path: the global stratified split restricted to the kept classes,
    features standardised with the kept training part's statistics."""
    fit_idx, val_idx = validation_split(y_train, validation_fraction, random_state)
    fit_idx = fit_idx[~np.isin(y_train[fit_idx], pair)]
    val_idx = val_idx[~np.isin(y_train[val_idx], pair)]
    Xf = np.asarray(X_train[fit_idx], dtype=np.float64)
    mu = Xf.mean(0)
    sd = Xf.std(0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    z = lambda A: ((np.asarray(A, dtype=np.float64) - mu) / sd).astype(np.float32)
    params = dict(mapping_params or {})
    est = (LinearMapping if mapping == "linear" else TanhMLPMapping)(**params) if isinstance(mapping, str) \
        else _clone(mapping, **params)
    if "random_state" in est.__dict__ and "random_state" not in params:
        est.random_state = random_state
    T = class_vectors
    est.fit(z(X_train[fit_idx]), T[y_train[fit_idx]], validation_data=(z(X_train[val_idx]), T[y_train[val_idx]]))
    Fv = est.predict(z(X_train[val_idx]))
    yv = y_train[val_idx]
    kept = np.setdiff1d(np.arange(T.shape[0]), pair)
    cent = np.stack([Fv[yv == c].mean(0) for c in kept])
    return (lambda X: est.predict(z(X))), cent


def _pair_prototypes(class_vectors, pair, centroids, unseen_centers):
    kept = np.setdiff1d(np.arange(class_vectors.shape[0]), pair)
    pm = prototype_map(class_vectors[kept], centroids, unseen_centers)
    return apply_prototype_map(pm, class_vectors[list(pair)])


def zero_shot_pair_accuracy(X_train, y_train, X_test, y_test, class_vectors, pair, mapping="linear",
                            mapping_params=None, validation_fraction=0.15, random_state=0,
                            unseen_centers="calibrated") -> float:
    """2-way zero-shot accuracy of one held-out pair (Socher et al. 2013, Fig. 4).

    The mapping is trained on the training part (a stratified split) of the images of the other ``C - 2``
    classes only, features standardised with that part's statistics; each test image of the two held-out
    classes is then assigned to the nearer of the two held-out classes' centres — their word vectors
    (``unseen_centers='word'``, the paper), or, as in :class:`~zsl_core.model.ZeroShotClassifier`, their
    projections onto the span of the kept classes' word vectors, calibrated on the validation part
    (``'calibrated'``, default; see ``ZeroShotClassifier.prototypes``).

    Parameters
    ----------
    X_train : ndarray (n, d) ; y_train : ndarray (n,)
    X_test : ndarray (m, d) ; y_test : ndarray (m,)
    class_vectors : ndarray (C, D)
    pair : (int, int)
        The two held-out class indices.
    mapping : {'linear', 'mlp'} or a mapping estimator (its parameters are reused)
    mapping_params : dict or None
        For ``'linear'``: ``{'alpha': float}`` fixes the penalty, ``{'alphas': [...]}`` sets the relative grid
        (default: chosen on the validation part of the kept training rows).
    validation_fraction : float, default 0.15
        The validation part (stratified) of the training rows.
    random_state : int, default 0
    unseen_centers : {'calibrated', 'projected', 'word'}, default 'calibrated'

    Returns
    -------
    float
        Accuracy over the test images of the two classes (NaN if there are none).
    """
    X_train, y_train, X_test, y_test, class_vectors = _check_pair_inputs(X_train, y_train, X_test, y_test,
                                                                         class_vectors)
    pair = tuple(int(p) for p in pair)
    if len(pair) != 2 or pair[0] == pair[1]:
        raise ValueError(f"pair must be two different class indices; got {pair}")
    mat = all_pairs_matrix(X_train, y_train, X_test, y_test, class_vectors, mapping=mapping,
                           mapping_params=mapping_params, validation_fraction=validation_fraction,
                           random_state=random_state, pairs=[pair], unseen_centers=unseen_centers)
    return float(mat[pair[0], pair[1]])


def all_pairs_matrix(X_train, y_train, X_test, y_test, class_vectors, mapping="linear", mapping_params=None,
                     validation_fraction=0.15, random_state=0, pairs=None, progress: Progress = None,
                     unseen_centers="calibrated", max_gram_bytes: int = 2 << 30) -> np.ndarray:
    """2-way zero-shot accuracy for every pair of held-out classes (symmetric, NaN diagonal).

    Parameters
    ----------
    X_train, y_train, X_test, y_test, class_vectors, mapping, mapping_params, validation_fraction,
    random_state, unseen_centers
        As in :func:`zero_shot_pair_accuracy`.
    pairs : list of (int, int) or None
        Only these pairs (default: all ``C (C-1) / 2``).
    progress : callable(step, done, total) or None
    max_gram_bytes : int, default 2 GiB
        The linear map reuses per-class Gram matrices (``2 C d²`` float64 numbers); above this size each pair
        is fitted from the raw rows instead.

    Returns
    -------
    ndarray of shape (C, C)

    Notes
    -----
    For ``mapping='linear'`` (without a fixed estimator), the per-class sums ``n_c, Σx, Σxxᵀ`` of a fixed
    stratified fit/validation split are computed once; each pair's ridge fit — including standardisation
    with the kept classes' statistics, the choice of ``alpha`` on the validation part and the validation
    centroids that calibrate the prototypes — is then algebra on ``d × d`` matrices, identical to refitting
    :class:`~zsl_core.mapping.LinearMapping` on the raw rows of the same split (about 0.3 s a pair for
    d = 1280).
    """
    X_train, y_train, X_test, y_test, class_vectors = _check_pair_inputs(X_train, y_train, X_test, y_test,
                                                                         class_vectors)
    if unseen_centers not in UNSEEN_CENTERS:
        raise ValueError(f"unseen_centers must be one of {UNSEEN_CENTERS}; got {unseen_centers!r}")
    C = class_vectors.shape[0]
    pairs = list(combinations(range(C), 2)) if pairs is None else [tuple(int(q) for q in p) for p in pairs]
    out = np.full((C, C), np.nan)
    d = X_train.shape[1]
    mapping_params = dict(mapping_params or {})
    fast = (isinstance(mapping, str) and mapping == "linear" and 2 * C * d * d * 8 <= max_gram_bytes
            and set(mapping_params) <= {"alpha", "alphas"})
    if fast:
        if mapping_params.get("alpha") is not None:
            alphas = None
        else:
            alphas = np.asarray(mapping_params.get("alphas") or np.logspace(-5, 1, 13), dtype=float)
        stats = _PairRidge(X_train, y_train, class_vectors,
                           alphas if alphas is not None else np.array([1.0]), validation_fraction,
                           random_state, progress)
    for i, (a, b) in enumerate(pairs):
        test_rows = np.isin(y_test, (a, b))
        keep = np.setdiff1d(np.arange(C), (a, b))
        if fast:
            if alphas is None:
                coef, t_mean, mu, sd, _ = _fixed_alpha_solve(stats, keep, float(mapping_params["alpha"]))
            else:
                coef, t_mean, mu, sd, _ = stats.solve(keep)
            F = ((X_test[test_rows] - mu) / sd) @ coef + t_mean
            cent = stats.val_centroids(keep, coef, t_mean, mu, sd)
        else:
            predict, cent = _fit_generic_pair(X_train, y_train, class_vectors, (a, b), mapping, mapping_params,
                                              validation_fraction, random_state)
            F = predict(X_test[test_rows])
        protos = _pair_prototypes(class_vectors, (a, b), cent, unseen_centers)
        acc = _pair_accuracy_from_map(F, y_test[test_rows], (a, b), protos) if test_rows.any() else np.nan
        out[a, b] = out[b, a] = acc
        report(progress, "pairs", i + 1, len(pairs))
    return out


def _fixed_alpha_solve(stats: _PairRidge, keep, alpha):
    """A fixed absolute ``alpha`` (as in ``LinearMapping(alpha=...)`` on standardised features), fitted on the
    training part (the validation part only calibrates the prototypes)."""
    n_c, s_c, G_c = stats.parts["fit"]
    n = n_c[keep].sum()
    mu = s_c[keep].sum(0) / n
    G = G_c[keep].sum(0) - n * np.outer(mu, mu)
    sd = np.sqrt(np.clip(np.diag(G) / n, 0, None))
    sd = np.where(sd > 1e-12, sd, 1.0)
    Gs = G / np.outer(sd, sd)
    T = stats.T
    t_mean = (n_c[keep, None] * T[keep]).sum(0) / n
    B = ((s_c[keep] - n_c[keep, None] * mu).T @ (T[keep] - t_mean)) / sd[:, None]
    coef = _chol_solve(Gs, alpha, B)
    return coef, t_mean, mu + stats.shift, sd, alpha


def _chol_solve(G, alpha, B):
    """``(G + αI)⁻¹ B`` by Cholesky, in torch (MKL): scipy's OpenBLAS factorisation of a 1280 × 1280 matrix
    took 0.66 s against torch's 0.03 s on the shared two-core machine."""
    A = torch.from_numpy(G).clone()
    A.diagonal().add_(alpha)
    L = torch.linalg.cholesky(A)
    return torch.cholesky_solve(torch.from_numpy(np.ascontiguousarray(B)), L).numpy()
