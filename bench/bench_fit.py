"""Benchmark the engine's fit and evaluation costs on real features, through the experiment API.

Measures, on the full dataset's cached features (EfficientNet: 50k × 1,280, so 40k seen training rows):

* the class statistics (load from the cache; ``--cold`` also times computing them);
* a fit for a new held-out set (``experiment.fit_model`` with the statistics, model cache off), median of
  ``--repeat`` held-out pairs never fitted before in this process, with the per-stage split and accuracies;
* the 45-pair matrix (``experiment.pairs_matrix``, cache off);
* decompose + one threshold sweep of the 10k test images;
* ``python -m zsl_core classify PHOTO`` end to end in a fresh process, for a held-out set whose fitted model is
  not in the cache (caches of data, features and statistics warm);
* with ``--baseline REF`` (e.g. the previous landing's commit), the same held-out sets fitted by that
  version of the engine in a subprocess on the same features, and the ratio.

Ends with ONE JSON line. The machine is shared: the load average is printed beside the figures.

    python bench/bench_fit.py --data ../shared/datasets/cifar10-jpg.tar.gz --baseline 13647bd
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

#: Run inside the baseline's checkout: fit its ZeroShotClassifier on the same features, print timings.
BASELINE_SCRIPT = r"""
import json, sys, time
import numpy as np
sys.path.insert(0, sys.argv[1])
from zsl_core.model import ZeroShotClassifier
from zsl_core.semantic import WordVectors
z = np.load(sys.argv[2])
X, y, names = z["X_train"], z["y_train"], [str(c) for c in z["class_names"]]
V = WordVectors.from_glove_package().class_vectors(names)
out = []
for pair in json.loads(sys.argv[3]):
    t, c = time.perf_counter(), time.process_time()
    ZeroShotClassifier().fit(X, y, names, pair, class_vectors=V)
    out.append([time.perf_counter() - t, time.process_time() - c])
print(json.dumps(out))
"""


def median(values) -> float:
    return round(float(np.median(values)), 3)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="the dataset (as for python -m zsl_core --data)")
    ap.add_argument("--features", default="efficientnet")
    ap.add_argument("--novelty", default="gaussian", help="the detector of the fitted model (default: the paper's)")
    ap.add_argument("--repeat", type=int, default=5, help="held-out sets fitted (median reported)")
    ap.add_argument("--cold", action="store_true", help="also time computing the class statistics")
    ap.add_argument("--no-pairs", action="store_true", help="skip the 45-pair matrix")
    ap.add_argument("--no-classify", action="store_true", help="skip the command-line classify timing")
    ap.add_argument("--baseline", default=None, help="a git ref of this repository to compare the fit with")
    args = ap.parse_args(argv)

    import torch

    from zsl_core import experiment
    from zsl_core.evaluation import auroc, threshold_sweep
    from zsl_core.model.statistics import ClassStatistics
    from zsl_core.semantic import WordVectors

    log = lambda msg: print(f"# {msg}", flush=True)  # noqa: E731
    results = {"bench": "fit", "features": args.features, "threads": torch.get_num_threads(),
               "machine": platform.machine(), "cpu_count": os.cpu_count(),
               "loadavg_start": [round(v, 2) for v in os.getloadavg()]}
    # The paper's model (Gaussian detector, hard gate): what the baseline's ZeroShotClassifier() fits, so the
    # ratio compares like with like. --novelty times another detector (e.g. the learned gate, issue 10).
    config = experiment.Config(data=args.data, features=args.features, novelty=args.novelty)
    dataset = experiment.load_data(config)
    features = experiment.load_features(config, dataset)
    words = WordVectors.from_glove_package()
    names = list(dataset.class_names)
    results["n_train"], results["dim"] = features.X_train.shape
    log(f"{dataset.name}: train {features.X_train.shape}, test {features.X_test.shape}")

    if args.cold:
        t = time.perf_counter()
        ClassStatistics(experiment.VALIDATION_FRACTION, 0).fit(features.X_train, dataset.train_labels,
                                                               n_classes=dataset.n_classes)
        results["statistics_cold_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    stats = experiment.load_statistics(features, dataset, 0)
    results["statistics_load_s"] = round(time.perf_counter() - t, 2)
    log(f"class statistics: load + attach rows {results['statistics_load_s']} s")

    # A new held-out set each time: pairs in a fixed shuffled order, the model cache off.
    rng = np.random.default_rng(0)
    all_pairs = list(itertools.combinations(names, 2))
    pairs = [list(all_pairs[i]) for i in rng.permutation(len(all_pairs))[: args.repeat + 1]]
    fit_s, fit_cpu, stages, figures = [], [], [], []
    experiment.fit_model(config.with_(unseen=tuple(pairs[0])), dataset, features, stats, words, cache=False)  # warm-up
    for pair in pairs[1:]:
        cfg = config.with_(unseen=tuple(pair))
        t, c = time.perf_counter(), time.process_time()
        model = experiment.fit_model(cfg, dataset, features, stats, words, cache=False)
        fit_s.append(time.perf_counter() - t)
        fit_cpu.append(time.process_time() - c)  # CPU seconds, all threads: what a busy machine cannot inflate
        stages.append({k: round(v, 3) for k, v in model.fit_time_.items()})
        scores = model.decompose(features.X_test)
        yt = dataset.test_labels
        seen = np.isin(yt, model.seen_)
        figures.append({"unseen": pair,
                        "seen_acc": round(float(np.mean(model.seen_[scores.seen_proba[seen][:, model.seen_].argmax(1)]
                                                        == yt[seen])), 4),
                        "two_way": round(float(np.mean(model.unseen_[scores.unseen_proba[~seen][:, model.unseen_]
                                                                     .argmax(1)] == yt[~seen])), 4),
                        "auroc": round(auroc(scores.novelty[~seen], scores.novelty[seen]), 4)})
        log(f"fit {pair}: {fit_s[-1]:.3f} s ({fit_cpu[-1]:.3f} CPU s) {stages[-1]} {figures[-1]}")
    results.update(fit_new_held_out_s=[round(v, 3) for v in fit_s], fit_new_held_out_median_s=median(fit_s),
                   fit_new_held_out_cpu_s=[round(v, 3) for v in fit_cpu], fit_cpu_median_s=median(fit_cpu),
                   fit_stages_s=stages, fit_figures=figures)

    t = time.perf_counter()
    scores = model.decompose(features.X_test)
    results["decompose_10k_s"] = round(time.perf_counter() - t, 3)
    t = time.perf_counter()
    threshold_sweep(scores, dataset.test_labels, model.seen_, model.unseen_)
    results["sweep_s"] = round(time.perf_counter() - t, 4)

    if not args.no_pairs:
        t = time.perf_counter()
        matrix = experiment.pairs_matrix(config, dataset, features, stats, words, cache=False)
        results["pairs_45_s"] = round(time.perf_counter() - t, 2)
        results["pairs_mean"] = round(float(np.nanmean(matrix)), 4)
        log(f"45-pair matrix: {results['pairs_45_s']} s (mean 2-way {results['pairs_mean']})")

    if not args.no_classify:
        # A held-out set whose model is not cached: pick the first pair whose cache file is absent.
        from PIL import Image

        for pair in all_pairs:
            cfg = config.with_(unseen=tuple(pair))
            path = experiment.stages._model_path(cfg, features, words.fingerprint)
            if not path.exists():
                break
        photo = Path(tempfile.mkdtemp()) / "photo.jpg"
        Image.fromarray(np.asarray(dataset.test_images[0])).resize((320, 320)).save(photo, quality=90)
        cmd = [sys.executable, "-m", "zsl_core", "classify", str(photo), "--data", args.data, "--features",
               args.features, "--unseen", ",".join(pair), "--novelty", args.novelty]
        t = time.perf_counter()
        done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        results["classify_cli_new_held_out_s"] = round(time.perf_counter() - t, 2)
        results["classify_cli_ok"] = done.returncode == 0
        t = time.perf_counter()
        subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
        results["classify_cli_cached_model_s"] = round(time.perf_counter() - t, 2)
        log(f"classify (CLI, {pair} never fitted): {results['classify_cli_new_held_out_s']} s; again (model "
            f"cached): {results['classify_cli_cached_model_s']} s; output: {done.stdout.strip()[:160]}")

    if args.baseline:
        with tempfile.TemporaryDirectory() as tmp:
            tree = Path(tmp) / "baseline"
            subprocess.run(["git", "worktree", "add", "--detach", str(tree), args.baseline], cwd=REPO, check=True,
                           capture_output=True)
            try:
                npz = Path(tmp) / "features.npz"
                np.savez(npz, X_train=features.X_train, y_train=dataset.train_labels,
                         class_names=np.array(names))
                out = subprocess.run([sys.executable, "-c", BASELINE_SCRIPT, str(tree), str(npz),
                                      json.dumps([pairs[0]] + pairs[1:])], capture_output=True, text=True, check=True)
                timed = json.loads(out.stdout.strip().splitlines()[-1])[1:]  # the first is its warm-up
                base, base_cpu = [w for w, _ in timed], [c for _, c in timed]
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO, capture_output=True)
        results["baseline"] = args.baseline
        results["baseline_fit_s"] = [round(v, 3) for v in base]
        results["baseline_fit_median_s"] = median(base)
        results["baseline_fit_cpu_median_s"] = median(base_cpu)
        results["speedup_vs_baseline"] = round(median(base) / max(median(fit_s), 1e-9), 1)
        results["cpu_ratio_vs_baseline"] = round(median(base_cpu) / max(median(fit_cpu), 1e-9), 1)
        log(f"baseline {args.baseline}: median fit {median(base)} s ({median(base_cpu)} CPU s) -> "
            f"{results['speedup_vs_baseline']}x wall, {results['cpu_ratio_vs_baseline']}x CPU")

    results["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
