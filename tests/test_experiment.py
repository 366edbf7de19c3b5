"""The experiment path: Config validation, sufficient statistics = direct fits, persistence, one route for
the threshold, and figures that agree wherever they are read."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from zsl_core.evaluation import all_pairs_matrix, share_for_threshold, threshold_for_share
from zsl_core.experiment import Config, ConfigError
from zsl_core.model import LinearMapping, ZeroShotClassifier
from zsl_core.model.base import validation_split
from zsl_core.model.mapping import RidgeSystem
from zsl_core.model.persistence import estimator_state, load_estimator
from zsl_core.model.softmax import DenseRows
from zsl_core.model.statistics import ClassStatistics

NAMES = [f"c{i}" for i in range(6)]


@pytest.fixture(scope="module")
def problem():
    """Six classes in a 40-d latent space lifted to 120 correlated, shifted, unevenly scaled features."""
    rng = np.random.default_rng(3)
    V = rng.normal(size=(6, 10))
    lift = rng.normal(size=(10, 120))
    scales = rng.uniform(0.1, 20, 120)

    def draw(n):
        y = rng.integers(0, 6, n)
        Z = V[y] + 0.8 * rng.normal(size=(n, 10))
        X = (Z @ lift + rng.normal(size=(n, 120))) * scales + 50.0
        return X.astype(np.float32), y.astype(np.int64)

    X, y = draw(1800)
    Xt, yt = draw(600)
    return X, y, Xt, yt, V


# -- Config ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("changes, message", [
    ({"features": "resnet"}, "unknown features 'resnet'; choose one of 'coates', 'efficientnet'"),
    ({"mapping": "cubic"}, "unknown mapping 'cubic'; choose one of 'linear', 'mlp'"),
    ({"novelty": "psychic"}, "unknown novelty detector 'psychic'"),
    ({"gate": "soft"}, "unknown gate 'soft'; choose one of 'hard', 'mixture'"),
    ({"subset": (0, 10)}, "subset sizes must be positive"),
    ({"subset": "lots"}, "subset must be (train_per_class, test_per_class) or None"),
    ({"unseen": ("cat", "cat")}, "held-out class(es) named twice: cat"),
    ({"unseen": ("cat", " ")}, "a held-out class name is empty"),
    ({"feature_params": {"image_sise": 64}}, "unknown parameter(s) ['image_sise'] for features 'efficientnet'"),
    ({"seed": -1}, "seed must be a non-negative integer"),
])
def test_config_rejects_bad_settings_saying_how_to_fix_them(changes, message):
    with pytest.raises(ConfigError) as error:
        Config(**changes)
    assert message in str(error.value)


def test_config_normalises_and_checks_classes():
    config = Config(unseen=["truck", "cat"], feature_params={"image_size": 64}, subset=[10, 5], data=" ")
    assert config.unseen == ("truck", "cat") and config.subset == (10, 5) and config.data is None
    assert config.feature_params == (("image_size", 64),) and hash(config) == hash(Config.from_dict(config.to_dict()))
    assert Config(subset=(None, None)).subset is None and "all train / 7 test" in Config(subset=(None, 7)).describe()
    config.check_classes(["airplane", "cat", "dog", "truck"])
    with pytest.raises(ConfigError, match="unknown held-out class\\(es\\) dog; the dataset's classes are a, b, c"):
        Config(unseen=("dog",)).check_classes(["a", "b", "c"])
    with pytest.raises(ConfigError, match="keep at least two seen classes: holding out 2 of 3 leaves 1"):
        Config(unseen=("a", "b")).check_classes(["a", "b", "c"])
    with pytest.raises(ConfigError, match="choose at least one held-out"):
        Config(unseen=()).check_classes(["a", "b", "c"])
    with pytest.raises(ConfigError, match="unknown setting\\(s\\) \\['colour'\\]"):
        Config.from_dict({"colour": "blue"})


# -- sufficient statistics ------------------------------------------------------------------------------------
def test_split_of_a_class_does_not_depend_on_the_other_classes(problem):
    _, y, _, _, _ = problem
    _, val_all = validation_split(y, 0.15, 7)
    keep = np.flatnonzero(y != 2)
    _, val_some = validation_split(y[keep], 0.15, 7)
    np.testing.assert_array_equal(np.sort(keep[val_some]), val_all[y[val_all] != 2])


@pytest.mark.parametrize("held_out", [(0, 1), (2, 5), (3,), (1, 2, 4)])
def test_ridge_from_statistics_equals_ridge_on_the_rows(problem, held_out):
    X, y, _, _, V = problem
    stats = ClassStatistics(0.15, 0).fit(X, y, 6)
    seen = np.setdiff1d(np.arange(6), held_out)
    std = stats.standardiser(seen)
    rows = np.flatnonzero(np.isin(y, seen))
    # the standardisation is that of every training row of the seen classes
    np.testing.assert_allclose(std.mean_, X[rows].mean(0, dtype=np.float64), rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(std.scale_, X[rows].std(0, dtype=np.float64), rtol=1e-4)
    fit = stats.rows(seen, y, "fit")
    val = stats.rows(seen, y, "val")
    G, B, z_mean, t_mean, n = stats.ridge_system(seen, V[seen], std)
    direct = RidgeSystem.from_rows(std.transform(X[fit]).astype(np.float64).astype(np.float32), V[y[fit]])
    assert n == fit.size
    np.testing.assert_allclose(G, direct.G, rtol=1e-4, atol=1e-2 * np.abs(direct.G).max() * 1e-3)
    np.testing.assert_allclose(B, direct.B, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(z_mean, direct.x_mean, atol=1e-4)
    np.testing.assert_allclose(t_mean, direct.t_mean, atol=1e-10)
    # the validation error of any solution, as a quadratic form in the validation sums, equals the rows' own
    validation = (std.transform(X[val]), V[y[val]])
    moments = stats.ridge_validation(seen, V[seen], std, z_mean, t_mean)
    coef = np.linalg.solve(G + 10 * np.eye(G.shape[0]), B)
    rows_error = np.mean(((validation[0] - z_mean) @ coef + t_mean - validation[1]) ** 2) * V.shape[1]
    assert moments.n == val.size and moments.error(coef) == pytest.approx(rows_error, rel=1e-4)
    from_stats = LinearMapping().fit_system(RidgeSystem(G, B, z_mean, t_mean), moments)
    from_rows = LinearMapping().fit(std.transform(X[fit]), V[y[fit]], validation_data=validation)
    assert from_stats.alpha_ == pytest.approx(from_rows.alpha_, rel=1e-6)
    np.testing.assert_allclose(from_stats.predict(validation[0]), from_rows.predict(validation[0]), atol=1e-4)


@pytest.mark.parametrize("held_out", [["c0", "c3"], ["c4", "c5"], ["c1"]])
def test_classifier_fitted_from_statistics_equals_a_fit_on_the_rows(problem, held_out):
    X, y, Xt, _, V = problem
    stats = ClassStatistics(0.15, 0).fit(X, y, 6).attach_rows(X, y, low_precision=False)
    # Run both softmax fits to convergence, in float32: the optimum does not depend on the rows' order.
    params = dict(softmax_C=0.5, softmax_params={"max_iter": 300, "precision": "float32"})
    a = ZeroShotClassifier(**params).fit(X, y, NAMES, held_out, class_vectors=V, statistics=stats)
    b = ZeroShotClassifier(**params).fit(X, y, NAMES, held_out, class_vectors=V)  # computes its own
    assert a.mapping_.alpha_ == pytest.approx(b.mapping_.alpha_, rel=1e-6)
    np.testing.assert_allclose(a.map(Xt), b.map(Xt), atol=1e-3)
    np.testing.assert_allclose(a.unseen_centers_, b.unseen_centers_, atol=1e-3)
    # the softmax read in place from class-sorted blocks reaches the same solution as on a gathered copy
    np.testing.assert_allclose(a.predict_proba(Xt), b.predict_proba(Xt), atol=2e-3)
    assert a.threshold_ == pytest.approx(b.threshold_, rel=1e-3)


def test_the_model_never_reads_unseen_rows(problem):
    X, y, Xt, _, V = problem
    poisoned = X.copy()
    poisoned[np.isin(y, [0, 3])] = np.nan  # any read of a held-out row would spread NaN
    model = ZeroShotClassifier(softmax_C=0.5).fit(poisoned, y, NAMES, ["c0", "c3"], class_vectors=V)
    assert np.isfinite(model.predict_proba(Xt)).all()


@pytest.mark.parametrize("novelty", ["learned", "cosine_knn", "relative_mahalanobis", "energy", "relative_word"])
def test_the_learned_gate_and_every_detector_never_read_unseen_rows(problem, novelty):
    # The learned gate refits the model on pseudo-unseen splits of the seen classes: poisoned rows of the
    # real held-out classes would turn its table, its weights and every prediction into NaN.
    X, y, Xt, _, V = problem
    poisoned = X.copy()
    poisoned[np.isin(y, [0, 3])] = np.nan
    model = ZeroShotClassifier(softmax_C=0.5, novelty=novelty).fit(poisoned, y, NAMES, ["c0", "c3"], class_vectors=V)
    assert np.isfinite(model.predict_proba(Xt)).all()
    assert np.isfinite(model.decompose(Xt).novelty).all()
    if novelty == "learned":
        gate = model.detector_
        assert np.isfinite(gate.coef_).all() and 0 <= gate.q_ <= 0.6
        assert set(gate.components_) == set(gate.components)


def test_standardised_rows_equal_the_dense_standardised_matrix(problem):
    X, y, _, _, _ = problem
    stats = ClassStatistics(0.15, 0).fit(X, y, 6).attach_rows(X, y, low_precision=False)
    seen = np.array([0, 2, 3, 5])
    std = stats.standardiser(seen)
    op = stats.rows_.standardised(seen, std)
    order = np.argsort(y, kind="stable")
    rows = order[np.isin(y[order], seen)]
    dense = DenseRows(std.transform(X[rows]))
    np.testing.assert_array_equal(op.labels, y[rows])
    rng = np.random.default_rng(0)
    W, b, R = (torch.from_numpy(rng.normal(size=s).astype(np.float32)) for s in ((120, 4), (4,), (rows.size, 4)))
    np.testing.assert_allclose(op.logits(W, b), dense.logits(W, b), rtol=1e-3, atol=1e-2)
    np.testing.assert_allclose(op.t_matmul(R), dense.t_matmul(R), rtol=1e-3, atol=5e-2)
    np.testing.assert_allclose(op.take([0, 5, rows.size - 1]), dense.take([0, 5, rows.size - 1]), atol=1e-4)
    assert op.is_validation.sum() == np.isin(stats.val_rows_, rows).sum()


def test_statistics_round_trip_through_arrays(problem):
    X, y, _, _, V = problem
    stats = ClassStatistics(0.15, 0).fit(X, y, 6)
    again = ClassStatistics.from_state(stats.state())
    seen = np.arange(4)
    for a, b in zip(stats.ridge_system(seen, V[seen], stats.standardiser(seen)),
                    again.ridge_system(seen, V[seen], again.standardiser(seen))):
        np.testing.assert_array_equal(a, b)


# -- one computation for a pair's figure ------------------------------------------------------------------
def test_pair_cell_is_the_models_zero_shot_figure(problem):
    X, y, Xt, yt, V = problem
    stats = ClassStatistics(0.15, 0).fit(X, y, 6)
    M = all_pairs_matrix(X, y, Xt, yt, V, statistics=stats, pairs=[(1, 4)])
    model = ZeroShotClassifier(softmax_C=0.5).fit(X, y, NAMES, [1, 4], class_vectors=V, statistics=stats)
    s = model.decompose(Xt)
    rows = np.isin(yt, (1, 4))
    assert M[1, 4] == pytest.approx(np.mean(model.unseen_[s.unseen_proba[rows][:, model.unseen_].argmax(1)] == yt[rows]))


# -- persistence ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("novelty", ["gaussian", "loop"])
def test_fitted_model_round_trips_through_arrays_only(problem, novelty):
    X, y, Xt, _, V = problem
    model = ZeroShotClassifier(novelty=novelty, softmax_C=0.5).fit(X, y, NAMES, ["c2", "c5"], class_vectors=V)
    state = estimator_state(model)
    assert all(isinstance(v, np.ndarray) and v.dtype != object for v in state.values())
    again = load_estimator(state)
    np.testing.assert_array_equal(again.predict_proba(Xt), model.predict_proba(Xt))
    np.testing.assert_array_equal(again.novelty_score(Xt), model.novelty_score(Xt))
    assert again.threshold_ == model.threshold_ and again.class_names_ == model.class_names_
    foreign = dict(state)
    foreign["__meta__"] = np.array(str(state["__meta__"]).replace("ZeroShotClassifier", "Popen"))
    with pytest.raises(ValueError, match="unknown estimator class 'Popen'"):
        load_estimator(foreign)


# -- the threshold's one route --------------------------------------------------------------------------------
def test_share_and_threshold_are_inverse():
    scores = np.random.default_rng(0).normal(size=1000)
    for share in (0.0, 0.013, 0.2, 0.5, 0.999, 1.0):
        t = threshold_for_share(scores, share)
        assert share_for_threshold(scores, t) == pytest.approx(share, abs=1e-3)
        assert np.sum(scores > t) == round(share * 1000)


# -- a verdict in plain words ---------------------------------------------------------------------------------
@pytest.mark.parametrize("gate", ["hard", "mixture"])
def test_explain_verdict_places_the_photo_among_the_seen_test_images(problem, gate):
    from types import SimpleNamespace

    from zsl_core.experiment import Run, classify_features, explain_verdict

    X, y, Xt, yt, V = problem
    model = ZeroShotClassifier(softmax_C=0.5, gate=gate).fit(X, y, NAMES, ["c2", "c5"], class_vectors=V)
    run = Run(Config(unseen=("c2", "c5"), gate=gate), SimpleNamespace(test_labels=yt), SimpleNamespace(X_test=Xt),
              model, model.decompose(Xt))
    seen_scores = run.scores.novelty[np.isin(yt, model.seen_)]
    for result in classify_features(run, Xt[:12]):
        out = explain_verdict(run, result)
        assert out["unusual_share"] == pytest.approx(np.mean(seen_scores < result["novelty"]))
        assert out["cutoff_share"] == pytest.approx(np.mean(seen_scores <= run.threshold))
        assert out["seen_guess"][0] in {"c0", "c1", "c3", "c4"}
        assert out["unseen_guess"][0] in {"c2", "c5"}
        text = " ".join(out["sentences"].values())
        assert "−log" not in text and "log p" not in text, "plain words, not log-likelihoods"
        if gate == "hard":
            assert ("called novel" if result["novel"] else "called familiar") in out["sentences"]["why"]
            assert "0 %" in out["sentences"]["gate"]
        else:
            assert "mixture gate" in out["sentences"]["gate"]


def test_openmp_threads_wait_passively_unless_the_user_says_otherwise():
    """Spinning OpenMP threads made a fit 5-8x slower on a busy machine (see zsl_core/__init__.py)."""
    import subprocess
    import sys

    code = "import os, zsl_core, torch; print(os.environ['OMP_WAIT_POLICY'])"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "PASSIVE"
    env["OMP_WAIT_POLICY"] = "ACTIVE"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ACTIVE"
# -- small datasets and LoOP ----------------------------------------------------------------------------------
def _labels_only(counts, names=("cat", "dog", "ship", "truck", "bird")):
    """A dataset whose training split has ``counts[i]`` images of class i (blank images: only labels matter)."""
    from zsl_core.data import Dataset

    y = np.repeat(np.arange(len(counts)), counts).astype(np.int64)
    blank = np.zeros((len(y), 32, 32, 3), np.uint8)
    return Dataset("tiny", list(names[:len(counts)]), blank, y, blank[:len(counts)], np.arange(len(counts)))


def _reference_points(counts, unseen, seed=0):
    """LoOP's reference points, counted independently: validation rows (the model's split) of seen classes."""
    from zsl_core.experiment import VALIDATION_FRACTION

    y = np.repeat(np.arange(len(counts)), counts)
    _, val = validation_split(y, VALIDATION_FRACTION, seed)
    seen = [i for i in range(len(counts)) if i not in unseen]
    return int(np.isin(y[val], seen).sum())


def _counts_for(n_ref):
    """Training images of 3 seen classes whose validation images add up to ``n_ref``, and of 2 held-out ones."""
    from zsl_core.experiment import VALIDATION_FRACTION

    smallest = {}
    for n in range(200, 1, -1):
        smallest[len(validation_split(np.zeros(n, np.int64), VALIDATION_FRACTION, 0)[1])] = n
    share = [n_ref // 3 + (i < n_ref % 3) for i in range(3)]
    return tuple(smallest[v] for v in share) + (9, 9)


@pytest.mark.parametrize("n_ref", range(3, 24))
def test_loop_k_adapts_to_the_validation_images_of_small_datasets(n_ref):
    """3 to 20 validation images of the seen classes: k = n - 1; from 21 on, LoOP's own k = 20."""
    from zsl_core.experiment.stages import _model_params

    counts = _counts_for(n_ref)
    assert _reference_points(counts, unseen=(3, 4)) == n_ref
    params = _model_params(Config(unseen=("truck", "bird"), novelty="loop"), _labels_only(counts))
    if n_ref <= 20:
        assert params["novelty_params"] == {"n_neighbors": n_ref - 1}
    else:
        assert "novelty_params" not in params


@pytest.mark.parametrize("n_ref", [3, 4, 11, 20, 21])
def test_loop_fits_with_the_adapted_k_on_the_models_own_validation_images(n_ref):
    """The k chosen from the labels is the one the fit can use: its reference is exactly those images."""
    from zsl_core.experiment.stages import _model_params

    rng = np.random.default_rng(1)
    config = Config(unseen=("truck", "bird"), novelty="loop")
    data = _labels_only(_counts_for(n_ref))
    V = rng.normal(size=(5, 10))
    X = (V[data.train_labels] @ rng.normal(size=(10, 24)) + rng.normal(size=(len(data.train_labels), 24)))
    model = ZeroShotClassifier(**_model_params(config, data), softmax_C=0.5).fit(
        X.astype(np.float32), data.train_labels, data.class_names, ["truck", "bird"], class_vectors=V)
    assert model.detector_.reference_.shape[0] == n_ref
    assert model.detector_.n_neighbors == min(20, n_ref - 1)
    assert np.isfinite(model.novelty_score(X[:5].astype(np.float32))).all()


@pytest.mark.parametrize("counts, unseen, fixes", [
    ((8, 8, 8, 8), ("cat", "truck"), "give each seen class at least 10 training images or hold out fewer classes;"),
    ((1, 1, 8, 8), ("ship", "truck"), "give each seen class at least 10 training images;"),
    ((3, 3, 3, 1), ("ship", "truck"), "give each seen class at least 10 training images or hold out fewer classes;"),
], ids=["8-per-class", "seen-classes-of-1", "one-held-out-class-helps"])
def test_loop_on_too_few_images_is_refused_before_any_feature_is_computed_was_broken(counts, unseen, fixes,
                                                                                     monkeypatch):
    """Before: the ConfigError came from fit_model, after the features and class statistics were computed,
    and its advice ("the Gaussian detector") named no option the command line has."""
    from zsl_core.experiment import run as run_module
    from zsl_core.experiment import train

    def no_features(*args, **kwargs):
        raise AssertionError("features were computed for a setting that cannot work")

    monkeypatch.setattr(run_module, "load_features", no_features)
    data = _labels_only(counts, names=("cat", "dog", "ship", "truck"))
    with pytest.raises(ConfigError) as error:
        train(Config(unseen=unseen, novelty="loop"), dataset=data)
    message = str(error.value)
    assert message.startswith("LoOP needs at least 3 validation images of the seen classes; this dataset has ")
    assert fixes in message and message.endswith("or use the Gaussian novelty detector (--novelty gaussian).")
    assert "\n" not in message
    # The Gaussian detector needs no such thing: the same dataset gets as far as the features.
    with pytest.raises(AssertionError, match="features were computed"):
        train(Config(unseen=unseen, novelty="gaussian"), dataset=data)


@pytest.mark.parametrize("unseen", [["c0", "c3", "c5"], ["c0", "c1", "c3", "c5"]])
def test_the_learned_gate_with_few_seen_classes(problem, unseen):
    # 3 seen classes: pseudo-unseen splits hold out one class at a time; 2 seen: none can be held out, so
    # equal weights and the seen_false_novel rate.
    X, y, Xt, _, V = problem
    model = ZeroShotClassifier(softmax_C=0.5, novelty="learned",
                               novelty_params={"components": ("energy", "relative_word", "cosine_knn")}).fit(
        X, y, NAMES, unseen, class_vectors=V)
    assert np.isfinite(model.predict_proba(Xt)).all()
    flagged = np.mean(model.validation_novelty_ > model.threshold_)
    assert 0 <= flagged <= 0.6
    if len(unseen) == 4:
        np.testing.assert_allclose(model.detector_.coef_, 1 / 3)
        assert flagged == pytest.approx(model.seen_false_novel, abs=0.05)
