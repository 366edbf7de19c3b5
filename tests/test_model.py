"""ZeroShotClassifier on a planted "features → word vectors" problem, the gate, and the fit's checks."""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from zsl_core.evaluation import best_point, threshold_sweep
from zsl_core.model import SoftmaxRegression, ZeroShotClassifier, ZSLScores

NAMES = ["a", "b", "c", "d", "ab", "cd"]


def planted(n_per=150, n_test=60, d=60, D=50, seed=0):
    """6 classes; 'ab' and 'cd' have word vectors between those of a, b and of c, d.

    Features are a fixed random linear lift of a per-image point scattered around its class vector, so a
    map fitted on a–d carries over to the unseen classes, whose images land between their parents.
    """
    rng = np.random.default_rng(seed)
    V = np.zeros((6, D))
    V[:4] = rng.normal(size=(4, D)) * 0.6
    V[4] = 0.5 * (V[0] + V[1])
    V[5] = 0.5 * (V[2] + V[3])
    L = rng.normal(size=(D, d)) / np.sqrt(D)

    def draw(n):
        y = np.repeat(np.arange(6), n)
        Z = V[y] + 0.25 * rng.normal(size=(y.size, D))
        return (Z @ L + 0.1 * rng.normal(size=(y.size, d))).astype(np.float32), y

    X, y = draw(n_per)
    Xt, yt = draw(n_test)
    return X, y, Xt, yt, V


@pytest.fixture(scope="module")
def data():
    return planted()


@pytest.fixture(scope="module")
def fitted(data):
    X, y, _, _, V = data
    return ZeroShotClassifier().fit(X, y, NAMES, ["ab", "cd"], class_vectors=V)


def test_fitted_attributes(fitted, data):
    m = fitted
    np.testing.assert_array_equal(m.seen_, [0, 1, 2, 3])
    np.testing.assert_array_equal(m.unseen_, [4, 5])
    assert m.class_names_ == NAMES and m.class_vectors_.shape == (6, 50)
    assert np.isfinite(m.threshold_) and m.mapping_.alpha_ > 0 and m.softmax_.C_ > 0
    # the default threshold flags seen_false_novel of the held-out seen images
    assert np.mean(m.validation_novelty_ > m.threshold_) == pytest.approx(m.seen_false_novel, abs=0.03)


def test_seen_and_unseen_accuracy_well_above_chance(fitted, data):
    _, _, Xt, yt, _ = data
    s = fitted.decompose(Xt)
    sweep = threshold_sweep(s, yt, fitted.seen_, fitted.unseen_)
    best = best_point(sweep, "H")
    assert best["seen"] > 0.8 and best["unseen"] > 0.8
    pred = fitted.predict(Xt)  # default threshold: flags ~35 % of seen images, so seen accuracy pays for it
    seen_rows = yt < 4
    assert np.mean(pred[seen_rows] == yt[seen_rows]) > 0.5   # chance: 0.25 (4 seen classes)
    assert np.mean(pred[~seen_rows] == yt[~seen_rows]) > 0.7
    # 2-way among the unseen classes (gate bypassed): the map carries over to unseen classes
    assert np.mean(fitted.unseen_[s.unseen_proba[~seen_rows][:, 4:].argmax(1)] == yt[~seen_rows]) > 0.9


def test_decompose_shapes_and_zero_columns(fitted, data):
    _, _, Xt, _, _ = data
    s = fitted.decompose(Xt[:7])
    assert isinstance(s, ZSLScores) and len(s) == 7
    assert s.seen_proba.shape == s.unseen_proba.shape == (7, 6) and s.mapped.shape == (7, 50)
    assert (s.seen_proba[:, 4:] == 0).all() and (s.unseen_proba[:, :4] == 0).all()
    np.testing.assert_allclose(s.seen_proba.sum(1), 1)
    np.testing.assert_allclose(s.unseen_proba.sum(1), 1)
    np.testing.assert_allclose(s.mapped, fitted.map(Xt[:7]))
    np.testing.assert_allclose(s.novelty, fitted.novelty_score(Xt[:7]))


def test_gate_extremes_and_rethresholding(fitted, data):
    _, _, Xt, yt, _ = data
    assert np.isin(fitted.predict(Xt, threshold=-np.inf), fitted.unseen_).all()
    assert np.isin(fitted.predict(Xt, threshold=np.inf), fitted.seen_).all()
    s = fitted.decompose(Xt)
    for t in (-np.inf, fitted.threshold_, np.median(s.novelty), np.inf):
        np.testing.assert_array_equal(fitted.predict_from_scores(s, t), fitted.predict(Xt, threshold=t))
    P = fitted.predict_proba(Xt)
    np.testing.assert_allclose(P.sum(1), 1)
    assert fitted.score(Xt, yt) == pytest.approx(np.mean(fitted.predict(Xt) == yt))


@pytest.mark.parametrize("novelty", ["gaussian", "loop"])
def test_mixture_gate(data, novelty):
    X, y, Xt, yt, V = data
    m = ZeroShotClassifier(novelty=novelty, gate="mixture", softmax_C=1.0).fit(X, y, NAMES, [4, 5],
                                                                              class_vectors=V)
    P = m.predict_proba(Xt)
    np.testing.assert_allclose(P.sum(1), 1)
    s = m.decompose(Xt)
    p = s.novelty_probability[:, None]
    np.testing.assert_allclose(P, (1 - p) * s.seen_proba + p * s.unseen_proba)
    assert np.mean(m.predict(Xt) == yt) > 0.6


def test_unseen_rows_are_ignored(data):
    X, y, Xt, _, V = data
    keep = y < 4
    # (a fixed softmax C keeps this test quick; the penalty path is exercised by the fixture's fit)
    a = ZeroShotClassifier(softmax_C=1.0).fit(X, y, NAMES, ["ab", "cd"], class_vectors=V)
    b = ZeroShotClassifier(softmax_C=1.0).fit(X[keep], y[keep], NAMES, ["ab", "cd"], class_vectors=V)
    # Corrupting the unseen rows must not matter either.
    X_bad = X.copy()
    X_bad[~keep] = 1e6
    c = ZeroShotClassifier(softmax_C=1.0).fit(X_bad, y, NAMES, ["ab", "cd"], class_vectors=V)
    for m in (b, c):
        np.testing.assert_array_equal(m.mapping_.coef_, a.mapping_.coef_)
        np.testing.assert_array_equal(m.softmax_.coef_, a.softmax_.coef_)
        assert m.threshold_ == a.threshold_
        np.testing.assert_array_equal(m.predict_proba(Xt), a.predict_proba(Xt))


def test_word_vectors_source_and_mlp_mapping(data):
    X, y, Xt, yt, V = data

    class Vectors:  # the part of zsl_core.semantic.WordVectors the model uses
        def class_vectors(self, names):
            return V[[NAMES.index(n) for n in names]]

    m = ZeroShotClassifier(word_vectors=Vectors(), mapping="mlp", softmax_C=1.0,
                           mapping_params={"n_hidden": 32, "max_iter": 8, "weight_decay": 1e-4,
                                           "learning_rate": 1e-2}).fit(X, y, NAMES, ["ab", "cd"])
    np.testing.assert_allclose(m.class_vectors_, V)
    assert m.mapping_.weight_decay_ == 1e-4
    assert np.mean(m.predict(Xt, threshold=np.inf)[yt < 4] == yt[yt < 4]) > 0.8


@pytest.mark.parametrize("precondition", [True, False])
def test_softmax_equals_sklearn_logistic_regression(monkeypatch, precondition):
    if not precondition:  # the path taken for very wide features (e.g. 12,800-d Coates features)
        import zsl_core.model.softmax as model_module

        monkeypatch.setattr(model_module, "_PRECOND_MAX_DIM", 4)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 8)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] + 0.7 * rng.normal(size=300) > 0).astype(int) + (X[:, 2] > 0.5)
    ours = SoftmaxRegression(C=0.5, max_iter=300).fit(X, y)
    ref = LogisticRegression(C=0.5, max_iter=2000, tol=1e-10).fit(X, y)
    # float32 products: without the preconditioner the last flat directions are below the objective's
    # float32 resolution, so the unpreconditioned fit stops a little earlier
    np.testing.assert_allclose(ours.predict_proba(X), ref.predict_proba(X), atol=2e-3 if precondition else 5e-3)


def test_softmax_path_chooses_on_validation():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 30)).astype(np.float32)
    y = (X[:, 0] + rng.normal(size=400) > 0).astype(int)  # noisy labels: the weakest penalty is not best
    Xv = rng.normal(size=(200, 30)).astype(np.float32)
    yv = (Xv[:, 0] + rng.normal(size=200) > 0).astype(int)
    m = SoftmaxRegression().fit(X, y, validation_data=(Xv, yv))
    lls = [ll for _, ll, _ in m.path_]
    assert m.C_ == m.path_[int(np.argmin(lls))][0]
    assert len(m.path_) < len(SoftmaxRegression.DEFAULT_LAMBDAS)  # stopped once the loss rose twice
    assert np.mean(m.predict_proba(Xv).argmax(1) == yv) > 0.65


def test_fit_errors_are_helpful(data):
    X, y, _, _, V = data
    m = ZeroShotClassifier()
    with pytest.raises(ValueError, match="unknown unseen class 'zebra'"):
        m.fit(X, y, NAMES, ["zebra"], class_vectors=V)
    with pytest.raises(ValueError, match="at least 2 seen classes"):
        m.fit(X, y, NAMES, ["a", "b", "c", "d", "ab"], class_vectors=V)
    with pytest.raises(ValueError, match="at least one unseen class"):
        m.fit(X, y, NAMES, [], class_vectors=V)
    with pytest.raises(ValueError, match="same number of rows"):
        m.fit(X[:-1], y, NAMES, ["ab"], class_vectors=V)
    with pytest.raises(ValueError, match="word_vectors"):
        m.fit(X, y, NAMES, ["ab"])
    with pytest.raises(ValueError, match="class_vectors must have shape"):
        m.fit(X, y, NAMES, ["ab"], class_vectors=V[:3])
    with pytest.raises(ValueError, match="mapping must be one of"):
        ZeroShotClassifier(mapping="svm").fit(X, y, NAMES, ["ab"], class_vectors=V)
    with pytest.raises(RuntimeError, match="not fitted"):
        ZeroShotClassifier().predict(X)


def test_unseen_prototypes():
    # Seen vectors span a 2-d affine plane in 4-d; the mapped validation class means are the seen vectors
    # pulled halfway to their mean (shrinkage 0.5).
    from zsl_core.model.classifier import apply_prototype_map as _apply_prototype_map, prototype_map as _prototype_map

    W = np.array([[0.0, 0, 0, 0], [2.0, 0, 0, 0], [0.0, 2, 0, 0]])
    cent = W.mean(0) + 0.5 * (W - W.mean(0))
    u = np.array([[1.0, 1.0, 3.0, -1.0]])  # in-plane part (1, 1, 0, 0), out-of-plane part (0, 0, 3, -1)
    word = _apply_prototype_map(_prototype_map(W, cent, "word"), u)
    proj = _apply_prototype_map(_prototype_map(W, cent, "projected"), u)
    cal = _apply_prototype_map(_prototype_map(W, cent, "calibrated"), u)
    np.testing.assert_allclose(word, u)
    np.testing.assert_allclose(proj, [[1.0, 1.0, 0.0, 0.0]], atol=1e-12)
    np.testing.assert_allclose(cal, W.mean(0) + 0.5 * (proj - W.mean(0)), atol=1e-12)
    # seen vectors are their own projections
    np.testing.assert_allclose(_apply_prototype_map(_prototype_map(W, cent, "projected"), W), W, atol=1e-12)


def test_model_unseen_centres(fitted, data):
    X, y, Xt, yt, V = data
    m = fitted
    np.testing.assert_allclose(m.unseen_centers_, m.prototypes(V[m.unseen_]))
    word = ZeroShotClassifier(unseen_centers="word", softmax_C=1.0).fit(X, y, NAMES, ["ab", "cd"], class_vectors=V)
    np.testing.assert_allclose(word.unseen_centers_, V[[4, 5]])
    with pytest.raises(ValueError, match="unseen_centers"):
        ZeroShotClassifier(unseen_centers="mean").fit(X, y, NAMES, ["ab"], class_vectors=V)


def test_overlapping_single_threaded_blocks_restore_the_thread_count():
    """Two fits in two sessions overlap: the process must get its thread count back when both are done."""
    import threading

    import torch

    from zsl_core.model.softmax import _torch_threads

    before = torch.get_num_threads()
    inside, release = threading.Event(), threading.Event()

    def first():
        with _torch_threads(1):
            inside.set()
            release.wait(5)

    t = threading.Thread(target=first)
    t.start()
    inside.wait(5)
    with _torch_threads(1):  # enters while the first block holds the count at 1 ...
        release.set()
        t.join(5)            # ... and the first block leaves before this one
    assert torch.get_num_threads() == before


def test_like_reuses_the_map_and_softmax_of_a_model_with_another_detector(data):
    X, y, Xt, yt, V = data
    first = ZeroShotClassifier(softmax_C=0.5).fit(X, y, NAMES, ["ab", "cd"], class_vectors=V)
    again = ZeroShotClassifier(novelty="loop", softmax_C=0.5).fit(X, y, NAMES, ["ab", "cd"], class_vectors=V,
                                                                    like=first)
    fresh = ZeroShotClassifier(novelty="loop", softmax_C=0.5).fit(X, y, NAMES, ["ab", "cd"], class_vectors=V)
    assert again.softmax_ is first.softmax_ and again.mapping_ is first.mapping_
    np.testing.assert_allclose(again.decompose(Xt).novelty, fresh.decompose(Xt).novelty, rtol=1e-6)
    with pytest.raises(ValueError, match="like="):
        ZeroShotClassifier(softmax_C=1.0).fit(X, y, NAMES, ["ab", "cd"], class_vectors=V, like=first)
    with pytest.raises(ValueError, match="like="):
        ZeroShotClassifier(softmax_C=0.5).fit(X, y, NAMES, ["ab"], class_vectors=V, like=first)
