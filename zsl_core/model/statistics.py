"""Per-class sufficient statistics of a feature set: what every held-out set's ridge map is solved from.

A ridge map fitted on the images of some classes needs the data only through sums over those images:
the count ``n``, the sum ``Σ x`` and the second moments ``Σ x xᵀ`` (the Gram matrix), and — because every image
of class ``c`` has the same target, the word vector ``t_c`` — the cross term ``Σ x tᵀ = Σ_c (Σ_{x∈c} x) t_cᵀ``.
Sums over a set of classes are sums of per-class sums, so once each class's statistics are known, the map for
*any* held-out set (and every cell of the all-pairs matrix) is algebra on ``d × d`` matrices: standardising
with the kept classes' mean and spread, centring, and one Cholesky solve per penalty. No image row is read
again.

The statistics are taken on one fixed, stratified split of the training rows into a *fitting* part and a
*validation* part (:func:`~zsl_core.model.base.validation_split` over every class, seeded), so that a class's
validation images are the same whichever classes are held out: the model fitted with cat + truck held out and
the cat–truck cell of the all-pairs matrix are the same computation.
"""

from __future__ import annotations

import numpy as np
import torch

from ..cache import Progress, report
from .base import check_is_fitted, validation_split

__all__ = ["ClassStatistics", "Standardiser"]

#: Above this many features only the sum of the classes' Gram matrices is kept (``total_gram_``): a 12,800-d
#: float32 Gram matrix is 655 MB, ten of them 6.5 GB. Ridge maps are then solved by ``krylov.ridge_maps``.
_PER_CLASS_GRAM_MAX_DIM = 4096


class Standardiser:
    """``z = (x - mean) / scale``, learned on some rows; ``scale`` is 1 where a feature is constant.

    Attributes
    ----------
    mean_, scale_ : ndarray of shape (d,), float32
    """

    def __init__(self, mean: np.ndarray, scale: np.ndarray):
        self.mean_ = np.asarray(mean, dtype=np.float32)
        self.scale_ = np.asarray(scale, dtype=np.float32)

    def transform(self, X) -> np.ndarray:
        """Standardised copy of ``X`` (n, d) as float32."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.mean_.shape[0]:
            raise ValueError(f"X must have shape (n, {self.mean_.shape[0]}); got {X.shape}")
        out = np.array(X, dtype=np.float32, copy=True)
        if not np.isfinite(out).all():
            raise ValueError("X contains NaN or infinite values")
        out -= self.mean_
        out /= self.scale_
        return out


class ClassStatistics:
    """Counts, sums and Gram matrices of each class's features on a fixed fitting / validation split.

    Parameters
    ----------
    validation_fraction : float, default 0.15
        Stratified share of every class's training rows in the validation part.
    random_state : int, default 0
        Seeds the split.
    gram_dtype : {'auto', 'float64', 'float32'}, default 'auto'
        Storage of the per-class Gram matrices; ``'auto'`` is float64 up to 4,096 features and float32 above
        (a 12,800-d float64 Gram matrix is 1.3 GB a class).

    Attributes
    ----------
    fit_rows_, val_rows_ : ndarray of int64
        Row indices of the two parts (sorted), over all classes.
    shift_ : ndarray (d,) float64
        The mean of all training rows. Every sum is of ``x - shift_``: a common shift changes no centred
        quantity, but keeps the float32 products from cancelling catastrophically in ``Σxxᵀ - n μμᵀ``.
    counts_ : ndarray (C, 2) int64
        Rows per class in the fitting part (column 0) and the validation part (column 1).
    sums_ : ndarray (C, 2, d) float64
        ``Σ (x - shift)`` per class and part.
    squares_ : ndarray (C, 2, d) float64
        ``Σ (x - shift)²`` (elementwise) per class and part — the feature spreads.
    grams_ : ndarray (C, d, d) or (0,)
        ``Σ (x - shift)(x - shift)ᵀ`` per class over the fitting part; empty above ``_PER_CLASS_GRAM_MAX_DIM``
        features.
    total_gram_ : ndarray (d, d) float32 or (0,)
        Above ``_PER_CLASS_GRAM_MAX_DIM`` features: ``Σ_c`` of those matrices (one pass, 655 MB at 12,800-d);
        a held-out set's Gram is this minus the held-out classes' products (``krylov.ridge_maps``).
    val_grams_ : ndarray (C, d, d) or (0,)
        The same over the validation part, kept up to 4,096 features (a penalty's validation error is then a
        quadratic form in them: :meth:`ridge_validation`); empty above.
    n_features_in_ : int
    n_classes_ : int
    """

    def __init__(self, validation_fraction: float = 0.15, random_state: int = 0, gram_dtype: str = "auto"):
        self.validation_fraction = validation_fraction
        self.random_state = random_state
        self.gram_dtype = gram_dtype

    def fit(self, X, y, n_classes: int | None = None, progress: Progress = None,
            grams: bool = True) -> "ClassStatistics":
        """One pass over the rows of ``X``, class by class.

        Parameters
        ----------
        X : ndarray (n, d)
            Training features (any float dtype; read in float32 blocks).
        y : ndarray (n,)
            Class indices ``0..C-1``.
        n_classes : int or None
            ``C``; default ``y.max() + 1``.
        progress : callable(step, done, total) or None
            Step ``"Class statistics"``, one tick per class.
        grams : bool, default True
            Also the Gram matrices (what a ridge map needs; ``n d²`` work). Without them the statistics still
            give the split and the standardisation (what the tanh net and the softmax need).

        Returns
        -------
        self
        """
        X = np.asarray(X)
        y = np.asarray(y)
        if X.ndim != 2:
            raise ValueError(f"X must be a 2-D array (n_images, n_features); got shape {X.shape}")
        if y.shape != (X.shape[0],):
            raise ValueError(f"y must hold one label per row of X; got {y.shape} for {X.shape[0]} rows")
        if y.size == 0:
            raise ValueError("no training rows")
        if not np.issubdtype(y.dtype, np.integer) or y.min() < 0:
            raise ValueError("y must hold non-negative integer class indices")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in (0, 1); got {self.validation_fraction!r}")
        if self.gram_dtype not in ("auto", "float64", "float32"):
            raise ValueError(f"gram_dtype must be 'auto', 'float64' or 'float32'; got {self.gram_dtype!r}")
        C = int(n_classes if n_classes is not None else y.max() + 1)
        if y.max() >= C:
            raise ValueError(f"labels must be below n_classes={C}")
        n, d = X.shape
        gram_dtype = (np.float64 if d <= 4096 else np.float32) if self.gram_dtype == "auto" else np.dtype(self.gram_dtype)
        fit_rows, val_rows = validation_split(y, self.validation_fraction, self.random_state)
        part = np.zeros(n, dtype=np.int64)
        part[val_rows] = 1
        shift = np.zeros(d)
        for start in range(0, n, 8192):
            shift += np.asarray(X[start:start + 8192], dtype=np.float64).sum(0)
        shift /= n
        if not np.isfinite(shift).all():
            raise ValueError("X contains NaN or infinite values")
        counts = np.zeros((C, 2), dtype=np.int64)
        sums = np.zeros((C, 2, d))
        squares = np.zeros((C, 2, d))
        keep_grams = grams
        large = d > _PER_CLASS_GRAM_MAX_DIM
        grams = np.zeros((C, d, d) if keep_grams and not large else (0,), dtype=gram_dtype)
        total = np.zeros((d, d) if keep_grams and large else (0,), dtype=np.float32)
        val_grams = np.zeros((C, d, d), dtype=np.float64) if keep_grams and not large else np.zeros(0)
        shift32 = torch.from_numpy(shift.astype(np.float32))
        for c in range(C):
            rows_c = np.flatnonzero(y == c)
            for p in (0, 1):
                rows = rows_c[part[rows_c] == p]
                counts[c, p] = rows.size
                if rows.size == 0:
                    continue
                # np.take: a row gather several times faster than fancy indexing.
                Xc = torch.from_numpy(np.ascontiguousarray(np.take(X, rows, axis=0), dtype=np.float32))
                Xc -= shift32
                sums[c, p] = Xc.sum(0, dtype=torch.float64).numpy()
                squares[c, p] = (Xc * Xc).sum(0, dtype=torch.float64).numpy()
                if p == 0 and grams.size:
                    grams[c] = (Xc.T @ Xc).numpy()
                elif p == 0 and total.size:
                    X32 = Xc.numpy()
                    total += X32.T @ X32  # numpy's AᵀA is a symmetric rank-k update: half a general product
                elif val_grams.size:
                    val_grams[c] = (Xc.T @ Xc).numpy()
            report(progress, "Class statistics", c + 1, C)
        if not (np.isfinite(sums).all() and np.isfinite(squares).all()):
            raise ValueError("X contains NaN or infinite values")
        self.fit_rows_, self.val_rows_ = fit_rows, val_rows
        self.shift_ = shift
        self.counts_, self.sums_, self.squares_, self.grams_ = counts, sums, squares, grams
        self.val_grams_ = val_grams
        self.total_gram_ = total
        self.n_features_in_, self.n_classes_ = d, C
        return self

    @property
    def large(self) -> bool:
        """Whether only the total Gram matrix was kept (ridge maps by ``krylov.ridge_maps``)."""
        return bool(np.size(getattr(self, "total_gram_", np.zeros(0))))

    # -- the statistics of a set of classes ----------------------------------------------------------------
    def rows(self, classes, y, part: str = "fit") -> np.ndarray:
        """Row indices of ``classes`` in the fitting (``'fit'``) or validation (``'val'``) part, sorted."""
        check_is_fitted(self, "grams_")
        idx = self.fit_rows_ if part == "fit" else self.val_rows_ if part == "val" else None
        if idx is None:
            raise ValueError(f"part must be 'fit' or 'val'; got {part!r}")
        y = np.asarray(y)
        return idx[np.isin(y[idx], np.asarray(classes))]

    def standardiser(self, classes) -> Standardiser:
        """Mean and standard deviation of the features over all training rows (both parts) of ``classes``."""
        check_is_fitted(self, "grams_")
        classes = np.asarray(classes, dtype=np.int64)
        n = self.counts_[classes].sum()
        if n == 0:
            raise ValueError("the classes have no training rows")
        s = self.sums_[classes].sum((0, 1))
        q = self.squares_[classes].sum((0, 1))
        mean = s / n
        var = np.maximum(q / n - mean * mean, 0.0)
        sd = np.sqrt(var)
        return Standardiser(mean + self.shift_, np.where(sd > 1e-12, sd, 1.0))

    def ridge_system(self, classes, targets, standardiser: Standardiser):
        """The normal equations of ridge regression on the fitting part of ``classes``, standardised.

        Parameters
        ----------
        classes : array of int (k,)
            The classes whose fitting rows enter the fit.
        targets : ndarray (k, m)
            The target (word vector) of each of those classes.
        standardiser : Standardiser
            The feature standardisation ``z = (x - mean) / scale`` the map is fitted in.

        Returns
        -------
        G : ndarray (d, d) float64
            ``Σ (z - z̄)(z - z̄)ᵀ`` over the fitting rows (centred on their own mean ``z̄``).
        B : ndarray (d, m) float64
            ``Σ (z - z̄)(t - t̄)ᵀ``.
        z_mean : ndarray (d,)
            ``z̄``, the mean standardised fitting row.
        t_mean : ndarray (m,)
            ``t̄``, the mean target of the fitting rows.
        n : int
            Fitting rows.
        """
        check_is_fitted(self, "grams_")
        classes = np.asarray(classes, dtype=np.int64)
        T = np.asarray(targets, dtype=np.float64)
        if T.shape[0] != classes.size:
            raise ValueError(f"targets must have one row per class; got {T.shape[0]} for {classes.size} classes")
        n_c = self.counts_[classes, 0].astype(np.float64)
        n = n_c.sum()
        if n < 2:
            raise ValueError("fewer than 2 fitting rows in these classes")
        s_c = self.sums_[classes, 0]                         # Σ (x - shift) per class
        mu = s_c.sum(0) / n                                  # mean of (x - shift) over the fitting rows
        G = self._gram_sum(classes)
        G -= n * np.outer(mu, mu)                            # Σ (x - μ)(x - μ)ᵀ
        scale = standardiser.scale_.astype(np.float64)
        G /= np.outer(scale, scale)
        t_mean = (n_c[:, None] * T).sum(0) / n
        B = ((s_c - n_c[:, None] * mu).T @ (T - t_mean)) / scale[:, None]
        z_mean = (mu + self.shift_ - standardiser.mean_.astype(np.float64)) / scale
        return G, B, z_mean, t_mean, int(n)

    def ridge_validation(self, classes, targets, standardiser: Standardiser, z_mean, t_mean):
        """The validation error of any ridge solution on the validation part of ``classes``, as a quadratic form.

        For a map ``f(z) = Wᵀ (z - z̄) + t̄`` (``z_mean``, ``t_mean`` from :meth:`ridge_system`), the summed
        squared error over the validation rows is ``tr(Wᵀ Q W) - 2 tr(Wᵀ R) + c`` with ``Q = Σ u uᵀ``,
        ``R = Σ u (t - t̄)ᵀ``, ``u = z - z̄`` — sums over the validation rows that follow from the per-class
        statistics, so choosing the penalty reads no row either.

        Returns
        -------
        RidgeValidation or None
            ``None`` when the validation Gram matrices were not kept (more than 4,096 features).
        """
        from .mapping import RidgeValidation

        check_is_fitted(self, "grams_")
        if not getattr(self, "val_grams_", np.zeros(0)).size:
            return None
        classes = np.asarray(classes, dtype=np.int64)
        T = np.asarray(targets, dtype=np.float64)
        n_c = self.counts_[classes, 1].astype(np.float64)
        n = n_c.sum()
        if n == 0:
            return None
        s_c = self.sums_[classes, 1]                          # Σ (x - shift) over each class's validation rows
        scale = standardiser.scale_.astype(np.float64)
        # u = (x' - c) / s with x' = x - shift and c = (mean - shift) + s · z̄
        c = standardiser.mean_.astype(np.float64) - self.shift_ + scale * np.asarray(z_mean, dtype=np.float64)
        S = s_c.sum(0)
        Q = self.val_grams_[classes[0]].astype(np.float64, copy=True)
        for k in classes[1:]:
            Q += self.val_grams_[k]
        Q -= np.outer(c, S) + np.outer(S, c) - n * np.outer(c, c)
        Q /= np.outer(scale, scale)
        dt = T - np.asarray(t_mean, dtype=np.float64)
        R = ((s_c - n_c[:, None] * c) / scale).T @ dt
        const = float((n_c * (dt * dt).sum(1)).sum())
        return RidgeValidation(Q, R, const, int(n))

    def _gram_sum(self, classes) -> np.ndarray:
        """``Σ_c grams_[c]`` in float64 (a fresh array)."""
        if not self.grams_.size:
            if self.large:
                raise ValueError("above _PER_CLASS_GRAM_MAX_DIM features only the total Gram matrix is kept: "
                                 "solve the map with krylov.ridge_maps")
            raise ValueError("these class statistics were computed without Gram matrices (grams=False)")
        classes = list(np.asarray(classes, dtype=np.int64))
        out = np.array(self.grams_[classes[0]], dtype=np.float64, copy=True)
        for c in classes[1:]:
            out += self.grams_[c]
        return out

    def attach_rows(self, X, y, low_precision: bool) -> "ClassStatistics":
        """Keep the rows of ``X`` sorted by class (:class:`ClassRows`) for fits that read rows in place.

        ``X`` and ``y`` must be the training rows these statistics were computed on. Not persisted: rebuilt
        from the cached features in a fraction of a second.
        """
        check_is_fitted(self, "grams_")
        X = np.asarray(X)
        if X.shape != (self.counts_.sum(), self.n_features_in_) or np.asarray(y).shape != (X.shape[0],):
            raise ValueError("attach_rows needs the very rows the statistics were computed on")
        self.rows_ = ClassRows(X, y, self.shift_, self.val_rows_, low_precision)
        return self

    # -- persistence (arrays only: the cache never holds pickles) ----------------------------------------------
    def state(self) -> dict[str, np.ndarray]:
        check_is_fitted(self, "grams_")
        return {"fit_rows": self.fit_rows_, "val_rows": self.val_rows_, "shift": self.shift_,
                "counts": self.counts_, "sums": self.sums_, "squares": self.squares_, "grams": self.grams_,
                "val_grams": self.val_grams_, "total_gram": self.total_gram_,
                "params": np.array([self.validation_fraction, self.random_state], dtype=np.float64)}

    @classmethod
    def from_state(cls, arrays: dict[str, np.ndarray]) -> "ClassStatistics":
        fraction, seed = (float(v) for v in arrays["params"])
        stats = cls(validation_fraction=fraction, random_state=int(seed))
        stats.fit_rows_, stats.val_rows_ = arrays["fit_rows"], arrays["val_rows"]
        stats.shift_ = arrays["shift"]
        stats.counts_, stats.sums_ = arrays["counts"], arrays["sums"]
        stats.squares_, stats.grams_ = arrays["squares"], arrays["grams"]
        stats.val_grams_ = arrays["val_grams"]
        stats.total_gram_ = arrays.get("total_gram", np.zeros(0, dtype=np.float32))
        stats.n_classes_, stats.n_features_in_ = stats.sums_.shape[0], stats.sums_.shape[2]
        return stats


class ClassRows:
    """The training rows sorted by class and shifted by the training mean, stored once per feature set.

    Every held-out set's seen classes are then a few contiguous blocks of one matrix: the softmax reads them
    in place (:meth:`standardised`) instead of gathering, standardising and converting a fresh copy of every
    seen row for each fit.

    Parameters
    ----------
    X : ndarray (n, d)
    y : ndarray (n,)
    shift : ndarray (d,)
        Subtracted before storage (``ClassStatistics.shift_``): the standardisation folded into the weights
        later subtracts only the small difference between a seen set's mean and this shift, so nothing
        cancels in low precision.
    validation_rows : ndarray of int
        Rows of the validation part (to tell the two parts apart after sorting).
    low_precision : bool
        Store bfloat16 (half the memory traffic of the products; see ``SoftmaxRegression.precision``).

    Attributes
    ----------
    data : torch.Tensor (n, d)
    order : ndarray (n,)
        ``data[i]`` is ``X[order[i]] - shift``.
    offsets : ndarray (C + 1,)
        Class ``c`` occupies ``data[offsets[c]:offsets[c + 1]]``.
    is_validation : ndarray (n,) bool
        In sorted order.
    """

    def __init__(self, X, y, shift, validation_rows, low_precision: bool):
        y = np.asarray(y, dtype=np.int64)
        self.order = np.argsort(y, kind="stable")
        self.offsets = np.searchsorted(y[self.order], np.arange(int(y.max()) + 2))
        dtype = torch.bfloat16 if low_precision else torch.float32
        shift32 = torch.from_numpy(np.asarray(shift, dtype=np.float32))
        self.data = torch.empty((y.size, np.asarray(X).shape[1]), dtype=dtype)
        for start in range(0, y.size, 8192):
            block = torch.from_numpy(np.ascontiguousarray(np.take(X, self.order[start:start + 8192], axis=0),
                                                          dtype=np.float32))
            self.data[start:start + block.shape[0]] = (block - shift32).to(dtype)
        self.shift = np.asarray(shift, dtype=np.float64)
        is_val = np.zeros(y.size, dtype=bool)
        is_val[np.asarray(validation_rows, dtype=np.int64)] = True
        self.is_validation = is_val[self.order]

    def standardised(self, classes, standardiser: Standardiser) -> "StandardisedRows":
        """The rows of ``classes`` (ascending class order), standardised on the fly."""
        return StandardisedRows(self, np.sort(np.asarray(classes, dtype=np.int64)), standardiser)


class StandardisedRows:
    """``z = (x - mean) / scale`` over some classes' blocks of :class:`ClassRows`, never materialised.

    The row-operator interface of :class:`~zsl_core.model.softmax.DenseRows`: with ``x' = x - shift`` and
    ``m' = mean - shift``, ``Z W + b = X' (W / s) + (b - m'ᵀ (W / s))`` and ``Zᵀ R = (X'ᵀ R - m' 1ᵀ R) / s``,
    so each product is one pass over the stored blocks.

    Attributes
    ----------
    labels : ndarray (n,)
        Class index (into the full class list) of each row, in this operator's order.
    is_validation : ndarray (n,) bool
    """

    def __init__(self, rows: ClassRows, classes: np.ndarray, standardiser: Standardiser):
        self.blocks = [rows.data[rows.offsets[c]:rows.offsets[c + 1]] for c in classes]
        self.labels = np.concatenate([np.full(b.shape[0], c, dtype=np.int64) for b, c in zip(self.blocks, classes)])
        self.is_validation = np.concatenate([rows.is_validation[rows.offsets[c]:rows.offsets[c + 1]]
                                             for c in classes])
        self.data = rows.data
        self.data_rows = torch.from_numpy(np.concatenate([np.arange(rows.offsets[c], rows.offsets[c + 1])
                                                          for c in classes]))
        self.n_rows, self.n_features = int(self.labels.size), int(rows.data.shape[1])
        self.dtype = rows.data.dtype
        self.m = torch.from_numpy((standardiser.mean_.astype(np.float64) - rows.shift).astype(np.float32))
        self.s = torch.from_numpy(standardiser.scale_.astype(np.float32))

    def logits(self, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        Ws = W / self.s[:, None]
        bias = b - self.m @ Ws
        Wd = Ws.to(self.dtype)
        return torch.cat([(block @ Wd).float() for block in self.blocks]) + bias

    def t_matmul(self, R: torch.Tensor) -> torch.Tensor:
        out = torch.zeros(self.n_features, R.shape[1])
        start = 0
        for block in self.blocks:
            Rb = R[start:start + block.shape[0]].to(self.dtype)
            out += (Rb.T @ block).T.float()
            start += block.shape[0]
        return (out - torch.outer(self.m, R.sum(0))) / self.s[:, None]

    def take(self, rows) -> np.ndarray:
        out = self.data[self.data_rows[torch.from_numpy(np.asarray(rows, dtype=np.int64))]]
        return ((out.float() - self.m) / self.s).numpy()

    def second_moment(self, rows) -> np.ndarray:
        Z = torch.from_numpy(self.take(rows))
        return ((Z.T @ Z) / max(Z.shape[0], 1)).double().numpy()
