"""2-D projections: shapes, determinism under a seed, separated clusters stay separated."""

import numpy as np
import pytest

from zsl_core.projection import project


def blobs(n=60, D=50, seed=0):
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(size=(n, D)), rng.normal(size=(n, D)) + 8.0])
    return X, np.r_[np.zeros(n), np.ones(n)]


def _separable(Y, labels):
    # Nearest-centroid in 2-D classifies every point correctly: the two blobs did not merge.
    c0, c1 = Y[labels == 0].mean(0), Y[labels == 1].mean(0)
    pred = np.linalg.norm(Y - c1, axis=1) < np.linalg.norm(Y - c0, axis=1)
    return np.mean(pred == labels.astype(bool))


@pytest.mark.parametrize("method,params", [("tsne", {"max_iter": 300}), ("umap", {"n_epochs": 100})])
def test_projection_shape_determinism_separation(method, params):
    X, labels = blobs()
    calls = []
    Y = project(X, method=method, random_state=0, progress=lambda *a: calls.append(a), **params)
    assert Y.shape == (120, 2) and np.isfinite(Y).all()
    assert calls[0] == (method, 0, 1) and calls[-1] == (method, 1, 1)
    np.testing.assert_allclose(project(X, method=method, random_state=0, **params), Y)
    assert _separable(Y, labels) == 1.0


def test_projection_errors():
    with pytest.raises(ValueError, match="method"):
        project(np.zeros((10, 3)), method="pca")
    with pytest.raises(ValueError, match="2-D"):
        project(np.zeros(10))
    with pytest.raises(ValueError, match="at least 4"):
        project(np.zeros((3, 5)))
    with pytest.raises(ValueError, match="NaN"):
        project(np.full((10, 3), np.nan))
