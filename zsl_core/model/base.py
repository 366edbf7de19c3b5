"""What every estimator of the model shares: the fitted check and the stratified validation split."""

from __future__ import annotations

import numpy as np

__all__ = ["check_is_fitted", "validation_split"]


def check_is_fitted(estimator, attribute: str) -> None:
    """Raise a clear ``RuntimeError`` unless ``estimator`` has the learned ``attribute`` (set by ``fit``)."""
    if not hasattr(estimator, attribute):
        raise RuntimeError(f"This {type(estimator).__name__} is not fitted yet; call fit(...) first")


def validation_split(y: np.ndarray, fraction: float, random_state=0) -> tuple[np.ndarray, np.ndarray]:
    """A stratified split of row indices into a fitting part and a validation part.

    Every label with at least 2 rows puts ``max(1, round(fraction * n_label))`` rows (but never all of them)
    in the validation part. Each label's choice is seeded by ``(random_state, label)`` alone, so a class's
    validation rows are the same whichever other classes are present: the model fitted with some classes
    held out sees exactly the split that the class statistics of the whole training set were taken on.

    Parameters
    ----------
    y : ndarray of shape (n,)
        Integer labels. Pass ``np.zeros(n, int)`` for an unstratified split.
    fraction : float in (0, 1)
    random_state : int

    Returns
    -------
    fit_idx, val_idx : ndarray of int64, sorted
    """
    y = np.asarray(y)
    if y.size and not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must hold integer labels; got dtype {y.dtype}")
    val = []
    for label in np.unique(y):
        rows = np.flatnonzero(y == label)
        if rows.size < 2:
            continue
        n_val = min(rows.size - 1, max(1, int(round(fraction * rows.size))))
        rng = np.random.default_rng([int(random_state), int(label) & 0xFFFFFFFF, 0x5EED])
        val.append(rng.choice(rows, size=n_val, replace=False))
    val_idx = np.sort(np.concatenate(val)) if val else np.zeros(0, dtype=np.int64)
    mask = np.ones(y.shape[0], dtype=bool)
    mask[val_idx] = False
    return np.flatnonzero(mask).astype(np.int64), val_idx.astype(np.int64)
