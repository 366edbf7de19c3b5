"""Fitting the novelty detectors of a model, and the learned gate's training table from pseudo-unseen splits.

:func:`fit_detectors` fits any registered detectors on the pieces of one fitted model (its standardisation,
map, prototypes and a seen softmax fitted on the fitting part only) and scores its held-out seen images. The
classifier calls it for its own detector; :func:`pseudo_unseen_table` calls it again for models that hold
out some *seen* classes as pseudo-unseen, to learn how the scores separate a class the model has never seen.

Only rows of the model's seen classes are ever read: the pseudo-unseen splits partition the seen classes,
and every row index passed on comes from ``ModelPieces.fit_rows`` / ``val_rows`` (rows of seen classes).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np

from ..cache import Progress, report
from .novelty import DETECTORS, fit_detector
from .novelty.feature_scores import CosineKNNDetector, MahalanobisDetector
from .softmax import SoftmaxRegression

__all__ = ["ModelPieces", "detector_inputs", "fit_detectors", "fit_novelty_softmax", "pseudo_unseen_splits",
           "pseudo_unseen_table"]

#: L-BFGS iterations of the softmax that feeds the logit scores (from a cold start, C fixed).
NOVELTY_SOFTMAX_ITER = 20
#: Fitting rows per class of a pseudo-unseen split's softmax (each split refits one; the deployed model's uses all).
PSEUDO_SOFTMAX_ROWS = 1500


@dataclass
class ModelPieces:
    """What a model's detectors are fitted from (the deployed model, or one of a pseudo-unseen split).

    ``X``/``y`` are the full training arrays (never read outside ``fit_rows`` and ``val_rows``, which hold
    rows of ``seen`` classes only); ``local`` maps a class index to its position among ``seen`` (-1 else).
    """

    X: np.ndarray
    y: np.ndarray
    seen: np.ndarray
    local: np.ndarray
    fit_rows: np.ndarray
    val_rows: np.ndarray
    standardiser: object
    mapping: object
    softmax: object | None
    statistics: object
    seen_vectors: np.ndarray
    seen_prototypes: np.ndarray
    unseen_prototypes: np.ndarray


def detector_inputs(kinds, X, Xs, F, softmax) -> dict:
    """The inputs of every kind in ``kinds`` for some images: raw features ``X``, standardised ``Xs``, mapped
    ``F`` and the novelty softmax's logits (see :mod:`zsl_core.model.novelty.base`)."""
    out = {"mapped": F, "features": X}
    if "logits" in kinds:
        out["logits"] = softmax.decision_function(Xs)
    return out


def fit_novelty_softmax(p: ModelPieces, C: float, second_moment=None, random_state=0,
                        max_rows_per_class=None) -> SoftmaxRegression:
    """A seen softmax on the fitting rows only, so the logits of the held-out rows are out of sample.

    ``max_rows_per_class`` fits it on a seeded sample of each class's fitting rows (the pseudo-unseen splits:
    the gate's table needs how the scores *separate* classes, not the last 0.5 % of accuracy).
    """
    rows = p.fit_rows
    if max_rows_per_class is not None:
        rng = np.random.default_rng(random_state)
        labels = p.y[rows]
        rows = np.sort(np.concatenate([
            rng.choice(rows[labels == c], size=min(int(max_rows_per_class), int((labels == c).sum())), replace=False)
            for c in p.seen]))
    Xfit = p.standardiser.transform(np.take(p.X, rows, axis=0))
    return SoftmaxRegression(C=C, max_iter=NOVELTY_SOFTMAX_ITER, random_state=random_state).fit(
        Xfit, p.local[p.y[rows]], n_classes=p.seen.size, second_moment=second_moment)


def _class_moments(statistics, classes):
    """Per-class fitting-part moments from class statistics (None without Gram matrices)."""
    if not getattr(statistics, "grams_", np.zeros(0)).size:
        return None
    classes = np.asarray(classes)
    return (statistics.counts_[classes, 0], statistics.sums_[classes, 0], [statistics.grams_[c] for c in classes],
            statistics.shift_)


def fit_detectors(names, params: dict, p: ModelPieces, calibration="validation", val_inputs=None):
    """Fit the named detectors on a model's pieces and score its held-out seen rows.

    Parameters
    ----------
    names : sequence of str
        Registry names (not ``'learned'``).
    params : dict
        ``name -> constructor keyword arguments``.
    p : ModelPieces
    calibration : {'validation', 'train'}
        For the word-space detectors: fit on mapped held-out rows (default) or on mapped fitting rows (the
        paper). The others always calibrate on the held-out rows.
    val_inputs : dict or None
        The held-out rows' inputs (computed when ``None``).

    Returns
    -------
    detectors : dict[str, detector]
    val_novelty : ndarray (n_val, len(names))
        Novelty scores of the held-out seen rows (leave-one-out where they are a LoOP reference).
    """
    kinds = {DETECTORS[n].input for n in names}
    yv = p.local[p.y[p.val_rows]]
    if val_inputs is None:
        Xv = np.take(p.X, p.val_rows, axis=0)
        Xvs = p.standardiser.transform(Xv)
        val_inputs = detector_inputs(kinds, Xv, Xvs, p.mapping.predict(Xvs), p.softmax)
    context = {"centers": p.seen_vectors, "seen_prototypes": p.seen_prototypes,
               "unseen_prototypes": p.unseen_prototypes}
    detectors, cols = {}, []
    for name in names:
        det = DETECTORS[name](**params.get(name, {}))
        Zv = val_inputs[det.input]
        if det.input == "features":
            moments = _class_moments(p.statistics, p.seen) if isinstance(det, MahalanobisDetector) else None
            if moments is not None:
                det.fit_moments(*moments)
            else:
                det.fit(np.take(p.X, p.fit_rows, axis=0), p.local[p.y[p.fit_rows]])
            det.calibrate(Zv)
        elif det.input == "mapped" and calibration == "train":
            Xf = p.standardiser.transform(np.take(p.X, p.fit_rows, axis=0))
            fit_detector(det, p.mapping.predict(Xf), p.local[p.y[p.fit_rows]], **context)
        else:
            fit_detector(det, Zv, yv, **context)
        ref = getattr(det, "reference_novelty_", np.zeros(0))
        fitted_on_val = calibration != "train" or det.input != "mapped"
        cols.append(ref if fitted_on_val and ref.shape[0] == yv.shape[0] else det.novelty_score(Zv))
        detectors[name] = det
    return detectors, np.stack([np.asarray(c, dtype=np.float64) for c in cols], 1)


def pseudo_unseen_splits(n_seen: int, k: int = 2, max_splits=None, random_state=0) -> list[tuple]:
    """Ways of holding out ``k`` of ``n_seen`` seen classes (local indices), at most ``max_splits`` of them.

    The sample is seeded and spread so that every class is held out about equally often.
    """
    if not 1 <= k <= n_seen - 2:
        raise ValueError(f"a pseudo-unseen split must leave at least 2 pseudo-seen classes; k={k} of {n_seen}")
    splits = list(combinations(range(n_seen), k))
    if max_splits is None or len(splits) <= max_splits:
        return splits
    rng = np.random.default_rng(random_state)
    order = rng.permutation(len(splits))
    chosen, count = [], np.zeros(n_seen)
    # Greedy: the next split is the one whose classes have been held out least so far (ties: seeded order).
    for _ in range(int(max_splits)):
        best = min((i for i in order if i not in chosen), key=lambda i: count[list(splits[i])].sum())
        chosen.append(best)
        count[list(splits[best])] += 1
    return [splits[i] for i in sorted(chosen)]


def pseudo_unseen_table(model, p: ModelPieces, names, params: dict, C: float, k=2, max_splits=8,
                        random_state=0, progress: Progress = None) -> dict:
    """The learned gate's training table: the components' scores on pseudo-unseen splits of the seen classes.

    For each split, the map, prototypes and softmax are refitted on the pseudo-seen classes' fitting rows (the
    same split, statistics and penalty as the deployed model), the components are fitted on them, and the
    held-out (validation) rows of all seen classes are scored: those of the pseudo-unseen classes are the
    novel examples.

    Parameters
    ----------
    model : ZeroShotClassifier
        The deployed model (fitted); its parameters are reused, its real unseen classes stay held out.
    p : ModelPieces
        The deployed model's pieces (only ``X``, ``y``, ``seen``, ``fit_rows``, ``val_rows`` and
        ``statistics`` are read).
    names, params : the components and their parameters
    C : float
        The seen softmax's penalty (chosen on validation by the deployed model).

    Returns
    -------
    dict with ``scores`` (N, m), ``novel``, ``groups``, ``seen_correct``, ``unseen_correct`` (N,) and ``rows``
    (indices into ``X``, all of seen classes).
    """
    from .classifier import ZeroShotClassifier

    splits = pseudo_unseen_splits(p.seen.size, k, max_splits, random_state)
    knn = next((n for n in names if DETECTORS[n] is CosineKNNDetector
                and params.get(n, {}).get("n_neighbors", 1) == 1), None)
    class_dist = None
    if knn is not None:
        # One pass for every split: the nearest reference row among any classes is the nearest of theirs.
        ref = CosineKNNDetector(**params.get(knn, {})).fit(np.take(p.X, p.fit_rows, axis=0),
                                                           p.local[p.y[p.fit_rows]])
        class_dist = ref.class_distances(np.take(p.X, p.val_rows, axis=0))
    others = [n for n in names if n != knn]
    sub_params = {k_: v for k_, v in model.get_params().items()}
    sub_params.update(novelty="gaussian", novelty_params=None, threshold=None)
    parts = {key: [] for key in ("scores", "novel", "groups", "seen_correct", "unseen_correct", "rows")}
    real_unseen = [model.class_names_[c] for c in model.unseen_]
    for g, held in enumerate(splits):
        report(progress, "pseudo-unseen splits", g, len(splits))
        pu = p.seen[list(held)]
        sub = ZeroShotClassifier(**sub_params)
        fitted = sub.fit_mapping(p.X, p.y, model.class_names_, real_unseen + [model.class_names_[c] for c in pu],
                                 class_vectors=model.class_vectors_, statistics=p.statistics)
        ps = sub.seen_
        sp = ModelPieces(X=p.X, y=p.y, seen=ps, local=fitted["local"], fit_rows=fitted["fit_rows"],
                         val_rows=fitted["val_rows"], standardiser=fitted["standardiser"], mapping=sub.mapping_,
                         softmax=None, statistics=p.statistics, seen_vectors=fitted["W_seen"],
                         seen_prototypes=sub.prototypes(fitted["W_seen"]),
                         unseen_prototypes=sub.prototypes(model.class_vectors_[pu]))
        M = fitted["system"].G / max(fitted["n_fit"], 1) if fitted["system"] is not None else None
        sp.softmax = fit_novelty_softmax(sp, C, M, random_state, PSEUDO_SOFTMAX_ROWS)
        # Scored rows: the held-out rows of every seen class (pseudo-seen ones first, as fitted["val_rows"]).
        novel_rows = p.val_rows[np.isin(p.y[p.val_rows], pu)]
        rows = np.concatenate([sp.val_rows, novel_rows])
        Xr = np.take(p.X, rows, axis=0)
        Xrs = sp.standardiser.transform(Xr)
        Fr = sp.mapping.predict(Xrs)
        kinds = {DETECTORS[n].input for n in others}
        inputs = detector_inputs(kinds | {"logits"}, Xr, Xrs, Fr, sp.softmax)
        n_val = sp.val_rows.size
        dets, val_nov = fit_detectors(others, params, sp, model.calibration,
                                      {kk: v[:n_val] for kk, v in inputs.items()})
        cols = {}
        for j, name in enumerate(others):
            novel_part = dets[name].novelty_score(inputs[dets[name].input][n_val:])
            cols[name] = np.concatenate([val_nov[:, j], novel_part])
        if knn is not None:
            pos = np.searchsorted(p.val_rows, rows)
            cols[knn] = class_dist[pos][:, p.local[ps]].min(1)
        seen_pred = ps[np.argmax(inputs["logits"], 1)]
        protos = sp.unseen_prototypes
        sq = ((Fr[:, None, :] - protos[None, :, :]) ** 2).sum(2)
        unseen_pred = pu[np.argmin(sq, 1)]
        y_rows = p.y[rows]
        parts["scores"].append(np.stack([cols[n] for n in names], 1))
        parts["novel"].append(np.isin(y_rows, pu))
        parts["groups"].append(np.full(rows.size, g))
        parts["seen_correct"].append(seen_pred == y_rows)
        parts["unseen_correct"].append(unseen_pred == y_rows)
        parts["rows"].append(rows)
    report(progress, "pseudo-unseen splits", len(splits), len(splits))
    table = {key: np.concatenate(v) for key, v in parts.items()}
    table["held_out"] = {g: tuple(int(c) for c in p.seen[list(h)]) for g, h in enumerate(splits)}
    return table
