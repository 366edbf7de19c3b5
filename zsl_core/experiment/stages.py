"""The experiment's stages, each cached on disk: dataset, features, class statistics, fitted model, pairs;
and a plan in seconds before long work starts."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import __version__
from ..cache import Progress, cache_dir, load_arrays, make_key, report, save_arrays
from .config import Config, ConfigError

__all__ = ["MODEL_VERSION", "VALIDATION_FRACTION", "load_data", "load_features", "load_statistics", "fit_model",
           "pairs_matrix", "estimate_seconds", "plan", "check_dataset", "loop_problem"]

#: Bump when a change to the model code changes what a cached fitted model contains.
MODEL_VERSION = "6"  # 5 was two branches (the learned gate; many features); 6 is their merge




def load_data(config: Config, progress: Progress = None):
    """The dataset of ``config`` (its subset when one is set)."""
    from ..data import load_dataset

    dataset = load_dataset(config.data, progress=progress)
    if config.subset is not None:
        dataset = dataset.subset(config.subset[0], config.subset[1], seed=config.seed)
    return dataset


def load_features(config: Config, dataset, progress: Progress = None):
    """The ``FeatureSet`` of ``dataset`` with the extractor of ``config`` (cached on disk)."""
    from ..features import compute_features

    return compute_features(dataset, config.features, config.feature_params_dict or None, progress=progress)


#: The fixed fitting / validation split every model and every pair is fitted on.
VALIDATION_FRACTION = 0.15


def _statistics_path(features, seed: int):
    return _statistics_path_for(features.key, seed)


def _statistics_path_for(features_key: str, seed: int):
    key = make_key(kind="class-statistics", features=features_key, fraction=VALIDATION_FRACTION, seed=seed,
                   version=MODEL_VERSION)
    return cache_dir() / "statistics" / f"{key}.npz"


def load_statistics(features, dataset, seed: int = 0, progress: Progress = None, attach_rows: bool = True):
    """Per-class sufficient statistics of the training features (cached on disk), rows attached for fits.

    Parameters
    ----------
    features : FeatureSet
    dataset : Dataset
        Whose training labels the rows of ``features.X_train`` carry.
    seed : int
        Seeds the fixed fitting / validation split.
    attach_rows : bool
        Also keep the class-sorted rows (:meth:`ClassStatistics.attach_rows`) so the softmax reads them in
        place; a one-off fit (the command line) can skip it.
    """
    from ..model.softmax import _use_bf16
    from ..model.statistics import ClassStatistics

    labels = np.asarray(dataset.train_labels)
    path = _statistics_path(features, seed)
    stats = None
    arrays = load_arrays(path)
    if arrays is not None:
        try:
            stats = ClassStatistics.from_state(arrays)
            if (stats.n_features_in_ != features.X_train.shape[1] or stats.counts_.sum() != len(labels)
                    or stats.n_classes_ != dataset.n_classes):
                stats = None
        except (KeyError, ValueError):
            stats = None
    if stats is None:
        stats = ClassStatistics(VALIDATION_FRACTION, seed).fit(features.X_train, labels, n_classes=dataset.n_classes,
                                                               progress=progress)
        save_arrays(path, **stats.state())  # an unwritable cache only costs the next start some seconds
    if attach_rows:
        stats.attach_rows(features.X_train, labels, low_precision=_use_bf16("auto"))
    return stats


#: LoOP compares each point's distance to its k nearest validation images of the seen classes with theirs:
#: k = 20 (the default) needs 21 of them; fewer give k = n - 1, down to k = 2 with 3 images.
LOOP_MIN_REFERENCE = 3


def _loop_reference(config: Config, dataset) -> tuple[int, list]:
    """LoOP's reference points: validation images of the seen classes, in all and per seen class
    ``(name, training images, validation images)``."""
    from ..model.base import validation_split

    y = np.asarray(dataset.train_labels)
    _, val = validation_split(y, VALIDATION_FRACTION, config.seed)
    n_train = np.bincount(y, minlength=len(dataset.class_names))
    n_val = np.bincount(y[val], minlength=len(dataset.class_names))
    per_class = [(c, int(n_train[i]), int(n_val[i])) for i, c in enumerate(dataset.class_names)
                 if c not in config.unseen]
    return sum(v for _, _, v in per_class), per_class


def loop_problem(config: Config, dataset) -> str | None:
    """Why the LoOP detector cannot be fitted on ``dataset`` with the held-out classes of ``config``, and what
    would let it (``None`` when it can). Needs only the labels, so it runs before any feature is computed."""
    n_ref, per_class = _loop_reference(config, dataset)
    if n_ref >= LOOP_MIN_REFERENCE:
        return None

    def n_val(n):  # validation images of a class with n training images (as model.base.validation_split)
        return 0 if n < 2 else min(n - 1, max(1, int(round(VALIDATION_FRACTION * n))))

    need = next(n for n in range(2, 100) if max(1, len(per_class)) * n_val(n) >= LOOP_MIN_REFERENCE)
    detail = ", ".join(f"{c} {v} of {n}" for c, n, v in per_class[:6]) + (", ..." if len(per_class) > 6 else "")
    fixes = [f"give each seen class at least {need} training images"]
    if config.subset is not None and config.subset[0] is not None and config.subset[0] < need:
        fixes[0] += f" (--train-per-class {config.subset[0]} keeps fewer)"
    counts = np.bincount(np.asarray(dataset.train_labels), minlength=len(dataset.class_names))
    held = sorted((n_val(counts[i]) for i, c in enumerate(dataset.class_names) if c in config.unseen), reverse=True)
    if n_ref + sum(held[:-1]) >= LOOP_MIN_REFERENCE:  # one class stays held out
        fixes.append("hold out fewer classes")
    return (f"LoOP needs at least {LOOP_MIN_REFERENCE} validation images of the seen classes; this dataset has "
            f"{n_ref} ({VALIDATION_FRACTION:.0%} of each seen class's training images are kept for validation: "
            f"{detail}). To use LoOP, {' or '.join(fixes)}")


def check_dataset(config: Config, dataset) -> None:
    """Raise :class:`ConfigError` (saying what is needed) for a setting this dataset cannot support; cheap,
    so :func:`~zsl_core.experiment.train` runs it as soon as the dataset is loaded, before any features."""
    config.check_classes(dataset.class_names)
    if config.novelty == "loop":
        problem = loop_problem(config, dataset)
        if problem:
            raise ConfigError(f"{problem}; or use the Gaussian novelty detector (--novelty gaussian).")


def _model_params(config: Config, dataset) -> dict:
    """Constructor arguments of the classifier for ``config`` (small datasets adapt LoOP's neighbourhood)."""
    params = dict(mapping=config.mapping, novelty=config.novelty, gate=config.gate, random_state=config.seed,
                  validation_fraction=VALIDATION_FRACTION)
    if config.novelty == "learned":
        from ..model import LearnedGate

        _, per_class = _loop_reference(config, dataset)  # the seen classes' validation images, per class
        counts = np.sort([n_val for _, _, n_val in per_class])
        k = min(LearnedGate().k, len(per_class) - 2)  # the classifier holds out fewer when few classes are seen
        smallest = counts[:len(counts) - k].sum() if k >= 1 else counts.sum()
        if smallest <= 20:  # LoOP's reference (a pseudo-unseen split's) needs k + 1 = 21 points
            params["novelty_params"] = {"components": tuple(c for c in LearnedGate().components if c != "loop")}
    if config.novelty == "loop":
        n_ref, _ = _loop_reference(config, dataset)
        if n_ref <= 20:  # LoOP's default k = 20 needs 21 reference points
            check_dataset(config, dataset)
            params["novelty_params"] = {"n_neighbors": n_ref - 1}
    return params


def _model_path(config: Config, features, words_key: str) -> Any:
    key = make_key(kind="model", features=features.key, mapping=config.mapping, novelty=config.novelty,
                   gate=config.gate, unseen=sorted(config.unseen), seed=config.seed, words=words_key,
                   fraction=VALIDATION_FRACTION, version=MODEL_VERSION, code=__version__)
    return cache_dir() / "models" / f"zsl-{key}.npz"


def fit_model(config: Config, dataset, features, statistics=None, words=None, progress: Progress = None,
              cache: bool = True, like=None):
    """The fitted :class:`~zsl_core.model.ZeroShotClassifier` for ``config`` (read from the cache when there).

    ``like``: a fitted model of the same features and held-out classes whose map and softmax are reused
    (``ZeroShotClassifier.fit(like=)``; e.g. the same config with another novelty detector).

    Raises :class:`ConfigError` (with how to fix it) for an impossible setting, including a class name the
    word vectors do not know.
    """
    from ..model import ZeroShotClassifier
    from ..model.persistence import estimator_state, load_estimator
    from ..semantic import OutOfVocabularyError, WordVectors

    check_dataset(config, dataset)
    words = words or WordVectors.from_glove_package()
    try:
        class_vectors = words.class_vectors(list(dataset.class_names))
    except OutOfVocabularyError as error:
        hint = f" Close words: {', '.join(error.suggestions)}." if error.suggestions else ""
        raise ConfigError(f"the class name “{error.name}” has no word vector (“{error.word}” is not in the "
                          f"vocabulary), so the model cannot place it in word space. Rename its folder in the "
                          f"dataset.{hint}") from None
    path = _model_path(config, features, words.fingerprint)
    if cache:
        arrays = load_arrays(path)
        if arrays is not None:
            try:
                model = load_estimator(arrays)
                if isinstance(model, ZeroShotClassifier) and model.n_features_in_ == features.X_train.shape[1]:
                    report(progress, "Loading the cached model", 1, 1)
                    return model
            except (KeyError, ValueError, TypeError):
                pass  # an older or foreign file under our key: refit and overwrite it
    model = ZeroShotClassifier(word_vectors=words, **_model_params(config, dataset))
    stage = None if progress is None else (lambda step, done, total: progress(f"Training: {step}", done, total))
    model.fit(features.X_train, dataset.train_labels, list(dataset.class_names), list(config.unseen),
              class_vectors=class_vectors, statistics=statistics, progress=stage, like=like)
    if cache:
        save_arrays(path, **estimator_state(model))  # an unwritable cache only costs a refit next time
    return model


def pairs_matrix(config: Config, dataset, features, statistics=None, words=None, progress: Progress = None,
                 cache: bool = True) -> np.ndarray:
    """2-way zero-shot accuracy of every held-out pair (C, C) for the features and mapping of ``config``.

    Each cell is the model's own figure for that pair held out (``evaluation.all_pairs_matrix``); the
    held-out classes of ``config`` do not matter. Cached on disk by features, mapping, word vectors and seed.
    """
    from ..evaluation import all_pairs_matrix
    from ..semantic import WordVectors

    words = words or WordVectors.from_glove_package()
    path = _pairs_path(features.key, config, words.fingerprint)
    C = dataset.n_classes
    if cache:
        arrays = load_arrays(path)
        if arrays is not None and arrays.get("matrix") is not None and arrays["matrix"].shape == (C, C):
            return arrays["matrix"]
    if statistics is None and config.mapping == "linear":
        statistics = load_statistics(features, dataset, config.seed, progress, attach_rows=False)
    matrix = all_pairs_matrix(features.X_train, dataset.train_labels, features.X_test, dataset.test_labels,
                              words.class_vectors(list(dataset.class_names)), mapping=config.mapping,
                              validation_fraction=VALIDATION_FRACTION, random_state=config.seed,
                              progress=progress, statistics=statistics)
    if cache:
        save_arrays(path, matrix=matrix)
    return matrix


#: Rough rates on the two-core development machine (quiet), for planning long work before it starts.
_RATES = {
    "efficientnet_s_per_image_at_160px": 1.6e-3,   # bench/bench_features.py (ONNX, 2 threads)
    "coates_s_per_image_at_1600_atoms": 1.8e-3,    # ~557 images/s encoding (bench/bench_features.py)
    "coates_dictionary_s_at_1600_atoms": 60.0,     # patches, whitening and 10 k-means passes over 400k patches
    "flops_per_s": 3e10,                           # float32 GEMM throughput behind the Gram and MLP costs
}


def estimate_seconds(config: Config, dataset, *, features_cached: bool = False,
                     statistics_cached: bool = False, pairs: bool = False) -> dict[str, float]:
    """A plan for the work ``config`` needs before it starts: seconds per stage, rough (±50 %).

    Parameters
    ----------
    config : Config
    dataset : Dataset
        Its sizes set the costs.
    features_cached, statistics_cached : bool
        Stages already on disk cost about a second each.
    pairs : bool
        Include the all-pairs matrix (``C (C - 1) / 2`` fits of the map).

    Returns
    -------
    dict
        ``features``, ``statistics``, ``fit``, ``pairs`` (when asked) and ``total``, in seconds.
    """
    from ..features import make_extractor

    extractor = make_extractor(config.features, config.feature_params_dict or None)
    n_train, n_test = len(dataset.train_labels), len(dataset.test_labels)
    n, d = n_train + n_test, extractor.n_features
    rate = _RATES
    out = {}
    if features_cached:
        out["features"] = 1.0 + n * d * 4 / 1e9  # reading and checking the cached file
    elif config.features == "coates":
        k = getattr(extractor, "n_atoms", 1600) / 1600
        out["features"] = rate["coates_dictionary_s_at_1600_atoms"] * k + n * rate["coates_s_per_image_at_1600_atoms"] * k
    else:
        size = getattr(extractor, "image_size", 160)
        out["features"] = n * rate["efficientnet_s_per_image_at_160px"] * (size / 160) ** 2
    from ..model.statistics import _PER_CLASS_GRAM_MAX_DIM

    linear = config.mapping == "linear"
    large = linear and d > _PER_CLASS_GRAM_MAX_DIM  # one total Gram matrix, Krylov ridge maps (model.krylov)
    flops = rate["flops_per_s"]
    C = dataset.n_classes
    n_class = (1 - VALIDATION_FRACTION) * n_train / max(C, 1)   # fitting rows of one class
    gram = (1.0 if large else 2.0) * n_train * d * d / flops      # large: one symmetric rank-k update
    out["statistics"] = (1.0 if statistics_cached else gram) if linear else 0.0
    solve = 8 * (d ** 3 / 3) / flops  # a few Cholesky factorisations choose the ridge penalty
    softmax = 40 * 4 * n_train * d * 8 / flops + 2 * (d ** 3 / 3) / flops

    def krylov(sets: int) -> float:
        # ~55 lockstep steps: G_all times every set's block (8 columns) and two held-out classes' products;
        # a lone set is bound by reading G_all (about 1 GB/s of it on the loaded machine)
        step = (2 * d * d * 8 * sets + 16 * n_class * d * 8 * sets) / flops
        return 55 * max(step, d * d * 4 / 1e9)

    if large:
        # the map, plus the softmax preconditioner's kept Gram (two held-out classes' products)
        solve = krylov(1) + 4 * n_class * d * d / flops
    mlp = 40 * 6 * n_train * d * 200 * 2 / flops  # up to 40 epochs, 2 weight decays
    out["fit"] = 0.3 + softmax + (solve if linear else mlp) + _novelty_seconds(config, dataset, d, softmax, solve)
    if pairs:
        n_pairs = C * (C - 1) / 2
        out["pairs"] = krylov(n_pairs) if large else n_pairs * (solve + 0.05 if linear else mlp)
    out["total"] = float(sum(out.values()))
    return {k: float(v) for k, v in out.items()}


def _novelty_seconds(config: Config, dataset, d: int, softmax: float, solve: float) -> float:
    """What the detector adds to a fit: its own softmax (logit scores), the kNN pass, Mahalanobis inverses, and
    for the learned gate one cheaper refit per pseudo-unseen split."""
    from math import comb

    from ..model import DETECTORS
    from ..model.pseudo_unseen import PSEUDO_SOFTMAX_ROWS

    cls = DETECTORS[config.novelty]
    flops = _RATES["flops_per_s"]
    n_train, n_test = len(dataset.train_labels), len(dataset.test_labels)
    names = list(cls().components) if cls.input == "scores" else [config.novelty]
    kinds = {DETECTORS[n].input for n in names}
    n_val = VALIDATION_FRACTION * n_train
    one = (softmax if "logits" in kinds else 0.0) + (2 * (n_val + n_test) * 10000 * d / flops
                                                    if "cosine_knn" in names else 0.0)
    inverse = 4 * d ** 3 / flops if "relative_mahalanobis" in names else 0.0
    if cls.input != "scores":
        return one + inverse
    n_seen = dataset.n_classes - len(config.unseen)
    splits = min(8, comb(n_seen, 2)) if n_seen >= 4 else 0
    per_class = min(PSEUDO_SOFTMAX_ROWS, n_train / max(dataset.n_classes, 1))
    split = solve + 40 * 4 * per_class * (n_seen - 2) * d * 8 / flops + inverse + 4 * n_val * d * d / flops
    return one + inverse + splits * split


def _pairs_path(features_key: str, config: Config, words_fingerprint: str):
    key = make_key(kind="pairs", features=features_key, mapping=config.mapping, words=words_fingerprint,
                   seed=config.seed, fraction=VALIDATION_FRACTION, version=MODEL_VERSION)
    return cache_dir() / "pairs" / f"{key}.npz"


def plan(config: Config, dataset, *, pairs: bool = False, words=None) -> dict:
    """The whole job of ``config`` before it starts: which stages are already on disk, and seconds for the rest.

    One estimate for everything a page is about to do (features + statistics + fit, and the all-pairs matrix
    when ``pairs``), so the app can ask before anything long and show the stages as they run.

    Parameters
    ----------
    config : Config
    dataset : Dataset
    pairs : bool
        Include the all-pairs matrix.
    words : WordVectors or None
        Needed to find a cached pairs matrix (its key includes the word vectors); without it, pairs count as
        not cached.

    Returns
    -------
    dict
        :func:`estimate_seconds`'s stages and ``total`` (a cached stage costs about a second; a cached pairs
        matrix costs nothing), and ``cached``: ``{"features": bool, "statistics": bool, "pairs": bool}``.
    """
    from ..features import make_extractor
    from ..features.extraction import feature_key

    extractor = make_extractor(config.features, config.feature_params_dict or None)
    fkey = feature_key(dataset.fingerprint, extractor)
    cached = {"features": (cache_dir() / "features" / f"{config.features}-{fkey}.npz").is_file(),
              "statistics": _statistics_path_for(fkey, config.seed).is_file(),
              "pairs": bool(pairs and words is not None
                            and _pairs_path(fkey, config, words.fingerprint).is_file())}
    out = estimate_seconds(config, dataset, features_cached=cached["features"],
                           statistics_cached=cached["statistics"], pairs=pairs and not cached["pairs"])
    if pairs and cached["pairs"]:
        out["pairs"] = 0.0
    return {**out, "cached": cached}
