"""θ: ridge against a reference implementation and a planted map; the tanh net against a planted tanh map."""

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from zsl_core.model import ridge as ridge_module
from zsl_core.model.mapping import LinearMapping, TanhMLPMapping, validation_split


def _planted(n=400, d=20, m=5, noise=0.01, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    W = rng.normal(size=(d, m))
    b = rng.normal(size=m)
    T = X @ W + b + noise * rng.normal(size=(n, m))
    return X, T, W, b


def test_linear_recovers_planted_map():
    X, T, W, b = _planted()
    est = LinearMapping(alpha=1e-6).fit(X, T)
    np.testing.assert_allclose(est.coef_, W, atol=5e-3)
    np.testing.assert_allclose(est.intercept_, b, atol=5e-3)
    assert est.alpha_ == 1e-6
    assert est.predict(X).shape == (400, 5)


@pytest.mark.parametrize("shape", [(300, 12), (15, 40)])  # primal (n > d) and dual (n < d)
def test_linear_equals_sklearn_ridge(shape):
    rng = np.random.default_rng(1)
    X = rng.normal(size=shape) * rng.uniform(0.5, 3, size=shape[1]) + 2.0
    T = rng.normal(size=(shape[0], 4))
    for alpha in (0.1, 10.0):
        ref = Ridge(alpha=alpha).fit(X, T)
        est = LinearMapping(alpha=alpha).fit(X, T)
        np.testing.assert_allclose(est.coef_, ref.coef_.T, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(est.predict(X), ref.predict(X), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shape", [(300, 12), (25, 40)])
def test_alpha_grid_equals_brute_force(shape):
    rng = np.random.default_rng(2)
    X = rng.normal(size=shape)
    T = X[:, :3] @ rng.normal(size=(3, 6)) + 0.5 * rng.normal(size=(shape[0], 6))
    X_val = rng.normal(size=(40, shape[1]))
    T_val = X_val[:, :3] @ np.linalg.lstsq(X[:, :3], T, rcond=None)[0]
    est = LinearMapping(alphas=[1e-3, 1e-2, 1e-1, 1.0, 10.0]).fit(X, T, validation_data=(X_val, T_val))
    brute = []
    for a in est.alphas_:
        P = LinearMapping(alpha=a).fit(X, T).predict(X_val)
        brute.append(((P - T_val) ** 2).sum() / len(X_val))
    done = ~np.isnan(est.validation_errors_)
    best = int(np.argmin(brute))
    assert done[max(best - 1, 0):best + 2].all()  # a descent to the best value and both its neighbours
    np.testing.assert_allclose(est.validation_errors_[done], np.array(brute)[done], rtol=1e-4)
    assert est.alpha_ == est.alphas_[int(np.argmin(brute))]
    np.testing.assert_allclose(est.predict(X_val), LinearMapping(alpha=est.alpha_).fit(X, T).predict(X_val),
                               rtol=1e-4, atol=1e-6)


def test_float32_path_agrees(monkeypatch):
    # Above _FLOAT32_DIM the solves are float32; lower the limit to exercise that path cheaply.
    X, T, _, _ = _planted(n=200, d=15, noise=0.3)
    grid = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    ref = LinearMapping(alphas=grid).fit(X, T)
    monkeypatch.setattr(ridge_module, "_FLOAT32_DIM", 5)
    got = LinearMapping(alphas=grid).fit(X, T)
    both = ~np.isnan(got.validation_errors_) & ~np.isnan(ref.validation_errors_)
    assert both.sum() >= 2
    np.testing.assert_allclose(got.validation_errors_[both], ref.validation_errors_[both], rtol=1e-3)
    assert got.alpha_ == ref.alpha_
    np.testing.assert_allclose(got.predict(X), ref.predict(X), rtol=1e-3, atol=1e-4)


def test_alpha_none_prefers_strong_penalty_for_pure_noise():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, 30))
    T = rng.normal(size=(300, 4))  # unrelated to X: the best map is the constant mean
    est = LinearMapping().fit(X, T)
    assert est.alpha_ == est.alphas_.max()


def test_validation_split_is_stratified_and_disjoint():
    y = np.repeat(np.arange(4), [10, 20, 30, 2])
    fit, val = validation_split(y, 0.2, random_state=0)
    assert np.intersect1d(fit, val).size == 0 and fit.size + val.size == y.size
    np.testing.assert_array_equal(np.bincount(y[val]), [2, 4, 6, 1])


def test_mlp_fits_planted_tanh_map_better_than_linear():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(900, 8))
    A = rng.normal(size=(8, 16)) * 1.2
    B = rng.normal(size=(16, 5))
    T = np.tanh(X @ A) @ B
    X_te = rng.normal(size=(300, 8))
    T_te = np.tanh(X_te @ A) @ B
    calls = []
    mlp = TanhMLPMapping(n_hidden=32, weight_decay=1e-5, max_iter=150, learning_rate=1e-2, batch_size=128,
                         patience=20).fit(X, T, progress=lambda *a: calls.append(a))
    assert calls[0] == ("tanh net (weight decay 1e-05)", 1, 150) and len(calls) >= mlp.n_iter_
    lin = LinearMapping().fit(X, T)
    err = lambda est: ((est.predict(X_te) - T_te) ** 2).sum(1).mean()
    chance = ((T_te - T.mean(0)) ** 2).sum(1).mean()
    assert err(mlp) < 0.25 * err(lin) < 0.25 * chance
    assert mlp.weight_decay_ == 1e-5 and mlp.n_iter_ >= 1


def test_mlp_lbfgs_and_weight_decay_choice():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 6))
    T = np.tanh(X @ rng.normal(size=(6, 3)))
    mlp = TanhMLPMapping(n_hidden=16, solver="lbfgs", max_iter=60, weight_decays=(1e-4, 1.0)).fit(X, T)
    assert set(mlp.validation_errors_) == {1e-4, 1.0}
    assert mlp.weight_decay_ == 1e-4  # a huge decay cannot fit anything
    assert mlp.predict(X).shape == (300, 3)


def test_errors_are_helpful():
    X, T, _, _ = _planted(n=50)
    with pytest.raises(ValueError, match="same number of rows"):
        LinearMapping(alpha=1.0).fit(X, T[:-1])
    with pytest.raises(ValueError, match="NaN"):
        LinearMapping(alpha=1.0).fit(np.where(X > 2, np.nan, X), T)
    with pytest.raises(ValueError, match="alpha"):
        LinearMapping(alpha=-1.0).fit(X, T)
    with pytest.raises(RuntimeError, match="not fitted"):
        LinearMapping().predict(X)
    with pytest.raises(RuntimeError, match="not fitted"):
        TanhMLPMapping().predict(X)
    with pytest.raises(ValueError, match="solver"):
        TanhMLPMapping(solver="sgd").fit(X, T)
    est = LinearMapping(alpha=1.0).fit(X, T)
    with pytest.raises(ValueError, match="features"):
        est.predict(X[:, :3])
