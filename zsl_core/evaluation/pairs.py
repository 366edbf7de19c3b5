"""2-way zero-shot accuracy of held-out pairs (Socher et al. 2013, Fig. 3), and the all-pairs matrix.

A pair's figure is *the* model's: for the pair ``(a, b)`` the classifier's first half
(:meth:`~zsl_core.model.ZeroShotClassifier.fit_mapping`: standardisation, the map θ fitted on the other
classes, the calibrated prototypes of ``a`` and ``b``) is fitted with ``a`` and ``b`` held out, and each test
image of ``a`` or ``b`` goes to the nearer prototype. So the cell of the matrix, the model's "zero-shot among
held-out" figure for that pair, and the app's pages all agree. With class statistics (linear map) a pair
costs a few ``d × d`` solves and no pass over the fitting rows.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np

from ..cache import Progress, report
from ..model.classifier import UNSEEN_CENTERS, ZeroShotClassifier

__all__ = ["zero_shot_pair_accuracy", "all_pairs_matrix", "cosine_similarity_matrix", "nearest_seen_class",
           "similarity_vs_accuracy"]


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


def zero_shot_pair_accuracy(X_train, y_train, X_test, y_test, class_vectors, pair, mapping="linear",
                            mapping_params=None, validation_fraction=0.15, random_state=0,
                            unseen_centers="calibrated", statistics=None) -> float:
    """2-way zero-shot accuracy of one held-out pair.

    The map is trained on the fitting part of the images of the other ``C - 2`` classes only; each test
    image of the two held-out classes is assigned to the nearer of their centres — the word vectors
    (``unseen_centers='word'``, the paper) or, by default, their projections onto the span of the kept
    classes' word vectors, calibrated on the validation part (see ``ZeroShotClassifier.prototypes``).

    Parameters
    ----------
    X_train : ndarray (n, d) ; y_train : ndarray (n,)
    X_test : ndarray (m, d) ; y_test : ndarray (m,)
    class_vectors : ndarray (C, D)
    pair : (int, int)
        The two held-out class indices.
    mapping : {'linear', 'mlp'}
    mapping_params : dict or None
        E.g. ``{'alpha': 10.0}`` fixes the ridge penalty (default: chosen on the validation part).
    validation_fraction : float, default 0.15
    random_state : int, default 0
    unseen_centers : {'calibrated', 'projected', 'word'}, default 'calibrated'
    statistics : ClassStatistics or None
        Of ``X_train`` on the same split (computed here when ``None``).

    Returns
    -------
    float
        Accuracy over the test images of the two classes (NaN if there are none).
    """
    pair = tuple(int(p) for p in pair)
    if len(pair) != 2 or pair[0] == pair[1]:
        raise ValueError(f"pair must be two different class indices; got {pair}")
    mat = all_pairs_matrix(X_train, y_train, X_test, y_test, class_vectors, mapping=mapping,
                           mapping_params=mapping_params, validation_fraction=validation_fraction,
                           random_state=random_state, pairs=[pair], unseen_centers=unseen_centers,
                           statistics=statistics)
    return float(mat[pair[0], pair[1]])


def all_pairs_matrix(X_train, y_train, X_test, y_test, class_vectors, mapping="linear", mapping_params=None,
                     validation_fraction=0.15, random_state=0, pairs=None, progress: Progress = None,
                     unseen_centers="calibrated", statistics=None) -> np.ndarray:
    """2-way zero-shot accuracy for every pair of held-out classes (symmetric, NaN diagonal).

    Parameters
    ----------
    X_train, y_train, X_test, y_test, class_vectors, mapping, mapping_params, validation_fraction,
    random_state, unseen_centers, statistics
        As in :func:`zero_shot_pair_accuracy`. Pass ``statistics`` (e.g. the experiment's cached ones) to
        skip the pass that computes them.
    pairs : list of (int, int) or None
        Only these pairs (default: all ``C (C-1) / 2``).
    progress : callable(step, done, total) or None
        Step ``"Held-out pairs"``, one tick per pair; a non-linear map also reports its own fit's steps as
        ``"Held-out pairs (k of P) · <step>"``, so an hour of 2-layer fits shows progress within each pair.

    Returns
    -------
    ndarray of shape (C, C)
    """
    X_train, y_train, X_test, y_test, class_vectors = _check_pair_inputs(X_train, y_train, X_test, y_test,
                                                                         class_vectors)
    if unseen_centers not in UNSEEN_CENTERS:
        raise ValueError(f"unseen_centers must be one of {UNSEEN_CENTERS}; got {unseen_centers!r}")
    C = class_vectors.shape[0]
    pairs = list(combinations(range(C), 2)) if pairs is None else [tuple(int(q) for q in p) for p in pairs]
    out = np.full((C, C), np.nan)
    if mapping == "linear" and statistics is None:
        from ..model.statistics import ClassStatistics

        statistics = ClassStatistics(validation_fraction, random_state).fit(X_train, y_train, n_classes=C)
    names = [str(i) for i in range(C)]
    solved = [None] * len(pairs)
    if mapping == "linear" and statistics.large:
        # Many features: every pair's ridge map in one lockstep Krylov run (the solver the model itself
        # uses for one held-out set), then each pair's prototypes and test images as below.
        from ..model.krylov import ridge_maps

        params = mapping_params or {}
        todo = [i for i, p in enumerate(pairs) if np.isin(y_test, p).any()]
        maps = ridge_maps(statistics, X_train, y_train, [pairs[i] for i in todo], class_vectors,
                          alpha=params.get("alpha"), alphas=params.get("alphas"), progress=progress,
                          step="Held-out pairs: ridge maps")
        for i, (m, _) in zip(todo, maps):
            solved[i] = m
    for i, (a, b) in enumerate(pairs):
        rows = np.isin(y_test, (a, b))
        if rows.any():
            model = ZeroShotClassifier(mapping=mapping, mapping_params=mapping_params, unseen_centers=unseen_centers,
                                       validation_fraction=validation_fraction, random_state=random_state)
            inner = None
            if progress is not None and mapping != "linear":  # a slow fit: its own steps, named by pair
                inner = (lambda step, done, total, k=i + 1:
                         progress(f"Held-out pairs ({k} of {len(pairs)}) · {step}", done, total))
            model.fit_mapping(X_train, y_train, names, [a, b], class_vectors=class_vectors, statistics=statistics,
                              progress=inner, fitted_mapping=solved[i])
            F = model.map(X_test[rows])
            d = ((F[:, None, :] - model.unseen_centers_[None]) ** 2).sum(2)
            pred = model.unseen_[np.argmin(d, axis=1)]
            out[a, b] = out[b, a] = float(np.mean(pred == y_test[rows]))
        report(progress, "Held-out pairs", i + 1, len(pairs))
    return out


def cosine_similarity_matrix(vectors) -> np.ndarray:
    """Cosine similarity of every pair of rows of ``vectors`` (C, D) → (C, C)."""
    v = np.asarray(vectors, dtype=np.float64)
    unit = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
    return unit @ unit.T


def nearest_seen_class(cosine: np.ndarray, i: int, held_out) -> tuple[int, float]:
    """The class most similar to class ``i`` among those not in ``held_out``: ``(index, cosine)``."""
    held = {int(h) for h in held_out}
    candidates = [k for k in range(len(cosine)) if k not in held]
    if not candidates:
        raise ValueError("every class is held out: no seen class to compare with")
    k = max(candidates, key=lambda c: cosine[i, c])
    return k, float(cosine[i, k])


def similarity_vs_accuracy(matrix, cosine) -> dict:
    """Does a held-out pair transfer better when each of its classes has a similar *seen* class? The numbers.

    For every pair ``(a, b)``: ``support`` = the smaller of the two classes' cosine to their nearest seen class
    (the other ``C - 2`` classes), against the pair's 2-way accuracy ``matrix[a, b]``; then Pearson's and
    Spearman's correlation over the pairs and the least-squares line, so a page can state what the scatter
    shows instead of asserting the paper's claim.

    Parameters
    ----------
    matrix : ndarray (C, C)
        2-way zero-shot accuracy of each pair (:func:`all_pairs_matrix`; NaN cells are left out).
    cosine : ndarray (C, C)
        Word-vector cosine similarity of the classes (:func:`cosine_similarity_matrix`).

    Returns
    -------
    dict
        ``pairs`` [(a, b)], ``support`` (P,), ``nearest`` [(seen class of a, seen class of b)], ``accuracy``
        (P,), ``pearson_r``, ``spearman_r`` (NaN with fewer than 3 pairs or no spread), ``slope``,
        ``intercept`` (NaN likewise), ``below_chance``: the pairs under 50 %, worst first.
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    cosine = np.asarray(cosine, dtype=np.float64)
    C = len(cosine)
    pairs, support, nearest, accuracy = [], [], [], []
    for a, b in combinations(range(C), 2):
        if not np.isfinite(matrix[a, b]) or C < 3:
            continue
        na, ca = nearest_seen_class(cosine, a, {a, b})
        nb, cb = nearest_seen_class(cosine, b, {a, b})
        pairs.append((a, b))
        support.append(min(ca, cb))
        nearest.append((na, nb))
        accuracy.append(matrix[a, b])
    x, y = np.asarray(support), np.asarray(accuracy)
    nan = float("nan")
    pearson = spearman = slope = intercept = nan
    if len(x) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
        pearson = float(np.corrcoef(x, y)[0, 1])
        rank = lambda v: np.argsort(np.argsort(v, kind="stable"), kind="stable").astype(float)  # noqa: E731
        spearman = float(np.corrcoef(rank(x), rank(y))[0, 1])
        slope, intercept = (float(v) for v in np.polyfit(x, y, 1))
    below = sorted((i for i in range(len(pairs)) if accuracy[i] < 0.5), key=lambda i: accuracy[i])
    return {"pairs": pairs, "support": x, "nearest": nearest, "accuracy": y, "pearson_r": pearson,
            "spearman_r": spearman, "slope": slope, "intercept": intercept,
            "below_chance": [pairs[i] for i in below]}
