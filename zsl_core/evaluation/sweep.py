"""The seen/unseen tradeoff of the hard gate: threshold sweep, AUSUC, best points, AUROC, confusion.

References
----------
R. Socher et al. *Zero-Shot Learning Through Cross-Modal Transfer.* NIPS 2013 (Figs. 4–5).
W.-L. Chao, S. Changpinyo, B. Gong, F. Sha. *An Empirical Study and Analysis of Generalized Zero-Shot
Learning for Object Recognition in the Wild.* ECCV 2016 (AUSUC).
"""

from __future__ import annotations

import numpy as np

from ..model.classifier import ZSLScores

__all__ = ["threshold_sweep", "ausuc", "best_point", "confusion_matrix", "auroc", "threshold_for_share",
           "share_for_threshold"]


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


def auroc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    if len(positive) == 0 or len(negative) == 0:
        return float("nan")
    scores = np.concatenate([positive, negative])
    order = scores.argsort(kind="mergesort")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    # average ranks over ties
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    ranks = (sums / counts)[inverse]
    r_pos = ranks[: len(positive)].sum()
    return float((r_pos - len(positive) * (len(positive) + 1) / 2) / (len(positive) * len(negative)))


# -- the threshold as a share of images called novel ---------------------------------------------------------
def threshold_for_share(novelty: np.ndarray, share: float) -> float:
    """The cutoff that calls ``round(share * n)`` of these novelty scores novel (novel ⇔ score > cutoff).

    A share means the same for every detector and model (the x-axis of the paper's Fig. 4), so the app's
    slider moves it; the cutoff on the detector's own scale follows. With tied scores the share actually
    called novel can differ slightly (:func:`share_for_threshold` gives it).

    Parameters
    ----------
    novelty : ndarray (n,)
        Novelty scores (any order).
    share : float in [0, 1]

    Returns
    -------
    float
    """
    s = np.sort(np.asarray(novelty, dtype=np.float64))[::-1]
    n = s.size
    if n == 0:
        return 0.0
    k = int(round(min(1.0, max(0.0, float(share))) * n))
    if k <= 0:
        return float(s[0])
    if k >= n:
        return float(np.nextafter(s[-1], -np.inf))
    return float(s[k])


def share_for_threshold(novelty: np.ndarray, threshold: float) -> float:
    """Fraction of the novelty scores above ``threshold`` (called novel at that cutoff)."""
    s = np.asarray(novelty, dtype=np.float64)
    return float(np.mean(s > float(threshold))) if s.size else 0.0
