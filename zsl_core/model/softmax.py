"""The seen-class classifier ``P(y | V=s, x)``: multinomial logistic regression with an L2 penalty.

Solved by a small in-house L-BFGS (:func:`lbfgs`) on torch float32 (or bfloat16) products.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager

import numpy as np
import torch

from ..cache import report
from .base import check_is_fitted as _check_fitted
from .persistence import register

__all__ = ["SoftmaxRegression", "lbfgs"]



def _tmm(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """``A.T @ B`` for tall A, B. ``(B.T @ A).T`` is several times faster in torch's CPU BLAS than the
    transposed-left product when B is narrow (measured: 0.016 s vs 0.13 s for 40k×1280 by 40k×8)."""
    if B.shape[1] <= A.shape[1]:
        return (B.T @ A).T
    return A.T @ B


def _cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 natively (x86 AVX512-BF16 / AMX, read from /proc/cpuinfo)."""
    global _BF16
    if _BF16 is None:
        try:
            with open("/proc/cpuinfo") as handle:
                flags = handle.read(1 << 20)
            _BF16 = ("avx512_bf16" in flags) or ("amx_bf16" in flags)
        except OSError:
            _BF16 = False
    return _BF16


_BF16 = None

#: Above this many features the softmax is not preconditioned (see SoftmaxRegression._gram).
_PRECOND_MAX_DIM = 4096


@contextmanager
def _torch_threads(n: int):
    """Run a block with at most ``n`` torch threads. A loop of many small tensor operations is latency-bound:
    on a shared two-core machine every parallel region can wait a scheduler quantum for its second thread
    (measured: 8 ms for a 4000 × 8 log-softmax with two threads under load, 0.3 ms with one).

    torch's thread count is process-wide, and a server fits models for several sessions at once: the first
    block to enter saves the count and the last to leave restores it (save/restore per block would let two
    overlapping fits leave the process at one thread for good).
    """
    global _THREAD_USERS, _THREADS_SAVED
    with _THREAD_LOCK:
        if _THREAD_USERS == 0:
            _THREADS_SAVED = torch.get_num_threads()
            torch.set_num_threads(max(1, min(n, _THREADS_SAVED)))
        _THREAD_USERS += 1
    try:
        yield
    finally:
        with _THREAD_LOCK:
            _THREAD_USERS -= 1
            if _THREAD_USERS == 0:
                torch.set_num_threads(_THREADS_SAVED)


_THREAD_LOCK = threading.Lock()
_THREAD_USERS = 0
_THREADS_SAVED = 1


def lbfgs(fun, x0: np.ndarray, max_iter: int, history: int = 10, gtol: float = 1e-6,
          ftol: float = 1e-10, return_iterations: bool = False, callback=None):
    """Minimise a smooth function with L-BFGS (two-loop recursion) and a backtracking Armijo line search.

    Parameters
    ----------
    fun : callable(x) -> (float, ndarray)
        Value and gradient at ``x`` (float64 1-D arrays).
    x0 : ndarray (p,) float64
    max_iter : int
        Iterations (each costs one evaluation, more only when the line search backtracks).
    history : int
        Curvature pairs kept.
    gtol, ftol : float
        Stop when ``max |g| < gtol`` or the relative decrease of the value is below ``ftol``.

    return_iterations : bool
        Also return the number of iterations run.
    callback : callable(iteration) or None
        Called after each iteration (progress reports).

    Returns
    -------
    ndarray (p,), or (ndarray, int) with ``return_iterations``

    Notes
    -----
    A small in-house L-BFGS rather than scipy's L-BFGS-B or ``torch.optim.LBFGS``: on the shared two-core
    machine, scipy's per-iteration overhead was 30 ms for 10k variables (more than the function itself),
    torch's vector operations each waited ~8 ms for a second thread, and ``torch.optim.LBFGS``'s first call
    imports ``torch._dynamo`` (about a second). The vector algebra here is plain numpy on 1-D float64
    arrays (microseconds). On a well-preconditioned problem the unit step is nearly always accepted, so a
    simple Armijo search suffices.
    """
    x = np.array(x0, dtype=np.float64)
    f, g = fun(x)
    S, Yh, rho = [], [], []
    iterations = 0
    for iterations in range(1, int(max_iter) + 1):
        if _max_abs(g) < gtol:
            break
        # two-loop recursion: d = -H g
        q = g.copy()
        alphas = []
        for s_, y_, r_ in zip(reversed(S), reversed(Yh), reversed(rho)):
            a = r_ * _dot(s_, q)
            alphas.append(a)
            q -= a * y_
        if S:
            q *= _dot(S[-1], Yh[-1]) / _dot(Yh[-1], Yh[-1])
        else:
            q *= min(1.0, 1.0 / max(np.sqrt(_dot(g, g)), 1e-12))
        for (s_, y_, r_), a in zip(zip(S, Yh, rho), reversed(alphas)):
            q += (a - r_ * _dot(y_, q)) * s_
        d = -q
        slope = _dot(g, d)
        if slope >= 0:  # not a descent direction (numerical trouble): restart from steepest descent
            S, Yh, rho = [], [], []
            d = -g * min(1.0, 1.0 / max(np.sqrt(_dot(g, g)), 1e-12))
            slope = _dot(g, d)
        step = 1.0
        for _ in range(20):
            x_new = x + step * d
            f_new, g_new = fun(x_new)
            if f_new <= f + 1e-4 * step * slope:
                break
            step *= 0.5
        else:
            break
        s_, y_ = x_new - x, g_new - g
        sy = _dot(s_, y_)
        if sy > 1e-10 * _dot(y_, y_):
            S.append(s_)
            Yh.append(y_)
            rho.append(1.0 / sy)
            if len(S) > history:
                S.pop(0), Yh.pop(0), rho.pop(0)
        done = abs(f - f_new) <= ftol * max(abs(f), abs(f_new), 1.0)
        x, f, g = x_new, f_new, g_new
        if callback is not None:
            callback(iterations)
        if done:
            break
    return (x, iterations) if return_iterations else x


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """Inner product of two 1-D float64 arrays without BLAS: OpenBLAS wakes its worker threads even for a
    10k-element ``ddot``, which cost 20–60 ms per L-BFGS iteration on the shared two-core machine (1 ms
    single-threaded): more than the function evaluation it steers."""
    return float(np.multiply(a, b).sum())


def _max_abs(a: np.ndarray) -> float:
    return float(np.abs(a).max())


class DenseRows:
    """A feature matrix held as is, behind the row-operator interface the softmax uses.

    The interface: ``n_rows``, ``n_features``, ``logits(W, b)`` → ``Z W + b`` (n, K) float32,
    ``t_matmul(R)`` → ``Zᵀ R`` (d, K) float32, ``take(rows)`` → standardised rows as a float32 ndarray, and
    ``second_moment(rows)`` → ``Zᵀ Z / m`` of those rows (d, d) float64. :class:`~zsl_core.model.statistics.
    StandardisedRows` implements it over class-sorted bfloat16 blocks without copying them per fit.

    Parameters
    ----------
    X : ndarray (n, d)
    low_precision : bool
        Keep a bfloat16 copy for the two products (see ``SoftmaxRegression.precision``).
    """

    def __init__(self, X, low_precision: bool = False):
        self.X = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
        self.Xp = self.X.bfloat16() if low_precision else self.X
        self.n_rows, self.n_features = self.X.shape

    def logits(self, W: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        if self.Xp.dtype == torch.bfloat16:
            return (self.Xp @ W.bfloat16()).float() + b
        return torch.addmm(b, self.Xp, W)

    def t_matmul(self, R: torch.Tensor) -> torch.Tensor:
        if self.Xp.dtype == torch.bfloat16:
            return (R.bfloat16().T @ self.Xp).T.float()
        return _tmm(self.Xp, R)

    def take(self, rows) -> np.ndarray:
        return self.X[torch.from_numpy(np.asarray(rows, dtype=np.int64))].numpy()

    def second_moment(self, rows) -> np.ndarray:
        Z = self.X[torch.from_numpy(np.asarray(rows, dtype=np.int64))]
        return ((Z.T @ Z) / max(Z.shape[0], 1)).double().numpy()


def _use_bf16(precision: str) -> bool:
    if precision not in ("auto", "float32", "bfloat16"):
        raise ValueError(f"precision must be 'auto', 'float32' or 'bfloat16'; got {precision!r}")
    return precision == "bfloat16" or (precision == "auto" and _cpu_has_bf16())


@register
class SoftmaxRegression:
    r"""Multinomial logistic regression with an L2 penalty: preconditioned full-batch L-BFGS in torch.

    Minimises

    .. math:: C \sum_i \mathrm{CE}(\mathrm{softmax}(W^\top x_i + b), y_i) + \tfrac12 \lVert W \rVert_F^2

    (scikit-learn's ``C``; the bias is not penalised), solved as the equivalent per-sample objective with
    ``λ = 1 / (C n)``.

    Parameters
    ----------
    C : float or None, default None
        ``None`` chooses ``C`` on ``validation_data``: a warm-started regularisation path (strong → weak)
        is run on a random subsample of ``selection_size`` training rows, scored by validation log-loss, and
        stopped once that loss has risen twice in a row; the best ``C`` is then fitted on all rows, warm-
        started from the subsample's solution. ``C`` (not ``λ``) is carried over from the subsample because,
        for an L2 penalty, the best ``C`` of the summed loss depends little on the number of rows (the
        scikit-learn example *Scaling the regularization parameter for SVCs* makes the same observation).
    Cs : sequence of float or None
        The path. Default: the ``C`` values whose per-sample penalty on the subsample is
        ``λ ∈ {3e-1, 1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4}``.
    max_iter : int, default 15
        L-BFGS iterations of the final fit, warm-started from the path's best solution. On CIFAR-10
        EfficientNet features (cat + truck held out) the objective after 8, 15 and 100 iterations was 0.3159,
        0.3116 and 0.3105: 8 stop well short of the optimum, 15 come within 0.4 %.
    path_iter : int, default 6
        L-BFGS iterations per (warm-started) path point; 6 and 10 chose the same ``C`` on CIFAR-10
        EfficientNet features.
    selection_size : int, default 4000
        Rows of the penalty path's subsample; when it is below the number of features, every selectable row
        (see ``fit``).
    precision : {'auto', 'float32', 'bfloat16'}, default 'auto'
        Storage of the features in the products of the final fit (parameters, probabilities and the
        objective stay float32). ``'auto'``: bfloat16 when the CPU multiplies it natively (AVX512-BF16 or
        AMX), where the two ``n × d × K`` products are 3–5× faster (memory traffic halves); the rounding
        of features to 8 significant bits changed held-out accuracy by less than 0.1 % on CIFAR-10
        EfficientNet features. Elsewhere bfloat16 products are emulated and slow, so float32.
    random_state : int, default 0

    Attributes
    ----------
    coef_ : ndarray (d, K) float32
    intercept_ : ndarray (K,) float32
    C_ : float
        The effective ``C``.
    path_ : list of (C, validation log-loss, validation accuracy)
        Empty when ``C`` was given.
    n_iter_ : int
        L-BFGS iterations of the final fit.

    Notes
    -----
    L-BFGS runs on ``U = Lᵀ W`` where ``L Lᵀ = M + λI`` is the Cholesky factor of the features' second-moment
    matrix ``M`` plus the penalty — the Hessian of the penalised least-squares surrogate — which costs two
    ``d² K`` triangular solves per evaluation on top of the two ``n d K`` products and roughly halves the
    iterations needed. One factor (at the path's middle penalty) preconditions the whole path: a
    preconditioner only has to be close, and each factorisation costs as much as several path iterations.
    ``Xᵀ R`` is computed as ``(Rᵀ X)ᵀ``, several times faster in torch's CPU BLAS for a narrow ``R``. The path
    on the small subsample runs single-threaded (latency-bound; see ``_torch_threads``).
    """

    #: Default path as the per-sample penalty on the selection subsample.
    DEFAULT_LAMBDAS = (3e-1, 1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4)

    def __init__(self, C=None, Cs=None, max_iter=15, path_iter=6, selection_size=4000, precision="auto",
                 random_state=0):
        self.C = C
        self.Cs = Cs
        self.max_iter = max_iter
        self.path_iter = path_iter
        self.selection_size = selection_size
        self.precision = precision
        self.random_state = random_state

    @staticmethod
    def _precond(M, lam):
        """Lower Cholesky factor ``L`` of ``M + λI`` (float32 torch); ``W = L⁻ᵀ U``. ``None`` (no
        preconditioning) when ``M`` is ``None``."""
        if M is None:
            return None
        if M.shape[0] > _PRECOND_MAX_DIM:
            # float32 at many features: a 12,800-d float64 factorisation takes twice the time and 1.3 GB, and a
            # preconditioner only has to be close.
            A = torch.as_tensor(M, dtype=torch.float32).clone()
        else:
            A = torch.from_numpy(np.array(M, dtype=np.float64, copy=True))
        A.diagonal().add_(lam)
        L, info = torch.linalg.cholesky_ex(A)
        del A
        return L.float() if int(info) == 0 else None

    @staticmethod
    def _lbfgs(rows, Y, W, b, lam, max_iter, L, callback=None):
        """Minimise the per-sample objective over ``(W, b)`` from the given start; return (W, b, iterations).

        ``rows`` is a row operator (see :class:`DenseRows`). L-BFGS (:func:`lbfgs`) runs on ``U = Lᵀ W``:
        with ``L Lᵀ = M + λI`` the Hessian of the penalised least-squares surrogate, the problem in ``U`` is
        well conditioned.
        """
        n, d = rows.n_rows, rows.n_features
        K = Y.shape[1]
        LT = L.T.contiguous() if L is not None else None

        def unpack(theta):
            t = torch.from_numpy(theta.astype(np.float32))
            U = t[:d * K].reshape(d, K)
            W_ = torch.linalg.solve_triangular(LT, U, upper=True) if L is not None else U.clone()
            return W_, t[d * K:].clone()

        def fun(theta):
            W_, b_ = unpack(theta)
            logp = torch.log_softmax(rows.logits(W_, b_), dim=1)
            # accumulated in float64: near the optimum the decrease is below float32 resolution of the sum
            loss = -(logp * Y).sum(dtype=torch.float64) / n + 0.5 * lam * (W_.double() ** 2).sum()
            R = (logp.exp() - Y) / n
            gW = rows.t_matmul(R) + lam * W_
            gU = torch.linalg.solve_triangular(L, gW, upper=False) if L is not None else gW  # L⁻¹ ∂/∂W
            return float(loss), torch.cat([gU.ravel(), R.sum(0)]).numpy().astype(np.float64)

        theta0 = torch.cat([(LT @ W if L is not None else W).ravel(), b]).numpy().astype(np.float64)
        theta, n_iter = lbfgs(fun, theta0, max_iter=int(max_iter), return_iterations=True, callback=callback)
        W, b = unpack(theta)
        return W, b, n_iter

    def fit(self, X, y, n_classes=None, validation_data=None, selection_rows=None,
            second_moment=None, progress=None) -> "SoftmaxRegression":
        """Fit.

        Parameters
        ----------
        X : ndarray (n, d) or a row operator
            Standardised features (float32 is used internally), or an object with the interface of
            :class:`DenseRows` (e.g. ``StandardisedRows``, which standardises class-sorted blocks on the
            fly). The final fit uses every row.
        y : ndarray (n,)
            Integer labels in ``0..K-1``, in the row order of ``X``.
        n_classes : int or None
            ``K``; default ``y.max() + 1``.
        validation_data : tuple (X_val, y_val) or None
            Required when ``C is None``.
        selection_rows : array of int or None
            Rows of ``X`` the penalty-selection subsample is drawn from (default: all). Pass the rows that
            are not in ``validation_data`` when ``X`` contains the validation rows too.
        second_moment : ndarray (d, d) or None
            ``E[z zᵀ]`` of the standardised features, for the preconditioner (e.g. from class statistics);
            default: computed on the selection subsample (above ``_PRECOND_MAX_DIM`` features, none).
        progress : callable(step, done, total) or None
            ``"softmax: choosing the penalty"`` (one tick per path point) and ``"softmax: final fit"`` (one per
            L-BFGS iteration).

        Returns
        -------
        self
        """
        rows = X if hasattr(X, "logits") else DenseRows(X, low_precision=_use_bf16(self.precision))
        _use_bf16(self.precision)  # validates the parameter in both cases
        y = np.asarray(y, dtype=np.int64)
        K = int(n_classes if n_classes is not None else y.max() + 1)
        n, d = rows.n_rows, rows.n_features
        if y.shape != (n,):
            raise ValueError(f"y must have one label per row; got {y.shape} for {n} rows")
        Y = torch.nn.functional.one_hot(torch.from_numpy(y), K).float()
        rng = np.random.default_rng(self.random_state)
        pool = np.arange(n) if selection_rows is None else np.asarray(selection_rows, dtype=np.int64)
        size = int(self.selection_size)
        if size < d:
            # Fewer rows than features (e.g. 12,800-d Coates features): a subsample that can be fitted
            # exactly says little about the full problem's best penalty (the class docstring's carried-over
            # C assumes n > d), so the path runs on every selectable row. On CIFAR-10 Coates features this
            # path chose C = 0.029 (λ = 1e-3 on 34,000 rows); seen test accuracy 0.805.
            size = pool.size
        sub = np.sort(rng.choice(pool, size=min(pool.size, size), replace=False)) if size < pool.size else pool
        if second_moment is not None:
            M = second_moment
        elif d > _PRECOND_MAX_DIM:
            # No Gram matrix given at many features: a subsample's second moment is rank-deficient there and
            # a d × d one costs more than the iterations it saves (standardised features are already
            # diagonally preconditioned).
            M = None
        else:
            M = rows.second_moment(sub)
        W = torch.zeros(d, K)
        # Start at the log class frequencies: the optimum of the intercept-only model.
        b = torch.log(Y.mean(0).clamp_min(1e-6))
        self.path_ = []
        if self.C is not None:
            if not self.C > 0:
                raise ValueError(f"softmax C must be > 0; got {self.C!r}")
            C = float(self.C)
        else:
            if validation_data is None:
                raise ValueError("C=None needs validation_data to choose the penalty")
            Xv = torch.from_numpy(np.ascontiguousarray(validation_data[0], dtype=np.float32))
            yv = torch.from_numpy(np.asarray(validation_data[1], dtype=np.int64))
            Xsub = DenseRows(rows.take(sub), low_precision=_use_bf16(self.precision) and sub.size * d > 1e8)
            Ysub = Y[torch.from_numpy(sub)]
            ns = sub.size
            Cs = (1.0 / (np.asarray(self.DEFAULT_LAMBDAS) * ns) if self.Cs is None
                  else np.sort(np.asarray(self.Cs, dtype=float)))
            if Cs.ndim != 1 or Cs.size == 0 or (Cs <= 0).any():
                raise ValueError("Cs must be a non-empty sequence of positive numbers")
            # One preconditioner for the whole path, at its geometric middle (see the class notes).
            lambdas = 1.0 / (Cs * ns)
            L_path = self._precond(M, float(np.sqrt(lambdas.max() * lambdas.min())))
            best, rises, prev = None, 0, np.inf
            # A small path is many small operations, latency-bound (see _torch_threads); a large one is not.
            with _torch_threads(1 if sub.size * d <= 1e8 else torch.get_num_threads()):
                for j, Cj in enumerate(Cs):
                    report(progress, "softmax: choosing the penalty", j, Cs.size)
                    lam = 1.0 / (Cj * ns)
                    W, b, _ = self._lbfgs(Xsub, Ysub, W, b, lam, self.path_iter, L_path)
                    Z = torch.addmm(b, Xv, W)
                    ll = float(torch.nn.functional.cross_entropy(Z, yv))
                    acc = float((Z.argmax(1) == yv).float().mean())
                    self.path_.append((float(Cj), ll, acc))
                    if best is None or ll < best[0]:
                        best = (ll, float(Cj), W.clone(), b.clone())
                    rises = rises + 1 if ll > prev else 0
                    prev = ll
                    if rises >= 2:
                        break
            # Warm start the full fit from the subsample's best solution.
            _, C, W, b = best
        lam = 1.0 / (C * n)
        final_iter = self.max_iter if M is not None else 3 * self.max_iter
        report(progress, "softmax: final fit", 0, final_iter)
        W, b, self.n_iter_ = self._lbfgs(rows, Y, W, b, lam, final_iter, self._precond(M, lam),
                                         callback=lambda it: report(progress, "softmax: final fit", it, final_iter))
        self.C_ = C
        self.coef_ = W.numpy().copy()
        self.intercept_ = b.numpy().copy()
        self.n_classes_ = K
        self.n_features_in_ = d
        return self

    def predict_log_proba(self, X) -> np.ndarray:
        """Log class probabilities, shape (n, K)."""
        _check_fitted(self, "coef_")
        X = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
        with torch.no_grad():
            Z = torch.addmm(torch.from_numpy(self.intercept_), X, torch.from_numpy(self.coef_))
        return torch.log_softmax(Z.double(), dim=1).numpy()

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities, shape (n, K)."""
        return np.exp(self.predict_log_proba(X))

    def decision_function(self, X) -> np.ndarray:
        """Raw logits ``Xᵀ coef_ + intercept_``, shape (n, K) (what the energy score reads)."""
        _check_fitted(self, "coef_")
        X = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
        with torch.no_grad():
            Z = torch.addmm(torch.from_numpy(self.intercept_), X, torch.from_numpy(self.coef_))
        return Z.double().numpy()
