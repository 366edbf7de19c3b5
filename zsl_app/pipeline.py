"""The cached pipeline: dataset -> features -> model -> test scores -> sweeps, projections, pair matrices.

Two kinds of cache, as the style guide says:

* **resources** (datasets, word vectors, feature sets, trained models, score bundles): shared by every
  session of this process, never mutated. They live in :func:`_slot`, an ``st.cache_resource`` keyed by a
  kind and a key; the computation itself runs *outside* the cached function, under the slot's lock, so it
  can draw a progress bar into the calling page (elements drawn inside a cached function would be recorded
  for replay) and so two sessions asking for the same model compute it once while the second waits.
* **arrays and tables** derived cheaply from a resource (threshold sweeps, the slider's lookups, PCA
  views): ``st.cache_data`` keyed by the resource's key string, with the resource passed as an
  underscore argument (not hashed).

Nothing here draws widgets; pages pass a :class:`~zsl_app.progress.StreamlitProgress` or ``None``.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import streamlit as st

from zsl_core.cache import Progress, cache_dir, load_arrays, make_key, save_arrays
from zsl_app.state import Choices


class TrainingProblem(ValueError):
    """A choice that cannot train (e.g. fewer than two seen classes); the message is for the user."""


# --------------------------------------------------------------------------------------------- the slots


class _Slot:
    """A lazily filled, thread-safe value (one per cache key)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ready = False
        self.value = None


@st.cache_resource(show_spinner=False, max_entries=512)
def _slot(kind: str, key: str) -> _Slot:
    return _Slot()


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


def dataset_key(source: str | None, subset: tuple[int, int] | None) -> str:
    return make_key(source=source or "", subset=list(subset) if subset else None)


def dataset(source: str | None, subset: tuple[int, int] | None, progress: Progress = None):
    """The (sub)dataset; raises ``zsl_core.data.DatasetError`` with a message saying what to do."""
    from zsl_core.data import load_dataset

    def full():
        return load_dataset(source or None, progress=progress)

    def load():
        base = _get("dataset", dataset_key(source, None), full)
        if subset is None:
            return base
        return base.subset(subset[0], subset[1], seed=0)

    return _get("dataset", dataset_key(source, subset), load)


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


def features_key(choices: Choices) -> str:
    return make_key(data=dataset_key(choices.source, choices.subset), features=choices.features,
                    params=choices.feature_params)


def features(choices: Choices, progress: Progress = None):
    """The ``FeatureSet`` of the chosen dataset and extractor (cached on disk by the engine as well)."""
    from zsl_core.features import compute_features

    def compute():
        data = dataset(choices.source, choices.subset, progress)
        params = json.loads(choices.feature_params) or None
        return compute_features(data, choices.features, params, progress=progress)

    return _get("features", features_key(choices), compute)


def model_key(choices: Choices) -> str:
    return make_key(features=features_key(choices), mapping=choices.mapping, novelty=choices.novelty,
                    unseen=sorted(choices.unseen))


def check_choices(choices: Choices, class_names: list[str]) -> str | None:
    """Why this choice cannot train, in words for the user; ``None`` when it can."""
    unknown = [u for u in choices.unseen if u not in class_names]
    if unknown:
        return f"Unknown held-out class(es): {', '.join(unknown)}. The dataset's classes are {', '.join(class_names)}."
    n_seen = len(class_names) - len(set(choices.unseen))
    if not choices.unseen:
        return ("Choose at least one held-out (unseen) class in the sidebar: zero-shot learning needs a class "
                "the model has never seen an image of.")
    if n_seen < 2:
        return (f"Keep at least two seen classes: with {n_seen} seen class the softmax over seen classes and "
                f"the mapping have nothing to tell apart. Remove a class from the held-out set.")
    return None


@dataclass
class Trained:
    """Everything a page needs about the current model, computed once per :class:`Choices`."""

    choices: Choices
    key: str
    dataset: object  # zsl_core.data.Dataset
    features: object  # zsl_core.features.FeatureSet
    model: object  # zsl_core.model.ZeroShotClassifier
    scores: object  # ZSLScores of the test images
    train_seconds: float = 0.0

    @property
    def class_names(self) -> list[str]:
        return list(self.model.class_names_)

    @property
    def y_test(self) -> np.ndarray:
        return self.dataset.test_labels

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


def trained(choices: Choices, progress: Progress = None) -> Trained:
    """The trained model for ``choices`` with its test-set scores (raises :class:`TrainingProblem`)."""
    from zsl_core.model import ZeroShotClassifier
    from zsl_core.semantic import OutOfVocabularyError

    def compute():
        feats = features(choices, progress)
        data = dataset(choices.source, choices.subset, progress)
        problem = check_choices(choices, list(data.class_names))
        if problem:
            raise TrainingProblem(problem)
        started = time.perf_counter()
        model = ZeroShotClassifier(word_vectors=words(), mapping=choices.mapping, novelty=choices.novelty,
                                   random_state=0)
        stage = None if progress is None else (lambda step, done, total: progress(f"Training: {step}", done, total))
        try:
            model.fit(feats.X_train, data.train_labels, list(data.class_names), list(choices.unseen),
                      progress=stage)
        except OutOfVocabularyError as error:
            hint = f" Close words: {', '.join(error.suggestions)}." if error.suggestions else ""
            raise TrainingProblem(f"The class name “{error.name}” has no GloVe word vector (“{error.word}” is not in "
                                  f"the vocabulary), so the model cannot place it in word space. Rename its "
                                  f"folder in the dataset.{hint}") from None
        train_seconds = time.perf_counter() - started
        scores = model.decompose(feats.X_test)
        return Trained(choices, model_key(choices), data, feats, model, scores, train_seconds)

    return _get("model", model_key(choices), compute)


# ------------------------------------------------------------------------------ arrays (st.cache_data)


@st.cache_data(show_spinner=False, max_entries=64)
def sweep(key: str, _run: Trained) -> dict[str, np.ndarray]:
    """``evaluation.threshold_sweep`` over every threshold of the test scores (once per model)."""
    from zsl_core.evaluation import threshold_sweep

    return threshold_sweep(_run.scores, _run.y_test, _run.seen, _run.unseen)


@st.cache_data(show_spinner=False, max_entries=64)
def sorted_novelty(key: str, _run: Trained) -> np.ndarray:
    """The test images' novelty scores, highest first (turns a 'fraction called novel' into a cutoff)."""
    return np.sort(np.asarray(_run.scores.novelty, dtype=np.float64))[::-1]


def threshold_for_fraction(sorted_desc: np.ndarray, fraction: float) -> float:
    """The cutoff that calls ``round(fraction * n)`` test images novel (novel <=> score > cutoff).

    With tied scores the fraction actually called novel can differ slightly; pages show the actual one.
    """
    n = len(sorted_desc)
    k = int(round(min(1.0, max(0.0, fraction)) * n))
    if n == 0:
        return 0.0
    if k <= 0:
        return float(sorted_desc[0])
    if k >= n:
        return float(np.nextafter(sorted_desc[-1], -np.inf))
    return float(sorted_desc[k])


def fraction_for_threshold(sorted_desc: np.ndarray, threshold: float) -> float:
    """Fraction of test images with novelty score > ``threshold``."""
    if len(sorted_desc) == 0:
        return 0.0
    ascending = sorted_desc[::-1]
    return float(len(ascending) - np.searchsorted(ascending, threshold, side="right")) / len(ascending)


def at_threshold(run: Trained, threshold: float) -> dict:
    """Seen / unseen / overall accuracy, H and the fraction called novel at one cutoff (the engine's sweep)."""
    from zsl_core.evaluation import threshold_sweep

    row = threshold_sweep(run.scores, run.y_test, run.seen, run.unseen, thresholds=np.array([threshold]))
    return {k: float(np.asarray(v)[0]) for k, v in row.items()}


def predict_at(run: Trained, threshold: float) -> np.ndarray:
    """Predicted test labels at ``threshold`` from the cached scores (no recomputation of features)."""
    model = run.model
    if hasattr(model, "predict_from_scores"):
        return np.asarray(model.predict_from_scores(run.scores, threshold))
    # Eq. 2, hard gate: novel images take the most likely unseen class, the others the seen softmax's.
    novel = np.asarray(run.scores.novelty) > threshold
    seen_pred = np.argmax(run.scores.seen_proba, axis=1)
    unseen_pred = np.argmax(run.scores.unseen_proba, axis=1)
    return np.where(novel, unseen_pred, seen_pred)


@st.cache_data(show_spinner=False, max_entries=256)
def confusion(key: str, threshold: float, _run: Trained) -> np.ndarray:
    from zsl_core.evaluation import confusion_matrix

    return confusion_matrix(_run.y_test, predict_at(_run, threshold), len(_run.class_names))


@st.cache_data(show_spinner=False, max_entries=64)
def headline(key: str, _run: Trained) -> dict:
    """The Home page's figures, each on the test split.

    * ``seen_softmax``: the seen-class softmax alone on test images of the seen classes (S-way; the paper's
      82.5 % figure), i.e. the left end of the seen curve;
    * ``zero_shot``: unseen test images classified among the unseen classes only (a perfect gate; with two
      held-out classes the paper's 2-way figure);
    * ``at_default``: seen / unseen / overall / H at the model's own threshold (chosen without test data).
    """
    run = _run
    y = run.y_test
    seen_mask = np.isin(y, run.seen)
    unseen_mask = np.isin(y, run.unseen)
    seen_pred = np.asarray(run.seen)[np.argmax(np.asarray(run.scores.seen_proba)[:, run.seen], axis=1)]
    unseen_pred = np.asarray(run.unseen)[np.argmax(np.asarray(run.scores.unseen_proba)[:, run.unseen], axis=1)]
    return {
        "seen_softmax": float(np.mean(seen_pred[seen_mask] == y[seen_mask])) if seen_mask.any() else float("nan"),
        "zero_shot": float(np.mean(unseen_pred[unseen_mask] == y[unseen_mask])) if unseen_mask.any() else float("nan"),
        "n_seen": int(seen_mask.sum()),
        "n_unseen": int(unseen_mask.sum()),
        "threshold": float(run.model.threshold_),
        "at_default": at_threshold(run, float(run.model.threshold_)),
    }


# ----------------------------------------------------------------------------- semantic-space projections


def sample_rows(n_total: int, n: int, seed: int = 0) -> np.ndarray:
    """A fixed random sample of ``n`` test rows (sorted), the same for every method and parameter."""
    n = min(int(n), n_total)
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_total, n, replace=False)) if n < n_total else np.arange(n_total)


def projection_key(run: Trained, method: str, params: dict, n: int) -> str:
    return make_key(model=run.key, method=method, params=params, n=int(n))


def projection(run: Trained, method: str, params: dict, n: int, progress: Progress = None) -> dict:
    """2-D t-SNE / UMAP of ``n`` mapped test images together with every class's word vector.

    Returns ``rows`` (test indices), ``xy`` (n, 2) for the images and ``stars`` (C, 2) for the words.
    Cached per (model, method, parameters, sample size).
    """
    from zsl_core.projection import project

    def compute():
        rows = sample_rows(len(run.y_test), n)
        points = np.vstack([np.asarray(run.scores.mapped)[rows], np.asarray(run.model.class_vectors_)])
        xy = np.asarray(project(points, method=method, random_state=0, progress=progress, **params))
        return {"rows": rows, "xy": xy[: len(rows)], "stars": xy[len(rows):]}

    return _get("projection", projection_key(run, method, params, n), compute)


@st.cache_data(show_spinner=False, max_entries=64)
def pca_view(key: str, _run: Trained, n: int = 1500) -> dict:
    """A 2-D PCA of the word space (class vectors + a sample of mapped test images) that can place new points.

    Returns ``mean`` (D,), ``components`` (2, D), ``pts`` (n, 2), ``labels`` (n,), ``stars`` (C, 2).
    """
    run = _run
    rows = sample_rows(len(run.y_test), n)
    mapped = np.asarray(run.scores.mapped, dtype=np.float64)[rows]
    vectors = np.asarray(run.model.class_vectors_, dtype=np.float64)
    both = np.vstack([mapped, vectors])
    mean = both.mean(axis=0)
    _, _, vt = np.linalg.svd(both - mean, full_matrices=False)
    components = vt[:2]
    return {"mean": mean, "components": components, "pts": (mapped - mean) @ components.T,
            "labels": run.y_test[rows], "stars": (vectors - mean) @ components.T}


# ------------------------------------------------------------------------------------ one photo at a time


@st.cache_data(show_spinner=False, max_entries=64)
def photo_features(features_key: str, digest: str, _run: Trained, _image: np.ndarray) -> np.ndarray:
    """Features of one prepared 32×32 photo (cached by the photo's hash and the extractor)."""
    return np.asarray(_run.features.extractor.transform(_image[None]))


def classify(run: Trained, image: np.ndarray, digest: str, threshold: float) -> dict:
    """Everything the classify page shows about one 32×32 photo, at ``threshold``."""
    x = photo_features(run.features.key, digest, run, image)
    scores = run.model.decompose(x)
    proba = np.asarray(run.model.proba_from_scores(scores, threshold))[0]
    novelty = float(scores.novelty[0])
    return {"proba": proba, "novelty": novelty, "novel": novelty > threshold,
            "mapped": np.asarray(scores.mapped)[0], "prediction": int(np.argmax(proba)),
            "novelty_probability": float(scores.novelty_probability[0])}


@st.cache_data(show_spinner=False, max_entries=256)
def nearest_words(point: tuple, k: int = 10, exclude: tuple = ()) -> list[tuple[str, float]]:
    """The ``k`` GloVe words nearest (cosine) to one point of word space, over the whole vocabulary."""
    return words().nearest(np.asarray(point, dtype=np.float32), k=k, exclude=exclude)[0]


# ------------------------------------------------------------------------------------------- held-out pairs


def pairs_key(choices: Choices) -> str:
    return make_key(features=features_key(choices), mapping=choices.mapping)


def pairs(choices: Choices, progress: Progress = None) -> np.ndarray:
    """``evaluation.all_pairs_matrix``: 2-way zero-shot accuracy for every held-out pair (C, C), cached."""
    from zsl_core.evaluation import all_pairs_matrix

    def compute():
        data = dataset(choices.source, choices.subset)
        feats = features(choices, progress)
        vectors = words().class_vectors(list(data.class_names))
        # Also on disk (45 trainings take a while): keyed by the engine's feature key, which covers the
        # dataset's fingerprint, the extractor and its parameters.
        key = make_key(features=feats.key, mapping=choices.mapping, words=words().fingerprint)
        path = cache_dir() / "app" / f"pairs-{key}.npz"
        cached = load_arrays(path)
        if cached is not None and cached["matrix"].shape == (len(vectors), len(vectors)):
            return cached["matrix"]
        matrix = np.asarray(all_pairs_matrix(feats.X_train, data.train_labels, feats.X_test, data.test_labels,
                                             vectors, mapping=choices.mapping, progress=progress))
        save_arrays(path, matrix=matrix)
        return matrix

    return _get("pairs", pairs_key(choices), compute)


def cosine_matrix(vectors: np.ndarray) -> np.ndarray:
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return unit @ unit.T


def nearest_seen(cos: np.ndarray, i: int, held_out: set[int]) -> tuple[int, float]:
    """The seen class most similar to class ``i`` when ``held_out`` are unseen: (index, cosine)."""
    candidates = [k for k in range(len(cos)) if k not in held_out]
    k = max(candidates, key=lambda c: cos[i, c])
    return k, float(cos[i, k])


# ------------------------------------------------------------------------------------------------ distractors


@st.cache_data(show_spinner=False, max_entries=64)
def suggested_distractors(key: str, unseen: tuple[str, ...], class_names: tuple[str, ...], n: int = 20) -> list[str]:
    """The GloVe words nearest to the unseen class names (not class names themselves), nearest first."""
    from zsl_core.evaluation import nearest_distractor_words

    return list(nearest_distractor_words(words(), list(unseen), n, exclude=list(class_names)))


@st.cache_data(show_spinner=False, max_entries=64)
def distractors(key: str, added: tuple[str, ...], threshold: float, _run: Trained) -> dict[str, np.ndarray]:
    """``evaluation.distractor_curve`` as the words in ``added`` join the unseen candidates one by one.

    Returns ``count`` (0..len(added)), ``unseen`` (perfect gate) and ``gated`` (through the hard gate at
    ``threshold``), accuracies on the test images of the unseen classes.
    """
    from zsl_core.evaluation import distractor_curve

    vectors = words().class_vectors(list(added)) if added else np.zeros((0, words().dim), np.float32)
    curve = distractor_curve(_run.model, _run.features.X_test, _run.y_test, vectors,
                             counts=list(range(len(added) + 1)), scores=_run.scores, threshold=threshold)
    return {k: np.asarray(v) for k, v in curve.items()}
