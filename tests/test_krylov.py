"""Many features: the Krylov ridge maps from the total Gram matrix, and the Gram-preconditioned softmax.

The threshold above which the statistics keep only ``G_all`` is lowered so that small synthetic problems take
the path 12,800-d Coates features take; each solver is checked against a reference solver's optimum.
"""

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import zsl_core.model.softmax as softmax_module
import zsl_core.model.statistics as statistics_module
from zsl_core.evaluation import all_pairs_matrix
from zsl_core.model import LinearMapping, SoftmaxRegression, ZeroShotClassifier
from zsl_core.model.krylov import ShiftedBlockLanczos, kept_gram, ridge_maps
from zsl_core.model.mapping import RidgeSystem
from zsl_core.model.statistics import ClassStatistics

from test_model import NAMES, planted


@pytest.fixture(scope="module")
def problem():
    return planted(n_per=200, n_test=60, d=40, seed=3)


@pytest.fixture()
def large(monkeypatch):
    """Statistics keep only the total Gram matrix above 10 features."""
    monkeypatch.setattr(statistics_module, "_PER_CLASS_GRAM_MAX_DIM", 10)


def test_block_lanczos_solves_every_shift():
    rng = np.random.default_rng(0)
    M = rng.normal(size=(60, 60))
    A = M @ M.T
    S = rng.normal(size=(60, 3))
    alphas = np.array([10.0, 1.0, 0.1])
    run = ShiftedBlockLanczos(S, alphas, max_steps=40)
    while not run.done and run.residuals.max() > 1e-10:
        run.advance(A @ run.block().double().numpy())
    for j, a in enumerate(alphas):  # a float32 basis: float32 accuracy
        exact = np.linalg.solve(A + a * np.eye(60), S)
        np.testing.assert_allclose(run.solve(j), exact, atol=1e-4 * np.abs(exact).max())


def test_statistics_keep_one_gram_above_the_limit(problem, large):
    X, y, _, _, _ = problem
    stats = ClassStatistics(0.15, 0).fit(X, y, 6)
    assert stats.large and stats.grams_.size == 0 and stats.total_gram_.shape == (40, 40)
    again = ClassStatistics.from_state(stats.state())
    np.testing.assert_array_equal(again.total_gram_, stats.total_gram_)
    with pytest.raises(ValueError, match="krylov"):
        stats.ridge_system(np.arange(4), np.zeros((4, 2)), stats.standardiser(np.arange(4)))


@pytest.mark.parametrize("alpha", [5.0, None])
def test_krylov_ridge_equals_the_cholesky_solution(problem, alpha, monkeypatch):
    """The same map as the closed form on per-class Gram matrices: fixed penalty, and chosen on validation."""
    X, y, _, _, V = problem
    held, kept = [1, 4], np.array([0, 2, 3, 5])
    small = ClassStatistics(0.15, 0).fit(X, y, 6)
    std = small.standardiser(kept)
    G, B, z_mean, t_mean, _ = small.ridge_system(kept, V[kept], std)
    ref = LinearMapping(alpha=alpha).fit_system(
        RidgeSystem(G, B, z_mean, t_mean), validation_data=small.ridge_validation(kept, V[kept], std, z_mean, t_mean))
    monkeypatch.setattr(statistics_module, "_PER_CLASS_GRAM_MAX_DIM", 10)
    big = ClassStatistics(0.15, 0).fit(X, y, 6)
    (ours, std2), = ridge_maps(big, X, y, [held], V, alpha=alpha, tol=1e-8)
    np.testing.assert_allclose(std2.scale_, std.scale_)
    assert ours.alpha_ == pytest.approx(ref.alpha_, rel=1e-6)
    # float32 G_all and basis against float64 per-class Gram matrices
    np.testing.assert_allclose(ours.coef_, ref.coef_, atol=1e-3 * np.abs(ref.coef_).max())
    np.testing.assert_allclose(ours.intercept_, ref.intercept_, atol=1e-4 * np.abs(ref.intercept_).max())


def test_lockstep_pairs_equal_one_at_a_time(problem, large):
    X, y, _, _, V = problem
    stats = ClassStatistics(0.15, 0).fit(X, y, 6)
    together = ridge_maps(stats, X, y, [(0, 1), (1, 4), (2, 5)], V)
    for pair, (m, _) in zip([(0, 1), (1, 4), (2, 5)], together):
        (alone, _), = ridge_maps(stats, X, y, [pair], V)
        assert alone.alpha_ == m.alpha_
        np.testing.assert_allclose(alone.coef_, m.coef_, atol=1e-4 * np.abs(m.coef_).max())


def test_pair_cell_is_the_models_zero_shot_figure_with_many_features(problem, large):
    X, y, Xt, yt, V = problem
    stats = ClassStatistics(0.15, 0).fit(X, y, 6)
    M = all_pairs_matrix(X, y, Xt, yt, V, statistics=stats)
    model = ZeroShotClassifier(softmax_C=0.5).fit(X, y, NAMES, [1, 4], class_vectors=V, statistics=stats)
    s = model.decompose(Xt)
    rows = np.isin(yt, (1, 4))
    own = np.mean(model.unseen_[s.unseen_proba[rows][:, model.unseen_].argmax(1)] == yt[rows])
    assert M[1, 4] == pytest.approx(own)
    assert np.isfinite(M[np.triu_indices(6, 1)]).all() and M[np.triu_indices(6, 1)].mean() > 0.7


def test_model_with_many_features_never_reads_unseen_rows(problem, large):
    X, y, Xt, yt, V = problem
    poisoned = X.copy()
    poisoned[np.isin(y, (1, 4))] = np.nan
    model = ZeroShotClassifier(softmax_C=0.5).fit(poisoned, y, NAMES, [1, 4], class_vectors=V)
    clean = ZeroShotClassifier(softmax_C=0.5).fit(X, y, NAMES, [1, 4], class_vectors=V)
    assert np.isfinite(model.mapping_.coef_).all() and np.isfinite(model.softmax_.coef_).all()
    np.testing.assert_allclose(model.mapping_.coef_, clean.mapping_.coef_, rtol=1e-5, atol=1e-8)


def test_gram_preconditioned_softmax_reaches_the_reference_optimum(problem, large, monkeypatch):
    """Many features: float32 Cholesky of the kept classes' covariance from G_all preconditions L-BFGS; the
    optimum is scikit-learn's (lbfgs run to a tight tolerance)."""
    monkeypatch.setattr(softmax_module, "_PRECOND_MAX_DIM", 10)
    X, y, _, _, _ = problem
    seen = np.array([0, 2, 3, 5])
    stats = ClassStatistics(0.15, 0).fit(X, y, 6)
    std = stats.standardiser(seen)
    M = kept_gram(stats, X, y, seen, std)
    rows = stats.rows(seen, y, "fit")
    Z = std.transform(X[rows])
    Zc = Z - Z.mean(0)
    np.testing.assert_allclose(M, Zc.T @ Zc / len(rows), atol=2e-4)
    labels = np.searchsorted(seen, y[rows])
    ours = SoftmaxRegression(C=0.05, max_iter=200, precision="float32").fit(Z, labels, second_moment=M)
    ref = LogisticRegression(C=0.05, max_iter=5000, tol=1e-10).fit(Z, labels)
    np.testing.assert_allclose(ours.predict_proba(Z), ref.predict_proba(Z), atol=2e-3)


def test_path_uses_every_row_when_fewer_rows_than_features():
    """Fewer selectable rows than features: the penalty path runs on all of them, not a subsample."""
    rng = np.random.default_rng(2)
    X = rng.normal(size=(300, 50)).astype(np.float32)
    y = (X[:, 0] + rng.normal(size=300) > 0).astype(int)
    Xv = rng.normal(size=(100, 50)).astype(np.float32)
    yv = (Xv[:, 0] + rng.normal(size=100) > 0).astype(int)
    a = SoftmaxRegression(selection_size=40).fit(X, y, validation_data=(Xv, yv))
    b = SoftmaxRegression(selection_size=300).fit(X, y, validation_data=(Xv, yv))
    assert a.path_ == b.path_
