"""Distractor words: unseen accuracy as decoy candidates join the unseen classes (Socher et al. 2013, Fig. 5)."""

from __future__ import annotations

import re

import numpy as np

from ..model.classifier import ZSLScores

__all__ = ["distractor_curve", "nearest_distractor_words"]


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
