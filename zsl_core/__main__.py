"""Command line: ``python -m zsl_core reproduce`` and ``python -m zsl_core classify PHOTO...``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .progress import TerminalProgress


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", default=None,
                        help="dataset: a folder or .tar/.tar.gz in image-folder layout (train/<class>/*, "
                             "test/<class>/*), the official cifar-10-python.tar.gz or cifar-10-batches-py/. "
                             "Default: $ZSL_DATA_DIR or the cache folder; CIFAR-10 is downloaded when absent.")
    parser.add_argument("--features", choices=("efficientnet", "coates"), default="efficientnet",
                        help="image features: pretrained EfficientNet-Lite0 or the paper's unsupervised "
                             "Coates & Ng features (default: %(default)s)")
    parser.add_argument("--atoms", type=int, default=None,
                        help="coates only: dictionary size K (paper: 1600)")
    parser.add_argument("--unseen", default="cat,truck",
                        help="comma-separated held-out class names (default: %(default)s)")
    parser.add_argument("--mapping", choices=("linear", "mlp"), default="linear",
                        help="image-to-word mapping: ridge or 2-layer tanh net (default: %(default)s)")
    parser.add_argument("--train-per-class", type=int, default=None,
                        help="use only this many training images per class (quick runs)")
    parser.add_argument("--test-per-class", type=int, default=None,
                        help="use only this many test images per class (quick runs)")
    parser.add_argument("--seed", type=int, default=0)


def _feature_params(args) -> dict:
    params = {}
    if args.atoms is not None:
        if args.features != "coates":
            raise SystemExit("--atoms applies to --features coates only")
        params["n_atoms"] = args.atoms
    return params


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zsl_core",
                                     description="ZSL Explorer engine: zero-shot learning through cross-modal "
                                                 "transfer (Socher et al. 2013).")
    sub = parser.add_subparsers(dest="command", required=True)

    rep = sub.add_parser("reproduce", help="run the paper's CIFAR-10 experiments and write a report")
    _add_common(rep)
    rep.add_argument("--out", default=None, help="report folder (default: reports/<features>)")
    rep.add_argument("--distractors", type=int, default=20, help="distractor words to add (default: 20)")
    rep.add_argument("--skip-pairs", action="store_true",
                     help="skip the all-pairs matrix: report only the held-out pair, read off the fitted "
                          "model (for slow 12,800-d Coates runs)")

    cls = sub.add_parser("classify", help="classify photos: seen or novel, class, probabilities")
    _add_common(cls)
    cls.add_argument("photos", nargs="+", help="image files (jpg, png, webp, bmp, gif)")
    cls.add_argument("--novelty", choices=("gaussian", "loop"), default="gaussian")
    cls.add_argument("--threshold", type=float, default=None,
                     help="novelty threshold (default: the one chosen on the validation split)")
    cls.add_argument("--json", action="store_true", help="print one JSON object per photo")

    args = parser.parse_args(argv)
    progress = TerminalProgress()
    from .data import DatasetError
    from .semantic import OutOfVocabularyError

    try:
        if args.command == "reproduce":
            return _reproduce(args, progress)
        return _classify(args, progress)
    except (DatasetError, OutOfVocabularyError, ValueError) as error:
        progress.close()
        print(f"error: {error}", file=sys.stderr)
        return 2


def _reproduce(args, progress) -> int:
    from .reproduce import ReproduceConfig, run

    config = ReproduceConfig(
        data=args.data, features=args.features, feature_params=_feature_params(args),
        unseen=tuple(u.strip() for u in args.unseen.split(",") if u.strip()), mapping=args.mapping,
        out=args.out or str(Path("reports") / args.features), train_per_class=args.train_per_class,
        test_per_class=args.test_per_class, n_distractors=args.distractors, random_state=args.seed,
        skip_pairs=args.skip_pairs,
    )

    def log(message: str) -> None:
        progress.close()
        print(message, flush=True)

    run(config, progress=progress, log=log)
    progress.close()
    return 0


def _classify(args, progress) -> int:
    import numpy as np

    from .data import DatasetError, load_dataset, prepare_image
    from .features import compute_features
    from .model import ZeroShotClassifier
    from .semantic import WordVectors

    dataset = load_dataset(args.data, progress=progress)
    if args.train_per_class or args.test_per_class:
        dataset = dataset.subset(args.train_per_class, args.test_per_class, seed=args.seed)
    feats = compute_features(dataset, args.features, _feature_params(args) or None, progress=progress)
    words = WordVectors.from_glove_package()
    unseen = [u.strip() for u in args.unseen.split(",") if u.strip()]
    model = ZeroShotClassifier(word_vectors=words, mapping=args.mapping, novelty=args.novelty,
                               random_state=args.seed).fit(feats.X_train, dataset.train_labels,
                                                           list(dataset.class_names), unseen)
    progress.close()
    threshold = model.threshold_ if args.threshold is None else args.threshold
    status = 0
    for photo in args.photos:
        try:
            image = prepare_image(Path(photo).read_bytes())
        except (OSError, DatasetError) as error:
            print(f"{photo}: cannot classify: {error}", file=sys.stderr)
            status = 1
            continue
        x = feats.extractor.transform(image[None])
        scores = model.decompose(x)
        proba = model.proba_from_scores(scores, threshold)[0]
        novelty = float(scores.novelty[0])
        novel = novelty > threshold
        order = np.argsort(-proba)[:5]
        nearest = words.nearest(scores.mapped[0], k=5)[0]
        result = {
            "photo": photo,
            "verdict": "novel (unseen class)" if novel else "seen class",
            "class": model.class_names_[int(order[0])],
            "novelty_score": novelty,
            "threshold": float(threshold),
            "probabilities": {model.class_names_[int(i)]: round(float(proba[i]), 4) for i in order},
            "nearest_words": [w for w, _ in nearest],
        }
        if args.json:
            print(json.dumps(result))
        else:
            probs = ", ".join(f"{k} {v:.2f}" for k, v in result["probabilities"].items())
            print(f"{photo}: {result['verdict']} -> {result['class']} (novelty score {novelty:.3f} vs "
                  f"threshold {threshold:.3f} [{args.novelty}]); top: {probs}; nearest words: "
                  f"{', '.join(result['nearest_words'])}")
    return status


if __name__ == "__main__":
    sys.exit(main())
