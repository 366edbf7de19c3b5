"""2-D views of the semantic space (cf. Socher et al. 2013, Fig. 2): t-SNE and UMAP.

The points are typically mapped images ``θ(x)`` (n, 50) with the class word vectors appended, so images and
the words they are mapped towards are embedded together.

References
----------
L. van der Maaten, G. Hinton. *Visualizing Data using t-SNE.* JMLR 2008.
L. McInnes, J. Healy, J. Melville. *UMAP: Uniform Manifold Approximation and Projection.* arXiv:1802.03426.
"""

from __future__ import annotations

import numpy as np

from .cache import Progress, report

__all__ = ["project", "METHODS", "sample_rows", "pca_view"]

METHODS = ("tsne", "umap")


def project(points, method: str = "tsne", random_state: int = 0, progress: Progress = None, **params) -> np.ndarray:
    """Embed points in 2-D.

    Parameters
    ----------
    points : array-like of shape (n, D)
    method : {'tsne', 'umap'}
    random_state : int, default 0
        Same seed and inputs → same output (UMAP then runs single-threaded, as umap-learn does when seeded).
    progress : callable(step, done, total) or None
        Called before and after the embedding (neither library reports finer progress).
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

        opts = {"perplexity": min(30.0, (n - 1) / 3.0), "learning_rate": "auto", "init": "pca"}
        opts.update(params)
        if opts["perplexity"] >= n:
            raise ValueError(f"perplexity must be less than the number of points ({n}); got {opts['perplexity']}")
        Y = TSNE(n_components=2, random_state=random_state, **opts).fit_transform(X)
    else:
        import warnings

        import umap  # imported lazily: numba compilation makes the import slow

        opts = {"n_neighbors": min(15, n - 1), "min_dist": 0.1}
        opts.update(params)
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
