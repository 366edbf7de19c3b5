"""Reproduce the paper's CIFAR-10 experiments and write a report beside the paper's own figures.

``python -m zsl_core reproduce`` runs, on one dataset and one feature extractor:

1. seen-class accuracy of the softmax on the 8 seen classes (paper: 82.5 %);
2. the full model (Eq. 2) with the paper's two novelty detectors and the learned gate, swept over every
   threshold: seen / unseen / overall accuracy and their harmonic mean H, the best overall and best H with the
   threshold that gives each, beside "call nothing unseen" (fraction of seen test images x seen accuracy);
   and the ``detectors`` table: every detector's AUROC, AUSUC, best overall / H and its figures at a
   threshold chosen without unseen images (optionally over every held-out pair: ``detectors_all_pairs``);
3. 2-way zero-shot accuracy for every held-out pair (the all-pairs matrix; the paper's five named pairs);
4. distractor words: unseen accuracy as nearest GloVe neighbours of the unseen names join the candidates;
5. a t-SNE picture of the semantic space.

Every hyper-parameter is chosen inside ``ZeroShotClassifier.fit`` on a validation split of the *seen
training* images; test images and unseen-class images are only ever used to measure.
"""

from __future__ import annotations

import json
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import __version__
from .cache import Progress, atomic_write_text, report

#: The paper's CIFAR-10 figures (Socher et al. 2013, Sec. 6), with cat and truck unseen unless a pair says
#: otherwise. Pair accuracies are read off the paper's Figure 3 (2-way zero-shot classification).
PAPER = {
    "reference": "Socher, Ganjoo, Sridhar, Bastani, Manning, Ng. Zero-Shot Learning Through Cross-Modal "
    "Transfer. NIPS 2013.",
    "seen_accuracy": 0.825,
    "zero_shot_pair_accuracy": {
        "cat-truck": 0.91,
        "cat-dog": 0.50,
        "airplane-automobile": 0.65,
        "automobile-deer": 0.76,
        "deer-ship": 0.83,
    },
    "notes": "Paper features: Coates & Ng unsupervised features on the original CIFAR-10 pickles; word "
    "vectors: Huang et al. (2012) 50-d. Ours: GloVe 6B 50-d; the dev copy of CIFAR-10 is JPEG re-encoded.",
}


def pair_key(a: str, b: str) -> str:
    """``"a-b"`` with the two class names sorted, the key of ``zero_shot_pair_accuracy``."""
    first, second = sorted((a, b))
    return f"{first}-{second}"


def _decimate(sweep: dict, max_points: int = 400) -> dict:
    """Thin a sweep to at most ``max_points`` rows for the JSON report (the plots use the full sweep)."""
    n = len(sweep["threshold"])
    if n <= max_points:
        idx = np.arange(n)
    else:
        idx = np.unique(np.linspace(0, n - 1, max_points).round().astype(int))
    out = {}
    for key in ("threshold", "seen", "unseen", "overall", "H", "novel_fraction"):
        if key in sweep:
            values = np.asarray(sweep[key], dtype=float)[idx]
            out[key] = [None if not np.isfinite(v) else round(float(v), 6) for v in values]
    return out


@dataclass
class ReportOptions:
    """What the report contains besides the experiment itself."""

    out: str = "reports"
    n_distractors: int = 20
    tsne_points: int = 2000
    skip_pairs: bool = False
    #: Also the detector table of every 2-class held-out set (45 on CIFAR-10; one learned-gate fit each,
    #: cached in the model cache), summarised in ``report.json``'s ``detectors_all_pairs``.
    detector_pairs: bool = False


def detector_pairs(config, dataset, feats, statistics, words, progress: Progress = None, log=print) -> dict:
    """The detector table of every 2-class held-out set and its summary over them (learned-gate runs, cached).

    Returns ``{'pairs': {pair: {detector: compact row}}, 'summary': evaluation.summarise_tables(...)}``.
    """
    from itertools import combinations

    from .evaluation import detector_table, summarise_tables
    from .experiment import train

    names = list(dataset.class_names)
    tables = {}
    for a, b in combinations(names, 2):
        report(progress, "Detectors over every held-out pair", len(tables), len(names) * (len(names) - 1) // 2)
        run_ = train(config.with_(unseen=(a, b), novelty="learned"), progress, dataset=dataset, features=feats,
                     statistics=statistics, words=words)
        tables[pair_key(a, b)] = detector_table(run_)
        lr = tables[pair_key(a, b)]["learned"]
        log(f"  {a}+{b}: learned gate {lr['at_threshold']['overall']:.4f} vs call nothing unseen "
            f"{lr['call_nothing_unseen']:.4f} ({lr['gain']:+.4f}), AUROC {lr['auroc']:.3f}")
    summary = summarise_tables(tables)
    for name, row in summary.items():
        log(f"{name}: mean gain {row['gain']:+.4f}, beats call nothing unseen in {row['wins']}/{row['n']} pairs, "
            f"mean AUROC {row['auroc']:.3f}")
    compact = {key: {name: {"auroc": r["auroc"], "ausuc": r["ausuc"], "best_overall": r["best_overall"],
                            "best_H": r["best_H"], "overall": r["at_threshold"]["overall"],
                            "H": r["at_threshold"]["H"], "gain": r["gain"], "validation": r["validation"]}
                     for name, r in t.items()} for key, t in tables.items()}
    return {"pairs": compact, "summary": summary}


def run(config, options: ReportOptions | None = None, progress: Progress = None, log=print) -> dict:
    """Run every experiment of the paper for ``config`` and write ``report.md``, ``report.json`` and PNG plots.

    Parameters
    ----------
    config : zsl_core.experiment.Config
        The experiment (its ``novelty`` is ignored: both detectors are reported).
    options : ReportOptions
    progress : callable(step, done, total) or None
    log : callable(str)

    Returns
    -------
    dict
        The report (the content of ``report.json``).
    """
    from .evaluation import auroc, ausuc, best_point, detector_table, distractor_curve, nearest_distractor_words
    from .experiment import load_data, load_statistics, loop_problem, pairs_matrix, plan, summary, train
    from .progress import format_seconds
    from .semantic import WordVectors

    options = options or ReportOptions()
    started = time.time()
    timings = {}
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)

    t0 = time.time()
    dataset = load_data(config, progress)
    config.check_classes(dataset.class_names)
    data_s = time.time() - t0
    words = WordVectors.from_glove_package()
    estimate = plan(config, dataset, pairs=not options.skip_pairs, words=words)
    stages = ", ".join(f"{k} {format_seconds(v)}" + (" (cached)" if estimate["cached"].get(k) else "")
                       for k, v in estimate.items() if k not in ("total", "cached"))
    log(f"Plan: about {format_seconds(estimate['total'] + 60)} in all (±50 %): {stages}, then the report's "
        "second detector, distractors and pictures (about a minute)")
    log(f"Dataset: {dataset.name}: {len(dataset.train_labels):,} train / {len(dataset.test_labels):,} test "
        f"images, classes {', '.join(dataset.class_names)}")
    for warning in dataset.warnings:
        log(f"Dataset warning: {warning}")
    # What this dataset cannot support is said now, from its labels, and the rest of the report still runs.
    skipped = {}
    problem = loop_problem(config, dataset)
    if problem:
        skipped["loop"] = problem
        log(f"LoOP novelty detector: skipped (the other detectors are reported). {problem}.")
    first = train(config.with_(novelty="gaussian"), progress, dataset=dataset, words=words)
    feats = first.features
    timings.update({k: round(v, 2) for k, v in first.timings.items()})
    timings["data_s"] = round(data_s, 2)
    log(f"Features: {config.features} {feats.X_train.shape[1]}-d ({first.timings['features_s']:.1f} s)")
    from .model import statistics as class_statistics

    if feats.X_train.shape[1] > class_statistics._PER_CLASS_GRAM_MAX_DIM:
        # Its pseudo-unseen splits each refit the map, a softmax and the feature-space detectors, which at this
        # many features are minutes each: the report would take an hour instead of a quarter.
        skipped["learned"] = (f"the learned gate is not trained at {feats.X_train.shape[1]:,} features: each of its "
                              f"pseudo-unseen splits refits the map, a softmax and the feature-space detectors, "
                              f"minutes each here (train it on its own: --novelty learned)")
        log(f"Learned gate: skipped. {skipped['learned']}.")
    class_names = list(dataset.class_names)
    unseen = list(config.unseen)
    y_test = dataset.test_labels
    statistics = first.statistics
    # A figure over classes without test images is undefined: it is reported as such, not measured on the rest.
    empty_test = {c for c, n in zip(class_names, dataset.counts("test")) if n == 0}

    def no_test(names) -> str | None:
        missing = [c for c in names if c in empty_test]
        return f"no test images of {', '.join(missing)}" if missing else None

    undefined = {}
    if no_test(unseen):
        undefined["ausuc"] = no_test(unseen)
    if all(c in empty_test for c in unseen):
        undefined["novelty_auroc"] = no_test(unseen)

    # --- the full model, once per novelty detector -----------------------------------------------------
    detectors = {}
    runs = {"gaussian": first}
    for detector in ("gaussian", "loop", "learned"):
        if detector in skipped:
            continue
        if detector not in runs:
            report(progress, f"Training the model ({detector} novelty)", 0, 1)
            # The same map and softmax as the first model (only the detector differs): reused, not refitted.
            runs[detector] = train(config.with_(novelty=detector), progress, dataset=dataset, features=feats,
                                   statistics=statistics, words=words, like=first.model)
            report(progress, f"Training the model ({detector} novelty)", 1, 1)
        r = runs[detector]
        timings[f"fit_{detector}_s"] = round(r.timings["fit_s"], 2)
        sweep = r.sweep
        at_default = r.at_threshold()
        at_best_overall = best_point(sweep, "overall")
        at_best_h = best_point(sweep, "H")
        keep = ("threshold", "seen", "unseen", "overall", "H", "novel_fraction")
        seen_test = np.isin(y_test, r.seen)
        detectors[detector] = {
            "sweep": sweep,
            "ausuc": None if "ausuc" in undefined else float(ausuc(sweep)),
            "best_overall": {"value": at_best_overall["overall"], **{k: at_best_overall[k] for k in keep}},
            "best_H": {"value": at_best_h["H"], **{k: at_best_h[k] for k in keep}},
            "at_default_threshold": {"threshold": r.threshold,
                                     **{k: at_default[k] for k in ("seen", "unseen", "overall", "H",
                                                                   "novel_fraction")}},
            "novelty_auroc": (None if "novelty_auroc" in undefined
                              else auroc(r.scores.novelty[~seen_test], r.scores.novelty[seen_test])),
        }
        d = detectors[detector]
        log(f"{detector}: best overall {d['best_overall']['value']:.3f} at threshold "
            f"{d['best_overall']['threshold']:.4g}; best H {d['best_H']['value']:.3f} at {d['best_H']['threshold']:.4g}; "
            f"AUSUC {_fmt(d['ausuc'], why=undefined.get('ausuc'))}; seen-vs-unseen AUROC of the novelty score "
            f"{_fmt(d['novelty_auroc'], why=undefined.get('novelty_auroc'))}")

    # --- every detector side by side (the learned gate's run carries them all) ----------------------------
    t0 = time.time()
    table = detector_table(runs["learned"]) if "learned" in runs else {}
    for row in table.values():  # undefined here as in the detectors above (a held-out class without test images)
        if "ausuc" in undefined:
            row["ausuc"] = None
        if "novelty_auroc" in undefined:
            row["auroc"] = None
    if table:
        log("Detectors (AUROC / best overall / overall at the seen-only threshold, gain vs call nothing unseen):")
    for name, row in table.items():
        log(f"  {name:22s} {_fmt(row['auroc'], why=undefined.get('novelty_auroc'))} / {row['best_overall']:.3f} / "
            f"{row['at_threshold']['overall']:.4f} ({row['gain']:+.4f}); seen-only validation {row['validation']:.4f}")
    detectors_all_pairs = None
    if options.detector_pairs and "learned" in runs:
        detectors_all_pairs = detector_pairs(config, dataset, feats, statistics, words, progress, log)
    timings["detectors_s"] = round(time.time() - t0, 2)

    # Seen accuracy: the softmax alone on the seen classes' test images (the paper's 82.5 % figure).
    model_run = runs["gaussian"]
    headline = summary(model_run)
    seen_accuracy = headline["seen_softmax"]
    ceiling = headline["call_nothing_unseen"]
    seen_idx = model_run.seen
    log(f"Seen accuracy ({len(seen_idx)}-way softmax, seen test images): {seen_accuracy:.3f} "
        f"(paper {PAPER['seen_accuracy']:.3f}); 'call nothing unseen' overall = {ceiling:.3f}")

    # --- 2-way zero-shot pairs ------------------------------------------------------------------------
    t0 = time.time()
    pair_matrix = None
    pairs, undefined_pairs = {}, {}
    if options.skip_pairs:
        # Only the held-out pair: the model's own zero-shot figure (the same computation as its matrix cell).
        if len(unseen) == 2 and headline["zero_shot"] is not None:
            pairs[pair_key(*unseen)] = None if no_test(unseen) else headline["zero_shot"]
            undefined_pairs[pair_key(*unseen)] = no_test(unseen)
    else:
        if statistics is None and config.mapping == "linear":
            statistics = load_statistics(feats, dataset, config.seed, progress, attach_rows=False)
        pair_matrix = np.array(pairs_matrix(config, dataset, feats, statistics, words, progress), dtype=float)
        for c in empty_test:  # undefined, not measured on the other class's images alone
            pair_matrix[class_names.index(c), :] = pair_matrix[:, class_names.index(c)] = np.nan
        for i in range(len(class_names)):
            for j in range(i + 1, len(class_names)):
                why = no_test([class_names[i], class_names[j]])
                pairs[pair_key(class_names[i], class_names[j])] = None if why else float(pair_matrix[i, j])
                undefined_pairs[pair_key(class_names[i], class_names[j])] = why
    timings["pairs_s"] = round(time.time() - t0, 2)
    undefined_pairs = {k: why for k, why in undefined_pairs.items() if why}
    if undefined_pairs:
        undefined["zero_shot_pair_accuracy"] = undefined_pairs
    key = pair_key(*unseen) if len(unseen) == 2 else None
    if key in pairs:
        log(f"2-way zero-shot {key}: {_fmt(pairs[key], why=undefined_pairs.get(key))}")

    # --- distractors ------------------------------------------------------------------------------------
    t0 = time.time()
    model, scores = model_run.model, model_run.scores
    distractor_words = nearest_distractor_words(words, unseen, options.n_distractors, exclude=class_names)
    counts = list(range(0, len(distractor_words) + 1))
    curve = distractor_curve(model, feats.X_test, y_test, words.class_vectors(distractor_words), counts,
                             scores=scores)
    distractor = {
        "words": distractor_words,
        "n_distractors": np.asarray(curve["count"]).tolist(),
        # Unseen test images classified among the unseen classes + distractors (gate assumed perfect).
        "unseen_accuracy": np.asarray(curve["unseen"]).tolist(),
        # The same through the model's hard gate at its default threshold.
        "gated_unseen_accuracy": np.asarray(curve["gated"]).tolist(),
        "gate_threshold": float(model.threshold_),
    }
    timings["distractors_s"] = round(time.time() - t0, 2)

    # --- pictures -----------------------------------------------------------------------------------------
    t0 = time.time()
    plots = _plots(out, class_names, unseen, detectors, pair_matrix, distractor, (model, scores),
                   y_test, words, options.tsne_points, config.seed, seen_accuracy, ceiling, progress)
    timings["plots_s"] = round(time.time() - t0, 2)
    timings["total_s"] = round(time.time() - started, 2)

    result = {
        "features": config.features,
        "feature_dim": int(feats.X_train.shape[1]),
        "feature_params": feats.extractor.get_params(),
        "mapping": config.mapping,
        "dataset": {"name": dataset.name, "fingerprint": dataset.fingerprint, "classes": class_names,
                    "n_train": int(len(dataset.train_labels)), "n_test": int(len(y_test)),
                    "warnings": [str(w) for w in dataset.warnings],
                    "no_test_images": [c for c in class_names if c in empty_test]},
        "unseen": unseen,
        "seen": [class_names[i] for i in seen_idx],
        "seen_accuracy": seen_accuracy,
        "call_nothing_unseen_overall": ceiling,
        "zero_shot_pair_accuracy": pairs,
        "sweep": {name: _decimate(d["sweep"]) for name, d in detectors.items()},
        "ausuc": {name: d["ausuc"] for name, d in detectors.items()},
        "novelty_auroc": {name: d["novelty_auroc"] for name, d in detectors.items()},
        "best_overall": {name: d["best_overall"] for name, d in detectors.items()},
        "best_H": {name: d["best_H"] for name, d in detectors.items()},
        "at_default_threshold": {name: d["at_default_threshold"] for name, d in detectors.items()},
        "skipped_detectors": skipped,
        "undefined": undefined,
        "detectors": table or None,
        "detectors_all_pairs": detectors_all_pairs,
        "distractors": distractor,
        "paper": PAPER,
        "plots": plots,
        "timings": timings,
        "run": {"command": " ".join(sys.argv), "config": config.to_dict(),
                "report_options": {k: v for k, v in vars(options).items()},
                "version": __version__, "python": platform.python_version(),
                "finished": time.strftime("%Y-%m-%d %H:%M:%S")},
    }
    atomic_write_text(out / "report.json", json.dumps(result, indent=1, default=_json_default))
    atomic_write_text(out / "report.md", render_markdown(result))
    log(f"Report written to {out / 'report.md'} ({timings['total_s']:.0f} s)")
    return result


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _plots(out, class_names, unseen, detectors, pair_matrix, distractor, gaussian_model, y_test, words,
           tsne_points, seed, seen_accuracy, ceiling, progress) -> dict:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = {}
    unseen_label = " + ".join(unseen)

    # Seen vs unseen accuracy as the threshold moves (the paper's Fig. 4 / 5 view).
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, d in detectors.items():
        s = d["sweep"]
        axes[0].plot(s["unseen"], s["seen"], label=f"{name} (AUSUC {_fmt(d['ausuc'], why='undefined')})")
        frac = np.asarray(s["novel_fraction"])
        axes[1].plot(frac, s["overall"], label=f"{name}: overall")
        axes[1].plot(frac, s["H"], linestyle="--", label=f"{name}: H")
    axes[0].set_xlabel(f"unseen accuracy (test images of {unseen_label})")
    axes[0].set_ylabel("seen accuracy (test images of the seen classes)")
    axes[0].set_title("Seen vs unseen accuracy over all thresholds")
    axes[0].axhline(PAPER["seen_accuracy"], color="grey", lw=0.8, ls=":", label="paper: seen softmax 0.825")
    axes[0].legend(fontsize=8)
    axes[1].axhline(ceiling, color="black", lw=0.8, ls=":", label=f"call nothing unseen ({ceiling:.3f})")
    axes[1].set_xlabel("fraction of test images called novel")
    axes[1].set_ylabel("accuracy (all 10k test images, 10-way)")
    axes[1].set_title("Overall accuracy and H against the threshold")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "seen_unseen_curves.png", dpi=110)
    plt.close(fig)
    files["seen_unseen_curves"] = "seen_unseen_curves.png"

    if pair_matrix is not None:
        fig, ax = plt.subplots(figsize=(6.4, 5.4))
        shown = np.array(pair_matrix, dtype=float)
        np.fill_diagonal(shown, np.nan)
        im = ax.imshow(shown, vmin=0.5, vmax=1.0, cmap="viridis")
        ax.set_xticks(range(len(class_names)), class_names, rotation=60, ha="right")
        ax.set_yticks(range(len(class_names)), class_names)
        for i in range(len(class_names)):
            for j in range(len(class_names)):
                if i != j:
                    ax.text(j, i, f"{shown[i, j]:.2f}" if np.isfinite(shown[i, j]) else "n/a", ha="center",
                            va="center", fontsize=6,
                            color="white" if shown[i, j] < 0.75 else "black")
        fig.colorbar(im, ax=ax, label="2-way zero-shot accuracy (test images of the pair)")
        ax.set_title("Held-out pair: 2-way zero-shot accuracy")
        fig.tight_layout()
        fig.savefig(out / "pairs_matrix.png", dpi=110)
        plt.close(fig)
        files["pairs_matrix"] = "pairs_matrix.png"

    fig, ax = plt.subplots(figsize=(5.6, 4))
    for key, label in (("unseen_accuracy", "among unseen classes + distractors (gate assumed perfect)"),
                       ("gated_unseen_accuracy",
                        f"through the Gaussian gate (threshold {distractor['gate_threshold']:.3g})")):
        if key in distractor:
            ax.plot(distractor["n_distractors"], distractor[key], marker="o", ms=3, label=label)
    ax.set_xlabel("distractor words added to the unseen candidates")
    ax.set_ylabel(f"accuracy on test images of {unseen_label}")
    ax.set_title("Distractor words (nearest GloVe neighbours)")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "distractors.png", dpi=110)
    plt.close(fig)
    files["distractors"] = "distractors.png"

    # t-SNE of mapped test images with the class word vectors.
    from .projection import project

    model, scores = gaussian_model
    rng = np.random.default_rng(seed)
    n = min(tsne_points, len(y_test))
    idx = np.sort(rng.choice(len(y_test), n, replace=False))
    points = np.vstack([scores.mapped[idx], model.class_vectors_])
    xy = project(points, method="tsne", random_state=seed, progress=progress)
    fig, ax = plt.subplots(figsize=(7, 6))
    cmap = plt.get_cmap("tab10")
    for c, name in enumerate(class_names):
        mask = y_test[idx] == c
        ax.scatter(xy[:n][mask, 0], xy[:n][mask, 1], s=4, color=cmap(c % 10), alpha=0.5,
                   marker="x" if name in unseen else "o")
        ax.scatter(*xy[n + c], marker="*", s=260, color=cmap(c % 10), edgecolor="black")
        ax.annotate(name + (" (unseen)" if name in unseen else ""), xy[n + c], fontsize=8, weight="bold")
    ax.set_title(f"t-SNE of {n:,} mapped test images and the class word vectors (stars)")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(out / "semantic_space_tsne.png", dpi=110)
    plt.close(fig)
    files["semantic_space_tsne"] = "semantic_space_tsne.png"
    return files


#: What the features add to the explanation of a pair's deviation from the paper.
_FEATURE_NOTES = {
    "efficientnet": "the pretrained EfficientNet features (ImageNet) also separate visually distinct classes far "
                    "better than the paper's unsupervised features. ",
    "coates": "the features are the paper's own kind (Coates & Ng's K = 1,600 single-layer features), so the "
              "word vectors are the main difference: a pair whose two word vectors sit in a different place "
              "relative to the seen classes transfers differently. ",
}


def _fmt(value, digits=3, why=None):
    """A figure with ``digits`` decimals; ``n/a (why)`` when it is undefined for a reason, else ``—``."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return f"n/a ({why})" if why else "—"
    return f"{value:.{digits}f}"


def _unseen_caveat(r: dict) -> str:
    """`` (ship has no test images: ... truck alone)`` when some held-out classes have no test images."""
    missing = [u for u in r["unseen"] if u in r["dataset"].get("no_test_images", ())]
    if not missing:
        return ""
    rest = [u for u in r["unseen"] if u not in missing]
    why = f"no test images of {', '.join(missing)}"
    return (f" ({why}: the unseen figures are measured on {' + '.join(rest)} alone, and AUSUC is undefined)"
            if rest else f" ({why}: the unseen figures are undefined)")


def render_markdown(r: dict) -> str:
    """The human-readable report: every figure beside the paper's, each saying what it measures."""
    unseen = " + ".join(r["unseen"])
    lines = [
        f"# ZSL Explorer — reproduction report ({r['features']} features)",
        "",
        f"Paper: {PAPER['reference']}",
        "",
        f"- Dataset: {r['dataset']['name']} — {r['dataset']['n_train']:,} training / {r['dataset']['n_test']:,} "
        f"test images; fingerprint `{r['dataset']['fingerprint']}`.",
        f"- Unseen (held-out) classes: **{unseen}**; seen: {', '.join(r['seen'])}.",
        f"- Features: `{r['features']}` ({r['feature_dim']}-d), params `{json.dumps(r['feature_params'])}`; "
        f"mapping: `{r['mapping']}`.",
        f"- Command: `{r['run']['command']}`; finished {r['run']['finished']}; total "
        f"{r['timings'].get('total_s', 0):.0f} s.",
        "- Every hyper-parameter (ridge strength, softmax regularisation, Gaussian widths, default threshold) was "
        "chosen on a validation split of the seen classes' training images. Test images and unseen-class images "
        "were used only to measure. Best-over-threshold figures are oracle figures (the threshold that is best "
        "on the test set) and are labelled as such; the default-threshold rows use the threshold chosen without "
        "test data.",
        "",
    ]
    if r["dataset"].get("warnings"):
        lines += ["## Dataset warnings", ""] + [f"- {w}" for w in r["dataset"]["warnings"]] + [""]
    undefined = r.get("undefined", {})
    lines += [
        "## Seen classes",
        "",
        "| figure | ours | paper | deviation |",
        "| --- | --- | --- | --- |",
        f"| softmax accuracy on test images of the {len(r['seen'])} seen classes ({len(r['seen'])}-way) | "
        f"{_fmt(r['seen_accuracy'])} | {_fmt(PAPER['seen_accuracy'])} | "
        f"{(r['seen_accuracy'] - PAPER['seen_accuracy']) * 100:+.1f} pts |",
        "",
        "## 2-way zero-shot accuracy (test images of the two held-out classes, classified between their two "
        "word vectors; mapping trained on the other 8 classes)",
        "",
        "| pair | ours | paper | deviation |",
        "| --- | --- | --- | --- |",
    ]
    explanations = []
    held_out = pair_key(*r["unseen"]) if len(r["unseen"]) == 2 else None
    rows = dict(PAPER["zero_shot_pair_accuracy"])
    if held_out in r["zero_shot_pair_accuracy"] and held_out not in rows:
        rows[held_out] = None  # the pair held out here, which the paper does not report
    for key, paper_value in rows.items():
        ours = r["zero_shot_pair_accuracy"].get(key)
        dev = None if ours is None or paper_value is None else (ours - paper_value) * 100
        why = undefined.get("zero_shot_pair_accuracy", {}).get(key)
        lines.append(f"| {key}{' (held out here)' if key == held_out else ''} | {_fmt(ours, why=why)} | "
                     f"{_fmt(paper_value, 2)} | {'—' if dev is None else f'{dev:+.1f} pts'} |")
        if dev is not None and abs(dev) > 10:
            explanations.append(key)
    lines += [""]
    if explanations:
        lines += [
            f"Deviations over 10 points ({', '.join(explanations)}): a 2-way pair accuracy depends on where the "
            "two unseen word vectors lie relative to each other and to the seen classes. Our word vectors are "
            "GloVe 6B 50-d, not the paper's Huang et al. (2012) vectors, so the geometry of each pair differs "
            "(see the word-vector cosine similarities in the app's Held-out pairs page); "
            + (_FEATURE_NOTES.get(r["features"], "") or "")
            + "Our copy of CIFAR-10 is JPEG re-encoded, the test images are classified between the two held-out "
            "classes' calibrated prototypes (the word vectors projected onto the span of the seen classes' word "
            "vectors, fitted on validation images) rather than the raw word vectors, and the paper's figures are "
            "read off its Figure 3 (a few points either way). With only 1,000 test images per class a single "
            "pair's figure also carries about ±1.5 points of sampling noise.",
            "",
        ]
    ceiling = r["call_nothing_unseen_overall"]
    lines += [
        f"## The full model (Eq. 2), all 10 classes, {r['dataset']['n_test']:,} test images",
        "",
        "Seen accuracy = on test images of the seen classes; unseen = on test images of "
        f"{unseen}{_unseen_caveat(r)}; each judged by the final 10-way decision. H = harmonic mean of the two. "
        f"'Call nothing unseen' = fraction of seen test images x seen accuracy = **{_fmt(ceiling)}**: a gate "
        "earns its keep only if it beats this.",
        "",
        "| detector | best overall (oracle threshold) | seen / unseen there | best H (oracle threshold) | "
        "at the default threshold (chosen on validation): seen / unseen / overall / H | AUSUC | "
        "novelty AUROC (unseen vs seen test images) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in r["best_overall"]:
        bo, bh, dt = r["best_overall"][name], r["best_H"][name], r["at_default_threshold"][name]
        beats = "beats" if bo["value"] > ceiling + 1e-9 else "does not beat"
        lines.append(
            f"| {name} | {_fmt(bo['value'])} at threshold {bo['threshold']:.4g} ({beats} {_fmt(ceiling)}) | "
            f"{_fmt(bo['seen'])} / {_fmt(bo['unseen'])} | {_fmt(bh['value'])} at threshold {bh['threshold']:.4g} "
            f"(seen {_fmt(bh['seen'])}, unseen {_fmt(bh['unseen'])}) | {_fmt(dt['seen'])} / {_fmt(dt['unseen'])} / "
            f"{_fmt(dt['overall'])} / {_fmt(dt['H'])} at {dt['threshold']:.4g} | "
            f"{_fmt(r['ausuc'][name], why=undefined.get('ausuc'))} | "
            f"{_fmt(r['novelty_auroc'][name], why=undefined.get('novelty_auroc'))} |")
    for name, why in r.get("skipped_detectors", {}).items():
        lines.append(f"| {name} | not run on this dataset: {why}. | | | | | |")
    lines += [
        "",
        "Thresholds: Gaussian — a test image is called novel when its negative log marginal likelihood under the "
        "seen-class Gaussians exceeds the threshold; LoOP — when its local outlier probability exceeds it.",
        "",
        f"![seen/unseen curves]({r['plots']['seen_unseen_curves']})",
        "",
    ]
    if r.get("detectors"):
        lines += [
            "## Every novelty detector",
            "",
            "Each at a threshold chosen without unseen images: the false-novel rate it learns alone on seen classes "
            "held out in turn (the learned gate: its own). Best overall / best H read every threshold of the test "
            "split (oracle). Validation: the seen-only cross-validated expected overall accuracy that chose the "
            "default detector.",
            "",
            "| detector | AUROC | AUSUC | best overall (oracle) | best H (oracle) | called novel | seen / unseen | "
            "overall | gain vs call nothing unseen | H | validation (seen only) |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for name, t in r["detectors"].items():
            at = t["at_threshold"]
            lines.append(f"| {t['label']}{' (paper)' if t['paper'] else ''} | {_fmt(t['auroc'])} | {_fmt(t['ausuc'])} | "
                         f"{_fmt(t['best_overall'])} | {_fmt(t['best_H'])} | {_fmt(at['novel_fraction'])} | "
                         f"{_fmt(at['seen'])} / {_fmt(at['unseen'])} | {_fmt(at['overall'], 4)} | "
                         f"{t['gain']:+.4f} | {_fmt(at['H'])} | {_fmt(t['validation'], 4)} |")
        lines.append("")
    if r.get("detectors_all_pairs"):
        summ = r["detectors_all_pairs"]["summary"]
        lines += [
            f"### Over every held-out pair ({next(iter(summ.values()))['n']} pairs, means)",
            "",
            "| detector | AUROC | AUSUC | best overall (oracle) | best H (oracle) | overall at own threshold | "
            "mean gain | pairs beating call nothing unseen | smallest gain |",
            "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        ]
        for name, t in summ.items():
            lines.append(f"| {t['label']} | {_fmt(t['auroc'])} | {_fmt(t['ausuc'])} | {_fmt(t['best_overall'])} | "
                         f"{_fmt(t['best_H'])} | {_fmt(t['overall'], 4)} | {t['gain']:+.4f} | {t['wins']}/{t['n']} | "
                         f"{t['min_gain']:+.4f} |")
        lines.append("")
    d = r["distractors"]
    if "unseen_accuracy" in d and len(d["unseen_accuracy"]):
        lines += [
            "## Distractor words",
            "",
            f"Unseen accuracy (test images of {unseen}) as the nearest GloVe neighbours of the unseen names join "
            f"the unseen candidates: {_fmt(d['unseen_accuracy'][0])} with none, "
            f"{_fmt(d['unseen_accuracy'][-1])} with {d['n_distractors'][-1]} "
            f"({', '.join(d['words'][:10])}{', …' if len(d['words']) > 10 else ''}).",
            "",
            f"![distractors]({r['plots']['distractors']})",
            "",
        ]
    if "pairs_matrix" in r["plots"]:
        names = r["dataset"]["classes"]
        pairs = r["zero_shot_pair_accuracy"]
        lines += ["## All pairs", "",
                  "2-way zero-shot accuracy of every held-out pair (row and column: the two held-out classes; the map "
                  "trained on the other classes). Each cell is the model's own figure with that pair held out.", "",
                  "| | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]
        for a in names:
            cells = ["" if a == b else _fmt(pairs.get(pair_key(a, b)), 2) for b in names]
            lines.append(f"| **{a}** | " + " | ".join(cells) + " |")
        values = [v for v in pairs.values() if v is not None and np.isfinite(v)]
        lines += ["", f"Mean over the {len(values)} pairs: {_fmt(float(np.mean(values)))}.", "",
                  f"![pairs]({r['plots']['pairs_matrix']})", ""]
    lines += ["## Semantic space", "", f"![t-SNE]({r['plots']['semantic_space_tsne']})", "",
              "## Timings (seconds)", "", "| step | s |", "| --- | --- |"]
    lines += [f"| {k} | {v} |" for k, v in r["timings"].items()]
    return "\n".join(lines) + "\n"
