"""Speed of the feature extractors (and, with --choose-size, the study behind EfficientNet's default size).

    python bench/bench_features.py [--data PATH] [--choose-size] [--quick]

Speed: Coates K=1600 (fitted on ~10k patches; the encoder's speed does not depend on how well the dictionary
was learned) on 1000 images; EfficientNet-Lite0 at 128 / the default / 224 px with onnxruntime and torch.
--choose-size: accuracy of a multinomial logistic regression on a validation split of TRAINING images only
(8 CIFAR-10 classes without cat and truck, 1000/class: fit on 800, score on 200) for each image size.
The last line printed is one JSON object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from zsl_core.features import CoatesFeatures, EfficientNetFeatures  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cifar10-jpg.tar.gz"


def per_image(fn, images, repeats=1):
    fn(images[:8])  # warm-up: ONNX export / session creation / first-call allocations
    best = np.inf
    for _ in range(repeats):
        t = time.perf_counter()
        fn(images)
        best = min(best, time.perf_counter() - t)
    return best / len(images)


def load_images(path):
    if path and Path(path).exists():
        from zsl_core.data import load_dataset

        return load_dataset(path, download=False)
    print(f"(no dataset at {path}: timing on random images; --choose-size needs real data)", file=sys.stderr)
    return None


def choose_size(ds, sizes, per_class=1000, n_fit=800, seed=0):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    keep = [i for i, c in enumerate(ds.class_names) if c not in ("cat", "truck")]
    rng = np.random.default_rng(seed)
    fit_idx, val_idx = [], []
    for c in keep:
        idx = rng.permutation(np.flatnonzero(ds.train_labels == c))[:per_class]  # TRAINING images only
        fit_idx.append(idx[:n_fit])
        val_idx.append(idx[n_fit:])
    fit_idx, val_idx = np.concatenate(fit_idx), np.concatenate(val_idx)
    results = {}
    for size in sizes:
        ext = EfficientNetFeatures(image_size=size)
        t = time.perf_counter()
        X = ext.transform(ds.train_images[np.concatenate([fit_idx, val_idx])])
        ms = (time.perf_counter() - t) / len(X) * 1000
        Xf, Xv = X[:len(fit_idx)], X[len(fit_idx):]
        scaler = StandardScaler().fit(Xf)
        clf = LogisticRegression(C=0.1, max_iter=2000).fit(scaler.transform(Xf), ds.train_labels[fit_idx])
        acc = float(clf.score(scaler.transform(Xv), ds.train_labels[val_idx]))
        results[size] = {"val_accuracy": round(acc, 4), "ms_per_image": round(ms, 2)}
        print(f"image_size {size}: validation accuracy {acc:.4f}, {ms:.2f} ms/image", flush=True)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="dataset for load_dataset (default: %(default)s)")
    parser.add_argument("--choose-size", action="store_true", help="also run the image-size validation study")
    parser.add_argument("--sizes", default="96,128,160,224")
    parser.add_argument("--quick", action="store_true", help="fewer images (smoke test)")
    args = parser.parse_args(argv)

    ds = load_images(args.data)
    rng = np.random.default_rng(0)
    if ds is not None:
        images = ds.train_images[rng.permutation(len(ds.train_images))[:1000]]
    else:
        images = rng.integers(0, 256, (1000, 32, 32, 3), dtype=np.uint8)
    n = 100 if args.quick else 1000
    figures = {"cpu_count": os.cpu_count()}

    coates = CoatesFeatures(n_atoms=1600, n_patches=10_000, kmeans_iters=10)
    t = time.perf_counter()
    coates.fit(images[:200])
    figures["coates_fit_10k_patches_s"] = round(time.perf_counter() - t, 2)
    s = per_image(coates.transform, images[:n])
    figures["coates_k1600_images_per_s"] = round(1 / s, 1)
    print(f"coates K=1600: {1 / s:.0f} images/s", flush=True)

    default_size = EfficientNetFeatures().image_size
    m = 64 if args.quick else 256
    for size in sorted({128, default_size, 224}):
        for backend in ("onnx", "torch"):
            s = per_image(EfficientNetFeatures(image_size=size, backend=backend).transform, images[:m], repeats=2)
            figures[f"efficientnet_{size}px_{backend}_ms_per_image"] = round(s * 1000, 2)
            print(f"efficientnet {size}px {backend}: {s * 1000:.2f} ms/image", flush=True)
    figures["efficientnet_default_size"] = default_size

    if args.choose_size:
        if ds is None:
            parser.error("--choose-size needs a dataset (--data)")
        sizes = [int(v) for v in args.sizes.split(",")]
        per_class, n_fit = (100, 80) if args.quick else (1000, 800)
        figures["image_size_validation"] = choose_size(ds, sizes, per_class, n_fit)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
