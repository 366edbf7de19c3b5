"""Benchmark the engine's fit and evaluation costs.

Synthetic 40k × 1280 features by default (the size of EfficientNet features of CIFAR-10's training set), or
real cached features with ``--features file.npz`` (arrays ``X_train, y_train, X_test, y_test, class_names``).

Measures, per mapping × novelty detector: ``ZeroShotClassifier.fit`` time (with its per-stage split),
``decompose`` time on the test images, one ``threshold_sweep`` over them, and (on real features) the
accuracies; plus a LoOP fit on 40k reference points and the process's peak RSS. Ends with ONE JSON line.

    python bench/bench_fit.py                       # synthetic, linear map, both detectors
    python bench/bench_fit.py --mlp --pairs         # also the 2-layer tanh map (slow) and all 45 pairs
    python bench/bench_fit.py --features /work/features_dev/efficientnet_cifar10.npz --unseen cat,truck
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from sklearn.metrics import roc_auc_score  # noqa: E402

from zsl_core.evaluation import ausuc, best_point, threshold_sweep  # noqa: E402
from zsl_core.model import ZeroShotClassifier  # noqa: E402
from zsl_core.model.novelty import LoOPNoveltyDetector  # noqa: E402


def synthetic(n_train, n_test, d, C=10, D=50, seed=0):
    """Class structure in a 50-d latent space, lifted to d non-negative, correlated features (like pooled
    CNN activations), noisy enough that the seen softmax is not perfect."""
    rng = np.random.default_rng(seed)
    V = rng.normal(size=(C, D)) / np.sqrt(D) * 3
    # the two unseen classes (3 and 9) sit between two seen ones each, so zero-shot transfer is possible
    V[3] = 0.5 * (V[0] + V[1])
    V[9] = 0.5 * (V[4] + V[5])
    lift = rng.normal(size=(D, d)).astype(np.float32) / np.sqrt(D)

    def draw(n):
        y = rng.integers(0, C, n)
        Z = (V[y] + rng.normal(size=(n, D))).astype(np.float32)
        X = np.maximum(Z @ lift + rng.normal(size=(n, d)).astype(np.float32), 0)
        return X.astype(np.float32), y.astype(np.int64)

    X, y = draw(n_train)
    Xt, yt = draw(n_test)
    return X, y, Xt, yt, [f"class{i}" for i in range(C)], V


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--features", type=Path, help="npz with X_train, y_train, X_test, y_test, class_names")
    ap.add_argument("--unseen", default="cat,truck", help="comma-separated unseen class names (real features)")
    ap.add_argument("--n-train", type=int, default=40000)
    ap.add_argument("--n-test", type=int, default=10000)
    ap.add_argument("--dim", type=int, default=1280)
    ap.add_argument("--mlp", action="store_true", help="also benchmark the 2-layer tanh mapping")
    ap.add_argument("--repeat", type=int, default=2, help="fits per configuration (the fastest is reported)")
    ap.add_argument("--pairs", action="store_true", help="also time all_pairs_matrix (C (C-1) / 2 ridge fits)")
    args = ap.parse_args(argv)

    if args.features:
        z = np.load(args.features, allow_pickle=False)
        X, y, Xt, yt = z["X_train"], z["y_train"].astype(np.int64), z["X_test"], z["y_test"].astype(np.int64)
        names = [str(c) for c in z["class_names"]]
        from zsl_core.semantic import WordVectors

        V = WordVectors.from_glove_package().class_vectors(names)
        unseen = args.unseen.split(",")
        source = str(args.features)
    else:
        X, y, Xt, yt, names, V = synthetic(args.n_train, args.n_test, args.dim)
        unseen = [names[3], names[9]]
        source = f"synthetic {args.n_train}x{args.dim}"
    print(f"# {source}: train {X.shape}, test {Xt.shape}, unseen {unseen}, torch threads "
          f"{torch.get_num_threads()}", flush=True)

    results = {"source": source, "n_train": int(X.shape[0]), "dim": int(X.shape[1]), "n_test": int(Xt.shape[0]),
               "unseen": unseen, "threads": torch.get_num_threads(), "machine": platform.machine(),
               # the machine is shared: a load above the core count inflates every wall time
               "loadavg_start": [round(v, 2) for v in os.getloadavg()], "runs": {}}
    mappings = ["linear"] + (["mlp"] if args.mlp else [])
    for mapping in mappings:
        for novelty in ("gaussian", "loop"):
            key = f"{mapping}+{novelty}"
            best = None
            for _ in range(args.repeat):
                t, c = time.perf_counter(), time.process_time()
                model = ZeroShotClassifier(mapping=mapping, novelty=novelty).fit(X, y, names, unseen,
                                                                                 class_vectors=V)
                fit_s, cpu_s = time.perf_counter() - t, time.process_time() - c
                if best is None or fit_s < best[0]:
                    best = (fit_s, cpu_s, model)
            fit_s, cpu_s, model = best
            t = time.perf_counter()
            scores = model.decompose(Xt)
            dec_s = time.perf_counter() - t
            t = time.perf_counter()
            sweep = threshold_sweep(scores, yt, model.seen_, model.unseen_)
            sweep_s = time.perf_counter() - t
            hp = best_point(sweep, "H")
            seen_rows = np.isin(yt, model.seen_)
            unseen_rows = ~seen_rows
            seen_acc = float(np.mean(model.seen_[scores.seen_proba[seen_rows][:, model.seen_].argmax(1)]
                                     == yt[seen_rows]))
            two_way = float(np.mean(model.unseen_[scores.unseen_proba[unseen_rows][:, model.unseen_].argmax(1)]
                                    == yt[unseen_rows]))
            auroc = float(roc_auc_score(unseen_rows, scores.novelty))
            r = {"fit_s": round(fit_s, 3), "fit_cpu_s": round(cpu_s, 3), "fit_stages_s": {k: round(v, 3) for k, v in model.fit_time_.items()},
                 "decompose_s": round(dec_s, 3), "sweep_s": round(sweep_s, 4), "sweep_points": int(sweep["H"].size),
                 "seen_acc": round(seen_acc, 4), "unseen_2way": round(two_way, 4),
                 "novelty_auroc": round(auroc, 4), "best_H": round(hp["H"], 4),
                 "best_H_seen": round(hp["seen"], 4), "best_H_unseen": round(hp["unseen"], 4),
                 "ausuc": round(ausuc(sweep), 4),
                 "default_threshold_seen_unseen": [
                     round(float(np.mean((model.predict_from_scores(scores) == yt)[seen_rows])), 4),
                     round(float(np.mean((model.predict_from_scores(scores) == yt)[unseen_rows])), 4)],
                 "alpha": getattr(model.mapping_, "alpha_", None), "softmax_C": model.softmax_.C_}
            results["runs"][key] = r
            print(f"# {key}: {json.dumps(r)}", flush=True)

    # LoOP on 40k reference points (the max_reference default subsamples to 20k: report both).
    rng = np.random.default_rng(0)
    F = rng.normal(size=(40000, 50))
    for max_ref in (20000, None):
        t = time.perf_counter()
        LoOPNoveltyDetector(max_reference=max_ref).fit(F)
        results[f"loop_fit_40k_maxref_{max_ref}_s"] = round(time.perf_counter() - t, 3)
    if args.pairs:
        from zsl_core.evaluation import all_pairs_matrix

        t = time.perf_counter()
        M = all_pairs_matrix(X, y, Xt, yt, V)
        results["all_pairs_s"] = round(time.perf_counter() - t, 2)
        results["all_pairs_mean"] = round(float(np.nanmean(M)), 4)
    results["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    results["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
