"""The experiment, in one place: settings → dataset → features → class statistics → fitted model → test scores.

Every caller — the app's cached pipeline, ``python -m zsl_core reproduce`` and ``classify``, the benchmarks and
the tests' references — builds a model through :func:`train` from a :class:`Config`, and reads its figures
through :class:`Run` and :func:`summary`. Nothing else constructs the classifier from settings.

Stages, each cached on disk by the stage's own module and keyed by everything that produced it:

1. :func:`load_data` — the dataset (``zsl_core.data``), optionally a stratified subset;
2. :func:`load_features` — image features (``zsl_core.features``);
3. :func:`load_statistics` — per-class counts, sums and Gram matrices on one fixed fitting / validation split
   (``zsl_core.model.statistics``): any held-out set's ridge map is solved from them;
4. :func:`fit_model` — the :class:`~zsl_core.model.ZeroShotClassifier` on the seen classes (also cached, so
   the command line's ``classify`` does not refit);
5. the test images' scores (``model.decompose``), from which every threshold's figures follow without a model
   call.

The threshold reaches the engine by one route: a value on the detector's novelty-score scale (novel ⇔ score >
threshold), ``None`` meaning the model's own (chosen on seen-class validation images). A *share of test images
called novel* (the app's slider) is turned into that value by :meth:`Run.threshold_for_share`.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field, fields, replace
from functools import cached_property
from typing import Any

import numpy as np

from . import __version__
from .cache import Progress, cache_dir, load_arrays, make_key, report, save_arrays

__all__ = ["Config", "ConfigError", "Run", "train", "classify", "classify_features", "summary", "load_data",
           "load_features", "load_statistics", "fit_model", "pairs_matrix", "nearest_training_images",
           "estimate_seconds", "plan", "explain_verdict", "MODEL_VERSION", "VALIDATION_FRACTION"]

#: Bump when a change to the model code changes what a cached fitted model contains.
MODEL_VERSION = "2"


class ConfigError(ValueError):
    """A setting that cannot work; the message says which one and how to fix it."""


def _options(registry) -> str:
    return ", ".join(repr(k) for k in registry)


@dataclass(frozen=True)
class Config:
    """Everything that determines a trained model and its figures; hashable, so it keys caches.

    Parameters
    ----------
    data : str or None
        The dataset: a folder / ``.tar`` / ``.tar.gz`` in image-folder layout, the official
        ``cifar-10-python.tar.gz`` or its extracted folder; ``None`` = the default data folder
        (``$ZSL_DATA_DIR``, downloading CIFAR-10 when it is missing).
    subset : (int or None, int or None) or None
        ``(train_per_class, test_per_class)`` for a quick stratified subset; ``None`` (or ``None`` for one
        split) = every image.
    features : str
        A name in ``zsl_core.features.EXTRACTORS`` (``'efficientnet'``, ``'coates'``).
    feature_params : tuple of (name, value) pairs
        Extractor parameters (a dict is accepted and normalised); missing ones take their defaults.
    unseen : tuple of str
        The held-out classes, by name.
    mapping : str
        A name in ``zsl_core.model.MAPPINGS`` (``'linear'``, ``'mlp'``).
    novelty : str
        A name in ``zsl_core.model.DETECTORS``.
    gate : str
        One of ``zsl_core.model.GATES`` (``'hard'``, ``'mixture'``).
    seed : int
        Seeds the subset, the fitting / validation split and every estimator.
    """

    data: str | None = None
    subset: tuple[int, int] | None = None
    features: str = "efficientnet"
    feature_params: tuple = ()
    unseen: tuple[str, ...] = ("cat", "truck")
    mapping: str = "linear"
    novelty: str = "gaussian"
    gate: str = "hard"
    seed: int = 0

    def __post_init__(self):
        # Frozen: normalise through object.__setattr__, before anyone sees the object.
        from .features import EXTRACTORS
        from .model import DETECTORS, GATES, MAPPINGS

        if self.data is not None and not isinstance(self.data, str):
            object.__setattr__(self, "data", str(self.data))
        if self.data is not None and not self.data.strip():
            object.__setattr__(self, "data", None)
        if self.subset is not None:
            try:
                train, test = (None if v is None else int(v) for v in self.subset)
            except (TypeError, ValueError):
                raise ConfigError(f"subset must be (train_per_class, test_per_class) or None; got {self.subset!r}")
            if any(v is not None and v < 1 for v in (train, test)):
                raise ConfigError(f"subset sizes must be positive; got {self.subset!r} (None uses every image)")
            object.__setattr__(self, "subset", None if train is None and test is None else (train, test))
        if self.features not in EXTRACTORS:
            raise ConfigError(f"unknown features {self.features!r}; choose one of {_options(EXTRACTORS)}")
        params = self.feature_params
        if isinstance(params, str):
            params = json.loads(params or "{}")
        params = dict(params or {})
        known = EXTRACTORS[self.features]._param_names()
        unknown = sorted(set(params) - set(known))
        if unknown:
            raise ConfigError(f"unknown parameter(s) {unknown} for features {self.features!r}; valid: {known}")
        object.__setattr__(self, "feature_params", tuple(sorted(params.items())))
        unseen = (self.unseen,) if isinstance(self.unseen, str) else tuple(self.unseen)
        unseen = tuple(str(u).strip() for u in unseen)
        if any(not u for u in unseen):
            raise ConfigError("a held-out class name is empty; name each held-out class, e.g. unseen=('cat', 'truck')")
        if len(set(unseen)) != len(unseen):
            dup = sorted({u for u in unseen if unseen.count(u) > 1})
            raise ConfigError(f"held-out class(es) named twice: {', '.join(dup)}; name each once")
        object.__setattr__(self, "unseen", unseen)
        if self.mapping not in MAPPINGS:
            raise ConfigError(f"unknown mapping {self.mapping!r}; choose one of {_options(MAPPINGS)}")
        if self.novelty not in DETECTORS:
            raise ConfigError(f"unknown novelty detector {self.novelty!r}; choose one of {_options(DETECTORS)}")
        if self.gate not in GATES:
            raise ConfigError(f"unknown gate {self.gate!r}; choose one of {_options(GATES)}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer; got {self.seed!r}")
        object.__setattr__(self, "seed", int(self.seed))

    # -- checks that need the dataset ----------------------------------------------------------------------
    def check_classes(self, class_names) -> None:
        """Raise :class:`ConfigError` unless the held-out classes exist and leave at least two seen ones."""
        class_names = list(class_names)
        if not self.unseen:
            raise ConfigError("choose at least one held-out (unseen) class: zero-shot learning needs a class the "
                              "model has never seen an image of")
        unknown = [u for u in self.unseen if u not in class_names]
        if unknown:
            raise ConfigError(f"unknown held-out class(es) {', '.join(unknown)}; the dataset's classes are "
                              f"{', '.join(class_names)}")
        n_seen = len(class_names) - len(self.unseen)
        if n_seen < 2:
            raise ConfigError(f"keep at least two seen classes: holding out {len(self.unseen)} of "
                              f"{len(class_names)} leaves {n_seen}, and the seen softmax and the map need two "
                              f"classes to tell apart. Hold out fewer classes.")

    # -- conveniences --------------------------------------------------------------------------------------
    @property
    def feature_params_dict(self) -> dict:
        return dict(self.feature_params)

    def with_(self, **changes) -> "Config":
        """A copy with some settings changed (validated again)."""
        return replace(self, **changes)

    def to_dict(self) -> dict:
        out = asdict(self)
        out["subset"] = list(self.subset) if self.subset else None
        out["feature_params"] = self.feature_params_dict
        out["unseen"] = list(self.unseen)
        return out

    @classmethod
    def from_dict(cls, values: dict) -> "Config":
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ConfigError(f"unknown setting(s) {unknown}; valid: {sorted(names)}")
        return cls(**values)

    def describe(self) -> str:
        if self.subset is None:
            size = "full dataset"
        else:
            size = " / ".join(f"{'all' if v is None else f'{v:,}'} {split}" for v, split in
                              zip(self.subset, ("train", "test"))) + " per class"
        return (f"{self.features} features · {self.mapping} mapping · {self.novelty} novelty · {self.gate} gate · "
                f"held out: {', '.join(self.unseen) or 'none'} · {size}")


# ------------------------------------------------------------------------------------------------- stages


def load_data(config: Config, progress: Progress = None):
    """The dataset of ``config`` (its subset when one is set)."""
    from .data import load_dataset

    dataset = load_dataset(config.data, progress=progress)
    if config.subset is not None:
        dataset = dataset.subset(config.subset[0], config.subset[1], seed=config.seed)
    return dataset


def load_features(config: Config, dataset, progress: Progress = None):
    """The ``FeatureSet`` of ``dataset`` with the extractor of ``config`` (cached on disk)."""
    from .features import compute_features

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
    from .model.softmax import _use_bf16
    from .model.statistics import ClassStatistics

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


def _model_params(config: Config, dataset) -> dict:
    """Constructor arguments of the classifier for ``config`` (small datasets adapt LoOP's neighbourhood)."""
    params = dict(mapping=config.mapping, novelty=config.novelty, gate=config.gate, random_state=config.seed,
                  validation_fraction=VALIDATION_FRACTION)
    if config.novelty == "loop":
        from .model.base import validation_split

        seen = [i for i, c in enumerate(dataset.class_names) if c not in config.unseen]
        y = np.asarray(dataset.train_labels)
        _, val = validation_split(y, VALIDATION_FRACTION, config.seed)
        n_ref = int(np.isin(y[val], seen).sum())
        if n_ref <= 20:  # LoOP's default k = 20 needs 21 reference points
            if n_ref < 3:
                raise ConfigError(f"LoOP needs at least 3 validation images of the seen classes; this dataset has "
                                  f"{n_ref}. Use more training images per class, or the Gaussian detector.")
            params["novelty_params"] = {"n_neighbors": n_ref - 1}
    return params


def _model_path(config: Config, features, words_key: str) -> Any:
    key = make_key(kind="model", features=features.key, mapping=config.mapping, novelty=config.novelty,
                   gate=config.gate, unseen=sorted(config.unseen), seed=config.seed, words=words_key,
                   fraction=VALIDATION_FRACTION, version=MODEL_VERSION, code=__version__)
    return cache_dir() / "models" / f"zsl-{key}.npz"


def fit_model(config: Config, dataset, features, statistics=None, words=None, progress: Progress = None,
              cache: bool = True):
    """The fitted :class:`~zsl_core.model.ZeroShotClassifier` for ``config`` (read from the cache when there).

    Raises :class:`ConfigError` (with how to fix it) for an impossible setting, including a class name the
    word vectors do not know.
    """
    from .model import ZeroShotClassifier
    from .model.persistence import estimator_state, load_estimator
    from .semantic import OutOfVocabularyError, WordVectors

    config.check_classes(dataset.class_names)
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
              class_vectors=class_vectors, statistics=statistics, progress=stage)
    if cache:
        save_arrays(path, **estimator_state(model))  # an unwritable cache only costs a refit next time
    return model


def pairs_matrix(config: Config, dataset, features, statistics=None, words=None, progress: Progress = None,
                 cache: bool = True) -> np.ndarray:
    """2-way zero-shot accuracy of every held-out pair (C, C) for the features and mapping of ``config``.

    Each cell is the model's own figure for that pair held out (``evaluation.all_pairs_matrix``); the
    held-out classes of ``config`` do not matter. Cached on disk by features, mapping, word vectors and seed.
    """
    from .evaluation import all_pairs_matrix
    from .semantic import WordVectors

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
    from .features import make_extractor
    from .features.extraction import feature_key

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
    from .features import make_extractor

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
    linear = config.mapping == "linear"
    gram = 2.0 * n_train * d * d / rate["flops_per_s"]
    out["statistics"] = (1.0 if statistics_cached else gram) if linear else 0.0
    solve = 8 * (d ** 3 / 3) / rate["flops_per_s"]  # a few Cholesky factorisations choose the ridge penalty
    softmax = 40 * 4 * n_train * d * 8 / rate["flops_per_s"] + 2 * (d ** 3 / 3) / rate["flops_per_s"]
    mlp = 40 * 6 * n_train * d * 200 * 2 / rate["flops_per_s"]  # up to 40 epochs, 2 weight decays
    out["fit"] = 0.3 + softmax + (solve if linear else mlp)
    if pairs:
        C = dataset.n_classes
        out["pairs"] = C * (C - 1) / 2 * (solve + 0.05 if linear else mlp)
    out["total"] = float(sum(out.values()))
    return {k: float(v) for k, v in out.items()}


# ---------------------------------------------------------------------------------------------------- Run


@dataclass
class Run:
    """A trained model with its test-set scores: everything the app's pages and the report read.

    Attributes
    ----------
    config : Config
    dataset : zsl_core.data.Dataset
    features : zsl_core.features.FeatureSet
    model : zsl_core.model.ZeroShotClassifier
    scores : zsl_core.model.ZSLScores
        Of the test images, computed once; every threshold's figures follow from them.
    timings : dict[str, float]
        Seconds per stage of :func:`train`.
    statistics : ClassStatistics or None
        Of the training features (the all-pairs matrix reuses them).
    """

    config: Config
    dataset: Any
    features: Any
    model: Any
    scores: Any
    timings: dict = field(default_factory=dict)
    statistics: Any = None

    # -- who is who ----------------------------------------------------------------------------------------
    @property
    def class_names(self) -> list[str]:
        return list(self.model.class_names_)

    @property
    def y_test(self) -> np.ndarray:
        return np.asarray(self.dataset.test_labels)

    @property
    def seen(self) -> np.ndarray:
        return np.asarray(self.model.seen_)

    @property
    def unseen(self) -> np.ndarray:
        return np.asarray(self.model.unseen_)

    @property
    def seen_names(self) -> list[str]:
        return [self.class_names[i] for i in self.seen]

    @property
    def unseen_names(self) -> list[str]:
        return [self.class_names[i] for i in self.unseen]

    @cached_property
    def key(self) -> str:
        """Identifies the model (its features, settings and code), e.g. for caches of derived figures."""
        return make_key(features=self.features.key, config=self.config.to_dict(), version=MODEL_VERSION)

    # -- the threshold -------------------------------------------------------------------------------------
    @property
    def threshold(self) -> float:
        """The model's own threshold (chosen on seen-class validation images, never on test images)."""
        return float(self.model.threshold_)

    def resolve(self, threshold: float | None) -> float:
        return self.threshold if threshold is None else float(threshold)

    def threshold_for_share(self, share: float) -> float:
        """The cutoff that calls ``share`` of the test images novel (see ``evaluation.threshold_for_share``)."""
        from .evaluation import threshold_for_share

        return threshold_for_share(self.scores.novelty, share)

    def share_for_threshold(self, threshold: float | None = None) -> float:
        """Share of the test images called novel at ``threshold``."""
        from .evaluation import share_for_threshold

        return share_for_threshold(self.scores.novelty, self.resolve(threshold))

    # -- figures -------------------------------------------------------------------------------------------
    @cached_property
    def sweep(self) -> dict[str, np.ndarray]:
        """``evaluation.threshold_sweep`` over every threshold of the test scores (computed once)."""
        from .evaluation import threshold_sweep

        return threshold_sweep(self.scores, self.y_test, self.seen, self.unseen)

    def at_threshold(self, threshold: float | None = None) -> dict[str, float]:
        """Seen / unseen / overall accuracy, H and the share called novel at one threshold (test split)."""
        from .evaluation import threshold_sweep

        row = threshold_sweep(self.scores, self.y_test, self.seen, self.unseen,
                              thresholds=np.array([self.resolve(threshold)]))
        return {k: float(np.asarray(v)[0]) for k, v in row.items()}

    def predictions(self, threshold: float | None = None) -> np.ndarray:
        """Predicted class of every test image through Eq. 2 at ``threshold``."""
        return np.asarray(self.model.predict_from_scores(self.scores, self.resolve(threshold)))

    def confusion(self, threshold: float | None = None) -> np.ndarray:
        """Confusion counts (row = true class, column = predicted) of the test images at ``threshold``."""
        from .evaluation import confusion_matrix

        return confusion_matrix(self.y_test, self.predictions(threshold), len(self.class_names))


def train(config: Config, progress: Progress = None, *, dataset=None, features=None, statistics=None,
          words=None, cache: bool = True) -> Run:
    """Run the experiment of ``config``: every stage, reusing the ones passed in (already computed).

    Parameters
    ----------
    config : Config
    progress : callable(step, done, total) or None
    dataset, features, statistics, words : optional
        Stages computed earlier for the same config (the app passes its cached ones).
    cache : bool
        Read / write the fitted model in the cache.

    Returns
    -------
    Run
    """
    timings = {}
    t = time.perf_counter()
    dataset = dataset if dataset is not None else load_data(config, progress)
    config.check_classes(dataset.class_names)
    timings["data_s"] = time.perf_counter() - t
    t = time.perf_counter()
    features = features if features is not None else load_features(config, dataset, progress)
    timings["features_s"] = time.perf_counter() - t
    t = time.perf_counter()
    if statistics is None and config.mapping == "linear":
        statistics = load_statistics(features, dataset, config.seed, progress)
    timings["statistics_s"] = time.perf_counter() - t
    t = time.perf_counter()
    model = fit_model(config, dataset, features, statistics, words, progress, cache=cache)
    timings["fit_s"] = time.perf_counter() - t
    t = time.perf_counter()
    scores = model.decompose(features.X_test)
    timings["scores_s"] = time.perf_counter() - t
    return Run(config, dataset, features, model, scores, timings, statistics)


# ----------------------------------------------------------------------------------------------- classify


def classify(run: Run, images, threshold: float | None = None, words=None, n_words: int = 5,
             extra_labels=()) -> list[dict]:
    """Follow photos through the model: features, word space, the gate, Eq. 2.

    Parameters
    ----------
    run : Run
    images : ndarray (n, 32, 32, 3) uint8 or (32, 32, 3)
        Prepared photos (``zsl_core.data.prepare_image``).
    threshold : float or None
        On the detector's scale; ``None`` = the model's own.
    words : WordVectors or None
        For the nearest words to each mapped photo, and the vectors of ``extra_labels``.
    n_words : int
        Nearest words to return per photo (0: none, which skips a pass over the 400,000 words).
    extra_labels : sequence of str
        Words that join the held-out classes as candidates (e.g. typed by a student: "tiger, bus"): their
        word vectors are turned into prototypes exactly like the held-out classes' (``model.prototypes``),
        nothing is refitted. Needs ``words``; a word it does not know raises ``OutOfVocabularyError``.

    Returns
    -------
    list of dict, one per photo
        ``verdict`` ('seen class' / 'novel (unseen class)'), ``class``, ``novel`` (bool), ``novelty``,
        ``threshold``, ``novelty_probability``, ``probabilities`` (class → P(y|x) over the classes and the
        extra labels), ``seen_probabilities``, ``unseen_probabilities`` (held-out classes and extra labels,
        as if the photo were novel), ``mapped`` (D,), ``features`` (d,), ``nearest_words`` [(word, cosine)].
    """
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[None]
    x = np.asarray(run.features.extractor.transform(images))
    return classify_features(run, x, threshold, words, n_words, extra_labels)


def classify_features(run: Run, x: np.ndarray, threshold: float | None = None, words=None,
                      n_words: int = 5, extra_labels=()) -> list[dict]:
    """:func:`classify` from precomputed image features ``x`` (n, d)."""
    t = run.resolve(threshold)
    model = run.model
    x = np.atleast_2d(np.asarray(x))
    scores = model.decompose(x)
    names = run.class_names
    extra = [str(w) for w in extra_labels]
    if extra:
        if words is None:
            raise ValueError("extra_labels need word vectors: pass words=WordVectors.from_glove_package()")
        centres = model.prototypes(words.class_vectors(extra))
        unseen_p = np.exp(model.unseen_log_proba(scores.mapped, extra_centers=centres))
    else:
        unseen_p = np.exp(model.unseen_log_proba(scores.mapped))
    C = len(names)
    all_names = names + extra
    unseen_full = np.zeros((len(x), C + len(extra)))
    unseen_full[:, list(model.unseen_) + list(range(C, C + len(extra)))] = unseen_p
    seen_full = np.zeros((len(x), C + len(extra)))
    seen_full[:, :C] = scores.seen_proba
    if model.gate == "mixture":
        p_novel = np.clip(scores.novelty_probability, 0, 1)
    else:
        p_novel = (scores.novelty > t).astype(np.float64)
    proba = (1 - p_novel)[:, None] * seen_full + p_novel[:, None] * unseen_full
    nearest = (words.nearest(scores.mapped, k=n_words) if words is not None and n_words > 0
               else [[] for _ in range(len(x))])
    unseen_cols = list(model.unseen_) + list(range(C, C + len(extra)))
    out = []
    for i in range(len(x)):
        novelty = float(scores.novelty[i])
        novel = bool(p_novel[i] > 0.5)
        top = int(np.argmax(proba[i]))
        out.append({
            "verdict": "novel (unseen class)" if novel else "seen class",
            "class": all_names[top],
            "prediction": top,
            "novel": novel,
            "novelty": novelty,
            "threshold": t,
            "novelty_probability": float(scores.novelty_probability[i]),
            "probabilities": {all_names[j]: float(proba[i, j]) for j in range(len(all_names))},
            "seen_probabilities": {names[j]: float(scores.seen_proba[i, j]) for j in model.seen_},
            "unseen_probabilities": {all_names[j]: float(unseen_full[i, j]) for j in unseen_cols},
            "mapped": np.asarray(scores.mapped[i]),
            "features": np.asarray(x[i]),
            "nearest_words": [(w, float(s)) for w, s in nearest[i]],
        })
    return out


def explain_verdict(run: Run, result: dict) -> dict:
    """A verdict of :func:`classify` in plain words: why novel (or not), what the gate did, what else it could be.

    The novelty score is placed among the *seen* classes' own test images (an image more unusual than 97 % of
    them is unusual indeed), and so is the cutoff; then what the gate did with the probabilities.

    Parameters
    ----------
    run : Run
    result : dict
        One photo's entry from :func:`classify` / :func:`classify_features`.

    Returns
    -------
    dict
        ``unusual_share``: share of the seen classes' test images with a lower novelty score than the photo;
        ``cutoff_share``: share of them below the cutoff (the rest, ``1 - cutoff_share``, are seen images the
        gate wrongly calls novel); ``seen_guess`` and ``unseen_guess``: ``(class, probability)`` of the seen
        softmax alone and of the held-out candidates alone; ``gate``; ``sentences``: ``why``, ``gate`` and
        ``otherwise``, each one plain sentence.
    """
    novelty = np.asarray(run.scores.novelty, dtype=np.float64)
    seen_scores = novelty[np.isin(run.y_test, run.seen)]
    if seen_scores.size == 0:
        seen_scores = novelty
    score, t = float(result["novelty"]), float(result["threshold"])
    unusual = float(np.mean(seen_scores < score))
    cutoff = float(np.mean(seen_scores <= t))
    seen_guess = max(result["seen_probabilities"].items(), key=lambda kv: kv[1])
    unseen_guess = max(result["unseen_probabilities"].items(), key=lambda kv: kv[1])
    candidates = list(result["unseen_probabilities"])
    gate = run.model.gate
    if result["novel"]:
        why = (f"It lands farther from the seen classes than {unusual:.0%} of their own test images do; the "
               f"threshold calls novel anything past {cutoff:.0%} of them, so it is called novel.")
    else:
        why = (f"It lands farther from the seen classes than {unusual:.0%} of their own test images do; the "
               f"threshold calls novel only what lies past {cutoff:.0%} of them, so it is called familiar.")
    names = ", ".join(candidates)
    if gate == "hard":
        if result["novel"]:
            what = (f"With the hard gate (Eq. 2) a photo called novel can only be one of the held-out candidates "
                    f"({names}): every seen class gets 0 %, and the {unseen_guess[1]:.0%} for "
                    f"{unseen_guess[0]} means \u201c{unseen_guess[0]} rather than the other candidates\u201d, not "
                    f"certainty that it is one.")
            otherwise = (f"Had it been called familiar, the seen-class softmax would have said {seen_guess[0]} "
                         f"({seen_guess[1]:.0%}).")
        else:
            what = (f"With the hard gate (Eq. 2) a photo called familiar can only be a seen class: every held-out "
                    f"candidate gets 0 %, and {seen_guess[0]} gets the seen softmax's {seen_guess[1]:.0%}.")
            otherwise = (f"Had it been called novel, the nearest held-out candidate would have been "
                         f"{unseen_guess[0]} ({unseen_guess[1]:.0%} among {names}).")
    else:
        p = float(np.clip(result["novelty_probability"], 0, 1))
        what = (f"The mixture gate weighs both answers by the probability that the photo is novel ({p:.0%}): "
                f"{1 - p:.0%} of the seen softmax plus {p:.0%} of the held-out candidates.")
        otherwise = (f"Seen softmax alone: {seen_guess[0]} ({seen_guess[1]:.0%}); held-out candidates alone: "
                     f"{unseen_guess[0]} ({unseen_guess[1]:.0%}).")
    return {"unusual_share": unusual, "cutoff_share": cutoff, "seen_guess": seen_guess,
            "unseen_guess": unseen_guess, "gate": gate,
            "sentences": {"why": why, "gate": what, "otherwise": otherwise}}


def nearest_training_images(run: Run, x: np.ndarray, k: int = 6) -> list[np.ndarray]:
    """The ``k`` training images of the *seen* classes most similar to each photo (cosine of standardised
    features): the images the model learnt from that this photo resembles. Held-out classes' training images
    are never shown: the model has never seen them.

    Returns
    -------
    list of ndarray of int, one per photo
        Row indices into ``run.dataset.train_images``, most similar first.
    """
    import torch

    model = run.model
    y = np.asarray(run.dataset.train_labels)
    rows = np.flatnonzero(np.isin(y, model.seen_))
    train = torch.from_numpy(np.ascontiguousarray(run.features.X_train[rows], dtype=np.float32))
    mean, scale = torch.from_numpy(model.mean_), torch.from_numpy(model.scale_)
    train = torch.nn.functional.normalize((train - mean) / scale, dim=1)
    query = torch.from_numpy(np.atleast_2d(np.asarray(x, dtype=np.float32)))
    query = torch.nn.functional.normalize((query - mean) / scale, dim=1)
    top = torch.topk(query @ train.T, min(k, rows.size), dim=1).indices.numpy()
    return [rows[t] for t in top]


# ------------------------------------------------------------------------------------------------ summary


def summary(run: Run, threshold: float | None = None) -> dict:
    """The headline figures of a run, each with what it measures (test split; which classes; which threshold).

    Returns
    -------
    dict
        ``seen_softmax``: the seen-class softmax alone on test images of the seen classes (S-way; the paper's
        82.5 % figure). ``zero_shot``: test images of the held-out classes classified among the held-out
        classes only, as if the gate were perfect (U-way; the paper's 2-way figure when U = 2); ``None``
        with one held-out class (a 1-way choice measures nothing). ``at_threshold``: seen / unseen / overall
        / H / share called novel through Eq. 2 at ``threshold`` (default: the model's own).
        ``call_nothing_unseen``: overall accuracy when the gate calls nothing novel — what a gate must beat.
        ``gate_gain``: overall at the threshold minus that. Counts (``n_test``, ``n_seen``, ``n_unseen``),
        ``threshold`` and ``threshold_is_models_own``, and ``describe``: one sentence per figure.
    """
    y = run.y_test
    seen_mask = np.isin(y, run.seen)
    unseen_mask = np.isin(y, run.unseen)
    scores = run.scores
    seen_pred = run.seen[np.argmax(np.asarray(scores.seen_proba)[:, run.seen], axis=1)]
    unseen_pred = run.unseen[np.argmax(np.asarray(scores.unseen_proba)[:, run.unseen], axis=1)]
    n = len(y)
    seen_softmax = float(np.mean(seen_pred[seen_mask] == y[seen_mask])) if seen_mask.any() else float("nan")
    zero_shot = (float(np.mean(unseen_pred[unseen_mask] == y[unseen_mask]))
                 if unseen_mask.any() and len(run.unseen) >= 2 else None)
    t = run.resolve(threshold)
    at = run.at_threshold(t)
    nothing = float(np.sum(seen_pred[seen_mask] == y[seen_mask]) / n) if n else float("nan")
    S, U = len(run.seen), len(run.unseen)
    held = " + ".join(run.unseen_names)
    own = threshold is None or np.isclose(t, run.threshold)
    which_t = ("the model's own threshold (chosen on seen-class validation images, not on test images)" if own
               else "the chosen threshold")
    gain = at["overall"] - nothing
    describe = {
        "seen_softmax": f"{S}-way softmax alone on the {int(seen_mask.sum()):,} test images of the seen classes "
                        f"({', '.join(run.seen_names)}); no novelty gate.",
        "zero_shot": (f"{int(unseen_mask.sum()):,} test images of {held}, each given the nearest of the {U} "
                      f"held-out classes' prototypes, as if the gate were perfect." if zero_shot is not None else
                      f"With one held-out class ({held}) there is nothing to choose among: hold out two or more "
                      f"classes for a zero-shot accuracy."),
        "at_threshold": f"all {n:,} test images, {S + U}-way through Eq. 2 at {which_t}: "
                        f"{at['novel_fraction']:.1%} called novel, where {unseen_mask.mean():.1%} are.",
        "call_nothing_unseen": f"all {n:,} test images with the gate calling nothing novel (every image to the "
                               f"seen softmax): the {unseen_mask.mean():.0%} of held-out images are all wrong.",
        "gate_gain": (f"the gate {'gains' if gain > 0 else 'costs'} {abs(gain):.1%} of overall accuracy against "
                      f"calling nothing unseen at {which_t}."),
    }
    return {
        "seen_softmax": seen_softmax,
        "zero_shot": zero_shot,
        "at_threshold": at,
        "call_nothing_unseen": nothing,
        "gate_gain": gain,
        "threshold": t,
        "threshold_is_models_own": bool(own),
        "n_test": int(n),
        "n_seen": int(seen_mask.sum()),
        "n_unseen": int(unseen_mask.sum()),
        "seen_names": run.seen_names,
        "unseen_names": run.unseen_names,
        "describe": describe,
    }
