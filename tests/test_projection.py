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


@pytest.mark.parametrize("method,params,total", [("tsne", {"max_iter": 300}, 300), ("umap", {"n_epochs": 100}, 100)])
def test_projection_reports_every_iteration_stage(method, params, total):
    """Real progress: the optimisation's iterations / epochs, not just start and end (issue 9)."""
    from zsl_core.projection import STEPS

    X, _ = blobs()
    calls = []
    project(X, method=method, random_state=0, progress=lambda *a: calls.append(a), **params)
    ticks = [c for c in calls if c[0] == STEPS[method]]
    assert ticks and ticks[-1] == (STEPS[method], total, total), calls[-3:]
    assert all(0 <= d <= t == total for _, d, t in ticks)
    assert [d for _, d, _ in ticks] == sorted(d for _, d, _ in ticks)


def test_projection_progress_is_per_thread():
    """Two projections in two threads never see each other's ticks (each app session has its own thread)."""
    import threading

    from zsl_core.projection import STEPS

    X, _ = blobs()
    seen = {0: [], 1: []}
    threads = [threading.Thread(target=project, args=(X,), kwargs=dict(
        method="tsne", random_state=0, max_iter=250 + 50 * i, progress=lambda *a, i=i: seen[i].append(a)))
        for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen[0][-2][2] == 250 and seen[1][-2][2] == 300
    assert {c[2] for c in seen[0] if c[0] == STEPS["tsne"]} == {250}


def test_balanced_sample_spreads_over_classes():
    from zsl_core.projection import balanced_sample

    labels = np.array([0] * 50 + [9] * 37 + [3] * 8)  # class order: 0 first, like a selection of test rows
    picked = balanced_sample(labels, 60)
    counts = {c: int(np.sum(labels[picked] == c)) for c in (0, 9, 3)}
    assert counts == {0: 26, 9: 26, 3: 8}, counts
    assert len(set(picked.tolist())) == 60
    assert balanced_sample(labels, 500).size == labels.size
    assert balanced_sample(labels, 0).size == 0
    np.testing.assert_array_equal(balanced_sample(labels, 10, seed=1), balanced_sample(labels, 10, seed=1))


def test_nearest_points_by_cosine():
    from zsl_core.projection import nearest_points

    P = np.array([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7], [-1.0, 0.0]])
    assert nearest_points(P, np.array([2.0, 0.1]), 2).tolist() == [0, 2]
    assert nearest_points(P, np.array([0.0, 1.0]), 10).tolist()[:2] == [1, 2]
    with pytest.raises(ValueError):
        nearest_points(P, np.zeros(3), 1)


def test_place_puts_new_points_where_pca_view_put_the_inputs():
    from zsl_core.projection import pca_view, place

    rng = np.random.default_rng(0)
    mapped, vectors = rng.normal(size=(30, 5)), rng.normal(size=(4, 5))
    view = pca_view(mapped, vectors)
    np.testing.assert_allclose(place(view, mapped), view["points"])
    np.testing.assert_allclose(place(view, vectors[0]), view["stars"][:1])


@pytest.mark.parametrize("method,params", [("tsne", {"max_iter": 300}), ("umap", {"n_epochs": 500})])
def test_a_projection_stopped_by_its_progress_callback_leaves_nothing_locked(method, params):
    """The app's Cancel raises inside the progress callback; the next projection (another session's thread)
    must not wait for ever on a lock the stopped one held (tqdm's write lock, for UMAP)."""
    import threading

    class Stop(BaseException):
        pass

    X, _ = blobs(n=1000)  # slow enough for ticks in the middle of the optimisation

    def stop_early(step, done, total):
        if 0 < done < total and total > 1:
            raise Stop()

    def first():
        with pytest.raises(Stop):
            project(X, method=method, random_state=0, progress=stop_early, **params)

    t = threading.Thread(target=first)
    t.start()
    t.join(120)
    from tqdm import tqdm

    free = {}

    def probe():  # tqdm's own write lock, as the next UMAP's bar would take it
        lock = tqdm.get_lock()
        free["th"] = lock.locks[-1].acquire(timeout=5)
        if free["th"]:
            lock.locks[-1].release()

    checker = threading.Thread(target=probe, daemon=True)
    checker.start()
    checker.join(30)
    assert free.get("th") is True, "tqdm's lock is still held by the stopped projection"
    result = {}
    second = threading.Thread(target=lambda: result.setdefault(
        "Y", project(X, method=method, random_state=0, progress=lambda *a: None, **params)), daemon=True)
    second.start()
    second.join(180)
    assert not second.is_alive(), "the second projection is stuck"
    assert result["Y"].shape == (2000, 2)
