"""θ: image features → word space (Socher et al. 2013, Eq. 1).

Two estimators share one API, ``fit(X, T, validation_data=None)`` / ``predict(X)``:

* :class:`LinearMapping` — ridge regression with a bias, solved in closed form. With ``alpha=None`` the
  penalty is chosen on a held-out validation split from a log grid; the data are read once into the Gram
  matrix (primal ``d × d`` or dual ``n × n``, whichever is smaller), after which each grid value costs one
  Cholesky solve of that small system.
* :class:`TanhMLPMapping` — the paper's 2-layer network ``f(x) = W2 tanh(W1 x + b1) + b2`` (200 hidden units
  in the authors' code), trained in torch with weight decay.

Both minimise a squared error between the mapped image and the word vector of its class,

.. math:: J(θ) = \\sum_{y \\in Y_s} \\sum_{x \\in X_y} \\lVert w_y - θ(x) \\rVert^2  \\quad (+\\ \\text{L2 penalty}).

References
----------
R. Socher, M. Ganjoo, H. Sridhar, O. Bastani, C. D. Manning, A. Y. Ng. *Zero-Shot Learning Through
Cross-Modal Transfer.* NIPS 2013.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .base import check_is_fitted as _check_fitted, validation_split
from .persistence import register
from .ridge import (_DEFAULT_REL_ALPHAS, _DEFAULT_START, RidgeSystem, RidgeValidation,  # noqa: F401
                    descend_grid, row_error, solve)

__all__ = ["LinearMapping", "TanhMLPMapping", "RidgeSystem", "RidgeValidation", "MAPPINGS", "validation_split"]

def _target_groups(T: np.ndarray) -> np.ndarray:
    """Strata for the internal validation split: rows with the same target are the same class. Continuous
    targets (mostly distinct rows) are not stratified."""
    _, groups = np.unique(T, axis=0, return_inverse=True)
    groups = groups.ravel()
    if groups.max(initial=0) + 1 > T.shape[0] // 2:
        return np.zeros(T.shape[0], dtype=np.int64)
    return groups


def _as_2d_float(name: str, A, dtype=np.float32) -> np.ndarray:
    A = np.asarray(A)
    if A.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (n_samples, n_features); got shape {A.shape}")
    if A.shape[0] == 0:
        raise ValueError(f"{name} has no rows")
    A = np.ascontiguousarray(A, dtype=dtype)
    if not np.isfinite(A).all():
        raise ValueError(f"{name} contains NaN or infinite values; clean or impute them first")
    return A


def _check_XT(X, T, dtype=np.float32):
    X = _as_2d_float("X", X, dtype)
    T = _as_2d_float("T", T, np.float64)
    if X.shape[0] != T.shape[0]:
        raise ValueError(f"X and T must have the same number of rows; got {X.shape[0]} and {T.shape[0]}")
    return X, T


def _fitted_input(mapping, attribute: str, X) -> np.ndarray:
    """``X`` as a float32 2-D array for a fitted ``mapping`` (its ``attribute`` set), with as many features."""
    _check_fitted(mapping, attribute)
    X = _as_2d_float("X", X)
    if X.shape[1] != mapping.n_features_in_:
        raise ValueError(f"X has {X.shape[1]} features; the mapping was fitted on {mapping.n_features_in_}")
    return X


def _predict_affine(X: np.ndarray, coef: np.ndarray, intercept: np.ndarray) -> np.ndarray:
    out = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32)) @ torch.from_numpy(coef.astype(np.float32))
    return out.numpy().astype(np.float64) + intercept


@register
class LinearMapping:
    r"""Ridge regression from image features to word vectors, in closed form.

    Minimises

    .. math:: \\sum_i \\lVert W^\\top x_i + b - t_i \\rVert^2 + \\alpha \\lVert W \\rVert_F^2

    (the bias ``b`` is not penalised), i.e. Eq. 1 of Socher et al. (2013) with a linear θ and an L2 penalty.

    Parameters
    ----------
    alpha : float or None, default None
        The penalty. ``None`` chooses it from ``alphas`` by mean squared error on a validation split: either
        the ``validation_data`` passed to :meth:`fit` or a stratified (by target row) ``validation_fraction``
        of the rows. The final solution is fitted on the rows passed as ``X`` (not on the validation rows).
    alphas : sequence of float or None
        Candidate penalties *relative to the mean eigenvalue of the centred Gram matrix*
        (``alpha = rel * trace(G) / dim``), so the grid is scale-free. Default ``logspace(-5, 1, 13)``.
    validation_fraction : float, default 0.15
        Used only when ``alpha is None`` and no ``validation_data`` is given.
    random_state : int, default 0
        Seeds the internal validation split.

    Attributes
    ----------
    coef_ : ndarray of shape (d, m)
    intercept_ : ndarray of shape (m,)
    alpha_ : float
        The effective penalty (absolute, in the units of the objective above).
    alphas_ : ndarray of shape (n_grid,)
        The absolute grid searched (only when ``alpha is None``).
    validation_errors_ : ndarray of shape (n_grid,)
        Mean squared error per validation row for each grid value (only when ``alpha is None``; NaN for the
        grid values the coarse-to-fine search skipped).
    n_features_in_ : int

    Notes
    -----
    The data are read once, into the centred Gram matrix ``G = XᵀX`` (or the dual ``K = XXᵀ`` when there
    are fewer rows than features) and ``XᵀT``; every grid value then costs one Cholesky solve of that
    ``min(n, d)``-sized system, ``W(α) = (G + αI)⁻¹ XᵀT`` or ``W(α) = Xᵀ (K + αI)⁻¹ T``. Above 4096
    dimensions (e.g. 12,800-d Coates features with more rows than features) the solves are in float32.
    The penalty is found by a descent over the grid (``ridge.descend_grid``).
    """

    #: Shown in the app and the command line's help.
    label = "Linear (ridge)"
    description = "Ridge regression from image features to word vectors, penalty chosen on validation images."

    def __init__(self, alpha=None, alphas=None, validation_fraction=0.15, random_state=0):
        self.alpha = alpha
        self.alphas = alphas
        self.validation_fraction = validation_fraction
        self.random_state = random_state

    # -- fitting -------------------------------------------------------------------------------------------
    def fit(self, X, T, validation_data=None) -> "LinearMapping":
        """Fit the map.

        Parameters
        ----------
        X : array-like of shape (n, d)
            Image features (standardised by the caller for a well-scaled penalty).
        T : array-like of shape (n, m)
            Target word vectors (the word vector of each image's class).
        validation_data : tuple (X_val, T_val) or None
            Rows used only to choose ``alpha`` when ``alpha is None``.

        Returns
        -------
        self
        """
        X, T = _check_XT(X, T)
        if self.alpha is None:
            if validation_data is None:
                if not 0 < self.validation_fraction < 1:
                    raise ValueError(f"validation_fraction must be in (0, 1); got {self.validation_fraction!r}")
                fit_idx, val_idx = validation_split(_target_groups(T), self.validation_fraction,
                                                    self.random_state)
                if val_idx.size == 0 or fit_idx.size < 2:
                    raise ValueError(
                        f"too few rows ({X.shape[0]}) to choose alpha on a validation split; pass alpha=<float>")
                validation_data = (X[val_idx], T[val_idx])
                X, T = X[fit_idx], T[fit_idx]
        return self.fit_system(RidgeSystem.from_rows(X, T), validation_data)

    def fit_system(self, system: RidgeSystem, validation_data=None) -> "LinearMapping":
        """Fit from the sums of a ridge problem instead of its rows (see :class:`RidgeSystem`).

        Parameters
        ----------
        system : RidgeSystem
            E.g. from :meth:`RidgeSystem.from_rows` or ``ClassStatistics.ridge_system``.
        validation_data : tuple (X_val, T_val), RidgeValidation or None
            What chooses ``alpha`` when ``alpha is None`` (required then): validation rows, or their sums
            (``ClassStatistics.ridge_validation``), which give the same errors without reading a row.

        Returns
        -------
        self
        """
        if self.alpha is not None:
            alpha = float(self.alpha)
            if not alpha >= 0 or not math.isfinite(alpha):
                raise ValueError(f"alpha must be a finite number >= 0 or None; got {self.alpha!r}")
            self.alpha_ = alpha
            self.coef_, self.intercept_ = solve(system, alpha)
        else:
            if validation_data is None:
                raise ValueError("alpha=None chooses the penalty on validation_data=(X_val, T_val); pass it")
            if isinstance(validation_data, RidgeValidation):
                error = validation_data.error
            else:
                X_val, T_val = _check_XT(*validation_data)
                if X_val.shape[1] != system.n_features or T_val.shape[1] != system.t_mean.shape[0]:
                    raise ValueError("validation_data must have the same number of columns as X and T")
                error = row_error(system, X_val, T_val)
            rel = np.asarray(_DEFAULT_REL_ALPHAS if self.alphas is None else self.alphas, dtype=np.float64)
            if rel.ndim != 1 or rel.size == 0 or (rel <= 0).any():
                raise ValueError("alphas must be a non-empty 1-D sequence of positive numbers")
            scale = max(system.trace_scale(), 1e-12)
            self.alphas_ = rel * scale
            start = _DEFAULT_START if self.alphas is None else None
            self.validation_errors_, solutions = descend_grid(system, self.alphas_, error, start)
            best = int(np.nanargmin(self.validation_errors_))
            self.alpha_ = float(self.alphas_[best])
            self.coef_, self.intercept_ = solutions(best)
        self.n_features_in_ = system.n_features
        return self

    # -- prediction ----------------------------------------------------------------------------------------
    def predict(self, X) -> np.ndarray:
        """Map features into word space.

        Parameters
        ----------
        X : array-like of shape (n, d)

        Returns
        -------
        ndarray of shape (n, m), float64
        """
        X = _fitted_input(self, "coef_", X)
        return _predict_affine(X, self.coef_, self.intercept_)


@register
class TanhMLPMapping:
    """The paper's 2-layer network ``θ(x) = W2 tanh(W1 x + b1) + b2``, trained in torch.

    Minimises the mean squared error plus weight decay,

    .. math:: \\frac{1}{n}\\sum_i \\lVert θ(x_i) - t_i \\rVert^2
              + \\lambda (\\lVert W_1 \\rVert_F^2 + \\lVert W_2 \\rVert_F^2),

    with Adam on minibatches (``solver='adam'``, early stopping on the validation split: the weights of the
    epoch with the lowest validation error are kept) or full-batch L-BFGS (``solver='lbfgs'``). Inputs are
    standardised internally (a no-op for already standardised features).

    Parameters
    ----------
    n_hidden : int, default 200
        Hidden units (200 in the authors' code).
    weight_decay : float or None, default None
        λ above. ``None`` chooses it from ``weight_decays`` by validation error.
    weight_decays : sequence of float, default (1e-4, 1e-3)
        (On CIFAR-10 EfficientNet features the validation error hardly depends on it between 0 and 1e-3;
        early stopping does most of the regularising, so the grid is kept short.)
    max_iter : int, default 40
        Epochs (adam) or L-BFGS iterations (lbfgs).
    solver : {'adam', 'lbfgs'}, default 'adam'
    batch_size : int, default 256
    learning_rate : float, default 1e-3
    patience : int, default 5
        Adam stops after this many epochs without a better validation error.
    validation_fraction : float, default 0.15
        Used when no ``validation_data`` is passed to :meth:`fit`.
    random_state : int, default 0

    Attributes
    ----------
    weight_decay_ : float
        The effective weight decay.
    validation_errors_ : dict[float, float]
        Best validation MSE reached with each candidate weight decay.
    n_iter_ : int
        Epochs / iterations run for the kept solution.
    x_mean_, x_scale_ : ndarray of shape (d,)
    n_features_in_ : int

    References
    ----------
    Socher et al. (2013), Sec. 4 (two-layer neural network, 200 hidden units in the released code).
    """

    #: Shown in the app and the command line's help.
    label = "2-layer tanh net (the paper's)"
    description = ("The authors' 2-layer network with 200 tanh units, trained with weight decay and early stopping.")

    def __init__(self, n_hidden=200, weight_decay=None, weight_decays=(1e-4, 1e-3), max_iter=40,
                 solver="adam", batch_size=256, learning_rate=1e-3, patience=5, validation_fraction=0.15,
                 random_state=0):
        self.n_hidden = n_hidden
        self.weight_decay = weight_decay
        self.weight_decays = weight_decays
        self.max_iter = max_iter
        self.solver = solver
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.validation_fraction = validation_fraction
        self.random_state = random_state

    def _check_params(self):
        if not (isinstance(self.n_hidden, (int, np.integer)) and self.n_hidden >= 1):
            raise ValueError(f"n_hidden must be a positive integer; got {self.n_hidden!r}")
        if self.solver not in ("adam", "lbfgs"):
            raise ValueError(f"solver must be 'adam' or 'lbfgs'; got {self.solver!r}")
        if not (isinstance(self.max_iter, (int, np.integer)) and self.max_iter >= 1):
            raise ValueError(f"max_iter must be a positive integer; got {self.max_iter!r}")
        wds = [self.weight_decay] if self.weight_decay is not None else list(self.weight_decays)
        if not wds or any((not np.isfinite(w)) or w < 0 for w in wds):
            raise ValueError("weight_decay(s) must be finite numbers >= 0")
        return wds

    def fit(self, X, T, validation_data=None, progress=None) -> "TanhMLPMapping":
        """Fit the network.

        Parameters
        ----------
        X : array-like of shape (n, d)
        T : array-like of shape (n, m)
        validation_data : tuple (X_val, T_val) or None
            Rows for early stopping and for choosing ``weight_decay``; when ``None`` a stratified
            ``validation_fraction`` of the rows is held out (and not trained on).
        progress : callable(step, done, total) or None
            Called after every epoch / L-BFGS run (``step`` names the weight decay being tried).

        Returns
        -------
        self
        """
        wds = self._check_params()
        X, T = _check_XT(X, T)
        if validation_data is None:
            fit_idx, val_idx = validation_split(_target_groups(T), self.validation_fraction, self.random_state)
            if val_idx.size == 0:
                raise ValueError(f"too few rows ({X.shape[0]}) for a validation split")
            X_val, T_val = X[val_idx], T[val_idx]
            X, T = X[fit_idx], T[fit_idx]
        else:
            X_val, T_val = _check_XT(*validation_data)
            if X_val.shape[1] != X.shape[1] or T_val.shape[1] != T.shape[1]:
                raise ValueError("validation_data must have the same number of columns as X and T")
        self.x_mean_ = X.mean(axis=0, dtype=np.float64).astype(np.float32)
        scale = X.std(axis=0, dtype=np.float64)
        self.x_scale_ = np.where(scale > 1e-12, scale, 1.0).astype(np.float32)
        Xt = torch.from_numpy((X - self.x_mean_) / self.x_scale_)
        Tt = torch.from_numpy(T.astype(np.float32))
        Xv = torch.from_numpy((X_val - self.x_mean_) / self.x_scale_)
        Tv = torch.from_numpy(T_val.astype(np.float32))
        best = None
        self.validation_errors_ = {}
        self._progress = progress
        for wd in wds:
            self._step = f"tanh net (weight decay {wd:g})"
            params, err, n_iter = self._train(Xt, Tt, Xv, Tv, float(wd))
            self.validation_errors_[float(wd)] = err
            if best is None or err < best[1]:
                best = (params, err, n_iter, float(wd))
        params, _, self.n_iter_, self.weight_decay_ = best
        del self._progress, self._step
        self.W1_, self.b1_, self.W2_, self.b2_ = (p.detach().numpy().copy() for p in params)
        self.n_features_in_ = X.shape[1]
        return self

    def _init(self, d, m, gen):
        h = int(self.n_hidden)
        # Glorot-uniform for tanh; a small output layer so training starts near the mean target.
        b = math.sqrt(6.0 / (d + h))
        W1 = (torch.rand(d, h, generator=gen) * 2 - 1) * b
        W2 = (torch.rand(h, m, generator=gen) * 2 - 1) * math.sqrt(6.0 / (h + m))
        return [W1.requires_grad_(), torch.zeros(h, requires_grad=True), W2.requires_grad_(),
                torch.zeros(m, requires_grad=True)]

    @staticmethod
    def _forward(params, X):
        W1, b1, W2, b2 = params
        return torch.tanh(X @ W1 + b1) @ W2 + b2

    def _train(self, X, T, Xv, Tv, wd):
        gen = torch.Generator().manual_seed(int(self.random_state))
        params = self._init(X.shape[1], T.shape[1], gen)
        # Start the output bias at the mean target: the net then only has to learn deviations.
        with torch.no_grad():
            params[3].copy_(T.mean(0))

        def val_error():
            with torch.no_grad():
                return float(((self._forward(params, Xv) - Tv) ** 2).sum(1).mean())

        best_err, best_params, best_iter, stale = val_error(), [p.detach().clone() for p in params], 0, 0
        if self.solver == "lbfgs":
            opt = torch.optim.LBFGS(params, lr=1, max_iter=int(self.max_iter), history_size=20,
                                    line_search_fn="strong_wolfe", tolerance_grad=1e-7, tolerance_change=1e-10)

            def closure():
                opt.zero_grad()
                loss = ((self._forward(params, X) - T) ** 2).sum(1).mean()
                loss = loss + wd * (params[0].pow(2).sum() + params[2].pow(2).sum())
                loss.backward()
                return loss

            opt.step(closure)
            err = val_error()
            return [p.detach().clone() for p in params], err, int(opt.state[opt._params[0]].get("n_iter", 0))

        opt = torch.optim.Adam(params, lr=float(self.learning_rate))
        n = X.shape[0]
        bs = int(min(self.batch_size, n))
        for epoch in range(1, int(self.max_iter) + 1):
            perm = torch.randperm(n, generator=gen)
            for start in range(0, n, bs):
                idx = perm[start:start + bs]
                opt.zero_grad()
                loss = ((self._forward(params, X[idx]) - T[idx]) ** 2).sum(1).mean()
                loss = loss + wd * (params[0].pow(2).sum() + params[2].pow(2).sum())
                loss.backward()
                opt.step()
            err = val_error()
            if self._progress is not None:
                self._progress(self._step, epoch, int(self.max_iter))
            if err < best_err - 1e-9:
                best_err, best_params, best_iter, stale = err, [p.detach().clone() for p in params], epoch, 0
            else:
                stale += 1
                if stale >= self.patience:
                    break
        return best_params, best_err, best_iter

    def predict(self, X) -> np.ndarray:
        """Map features into word space.

        Parameters
        ----------
        X : array-like of shape (n, d)

        Returns
        -------
        ndarray of shape (n, m), float64
        """
        X = _fitted_input(self, "W1_", X)
        Xs = torch.from_numpy((X - self.x_mean_) / self.x_scale_)
        params = [torch.from_numpy(p) for p in (self.W1_, self.b1_, self.W2_, self.b2_)]
        with torch.no_grad():
            out = [self._forward(params, Xs[i:i + 8192]) for i in range(0, Xs.shape[0], 8192)]
        return torch.cat(out).numpy().astype(np.float64)


#: The registry of mappings θ: name -> class.
MAPPINGS = {"linear": LinearMapping, "mlp": TanhMLPMapping}
