"""Every novelty detector side by side: AUROC, AUSUC, best overall and H, and the figures at a threshold
chosen without unseen images — for one held-out set, and summarised over many (the 45 held-out pairs).

A model with the learned gate carries every single detector as a component, each fitted on the deployed
model and each with a threshold at the false-novel rate it would learn alone on the pseudo-unseen splits;
one fit therefore scores them all. Oracle figures (best overall, best H) read the test labels and are
labelled as such; the "at threshold" figures never do.
"""

from __future__ import annotations

import numpy as np

from .sweep import auroc, ausuc, best_point, threshold_sweep

__all__ = ["detector_scores", "detector_table", "summarise_tables"]


def detector_scores(run) -> dict:
    """``{name: {'novelty': (n_test,), 'threshold': float, 'validation': float}}`` for every detector a run has.

    The learned gate's components (each at its own seen-only learned rate) and the gate itself; for a
    single detector, just it at the model's own threshold.
    """
    from ..model import DETECTORS

    model, scores = run.model, run.scores
    det = model.detector_
    out = {}
    if det.input == "scores":
        comps = model.component_novelty(run.features.X_test)
        for j, name in enumerate(det.components):
            out[name] = {"novelty": comps[name], "threshold": float(det.component_thresholds_[j]),
                         "validation": float(det.validation_.get(name, np.nan))}
        out["learned"] = {"novelty": np.asarray(scores.novelty), "threshold": float(run.threshold),
                          "validation": float(det.validation_.get("learned", np.nan))}
    else:
        out[run.config.novelty] = {"novelty": np.asarray(scores.novelty), "threshold": float(run.threshold),
                                   "validation": float("nan")}
    for name, row in out.items():
        row["label"] = DETECTORS[name].label
        row["paper"] = bool(DETECTORS[name].paper)
    return out


def detector_table(run, with_sweeps: bool = False) -> dict:
    """The detector table of one run: ``{name: metrics}``.

    Metrics: ``auroc`` (unseen vs seen test images), ``ausuc``, ``best_overall`` / ``best_H`` (oracle: over
    every threshold), ``at_threshold`` (seen, unseen, overall, H, novel_fraction at the seen-only threshold),
    ``gain`` (overall there minus "call nothing unseen"), ``validation`` (seen-only cross-validated expected
    overall accuracy from the pseudo-unseen splits), ``label``, ``paper``; with ``with_sweeps`` also ``sweep``.
    """
    scores, y = run.scores, run.y_test
    seen_test = np.isin(y, run.seen)
    never = threshold_sweep(scores, y, run.seen, run.unseen, thresholds=np.array([np.inf]))
    base = float(np.asarray(never["overall"])[0])  # call nothing unseen
    table = {}
    for name, row in detector_scores(run).items():
        nov = np.asarray(row["novelty"], dtype=np.float64)
        s = type(scores)(scores.seen_proba, scores.unseen_proba, nov, scores.novelty_probability, scores.mapped)
        sweep = threshold_sweep(s, y, run.seen, run.unseen)
        at = threshold_sweep(s, y, run.seen, run.unseen, thresholds=np.array([row["threshold"]]))
        at = {k: float(np.asarray(v)[0]) for k, v in at.items()}
        bo, bh = best_point(sweep, "overall"), best_point(sweep, "H")
        table[name] = {
            "label": row["label"], "paper": row["paper"],
            "auroc": float(auroc(nov[~seen_test], nov[seen_test])), "ausuc": float(ausuc(sweep)),
            "best_overall": float(bo["overall"]), "best_H": float(bh["H"]),
            "at_threshold": at, "gain": at["overall"] - base, "call_nothing_unseen": base,
            "validation": row["validation"],
        }
        if with_sweeps:
            table[name]["sweep"] = sweep
    return table


def summarise_tables(tables: dict) -> dict:
    """Means over held-out sets of :func:`detector_table` results: ``{name: summary}``.

    Parameters
    ----------
    tables : dict
        ``{held-out key: detector_table(...)}``.

    Returns
    -------
    dict
        Per detector: ``n`` sets, mean ``auroc``, ``ausuc``, ``best_overall``, ``best_H``, ``overall`` and ``H``
        at the seen-only threshold, ``validation``, mean ``gain`` over "call nothing unseen", ``wins`` (sets
        where the gain is positive) and the smallest gain ``min_gain``.
    """
    names = []
    for t in tables.values():
        names += [n for n in t if n not in names]
    out = {}
    for name in names:
        rows = [t[name] for t in tables.values() if name in t]
        gains = np.array([r["gain"] for r in rows])
        out[name] = {
            "label": rows[0]["label"], "paper": rows[0]["paper"], "n": len(rows),
            **{k: float(np.mean([r[k] for r in rows])) for k in ("auroc", "ausuc", "best_overall", "best_H")},
            "overall": float(np.mean([r["at_threshold"]["overall"] for r in rows])),
            "H": float(np.mean([r["at_threshold"]["H"] for r in rows])),
            "validation": float(np.nanmean([r["validation"] for r in rows])) if any(
                np.isfinite(r["validation"]) for r in rows) else float("nan"),
            "gain": float(gains.mean()), "wins": int((gains > 0).sum()), "min_gain": float(gains.min()),
        }
    return out
