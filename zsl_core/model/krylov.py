"""Ridge maps at many features (e.g. 12,800-d Coates & Ng features), for many held-out sets at once.

Above ``statistics._PER_CLASS_GRAM_MAX_DIM`` features the class statistics keep one Gram matrix, ``G_all``, the
sum over every class's fitting rows (a 12,800-d float32 Gram matrix is 655 MB; one per class would be 6.5 GB),
and no Cholesky factorisation is done per penalty (each costs ~7·10¹¹ flops at 12,800-d). Instead:

* The ridge map onto class word vectors has a right-hand side of rank below the number of kept classes ``k``:
  ``W(α) = (G + αI)⁻¹ S T̃`` with ``S`` (d × k) the centred per-class sums and ``T̃`` the centred class targets.
  Block Lanczos on ``G`` started from ``S`` builds one Krylov basis in which ``(G + αI)⁻¹ S`` is known for
  *every* ``α`` of the grid at once (Krylov spaces are shift-invariant), so the penalty is chosen on the
  validation rows as the grid values converge (large penalties first), with no factorisation at all.
* The Gram matrix of the kept classes is never formed: ``G_kept V = G_all V - Σ_{c held out} X_cᵀ (X_c V)``,
  the held-out classes' products from their float32 rows. Every held-out set (the model's, and each of the
  45 pairs of the all-pairs matrix) advances in lockstep, sharing one product of ``G_all`` with all their
  blocks per step — compute-bound, unlike 45 separate memory-bound products.

:func:`ridge_maps` is the one solver both the model (one held-out set) and the all-pairs matrix (every pair)
call, so a pair's cell and the model fitted with that pair held out are the same computation.
"""

from __future__ import annotations

import numpy as np
import torch

from ..cache import Progress, report
from .softmax import _torch_threads

__all__ = ["ShiftedBlockLanczos", "ridge_maps", "kept_gram"]

_TYPICAL_STEPS = 60


class ShiftedBlockLanczos:
    """One block-Lanczos run for ``(A + αI) X = S`` and every shift ``α`` at once, advanced one block product
    at a time (so that many runs can share each batched product; :func:`ridge_maps`).

    Parameters
    ----------
    S : ndarray (d, m)
        Right-hand sides; the block size ``r`` is their numerical rank.
    alphas : array-like (p,)
        Shifts (> 0).
    max_steps : int

    Attributes
    ----------
    r : int
        Block size.
    steps : int
        Products taken.
    residuals : ndarray (p,)
        ``||(A + αI) X(α) - S||_F / ||S||_F`` of the current solutions (from the projected problem).
    done : bool
        Out of steps, or the Krylov space is the whole space.

    Notes
    -----
    Full re-orthogonalisation against the whole basis (a second pass when the first removed most of the new
    block) keeps the basis orthonormal in finite precision; it costs ``O(d q r)`` a step, small next to a
    ``d × d`` product while the basis size ``q = r·steps`` is far below ``d``. The basis is stored transposed
    (one vector a row, float32): contiguous row blocks made the two re-orthogonalisation products 2× faster.
    """

    def __init__(self, S, alphas, max_steps: int = 150):
        S = torch.as_tensor(np.asarray(S, dtype=np.float64))
        self.alphas = np.asarray(alphas, dtype=np.float64)
        self.norm_s = max(float(torch.linalg.norm(S)), 1e-300)
        U, sv, _ = torch.linalg.svd(S, full_matrices=False)
        self.r = r = max(int((sv > 1e-10 * max(float(sv[0]), 1e-300)).sum()), 1)
        self.d = S.shape[0]
        self.max_steps = int(max_steps)
        self._Qt = torch.zeros(min(r * 16, max(self.d, r)), self.d, dtype=torch.float32)
        self._Qt[:r] = U[:, :r].T.float()
        self._R0 = U[:, :r].T @ S                                    # (r, m)
        self._T = torch.zeros(0, 0, dtype=torch.float64)
        self._B_prev = None
        self.steps = 0
        self.residuals = np.full(self.alphas.size, np.inf)
        self.done = False

    def block(self) -> torch.Tensor:
        """The block ``V`` (d, r) float32 whose product ``A V`` :meth:`advance` needs next."""
        q0 = self.steps * self.r
        return self._Qt[q0:q0 + self.r].T.contiguous()

    def advance(self, AV) -> np.ndarray:
        """Take ``A V`` for the block of :meth:`block`, extend the basis, return the residuals (p,)."""
        r, k = self.r, self.steps
        q0, q1 = k * r, (k + 1) * r
        Qj = self._Qt[q0:q1].T.double()
        W = torch.as_tensor(AV).double()
        Aj = Qj.T @ W
        Aj = 0.5 * (Aj + Aj.T)
        W = W - Qj @ Aj
        if self._B_prev is not None:
            W -= self._Qt[q0 - r:q0].T.double() @ self._B_prev.T
        Qa = self._Qt[:q1]
        before = float(torch.linalg.norm(W))
        W -= (Qa.T @ (Qa @ W.float())).double()
        if float(torch.linalg.norm(W)) < 0.7 * before:   # DGKS: a second pass when the first removed most of W
            W -= (Qa.T @ (Qa @ W.float())).double()
        Qn, Bj = torch.linalg.qr(W)
        T = torch.zeros(q1, q1, dtype=torch.float64)
        T[:q0, :q0] = self._T
        T[q0:, q0:] = Aj
        if self._B_prev is not None:
            T[q0:, q0 - r:q0] = self._B_prev
            T[q0 - r:q0, q0:] = self._B_prev.T
        self._T = T
        theta, V = torch.linalg.eigh(T)
        self._theta, self._V = theta, V
        self._VtE = V[:r].T @ self._R0                              # Vᵀ E₁ R₀ (q, m)
        al = torch.from_numpy(self.alphas)
        Y = self._VtE[None] / (theta[None, :, None] + al[:, None, None])
        self.residuals = (torch.linalg.norm(Bj[None] @ (V[q1 - r:q1][None] @ Y), dim=(1, 2)) / self.norm_s).numpy()
        self.steps = k + 1
        if self.steps >= self.max_steps or q1 + r > self.d:
            self.done = True
        else:
            if q1 + r > self._Qt.shape[0]:
                grown = torch.zeros(min(2 * self._Qt.shape[0], self.d + r), self.d, dtype=torch.float32)
                grown[:q1] = self._Qt[:q1]
                self._Qt = grown
            self._Qt[q1:q1 + r] = Qn.T.float()
            self._B_prev = Bj
        return self.residuals

    def solve(self, j: int) -> np.ndarray:
        """The current solution ``X`` (d, m) for ``alphas[j]``."""
        q1 = self.steps * self.r
        coords = self._V @ (self._VtE / (self._theta + float(self.alphas[j]))[:, None])
        return (self._Qt[:q1].T.double() @ coords).numpy()


def _class_block(statistics, X, y, c) -> torch.Tensor:
    """The fitting rows of class ``c`` minus the statistics' shift, float32 (the precision of ``G_all``: the
    held-out products must cancel its terms exactly up to rounding, or the kept Gram is not semi-definite)."""
    rows = statistics.rows([c], y, "fit")
    block = torch.from_numpy(np.ascontiguousarray(np.take(X, rows, axis=0), dtype=np.float32))
    return block.sub_(torch.from_numpy(statistics.shift_.astype(np.float32)))


def _tmm(A: torch.Tensor, B: torch.Tensor) -> torch.Tensor:
    """``Aᵀ B`` for tall A and narrow B, as ``(Bᵀ A)ᵀ`` (several times faster in torch's CPU BLAS)."""
    return (B.T @ A).T


class _Problem:
    """One held-out set's standardised ridge problem, in the terms of the statistics."""

    def __init__(self, statistics, held_out, targets, rel_alphas, max_steps):
        C = statistics.n_classes_
        self.held_out = np.asarray(sorted(int(h) for h in held_out), dtype=np.int64)
        self.kept = np.setdiff1d(np.arange(C), self.held_out)
        self.standardiser = statistics.standardiser(self.kept)
        n_c = statistics.counts_[self.kept, 0].astype(np.float64)
        self.n = n = float(n_c.sum())
        if n < 2:
            raise ValueError("fewer than 2 fitting rows in the kept classes")
        s_c = statistics.sums_[self.kept, 0]
        self.mu = s_c.sum(0) / n                                    # mean of x - shift over the fitting rows
        self.inv = 1.0 / self.standardiser.scale_.astype(np.float64)
        T = np.asarray(targets, dtype=np.float64)[self.kept]
        self.t_mean = n_c @ T / n
        self.Tc = T - self.t_mean
        S = ((s_c - n_c[:, None] * self.mu) * self.inv).T           # (d, k): centred class sums, standardised
        q = statistics.squares_[self.kept, 0].sum(0)
        trace = float((np.maximum(q - n * self.mu ** 2, 0.0) * self.inv ** 2).sum())
        self.alpha_scale = max(trace / self.mu.size, 1e-12)
        self.rel = np.sort(np.asarray(rel_alphas, dtype=np.float64))[::-1]      # large penalties converge first
        self.alphas = self.rel * self.alpha_scale
        self.z_mean = (self.mu + statistics.shift_ - self.standardiser.mean_.astype(np.float64)) * self.inv
        self.run = ShiftedBlockLanczos(S, self.alphas, max_steps)
        self.errors = np.full(self.alphas.size, np.nan)
        self.inv32 = torch.from_numpy(self.inv.astype(np.float32))
        self.mu32 = torch.from_numpy(self.mu.astype(np.float32))
        # held-out classes that have fitting rows in these statistics (their products are subtracted)
        self.subtract = [int(c) for c in self.held_out if statistics.counts_[c, 0] > 0]
        self.finished = False

    def coef(self, j) -> np.ndarray:
        """``W`` (d, D) in standardised coordinates for grid index ``j``."""
        return self.run.solve(j) @ self.Tc

    def product(self, Z: torch.Tensor, Y: torch.Tensor) -> torch.Tensor:
        """``A V`` from ``Z = G_kept Y`` with ``Y = D⁻¹ V`` (uncentred, shifted rows): centre, scale."""
        Z = Z - self.n * torch.outer(self.mu32, self.mu32 @ Y)
        return self.inv32[:, None] * Z


def ridge_maps(statistics, X, y, held_out_sets, class_vectors, alpha=None, alphas=None, tol: float = 1e-3,
               max_steps: int = 150, progress: Progress = None, step: str = "Ridge maps") -> list:
    """The ridge map (a fitted :class:`~zsl_core.model.mapping.LinearMapping`) of every held-out set, solved
    in lockstep from ``G_all`` and the held-out classes' rows.

    Parameters
    ----------
    statistics : ClassStatistics
        With ``total_gram_`` (computed above ``_PER_CLASS_GRAM_MAX_DIM`` features).
    X : ndarray (n, d)
        The training rows the statistics were computed on (only held-out classes' fitting rows and the
        kept classes' validation rows are read).
    y : ndarray (n,)
        Their labels.
    held_out_sets : list of sequences of int
        E.g. ``[[3, 9]]`` for the model, or every pair.
    class_vectors : ndarray (C, D)
    alpha : float or None
        A fixed absolute penalty (no validation); ``None`` chooses it per set on the kept classes'
        validation rows.
    alphas : sequence of float or None
        The relative grid (``alpha = rel · trace(G) / d``), as ``LinearMapping.alphas``.
    tol : float
        Relative residual at which a grid value counts as solved and may be chosen.
    max_steps : int
    progress : callable(step, done, total) or None
        ``step``, one tick per lockstep step (out of a typical count, raised when exceeded).

    Returns
    -------
    list of (LinearMapping, Standardiser)
        Fitted on standardised features (``coef_`` in the standardiser's coordinates), in the order of
        ``held_out_sets``; ``n_steps_`` and ``residual_`` are set too.
    """
    from .mapping import _DEFAULT_REL_ALPHAS, LinearMapping

    G_all = getattr(statistics, "total_gram_", None)
    if G_all is None or not np.size(G_all):
        raise ValueError("these class statistics have no total Gram matrix (computed at or below "
                         "_PER_CLASS_GRAM_MAX_DIM features: use ridge_system)")
    X = np.asarray(X)
    y = np.asarray(y)
    if alpha is not None:
        if not (float(alpha) > 0 and np.isfinite(float(alpha))):
            raise ValueError(f"alpha must be a finite number > 0 here; got {alpha!r}")
    rel = np.asarray(_DEFAULT_REL_ALPHAS if alphas is None else alphas, dtype=np.float64)
    if rel.ndim != 1 or rel.size == 0 or (rel <= 0).any():
        raise ValueError("alphas must be a non-empty 1-D sequence of positive numbers")
    problems = [_Problem(statistics, h, class_vectors, rel if alpha is None else [1.0], max_steps)
                for h in held_out_sets]
    if alpha is not None:
        for p in problems:
            p.alphas = np.array([float(alpha)])
            p.run.alphas = p.alphas
    T = np.asarray(class_vectors, dtype=np.float64)
    G = torch.as_tensor(G_all)
    blocks = {c: _class_block(statistics, X, y, c) for c in sorted({c for p in problems for c in p.subtract})}
    # The validation rows of every class once (minus the shift); each set scores its kept classes' rows.
    val_rows = statistics.val_rows_
    Xv = torch.from_numpy(np.ascontiguousarray(np.take(X, val_rows, axis=0), dtype=np.float32))
    Xv.sub_(torch.from_numpy(statistics.shift_.astype(np.float32)))
    yv = y[val_rows]

    def val_error(p, j):
        # f(x) = ((x' - μ) / s) W + t̄ with x' = x - shift: one float32 product over the validation rows.
        Xs = torch.from_numpy(p.run.solve(j) * p.inv[:, None]).float()       # D⁻¹ X (d, k)
        rows = np.flatnonzero(np.isin(yv, p.kept))
        # every validation row, then the kept ones: gathering the rows first would copy ~300 MB per call
        P = (Xv @ Xs).double().numpy()[rows] - p.mu @ Xs.double().numpy()
        pred = P @ p.Tc + p.t_mean
        return float(((pred - T[yv[rows]]) ** 2).sum() / max(rows.size, 1))

    def check(p):
        res = p.run.residuals
        errs = p.errors
        if alpha is not None:
            return bool(res[0] <= tol or p.run.done)
        for j in np.flatnonzero((res <= tol) & np.isnan(errs)):
            errs[j] = val_error(p, j)
        solved = ~np.isnan(errs)
        if solved.all() or p.run.done:
            for j in np.flatnonzero(~solved):        # out of steps: score what there is
                errs[j] = val_error(p, j)
            return True
        if solved.any():
            best = int(np.nanargmin(errs))
            # The grid descends: the next smaller penalty solved and worse brackets the minimum (the
            # validation error is unimodal in log α in practice; the engine's grid search assumes the same).
            return best + 1 < errs.size and solved[best + 1]
        return False

    steps = 0
    while True:
        active = [p for p in problems if not p.finished]
        if not active:
            break
        steps += 1
        Y = torch.cat([p.run.block() * p.inv32[:, None] for p in active], 1)
        offsets = np.concatenate([[0], np.cumsum([p.run.r for p in active])])
        Z = G @ Y
        for c, Xc in blocks.items():
            cols = [torch.arange(int(offsets[i]), int(offsets[i + 1])) for i, p in enumerate(active) if c in p.subtract]
            if cols:
                cols = torch.cat(cols)
                Z[:, cols] -= _tmm(Xc, Xc @ Y[:, cols])
        with _torch_threads(1):  # small dense algebra: latency-bound on a shared machine
            for i, p in enumerate(active):
                sl = slice(int(offsets[i]), int(offsets[i + 1]))
                p.run.advance(p.product(Z[:, sl], Y[:, sl]))
                p.finished = check(p)
        # Out of a typical count (on CIFAR-10 Coates features every set converged in 53-56 steps), raised when
        # exceeded, so that the progress bar's time left means something.
        running = any(not p.finished for p in problems)
        expected = min(max(_TYPICAL_STEPS, steps + 5), max_steps) if running else steps
        report(progress, step, steps, expected)

    out = []
    for p in problems:
        j = 0 if alpha is not None else int(np.nanargmin(p.errors))
        mapping = LinearMapping(alpha=alpha, alphas=alphas)
        W = p.coef(j)
        mapping.coef_ = W
        mapping.intercept_ = p.t_mean - p.z_mean @ W
        mapping.alpha_ = float(p.alphas[j])
        if alpha is None:
            order = np.argsort(p.alphas)                 # ascending, as LinearMapping reports its grid
            mapping.alphas_ = p.alphas[order]
            mapping.validation_errors_ = p.errors[order]
        mapping.n_features_in_ = p.mu.size
        mapping.n_steps_ = p.run.steps
        mapping.residual_ = float(p.run.residuals[j])
        out.append((mapping, p.standardiser))
    return out


def kept_gram(statistics, X, y, classes, standardiser) -> np.ndarray:
    """``Σ (z - z̄)(z - z̄)ᵀ / n`` over the fitting rows of ``classes``, standardised (float32, d × d):
    ``G_all`` minus the other classes' Gram matrices (float32 products of their rows), centred and scaled.
    The preconditioner of the seen softmax at many features."""
    classes = np.asarray(classes, dtype=np.int64)
    G = torch.as_tensor(statistics.total_gram_).clone()
    others = [c for c in range(statistics.n_classes_) if c not in set(classes.tolist())
              and statistics.counts_[c, 0] > 0]
    for c in others:
        Xc = _class_block(statistics, X, y, c)
        G.sub_(Xc.T @ Xc)
        del Xc
    n_c = statistics.counts_[classes, 0].astype(np.float64)
    n = float(n_c.sum())
    mu = torch.from_numpy((statistics.sums_[classes, 0].sum(0) / n).astype(np.float32))
    G.addr_(mu, mu, alpha=-n)
    inv = torch.from_numpy((1.0 / standardiser.scale_.astype(np.float64)).astype(np.float32))
    G.mul_(inv[:, None]).mul_(inv[None, :]).div_(n)
    return G.numpy()
