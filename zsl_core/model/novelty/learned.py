"""A novelty gate learned on the seen classes only (in the spirit of COSMO, Atzmon & Chechik 2019).

The gate combines the novelty scores of several detectors into one (a logistic regression) and learns where
to put the threshold. Both are learned on *pseudo-unseen splits* of the seen classes: some seen classes are
held out in turn, the model's pieces are refitted on the others, and the held-out (validation) images of
both groups are scored (:mod:`zsl_core.model.pseudo_unseen` builds that table). No test image and no image
of a real unseen class is read.

Transfer from the pseudo splits to the deployed model goes through seen images only: every score is
normalised against the held-out seen images of its own model (median and inter-quartile range), and the
threshold is learned as a *false-novel rate* ``q_`` on held-out seen images, which :meth:`calibrate` turns
into a threshold on the deployed model's own held-out seen images.

References
----------
Y. Atzmon, G. Chechik. *Adaptive Confidence Smoothing for Generalized Zero-Shot Learning.* CVPR 2019.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit, log_expit

from ..base import check_is_fitted
from ..persistence import register
from .base import _check_F, _ScoreDetector

__all__ = ["LearnedGate", "gate_objective", "robust_scale"]


def robust_scale(S) -> tuple[np.ndarray, np.ndarray]:
    """Median and inter-quartile range of every column of ``S`` (n, m) (a zero range becomes 1)."""
    q25, q50, q75 = np.quantile(np.asarray(S, dtype=np.float64), [0.25, 0.5, 0.75], axis=0)
    iqr = q75 - q25
    return q50, np.where(iqr > 1e-12, iqr, 1.0)


def gate_objective(flagged, novel, seen_correct, unseen_correct, unseen_prior=0.2):
    """Expected accuracy ``(1 - π) acc_seen + π acc_unseen`` of a hard gate on one labelled split.

    Parameters
    ----------
    flagged : ndarray (n,) or (t, n), bool
        Called novel (one row per threshold).
    novel : ndarray (n,), bool
        The row's class is (pseudo-)unseen.
    seen_correct, unseen_correct : ndarray (n,), bool
        The seen softmax / the nearest unseen prototype answers right.
    unseen_prior : float
        ``π``, the share of images of unseen classes expected at deployment.

    Returns
    -------
    value, acc_seen, acc_unseen : ndarrays (t,)
    """
    flagged = np.atleast_2d(flagged)
    acc_s = (seen_correct[~novel][None, :] & ~flagged[:, ~novel]).mean(1)
    acc_u = (unseen_correct[novel][None, :] & flagged[:, novel]).mean(1)
    return (1 - unseen_prior) * acc_s + unseen_prior * acc_u, acc_s, acc_u


@register
class LearnedGate(_ScoreDetector):
    """Logistic combination of normalised novelty scores with a learned false-novel rate.

    Parameters
    ----------
    components : tuple of str
        Registry names of the detectors whose novelty scores are combined (the classifier fits them). Every
        single detector by default: the weights say what each adds, and one fit then scores them all (the
        evaluation's detector table reads them from it).
    k : int, default 2
        Seen classes held out as pseudo-unseen in each split.
    max_splits : int or None, default 8
        At most this many of the ``C(S, k)`` splits (a seeded sample): each split refits the seen softmax,
        and 8 of the 28 splits of 8 seen classes chose gates as good as all 28 did (issue 10's study).
    C : float, default 1.0
        Inverse L2 strength of the logistic regression (the intercept is not penalised).
    target : {'branch', 'novel'}, default 'branch'
        What the logistic regression predicts. ``'novel'``: the row's class is pseudo-unseen (seen and novel
        rows weigh half each per split). ``'branch'``: which branch of the hard gate answers right — novel
        rows the unseen branch gets right against seen rows the softmax gets right, rows both get wrong left
        out, novel rows weighing ``unseen_prior`` — a smooth surrogate of the expected overall accuracy.
    unseen_prior : float, default 0.2
        ``π``: the share of unseen-class images expected (2 of 10 balanced classes on CIFAR-10); the threshold
        maximises ``(1 - π) acc_seen + π acc_unseen`` averaged over the splits.
    rates : array-like or None
        Candidate false-novel rates; default 0, 0.005, ..., 0.6.
    random_state : int, default 0
        Seeds the choice of splits.
    contamination : float, default 0.1
        Unused by the gate's own threshold (``threshold_`` is learned); kept for the shared offset API.

    Attributes
    ----------
    components_ : dict[str, detector]
        The fitted component detectors of the deployed model (set by the classifier).
    coef_ : ndarray (m,)
        Weights of the normalised scores (positive = more novel).
    intercept_ : float
    q_ : float
        The learned false-novel rate on held-out seen images.
    component_rates_ : ndarray (m,)
        The rate each component would get on its own (for comparing single detectors at a seen-only threshold).
    rate_curve_ : ndarray (n_rates, 3)
        Mean (objective, acc_seen, acc_unseen) over the splits at every candidate rate.
    validation_ : dict[str, float]
        Seen-only cross-validated expected overall accuracy of every component alone and of the gate
        (``'learned'``), see :meth:`_cross_validate`; NaN without ``held_out``.
    split_auroc_ : ndarray (n_splits,)
        AUROC of the combined score on every pseudo split (in-sample).
    center_, scale_ : ndarray (m,)
        After :meth:`calibrate`: the deployed model's normaliser.
    threshold_ : float
        After :meth:`calibrate`: novel iff ``novelty_score > threshold_``.
    component_thresholds_ : ndarray (m,)
        After :meth:`calibrate`: each component's threshold at its own learned rate.
    """

    input = "scores"
    label = "Learned gate (combination fitted on pseudo-unseen seen classes)"
    description = ("Combines the other detectors' scores and sets the threshold on seen classes held out in turn "
                   "as pseudo-unseen; never reads an unseen image.")

    def __init__(self, components=("max_softmax", "entropy", "energy", "cosine_knn", "relative_mahalanobis",
                                   "relative_word", "gaussian", "loop"),
                 k=2, max_splits=8, C=1.0, target="branch", unseen_prior=0.2, rates=None, random_state=0,
                 contamination=0.1):
        self.components = components
        self.k = k
        self.max_splits = max_splits
        self.C = C
        self.target = target
        self.unseen_prior = unseen_prior
        self.rates = rates
        self.random_state = random_state
        self.contamination = contamination

    def _check_params(self):
        if not self.C > 0:
            raise ValueError(f"C must be > 0; got {self.C!r}")
        if not 0 < self.unseen_prior < 1:
            raise ValueError(f"unseen_prior must be in (0, 1); got {self.unseen_prior!r}")
        if self.target not in ("branch", "novel"):
            raise ValueError(f"target must be 'branch' or 'novel'; got {self.target!r}")
        if not self.components or len(set(self.components)) != len(self.components):
            raise ValueError("components must name at least one detector, each once")

    def fit(self, scores, y, *, groups, seen_correct, unseen_correct, held_out=None):
        """Learn the combination and the false-novel rate on pseudo-unseen splits.

        Parameters
        ----------
        scores : array-like of shape (n, m)
            Raw novelty scores (higher = more novel) of the held-out images of every pseudo split, one column
            per component; each split is normalised against its own seen rows here.
        y : array-like of shape (n,), bool
            The row's class is pseudo-unseen in its split.
        groups : array-like of shape (n,)
            Split id of every row.
        seen_correct, unseen_correct : array-like of shape (n,), bool
            Whether the split's seen softmax / nearest pseudo-unseen prototype answers right.
        held_out : dict or None
            ``split id -> its pseudo-unseen classes``; enables the seen-only cross-validation
            (``validation_``).

        Returns
        -------
        self
        """
        self._check_params()
        S = _check_F(scores, name="scores")
        novel = np.asarray(y, dtype=bool)
        groups = np.asarray(groups)
        seen_correct = np.asarray(seen_correct, dtype=bool)
        unseen_correct = np.asarray(unseen_correct, dtype=bool)
        if any(a.shape != (S.shape[0],) for a in (novel, groups, seen_correct, unseen_correct)):
            raise ValueError("y, groups, seen_correct and unseen_correct need one entry per row of scores")
        if S.shape[1] != len(self.components):
            raise ValueError(f"scores has {S.shape[1]} columns for {len(self.components)} components")
        ids = np.unique(groups)
        Z = np.empty_like(S)
        w = np.empty(S.shape[0])
        prior = self.unseen_prior if self.target == "branch" else 0.5
        for g in ids:
            r = groups == g
            if not (novel[r].any() and (~novel[r]).any()):
                raise ValueError(f"split {g!r} needs both seen and pseudo-unseen rows")
            c, s = robust_scale(S[r & ~novel])
            Z[r] = (S[r] - c) / s
            # Every split weighs the same; within it, novel rows weigh π in all (½ for target='novel').
            w[r & novel] = prior / (r & novel).sum()
            w[r & ~novel] = (1 - prior) / (r & ~novel).sum()
        if self.target == "branch":
            w = np.where((novel & unseen_correct) | (~novel & seen_correct), w, 0.0)
        w /= w.sum()
        self.coef_, self.intercept_ = self._logistic(Z, novel.astype(np.float64), w)
        rates = np.linspace(0, 0.6, 121) if self.rates is None else np.asarray(self.rates, dtype=np.float64)
        self.rates_ = rates
        self.rate_curve_, self.split_auroc_ = self._rate_curve(Z @ self.coef_, novel, groups, seen_correct,
                                                               unseen_correct, rates)
        self.q_ = float(rates[int(np.argmax(self.rate_curve_[:, 0]))])
        self.component_rates_ = np.array([
            rates[int(np.argmax(self._rate_curve(Z[:, j], novel, groups, seen_correct, unseen_correct,
                                                 rates)[0][:, 0]))] for j in range(S.shape[1])])
        self.validation_ = self._cross_validate(Z, novel, groups, seen_correct, unseen_correct, w, rates,
                                               held_out)
        self.n_features_in_ = S.shape[1]
        return self

    def fit_unsplit(self, n_components: int, rate: float):
        """The fallback when too few classes are seen to hold any out (2 seen classes): equal weights on the
        normalised scores, and ``rate`` (the classifier's ``seen_false_novel``) as the false-novel rate.

        Returns
        -------
        self
        """
        self._check_params()
        self.coef_, self.intercept_ = np.full(n_components, 1.0 / n_components), 0.0
        self.rates_ = np.array([rate])
        self.rate_curve_, self.split_auroc_ = np.zeros((0, 3)), np.zeros(0)
        self.q_ = float(rate)
        self.component_rates_ = np.full(n_components, float(rate))
        self.validation_ = {n: float("nan") for n in list(self.components) + ["learned"]}
        self.n_features_in_ = n_components
        return self

    def _cross_validate(self, Z, novel, groups, seen_correct, unseen_correct, w, rates, held_out) -> dict:
        """Seen-only validation of the gate against each component alone, by leaving classes out.

        For every split, the combination and the rates are learned on the splits that share none of its
        pseudo-unseen classes, and the expected overall accuracy (the threshold's objective) is measured on
        it. Returns ``{component: value, 'learned': value}`` (means over the splits; NaN when no split has a
        disjoint partner). What decides the default detector: only seen classes' images are read.
        """
        ids = np.unique(groups)
        names = list(self.components) + ["learned"]
        values = {n: [] for n in names}
        if held_out is None:
            return {n: float("nan") for n in names}
        held = {g: frozenset(held_out[g]) for g in ids}
        for g in ids:
            train = np.isin(groups, [h for h in ids if h != g and not (held[h] & held[g])])
            if not train.any():
                continue
            test = groups == g
            coef, icpt = self._logistic(Z[train], novel[train].astype(np.float64), w[train] / w[train].sum())
            for j, name in enumerate(names):
                col = Z @ coef if name == "learned" else Z[:, j]
                curve, _ = self._rate_curve(col[train], novel[train], groups[train], seen_correct[train],
                                            unseen_correct[train], rates)
                q = rates[int(np.argmax(curve[:, 0]))]
                c, nv = col[test], novel[test]
                t = np.quantile(c[~nv], 1 - q)
                val, _, _ = gate_objective(c > t, nv, seen_correct[test], unseen_correct[test], self.unseen_prior)
                values[name].append(float(val[0]))
        return {n: float(np.mean(v)) if v else float("nan") for n, v in values.items()}

    def _rate_curve(self, comb, novel, groups, seen_correct, unseen_correct, rates):
        ids = np.unique(groups)
        curve = np.zeros((rates.size, 3))
        aucs = []
        for g in ids:
            r = groups == g
            c, nv = comb[r], novel[r]
            t = np.quantile(c[~nv], 1 - rates)
            val, a_s, a_u = gate_objective(c[None, :] > t[:, None], nv, seen_correct[r], unseen_correct[r],
                                           self.unseen_prior)
            curve += np.stack([val, a_s, a_u], 1) / ids.size
            aucs.append(_auroc(c[nv], c[~nv]))
        return curve, np.asarray(aucs)

    def _logistic(self, Z, y, w):
        """Weighted L2 logistic regression (intercept unpenalised) by L-BFGS; returns (coef, intercept)."""
        m = Z.shape[1]
        lam = 1.0 / (self.C * max(int((w > 0).sum()), 1))

        def f(theta):
            b, a = theta[:m], theta[m]
            z = Z @ b + a
            loss = -(w * (y * log_expit(z) + (1 - y) * log_expit(-z))).sum() + 0.5 * lam * b @ b
            r = w * (expit(z) - y)
            return loss, np.concatenate([Z.T @ r + lam * b, [r.sum()]])

        res = minimize(f, np.zeros(m + 1), jac=True, method="L-BFGS-B", options={"maxiter": 500})
        return res.x[:m], float(res.x[m])

    def calibrate(self, seen_scores):
        """Fix the normaliser and the threshold on the deployed model's held-out *seen* images.

        Parameters
        ----------
        seen_scores : array-like of shape (n_seen, m)
            The components' novelty scores of held-out images of the deployed model's seen classes.

        Returns
        -------
        self
        """
        check_is_fitted(self, "q_")
        S = _check_F(seen_scores, self.n_features_in_, "seen_scores")
        self.center_, self.scale_ = robust_scale(S)
        ref = self.novelty_score(S)
        self.threshold_ = float(np.quantile(ref, 1 - self.q_))
        self.component_thresholds_ = np.array([np.quantile(S[:, j], 1 - self.component_rates_[j])
                                               for j in range(S.shape[1])])
        self._finish_fit(-ref)
        self.offset_ = -self.threshold_
        return self

    def score_samples(self, scores) -> np.ndarray:
        """Minus the combined novelty: higher = more familiar.

        Parameters
        ----------
        scores : array-like of shape (n, m)
            The components' novelty scores (see :meth:`component_scores`).

        Returns
        -------
        ndarray of shape (n,)
        """
        check_is_fitted(self, "center_")
        S = _check_F(scores, self.n_features_in_, "scores")
        return -(((S - self.center_) / self.scale_) @ self.coef_ + self.intercept_)

    def component_scores(self, inputs: dict) -> np.ndarray:
        """The components' novelty scores, shape (n, m), from the inputs by kind (``{'mapped': F, ...}``)."""
        check_is_fitted(self, "components_")
        return np.stack([np.asarray(self.components_[name].novelty_score(inputs[self.components_[name].input]),
                                    dtype=np.float64) for name in self.components], 1)


def _auroc(pos, neg) -> float:
    from scipy.stats import rankdata
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    r = rankdata(np.concatenate([pos, neg]))
    return float((r[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))
