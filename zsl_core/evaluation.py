"""Evaluation of zero-shot classifiers: threshold sweep, AUSUC, 2-way pairs, distractors, confusion.

References
----------
R. Socher et al. *Zero-Shot Learning Through Cross-Modal Transfer.* NIPS 2013 (Figs. 3–5).
W.-L. Chao, S. Changpinyo, B. Gong, F. Sha. *An Empirical Study and Analysis of Generalized Zero-Shot
Learning for Object Recognition in the Wild.* ECCV 2016 (AUSUC).
"""

from __future__ import annotations

import re
from itertools import combinations

import numpy as np
import torch

from .cache import Progress, report
from .mapping import LinearMapping, TanhMLPMapping, validation_split
from .model import UNSEEN_CENTERS, ZSLScores, _apply_prototype_map, _prototype_map

__all__ = ["threshold_sweep", "ausuc", "best_point", "confusion_matrix", "zero_shot_pair_accuracy",
           "all_pairs_matrix", "distractor_curve", "nearest_distractor_words"]


# -- threshold sweep ---------------------------------------------------------------------------------------
def _gate_correctness(scores: ZSLScores, y_true, seen, unseen):
    seen = np.asarray(seen, dtype=np.int64)
    unseen = np.asarray(unseen, dtype=np.int64)
    y_true = np.asarray(y_true, dtype=np.int64)
    if y_true.shape != (len(scores),):
        raise ValueError(f"y_true must have shape ({len(scores)},) to match the scores; got {y_true.shape}")
    # The hard gate's two possible answers for every image.
    if_familiar = seen[np.argmax(scores.seen_proba[:, seen], axis=1)]
    if_novel = unseen[np.argmax(scores.unseen_proba[:, unseen], axis=1)]
    return y_true == if_familiar, y_true == if_novel, np.isin(y_true, seen), np.isin(y_true, unseen)


def threshold_sweep(scores: ZSLScores, y_true, seen, unseen, thresholds=None,
                    max_points: int = 1000) -> dict[str, np.ndarray]:
    """Accuracies of the hard gate at every threshold, in one vectorised pass.

    An image is *novel* iff ``scores.novelty > threshold``; a novel image gets the most probable unseen class
    (``argmax`` of ``unseen_proba``), a familiar one the softmax's most probable seen class. (The sweep is of
    the hard gate whatever the model's ``gate``.) With the novelty scores sorted, the number of correct
    answers at a threshold is ``Σ familiar-correct over the scores ≤ t + Σ novel-correct over the scores > t``,
    two cumulative sums and one ``searchsorted``.

    Parameters
    ----------
    scores : ZSLScores
        Of the test images (``model.decompose(X_test)``).
    y_true : array-like of shape (n,)
        True class indices (into the model's ``class_names_``).
    seen, unseen : array-like of int
        Class indices of the seen and unseen classes (``model.seen_``, ``model.unseen_``).
    thresholds : array-like or None
        ``None``: every distinct novelty score plus ``-inf`` (all novel) and ``+inf`` (none novel), thinned to
        at most ``max_points`` (evenly spaced in rank, both ends kept).
    max_points : int, default 1000

    Returns
    -------
    dict of ndarray, each of shape (n_thresholds,), thresholds ascending
        ``threshold``; ``seen``: accuracy on the test images of seen classes; ``unseen``: accuracy on the
        images of unseen classes; ``overall``: accuracy on all images; ``H``: harmonic mean of ``seen`` and
        ``unseen`` (0 where both are 0); ``novel_fraction``: fraction of all images called novel.
        Accuracies are per image (CIFAR-10's test set is balanced, so this is also the per-class mean).
    """
    fam_ok, nov_ok, is_seen, is_unseen = _gate_correctness(scores, y_true, seen, unseen)
    s = np.asarray(scores.novelty, dtype=np.float64)
    if np.isnan(s).any():
        raise ValueError("novelty scores contain NaN")
    if thresholds is None:
        u = np.unique(s)
        if u.size + 2 > max_points:
            u = u[np.unique(np.linspace(0, u.size - 1, max(max_points - 2, 2)).round().astype(int))]
        thresholds = np.concatenate([[-np.inf], u, [np.inf]])
    else:
        thresholds = np.sort(np.asarray(thresholds, dtype=np.float64).ravel())
    order = np.argsort(s, kind="stable")
    s_sorted = s[order]
    # familiar at t  <=>  s <= t: the first k = searchsorted(s, t, 'right') images in sorted order.
    k = np.searchsorted(s_sorted, thresholds, side="right")

    def correct(mask):
        f = np.concatenate([[0], np.cumsum((fam_ok & mask)[order])])
        v = np.concatenate([[0], np.cumsum((nov_ok & mask)[order])])
        return f[k] + (v[-1] - v[k])

    n_seen, n_unseen = int(is_seen.sum()), int(is_unseen.sum())
    c_seen, c_unseen = correct(is_seen), correct(is_unseen)
    c_all = correct(np.ones_like(is_seen))
    with np.errstate(invalid="ignore", divide="ignore"):
        acc_s = c_seen / n_seen if n_seen else np.full(k.shape, np.nan)
        acc_u = c_unseen / n_unseen if n_unseen else np.full(k.shape, np.nan)
        H = np.where(acc_s + acc_u > 0, 2 * acc_s * acc_u / np.where(acc_s + acc_u > 0, acc_s + acc_u, 1), 0.0)
    n = s.size
    return {"threshold": thresholds, "seen": acc_s, "unseen": acc_u, "overall": c_all / max(n, 1), "H": H,
            "novel_fraction": (n - k) / max(n, 1)}


def ausuc(sweep: dict) -> float:
    """Area under the seen–unseen accuracy curve (Chao et al. 2016).

    Trapezoid rule over the points ``(unseen, seen)`` of a sweep, ordered by unseen accuracy; the curve is
    closed with ``(0, max seen)`` and ``(max unseen, 0)``, the accuracies of the two extreme gates (all
    familiar / all novel), which a sweep over ``±inf`` already contains.

    Parameters
    ----------
    sweep : dict from :func:`threshold_sweep`

    Returns
    -------
    float in [0, 1]
    """
    u = np.asarray(sweep["unseen"], dtype=np.float64)
    s = np.asarray(sweep["seen"], dtype=np.float64)
    u = np.concatenate([[0.0], u, [u.max()]])
    s = np.concatenate([[s.max()], s, [0.0]])
    # Order by unseen accuracy, and for ties by decreasing seen accuracy (the curve's direction).
    o = np.lexsort((-s, u))
    return float(np.trapezoid(s[o], u[o]))


def best_point(sweep: dict, key: str = "H") -> dict[str, float]:
    """The sweep's values at the threshold that maximises ``sweep[key]`` (first one on ties).

    Returns
    -------
    dict with the sweep's keys, each a float
    """
    if key not in sweep:
        raise KeyError(f"{key!r} is not a sweep key; choose one of {sorted(sweep)}")
    i = int(np.nanargmax(np.asarray(sweep[key], dtype=np.float64)))
    return {k: float(np.asarray(v)[i]) for k, v in sweep.items()}


def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """Counts: row = true class, column = predicted class.

    Parameters
    ----------
    y_true, y_pred : array-like of int, shape (n,)
    n_classes : int

    Returns
    -------
    ndarray of shape (n_classes, n_classes), int64
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred must have the same shape; got {y_true.shape} and {y_pred.shape}")
    if y_true.size and (min(y_true.min(), y_pred.min()) < 0 or max(y_true.max(), y_pred.max()) >= n_classes):
        raise ValueError(f"labels must be in 0..{n_classes - 1}")
    return np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


# -- 2-way zero-shot pairs ---------------------------------------------------------------------------------
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
    pm = _prototype_map(class_vectors[kept], centroids, unseen_centers)
    return _apply_prototype_map(pm, class_vectors[list(pair)])


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


# -- distractors -------------------------------------------------------------------------------------------
def distractor_curve(model, X_test, y_test, distractor_vectors, counts=None, scores: ZSLScores | None = None,
                     threshold=None) -> dict[str, np.ndarray]:
    """Unseen-class accuracy as extra candidate classes (distractor words) are added (cf. Socher et al. Fig. 5).

    For each count ``k``, the candidates of the unseen classifier are the true unseen classes plus the first
    ``k`` distractor vectors; an image of an unseen class is correct when the nearest candidate (argmax of
    the shared-variance isometric Gaussians) is its own class. Two accuracies are reported:

    * ``unseen``: every unseen-class test image is classified among the candidates (the gate assumed
      perfect) — this is the curve that isolates the effect of the distractors;
    * ``gated``: through the model's hard gate at ``threshold`` (an image called familiar is wrong).

    The candidate sets are nested, so both curves are non-increasing in ``k``.

    Parameters
    ----------
    model : fitted ZeroShotClassifier
    X_test : ndarray (n, d) ; y_test : ndarray (n,)
    distractor_vectors : ndarray (m, D)
        In the order they are added.
    counts : sequence of int or None
        Numbers of distractors (default ``0..m``).
    scores : ZSLScores or None
        ``model.decompose(X_test)`` if already computed.
    threshold : float or None
        For ``gated``; default ``model.threshold_``.

    Returns
    -------
    dict with ``count`` (k,), ``unseen`` (k,), ``gated`` (k,)
    """
    y_test = np.asarray(y_test, dtype=np.int64)
    Dv = np.asarray(distractor_vectors, dtype=np.float64).reshape(-1, model.class_vectors_.shape[1])
    counts = np.arange(Dv.shape[0] + 1) if counts is None else np.asarray(counts, dtype=np.int64)
    if counts.size and (counts.min() < 0 or counts.max() > Dv.shape[0]):
        raise ValueError(f"counts must be in 0..{Dv.shape[0]} (the number of distractor vectors)")
    rows = np.isin(y_test, model.unseen_)
    if scores is None:
        scores = model.decompose(np.asarray(X_test)[rows])
    else:
        scores = scores.subset(rows)
    yu = y_test[rows]
    F = scores.mapped
    t = model.threshold_ if threshold is None else float(threshold)
    novel = scores.novelty > t
    # The same centres as the model's unseen classifier (word vectors, or their projections; see
    # ZeroShotClassifier.prototypes), for the true unseen classes and for the distractors alike.
    Wu = model.unseen_centers_
    Dv = model.prototypes(Dv) if Dv.shape[0] else Dv
    d_true = ((F[:, None, :] - Wu[None]) ** 2).sum(2)                     # (n_u, U)
    best_true = d_true.min(1)
    true_ok = model.unseen_[np.argmin(d_true, axis=1)] == yu
    # Distance to the nearest of the first k distractors, for every k, as a running minimum.
    d_dis = ((F[:, None, :] - Dv[None]) ** 2).sum(2) if Dv.shape[0] else np.zeros((F.shape[0], 0))
    run_min = np.concatenate([np.full((F.shape[0], 1), np.inf), np.minimum.accumulate(d_dis, axis=1)], axis=1)
    # Ties go to the true unseen classes (they come first in the candidate list).
    ok = true_ok[:, None] & (best_true[:, None] <= run_min[:, counts])
    n = max(int(rows.sum()), 1)
    return {"count": counts, "unseen": ok.sum(0) / n if rows.any() else np.full(counts.shape, np.nan),
            "gated": (ok & novel[:, None]).sum(0) / n if rows.any() else np.full(counts.shape, np.nan)}


def _is_variant(word: str, name: str) -> bool:
    """Plural / possessive / simple morphological variants of a class name (``cat``: cats, cat's, kitty no)."""
    w, c = word.lower(), name.lower()
    if w == c:
        return True
    stem = re.sub(r"(es|s|'s|s')$", "", w)
    cstem = re.sub(r"(es|s)$", "", c)
    if stem in (c, cstem) or w in (c + "s", c + "es", c + "'s"):
        return True
    # Morphological neighbours share a long prefix: truck/trucks/trucking, deer/deers.
    return len(c) >= 4 and w.startswith(c) and len(w) - len(c) <= 3


def nearest_distractor_words(word_vectors, unseen_names, n: int, exclude=(), k_per_query: int | None = None
                             ) -> list[str]:
    """The ``n`` nearest vocabulary words to the unseen classes' word vectors: hard distractors.

    Neighbours of the unseen names are taken round-robin (each name in turn contributes its nearest word not
    taken yet), skipping the unseen names, ``exclude`` (e.g. all class names), their plural / possessive / simple
    morphological variants, duplicates and non-alphabetic tokens.

    Parameters
    ----------
    word_vectors : zsl_core.semantic.WordVectors (anything with ``vector`` and ``nearest``)
    unseen_names : sequence of str
    n : int
    exclude : sequence of str
    k_per_query : int or None
        Neighbours fetched per name (default ``4 n + 20``).

    Returns
    -------
    list of str, length ``<= n``
    """
    names = [str(u) for u in unseen_names]
    banned = [w.lower() for w in list(names) + list(exclude)]
    parts = [p for b in banned for p in re.split(r"[ _]", b) if p]
    k = k_per_query or 4 * n + 20
    vecs = np.stack([np.asarray(word_vectors.vector(u), dtype=np.float64) for u in names])
    neigh = word_vectors.nearest(vecs, k=k, exclude=tuple(banned))
    ok = [[w for w, _ in lst if re.fullmatch(r"[a-z]+", w) and not any(_is_variant(w, b) for b in banned + parts)]
          for lst in neigh]
    out, seen, pos = [], set(), [0] * len(ok)
    while len(out) < n and any(p < len(lst) for p, lst in zip(pos, ok)):
        for j, lst in enumerate(ok):
            # Each name in turn contributes its nearest word not taken yet.
            while pos[j] < len(lst) and lst[pos[j]] in seen:
                pos[j] += 1
            if pos[j] < len(lst) and len(out) < n:
                seen.add(lst[pos[j]])
                out.append(lst[pos[j]])
    return out
