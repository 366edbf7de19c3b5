"""Command line: ``python -m zsl_core reproduce`` and ``python -m zsl_core classify PHOTO...``.

Both build a :class:`zsl_core.experiment.Config` from the arguments and go through the experiment's one path
(``train``, ``classify``, ``summary``); option names come from the engine's registries.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from pathlib import Path

from .progress import TerminalProgress


def _registries():
    from .features import EXTRACTORS
    from .model import DETECTORS, GATES, MAPPINGS

    return EXTRACTORS, MAPPINGS, DETECTORS, GATES


def _add_common(parser: argparse.ArgumentParser) -> None:
    extractors, mappings, detectors, gates = _registries()
    parser.add_argument("--data", default=None,
                        help="dataset: a folder or .tar/.tar.gz in image-folder layout (train/<class>/*, "
                             "test/<class>/*), the official cifar-10-python.tar.gz or cifar-10-batches-py/. "
                             "Default: $ZSL_DATA_DIR or the cache folder; CIFAR-10 is downloaded when absent.")
    parser.add_argument("--features", choices=tuple(extractors), default="efficientnet",
                        help="image features: " + "; ".join(f"{k} = {v.label}" for k, v in extractors.items())
                             + " (default: %(default)s)")
    parser.add_argument("--atoms", type=int, default=None,
                        help="coates only: dictionary size K (paper: 1600)")
    parser.add_argument("--unseen", default="cat,truck",
                        help="comma-separated held-out class names (default: %(default)s)")
    parser.add_argument("--mapping", choices=tuple(mappings), default="linear",
                        help="image-to-word mapping: " + "; ".join(f"{k} = {v.label}" for k, v in mappings.items())
                             + " (default: %(default)s)")
    parser.add_argument("--gate", choices=tuple(gates), default="hard",
                        help="how Eq. 2 joins seen and unseen: " + "; ".join(f"{k} = {v}" for k, v in gates.items()))
    parser.add_argument("--train-per-class", type=int, default=None,
                        help="use only this many training images per class (quick runs)")
    parser.add_argument("--test-per-class", type=int, default=None,
                        help="use only this many test images per class (quick runs)")
    parser.add_argument("--seed", type=int, default=0)


def _config(args, novelty: str = "gaussian"):
    from .experiment import Config, ConfigError

    params = {}
    if args.atoms is not None:
        if args.features != "coates":
            raise ConfigError("--atoms applies to --features coates only")
        params["n_atoms"] = args.atoms
    subset = (args.train_per_class, args.test_per_class)
    return Config(data=args.data, subset=subset, features=args.features, feature_params=params,
                  unseen=tuple(u.strip() for u in args.unseen.split(",") if u.strip()), mapping=args.mapping,
                  novelty=novelty, gate=args.gate, seed=args.seed)


def main(argv=None) -> int:
    _, _, detectors, _ = _registries()
    parser = argparse.ArgumentParser(prog="python -m zsl_core",
                                     description="ZSL Explorer engine: zero-shot learning through cross-modal "
                                                 "transfer (Socher et al. 2013).")
    sub = parser.add_subparsers(dest="command", required=True)

    rep = sub.add_parser("reproduce", help="run the paper's CIFAR-10 experiments and write a report")
    _add_common(rep)
    rep.add_argument("--out", default=None, help="report folder (default: reports/<features>)")
    rep.add_argument("--distractors", type=int, default=20, help="distractor words to add (default: 20)")
    rep.add_argument("--skip-pairs", action="store_true",
                     help="skip the all-pairs matrix: report only the held-out pair's 2-way figure")
    rep.add_argument("--detector-pairs", action="store_true",
                     help="also compare every detector over every 2-class held-out set (one learned-gate fit each)")

    cls = sub.add_parser("classify", help="classify photos: seen or novel, class, probabilities")
    _add_common(cls)
    cls.add_argument("photos", nargs="+", help="image files (jpg, png, webp, bmp, gif)")
    cls.add_argument("--novelty", choices=tuple(detectors), default="learned",
                     help="novelty detector: " + "; ".join(f"{k} = {v.label}" for k, v in detectors.items()))
    cls.add_argument("--threshold", type=float, default=None,
                     help="novelty threshold (default: the one chosen on the validation split)")
    cls.add_argument("--json", action="store_true", help="print one JSON object per photo")

    args = parser.parse_args(argv)
    progress = TerminalProgress()
    from .data import DatasetError
    from .semantic import OutOfVocabularyError

    try:
        with warnings.catch_warnings():
            warnings.showwarning = _plain_warning(progress, warnings.showwarning)
            if args.command == "reproduce":
                return _reproduce(args, progress)
            return _classify(args, progress)
    except (DatasetError, OutOfVocabularyError, ValueError) as error:
        progress.close()
        print(f"error: {error}", file=sys.stderr)
        return 2


def _plain_warning(progress, default):
    """``warnings.showwarning`` for the command line: the engine's own warnings (an unwritable cache folder)
    as one line ``warning: ...``, like the dataset warnings, instead of Python's file:line format and source
    line; any other warning as Python shows it."""

    def show(message, category, filename, lineno, file=None, line=None):
        if getattr(category, "__module__", "").startswith("zsl_core"):
            progress.close()
            print(f"warning: {message}", file=sys.stderr)
        else:
            default(message, category, filename, lineno, file, line)

    return show


def _warn_dataset(dataset) -> None:
    for warning in getattr(dataset, "warnings", ()):
        print(f"warning: {dataset.name}: {warning}", file=sys.stderr)


def _reproduce(args, progress) -> int:
    from .reproduce import ReportOptions, run

    config = _config(args)
    options = ReportOptions(out=args.out or str(Path("reports") / args.features), n_distractors=args.distractors,
                            skip_pairs=args.skip_pairs, detector_pairs=args.detector_pairs)

    def log(message: str) -> None:
        progress.close()
        print(message, flush=True)

    run(config, options, progress=progress, log=log)
    progress.close()
    return 0


def _classify(args, progress) -> int:
    from .data import DatasetError, prepare_image
    from .experiment import classify, train
    from .semantic import WordVectors

    config = _config(args, novelty=args.novelty)
    # Every photo is read before any training, so a typo in a path costs nothing.
    images, status = [], 0
    for photo in args.photos:
        try:
            images.append((photo, prepare_image(Path(photo), name=photo)))
        except (OSError, DatasetError) as error:
            print(f"{photo}: cannot classify: {error}", file=sys.stderr)
            status = 1
    if not images:
        return status
    words = WordVectors.from_glove_package()
    run = train(config, progress, words=words)
    progress.close()
    _warn_dataset(run.dataset)
    import numpy as np

    results = classify(run, np.stack([image for _, image in images]), args.threshold, words=words)
    for (photo, _), result in zip(images, results):
        top = sorted(result["probabilities"].items(), key=lambda kv: -kv[1])[:5]
        record = {
            "photo": photo,
            "verdict": result["verdict"],
            "class": result["class"],
            "novelty_score": result["novelty"],
            "threshold": result["threshold"],
            "probabilities": {k: round(v, 4) for k, v in top},
            "nearest_words": [w for w, _ in result["nearest_words"]],
        }
        if args.json:
            print(json.dumps(record))
        else:
            probs = ", ".join(f"{k} {v:.2f}" for k, v in record["probabilities"].items())
            print(f"{photo}: {record['verdict']} -> {record['class']} (novelty score {result['novelty']:.3f} vs "
                  f"threshold {result['threshold']:.3f} [{args.novelty}]); top: {probs}; nearest words: "
                  f"{', '.join(record['nearest_words'])}")
    return status


if __name__ == "__main__":
    sys.exit(main())
