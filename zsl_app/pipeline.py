"""Streamlit cache wrappers over the engine's one experiment path (``zsl_core.experiment``); no maths here.

Two kinds of cache, as the style guide says:

* **resources** (datasets, word vectors, feature sets, class statistics, runs): shared by every session of
  this process, never mutated. They live in :func:`_slot`, an ``st.cache_resource`` keyed by a kind and a key;
  the computation itself runs *outside* the cached function, under the slot's lock, so it can draw a progress
  bar into the calling page (elements drawn inside a cached function would be recorded for replay) and so
  two sessions asking for the same model compute it once while the second waits.
* **arrays and tables** derived from a run (projections, distractor curves, one photo's features): cached
  with the run's key.

Nothing here draws widgets; pages pass a :class:`~zsl_app.progress.StreamlitProgress` or ``None``.
"""

from __future__ import annotations

import contextlib
import os
import threading
from typing import Callable

import numpy as np
import streamlit as st

from zsl_core import experiment
from zsl_core.cache import Progress, make_key
from zsl_core.experiment import Config, ConfigError, Run

__all__ = ["ConfigError", "UPLOAD_PREFIX", "uploaded_dataset", "plan", "dataset", "words", "features", "statistics", "run", "is_cached", "features_key",
           "run_key", "pairs", "pairs_key", "projection", "projection_key", "pca_view", "photo_features",
           "nearest_words", "suggested_distractors", "distractors", "detector_table"]


# --------------------------------------------------------------------------------------------- the slots


class _Slot:
    """A lazily filled, thread-safe value (one per cache key)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ready = False
        self.value = None


@st.cache_resource(show_spinner=False, max_entries=512)
def _small_slot(kind: str, key: str) -> _Slot:
    return _Slot()


@st.cache_resource(show_spinner=False, max_entries=64)
def _run_slot(key: str) -> _Slot:
    # Trained runs are the big entries (~15 MB each on full CIFAR-10: validation points, test scores, sweep), so
    # they get a budget of their own: 64 held-out sets and detectors stay, the least recently used go first.
    return _Slot()


def _slot(kind: str, key: str) -> _Slot:
    return _run_slot(key) if kind == "run" else _small_slot(kind, key)


def is_cached(kind: str, key: str) -> bool:
    """Whether ``kind``/``key`` is already computed in this process (pages use it to choose a spinner)."""
    return _slot(kind, key).ready


def _get(kind: str, key: str, compute: Callable[[], object]):
    slot = _slot(kind, key)
    if slot.ready:
        return slot.value
    with slot.lock:
        if not slot.ready:  # another session may have filled it while we waited
            slot.value = compute()
            slot.ready = True
    return slot.value


# ------------------------------------------------------------------------------------------- resources


def _data_key(config: Config) -> str:
    return make_key(data=config.data or "", subset=list(config.subset) if config.subset else None,
                    seed=config.seed)


#: ``Config.data`` of a dataset uploaded in this process: the prefix and the upload's digest.
UPLOAD_PREFIX = "upload:"


def uploaded_dataset(key: str, raw: bytes, name: str, progress: Progress = None):
    """A dataset uploaded as a ZIP or tar (``data.load_uploaded_dataset``, in memory), kept by its digest."""
    from zsl_core.data import load_uploaded_dataset

    return _get("upload", key, lambda: load_uploaded_dataset(raw, name, progress=progress))


def dataset(config: Config, progress: Progress = None):
    """The (sub)dataset of ``config``; raises ``zsl_core.data.DatasetError`` with a message saying what to do."""
    if config.data and config.data.startswith(UPLOAD_PREFIX):
        from zsl_core.data import DatasetError

        key = config.data[len(UPLOAD_PREFIX):]
        if not is_cached("upload", key):
            raise DatasetError("the uploaded dataset is no longer in memory; upload it again")
        full = _get("upload", key, lambda: None)
    else:
        full = _get("dataset", make_key(data=config.data or ""),
                    lambda: experiment.load_data(config.with_(subset=None), progress))
    if config.subset is None:
        return full
    return _get("dataset", _data_key(config),
                lambda: full.subset(config.subset[0], config.subset[1], seed=config.seed))


def words():
    """GloVe 6B 50-d (memory-mapped, one per process).

    The first nearest-word search normalises all 400,000 vectors (a few hundred ms); a background thread does
    it as soon as the vectors are loaded, so the first photo's verdict does not wait for it.
    """
    from zsl_core.semantic import WordVectors

    def load():
        vectors = WordVectors.from_glove_package()
        threading.Thread(target=vectors.nearest, args=(np.asarray(vectors.vectors[0]),), kwargs={"k": 1},
                         name="zsl-warm-nearest", daemon=True).start()
        return vectors

    return _get("words", "glove-6b-50d", load)


def features_key(config: Config) -> str:
    return make_key(data=_data_key(config), features=config.features, params=list(config.feature_params))


def features(config: Config, progress: Progress = None):
    """The ``FeatureSet`` of the chosen dataset and extractor (cached on disk by the engine as well)."""
    return _get("features", features_key(config),
                lambda: experiment.load_features(config, dataset(config, progress), progress))


def statistics(config: Config, progress: Progress = None):
    """Per-class sufficient statistics of the training features, rows attached (one per feature set)."""
    return _get("statistics", features_key(config),
                lambda: experiment.load_statistics(features(config, progress), dataset(config), config.seed,
                                                   progress))


def plan(config: Config, pairs: bool = False) -> dict:
    """``experiment.plan``: the whole job's stages and seconds, with what is already cached (disk or memory)."""
    out = experiment.plan(config, dataset(config), pairs=pairs, words=words() if pairs else None)
    if is_cached("features", features_key(config)):
        out["total"] -= out["features"]
        out["features"] = 0.0
        out["cached"]["features"] = True
    return out


def _training_slots() -> int:
    """How many models this server trains at once: ``$ZSL_TRAINING_SLOTS``, default one per two cores."""
    try:
        return max(1, int(os.environ.get("ZSL_TRAINING_SLOTS", "")))
    except ValueError:
        return max(1, (os.cpu_count() or 2) // 2)


#: Trainings run one (per two cores) at a time, in order of arrival. A fit's L-BFGS loop holds the GIL for
#: much of its time; with 30 visitors holding out new classes at once, 30 fits took turns with every slider
#: move (slider p95 2.4 s at N = 30 in bench/bench_load.py) although the fits, queued, finish no later.
_TRAINING = threading.BoundedSemaphore(_training_slots())


@contextlib.contextmanager
def _training_turn(progress: Progress):
    if not _TRAINING.acquire(blocking=False):
        if progress is not None:
            progress("Waiting for other visitors' models to finish training", 0, 1)
        _TRAINING.acquire()
    try:
        yield
    finally:
        _TRAINING.release()


def run_key(config: Config) -> str:
    return make_key(features=features_key(config), mapping=config.mapping, novelty=config.novelty,
                    gate=config.gate, unseen=sorted(config.unseen), seed=config.seed)


def run(config: Config, progress: Progress = None) -> Run:
    """The trained model of ``config`` with its test scores (raises :class:`ConfigError` for a bad choice)."""

    def compute():
        data = dataset(config, progress)
        experiment.check_dataset(config, data)  # a setting this dataset cannot support: said before any features
        stats = statistics(config, progress) if config.mapping == "linear" else None
        stage = None if progress is None else (lambda step, done, total: progress(step, done, total))
        feats = features(config, progress)
        with _training_turn(progress):
            return experiment.train(config, stage, dataset=data, features=feats, statistics=stats, words=words())

    return _get("run", run_key(config), compute)


# ------------------------------------------------------------------------------------------- held-out pairs


def pairs_key(config: Config) -> str:
    return make_key(features=features_key(config), mapping=config.mapping, seed=config.seed)


def pairs(config: Config, progress: Progress = None) -> np.ndarray:
    """2-way zero-shot accuracy of every held-out pair (``experiment.pairs_matrix``; also cached on disk)."""

    def compute():
        stats = statistics(config, progress) if config.mapping == "linear" else None
        return experiment.pairs_matrix(config, dataset(config), features(config, progress), stats, words(),
                                       progress)

    return _get("pairs", pairs_key(config), compute)


# ------------------------------------------------------------------------------------ detectors compared


@st.cache_data(show_spinner=False, max_entries=64)
def detector_table(key: str, _run: Run) -> dict:
    """``evaluation.detector_table`` of a run (every detector a learned-gate run carries), with sweeps."""
    from zsl_core.evaluation import detector_table as engine_table

    return engine_table(_run, with_sweeps=True)


# ----------------------------------------------------------------------------- semantic-space projections


def projection_key(run_: Run, method: str, params: dict, n: int) -> str:
    return make_key(model=run_.key, method=method, params=params, n=int(n))


def projection(run_: Run, method: str, params: dict, n: int, progress: Progress = None) -> dict:
    """2-D t-SNE / UMAP of ``n`` mapped test images together with every class's word vector.

    Returns ``rows`` (test indices), ``xy`` (n, 2) for the images and ``stars`` (C, 2) for the words.
    """
    from zsl_core.projection import project, sample_rows

    def compute():
        rows = sample_rows(len(run_.y_test), n)
        points = np.vstack([np.asarray(run_.scores.mapped)[rows], np.asarray(run_.model.class_vectors_)])
        xy = np.asarray(project(points, method=method, random_state=0, progress=progress, **params))
        return {"rows": rows, "xy": xy[: len(rows)], "stars": xy[len(rows):]}

    return _get("projection", projection_key(run_, method, params, n), compute)


@st.cache_data(show_spinner=False, max_entries=64)
def pca_view(key: str, _run: Run, n: int = 1500) -> dict:
    """``projection.pca_view`` of a fixed sample of mapped test images and the class vectors, with labels."""
    from zsl_core.projection import pca_view as engine_pca_view, sample_rows

    rows = sample_rows(len(_run.y_test), n)
    view = engine_pca_view(np.asarray(_run.scores.mapped)[rows], _run.model.class_vectors_)
    return {**view, "labels": _run.y_test[rows]}


# ------------------------------------------------------------------------------------ one photo at a time


@st.cache_data(show_spinner=False, max_entries=64)
def photo_features(features_key_: str, digest: str, _run: Run, _image: np.ndarray) -> np.ndarray:
    """Features of one prepared 32×32 photo (cached by the photo's hash and the extractor)."""
    return np.asarray(_run.features.extractor.transform(_image[None]))


def classify(run_: Run, image: np.ndarray, digest: str, threshold: float, extra: tuple[str, ...] = ()) -> dict:
    """``experiment.classify_features`` of one photo at ``threshold`` (features cached by the photo's hash);
    ``extra``: typed candidate labels that join the held-out classes (no retraining)."""
    x = photo_features(run_.features.key, digest, run_, image)
    # n_words=0: the page asks for the nearest words itself, cached (pipeline.nearest_words)
    return experiment.classify_features(run_, x, threshold, words=words() if extra else None, n_words=0,
                                        extra_labels=extra)[0]


@st.cache_data(show_spinner=False, max_entries=64)
def nearest_training_images(key: str, digest: str, _run: Run, _image: np.ndarray, k: int = 6) -> np.ndarray:
    """``experiment.nearest_training_images`` of one photo: rows of seen-class training images."""
    x = photo_features(_run.features.key, digest, _run, _image)
    return np.asarray(experiment.nearest_training_images(_run, x, k)[0])


@st.cache_data(show_spinner=False, max_entries=256)
def nearest_words(point: tuple, k: int = 10, exclude: tuple = ()) -> list[tuple[str, float]]:
    """The ``k`` GloVe words nearest (cosine) to one point of word space, over the whole vocabulary."""
    return words().nearest(np.asarray(point, dtype=np.float32), k=k, exclude=exclude)[0]


# ------------------------------------------------------------------------------------------------ distractors


@st.cache_data(show_spinner=False, max_entries=64)
def suggested_distractors(key: str, unseen: tuple[str, ...], class_names: tuple[str, ...], n: int = 20) -> list[str]:
    """The GloVe words nearest to the unseen class names (not class names themselves), nearest first."""
    from zsl_core.evaluation import nearest_distractor_words

    return list(nearest_distractor_words(words(), list(unseen), n, exclude=list(class_names)))


@st.cache_data(show_spinner=False, max_entries=64)
def distractors(key: str, added: tuple[str, ...], threshold: float, _run: Run) -> dict[str, np.ndarray]:
    """``evaluation.distractor_curve`` as the words in ``added`` join the unseen candidates one by one."""
    from zsl_core.evaluation import distractor_curve

    vectors = words().class_vectors(list(added)) if added else np.zeros((0, words().dim), np.float32)
    curve = distractor_curve(_run.model, _run.features.X_test, _run.y_test, vectors,
                             counts=list(range(len(added) + 1)), scores=_run.scores, threshold=threshold)
    return {k: np.asarray(v) for k, v in curve.items()}
