"""2-D views of the semantic space (cf. Socher et al. 2013, Fig. 2): t-SNE and UMAP.

The points are typically mapped images ``θ(x)`` (n, 50) with the class word vectors appended, so images and
the words they are mapped towards are embedded together.

References
----------
L. van der Maaten, G. Hinton. *Visualizing Data using t-SNE.* JMLR 2008.
L. McInnes, J. Healy, J. Melville. *UMAP: Uniform Manifold Approximation and Projection.* arXiv:1802.03426.
"""

from __future__ import annotations

import re
import threading
import time

import numpy as np

from .cache import Progress, report

__all__ = ["project", "METHODS", "STEPS", "sample_rows", "pca_view", "balanced_sample", "nearest_points",
           "estimate_projection_seconds", "place"]

METHODS = ("tsne", "umap")

#: The progress step of each method's optimisation (``done`` counts iterations / epochs).
STEPS = {"tsne": "t-SNE iterations", "umap": "UMAP epochs"}

# --- real progress from inside the libraries -----------------------------------------------------------------
#
# Neither library takes a progress callback. t-SNE: sklearn calls its objective (``_kl_divergence_bh`` or
# ``_kl_divergence``, looked up in its module at run time) once per iteration; we wrap those once, and the
# wrapper reports to the callback registered *for the calling thread* (each app session computes in its own
# thread, so two projections at once never see each other's progress). UMAP: its epoch loop is a tqdm bar
# whose keyword arguments we may pass; a small file object parses "done/total" from what tqdm writes.

_local = threading.local()
_wrap_lock = threading.Lock()


def _tsne_hooked() -> bool:
    """Wrap sklearn's t-SNE objectives once so that each call ticks the calling thread's progress."""
    try:
        from sklearn.manifold import _t_sne
    except ImportError:  # pragma: no cover - sklearn is a dependency
        return False
    with _wrap_lock:
        for name in ("_kl_divergence_bh", "_kl_divergence"):
            original = getattr(_t_sne, name, None)
            if original is None:
                return False  # a sklearn without these private names: progress stays at start / end
            if getattr(original, "_zsl_progress", False):
                continue

            def wrapper(*args, __original=original, **kwargs):
                tick = getattr(_local, "tick", None)
                if tick is not None:
                    tick()
                return __original(*args, **kwargs)

            wrapper._zsl_progress = True
            setattr(_t_sne, name, wrapper)
    return True


class _Ticker:
    """Counts calls and reports ``(step, done, total)`` at most every ``interval`` seconds (and the last)."""

    def __init__(self, progress: Progress, step: str, total: int, interval: float = 0.2):
        self.progress, self.step, self.total, self.interval = progress, step, int(total), interval
        self.done = 0
        self._last = 0.0

    def __call__(self, done: int | None = None) -> None:
        self.done = self.done + 1 if done is None else int(done)
        now = time.monotonic()
        if self.done >= self.total or now - self._last >= self.interval:
            self._last = now
            report(self.progress, self.step, min(self.done, self.total), self.total)


def _release_tqdm_lock() -> None:
    """Release tqdm's global write lock if this thread holds it.

    ``tqdm.refresh`` takes the lock, writes, and releases it without a ``finally``: an exception raised while
    writing (a progress callback that stops the work, e.g. the app's *Cancel*) would leave it held for ever,
    and the next projection in any other thread would wait on it.
    """
    try:
        from tqdm import tqdm

        locks = list(getattr(tqdm.get_lock(), "locks", ()))
    except Exception:  # noqa: BLE001 - no tqdm, nothing held
        return
    for lock in locks[::-1]:
        owned = getattr(lock, "_is_owned", None)
        if owned is None and hasattr(lock, "_semlock"):
            owned = lock._semlock._is_mine
        try:
            if owned is not None and owned():
                lock.release()
        except Exception:  # noqa: BLE001 - best effort; never hide the original exception
            pass


class _TqdmFile:
    """A file for tqdm to write to: each ``"k/n"`` it writes becomes a progress tick.

    If the callback raises (the caller stops the work), tqdm's lock is released first and the file ignores
    whatever tqdm writes afterwards (its clean-up).
    """

    _count = re.compile(r"(\d+)/(\d+)")

    def __init__(self, ticker: _Ticker):
        self.ticker = ticker
        self.stopped = False

    def write(self, text: str) -> int:
        found = self._count.findall(text)
        if found and not self.stopped:
            try:
                self.ticker(int(found[-1][0]))
            except BaseException:
                self.stopped = True
                _release_tqdm_lock()
                raise
        return len(text)

    def flush(self) -> None:
        pass


def estimate_projection_seconds(method: str, n: int) -> float:
    """Rough seconds to embed ``n`` points on the two-core development machine (for a plan before the work).

    t-SNE (Barnes-Hut, 1,000 iterations) grows about as ``n log n``; UMAP adds a one-off compilation (~10 s
    in a fresh process) to a cost about linear in ``n``. Rough (±50 %), like ``experiment.estimate_seconds``.
    """
    n = max(int(n), 1)
    if method == "tsne":
        return 1.0 + 2.5e-3 * n * np.log2(n + 1)
    return 10.0 + 8e-3 * n


def project(points, method: str = "tsne", random_state: int = 0, progress: Progress = None, **params) -> np.ndarray:
    """Embed points in 2-D.

    Parameters
    ----------
    points : array-like of shape (n, D)
    method : {'tsne', 'umap'}
    random_state : int, default 0
        Same seed and inputs → same output (UMAP then runs single-threaded, as umap-learn does when seeded).
    progress : callable(step, done, total) or None
        ``progress(method, 0, 1)`` first (neighbours, affinities), then every iteration of the optimisation
        (:data:`STEPS`: t-SNE iterations out of ``max_iter``, UMAP epochs out of ``n_epochs``), at most every
        0.2 s, and ``progress(method, 1, 1)`` at the end.
    **params
        t-SNE (:class:`sklearn.manifold.TSNE`): ``perplexity`` (default ``min(30, (n - 1) / 3)``),
        ``learning_rate`` (default ``'auto'``), ``max_iter`` (default 1000), ``metric``, ``init``
        (default ``'pca'``, which is deterministic and keeps the global layout). UMAP (:class:`umap.UMAP`):
        ``n_neighbors`` (default ``min(15, n - 1)``), ``min_dist`` (default 0.1), ``metric``, ...

    Returns
    -------
    ndarray of shape (n, 2), float64
    """
    X = np.asarray(points, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"points must be a 2-D array (n, dim); got shape {X.shape}")
    if not np.isfinite(X).all():
        raise ValueError("points contain NaN or infinite values")
    n = X.shape[0]
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}; got {method!r}")
    if n < 4:
        raise ValueError(f"need at least 4 points to embed; got {n}")
    report(progress, method, 0, 1)
    if method == "tsne":
        from sklearn.manifold import TSNE

        opts = {"perplexity": min(30.0, (n - 1) / 3.0), "learning_rate": "auto", "init": "pca", "max_iter": 1000}
        opts.update(params)
        if opts["perplexity"] >= n:
            raise ValueError(f"perplexity must be less than the number of points ({n}); got {opts['perplexity']}")
        hooked = progress is not None and _tsne_hooked()
        _local.tick = _Ticker(progress, STEPS["tsne"], opts["max_iter"]) if hooked else None
        try:
            Y = TSNE(n_components=2, random_state=random_state, **opts).fit_transform(X)
        finally:
            _local.tick = None
    else:
        import warnings

        import umap  # imported lazily: numba compilation makes the import slow

        opts = {"n_neighbors": min(15, n - 1), "min_dist": 0.1}
        opts.update(params)
        if progress is not None:
            # umap-learn's default: 500 epochs up to 10,000 points, 200 above
            epochs = opts.get("n_epochs") or (500 if n <= 10_000 else 200)
            ticker = _Ticker(progress, STEPS["umap"], epochs)
            opts["tqdm_kwds"] = {"disable": False, "file": _TqdmFile(ticker), "mininterval": 0.2, "ascii": True}
        with warnings.catch_warnings():
            # "n_jobs value 1 overridden to 1 by setting random_state" — expected: we ask for determinism.
            warnings.simplefilter("ignore", UserWarning)
            Y = umap.UMAP(n_components=2, random_state=random_state, **opts).fit_transform(X)
    report(progress, method, 1, 1)
    return np.asarray(Y, dtype=np.float64)


def sample_rows(n_total: int, n: int, seed: int = 0) -> np.ndarray:
    """A fixed random sample of ``n`` of ``n_total`` rows (sorted): the same for every method and parameter,
    so switching t-SNE ↔ UMAP or a perplexity shows the same images."""
    n = min(int(n), int(n_total))
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_total, n, replace=False)) if n < n_total else np.arange(n_total)


def pca_view(mapped, class_vectors) -> dict[str, np.ndarray]:
    """A 2-D PCA of the word space (mapped images + class vectors) that can also place new points.

    Parameters
    ----------
    mapped : ndarray (n, D)
        Mapped images.
    class_vectors : ndarray (C, D)

    Returns
    -------
    dict
        ``mean`` (D,), ``components`` (2, D): a new point ``f`` lands at ``(f - mean) @ components.T``;
        ``points`` (n, 2) and ``stars`` (C, 2): the inputs placed.
    """
    mapped = np.asarray(mapped, dtype=np.float64)
    vectors = np.asarray(class_vectors, dtype=np.float64)
    both = np.vstack([mapped, vectors])
    mean = both.mean(axis=0)
    _, _, vt = np.linalg.svd(both - mean, full_matrices=False)
    components = vt[:2]
    return {"mean": mean, "components": components, "points": (mapped - mean) @ components.T,
            "stars": (vectors - mean) @ components.T}


def place(view: dict, points) -> np.ndarray:
    """New points (n, D) or (D,) of word space in a :func:`pca_view`: (n, 2)."""
    points = np.atleast_2d(np.asarray(points, dtype=np.float64))
    return (points - view["mean"]) @ np.asarray(view["components"]).T


def balanced_sample(labels, k: int, seed: int = 0) -> np.ndarray:
    """Up to ``k`` positions of ``labels``, spread evenly over the classes present (round-robin).

    For showing a selection of images: with 37 trucks among 95 selected images, a grid of 60 shows every
    class in proportion to what is left, not the first 60 in class order. Each class contributes in a fixed
    random order (``seed``); a class with fewer images than its share gives its places to the others.

    Parameters
    ----------
    labels : array-like of shape (n,)
    k : int
    seed : int

    Returns
    -------
    ndarray of int
        Positions into ``labels`` (at most ``k``), grouped by class in order of first appearance.
    """
    labels = np.asarray(labels)
    k = max(0, min(int(k), labels.size))
    rng = np.random.default_rng(seed)
    classes = list(dict.fromkeys(labels.tolist()))
    queues = [rng.permutation(np.flatnonzero(labels == c)) for c in classes]
    taken = [0] * len(classes)
    total = 0
    while total < k:
        for i, queue in enumerate(queues):
            if taken[i] < len(queue) and total < k:
                taken[i] += 1
                total += 1
    return np.concatenate([np.sort(q[:t]) for q, t in zip(queues, taken)] or [np.zeros(0, int)]).astype(int)


def nearest_points(points, query, k: int = 25) -> np.ndarray:
    """The ``k`` rows of ``points`` (n, D) with the highest cosine similarity to ``query`` (D,), nearest first.

    E.g. the mapped test images that landed nearest a word's vector: where "kitten" would be in the picture.
    """
    P = np.asarray(points, dtype=np.float64)
    q = np.asarray(query, dtype=np.float64).ravel()
    if P.ndim != 2 or P.shape[1] != q.size:
        raise ValueError(f"points must be (n, {q.size}); got {P.shape}")
    sim = (P @ q) / np.maximum(np.linalg.norm(P, axis=1) * np.linalg.norm(q), 1e-12)
    k = max(0, min(int(k), len(P)))
    top = np.argpartition(-sim, k - 1)[:k] if 0 < k < len(P) else np.arange(len(P))[:k]
    return top[np.argsort(-sim[top], kind="stable")]
