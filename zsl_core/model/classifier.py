"""The zero-shot classifier of Socher et al. (2013): softmax for seen classes, Gaussians for unseen, Eq. 2 gate.

.. math:: P(y \\mid x) = P(y \\mid V{=}s, x)\\,P(V{=}s \\mid x) + P(y \\mid V{=}u, x)\\,P(V{=}u \\mid x)

* ``P(y | V=s, x)``: multinomial logistic regression (L2) on the standardised image features, seen classes.
* ``P(y | V=u, x)``: isometric Gaussians with a shared variance around the unseen classes' word vectors
  (by default projected onto the span the map can reach and calibrated, see ``unseen_centers``),
  evaluated at the mapped point ``f = θ(x)`` (so its argmax is the nearest unseen centre).
* ``P(V=u | x)``: ``gate='hard'``: 1 if ``novelty_score(f) > threshold`` else 0 (the paper's threshold on the
  Gaussian marginal likelihood, or on the LoOP probability); ``gate='mixture'``: the detector's
  ``novelty_probability`` (the LoOP probability; for the Gaussian detector its LoOP-style normalisation).

References
----------
R. Socher, M. Ganjoo, H. Sridhar, O. Bastani, C. D. Manning, A. Y. Ng. *Zero-Shot Learning Through
Cross-Modal Transfer.* NIPS 2013.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from ..cache import Progress, report
from .base import check_is_fitted
from .krylov import kept_gram, ridge_maps
from .mapping import MAPPINGS, LinearMapping, RidgeSystem
from .novelty import DETECTORS, LearnedGate
from .pseudo_unseen import ModelPieces, detector_inputs, fit_detectors, fit_novelty_softmax, pseudo_unseen_table
from .softmax import SoftmaxRegression
from .statistics import ClassStatistics
from .persistence import register

__all__ = ["ZSLScores", "ZeroShotClassifier", "GATES", "UNSEEN_CENTERS", "prototype_map", "apply_prototype_map"]

#: The ways Eq. 2 joins the seen and unseen classifiers: name -> label.
GATES = {"hard": "Hard gate (a threshold on the novelty score)", "mixture": "Mixture weighted by the novelty probability"}
UNSEEN_CENTERS = ("word", "projected", "calibrated")

@dataclass
class ZSLScores:
    """Everything the gate needs, computed once; re-thresholding needs no model call.

    Attributes
    ----------
    seen_proba : ndarray (n, C)
        ``P(y | V=s, x)``; zeros in the unseen columns.
    unseen_proba : ndarray (n, C)
        ``P(y | V=u, x)``; zeros in the seen columns.
    novelty : ndarray (n,)
        The detector's ``novelty_score`` (higher = more novel; novel iff ``novelty > threshold``).
    novelty_probability : ndarray (n,)
        ``P(V=u | x)`` for the mixture gate, in [0, 1].
    mapped : ndarray (n, D)
        ``θ(x)`` in word space.
    """

    seen_proba: np.ndarray
    unseen_proba: np.ndarray
    novelty: np.ndarray
    novelty_probability: np.ndarray
    mapped: np.ndarray

    def __len__(self) -> int:
        return int(self.novelty.shape[0])

    def subset(self, rows) -> "ZSLScores":
        """The scores of some rows (index array or boolean mask)."""
        return ZSLScores(self.seen_proba[rows], self.unseen_proba[rows], self.novelty[rows],
                         self.novelty_probability[rows], self.mapped[rows])


def prototype_map(W_seen, centroids, kind):
    """The affine rule ``w -> m + s · P(w - μ)`` that turns a word vector into an unseen-class centre.

    ``P`` projects onto the span of the seen word vectors' differences (``μ`` their mean): a linear map fitted
    to seen-class targets (and, very nearly, the tanh net, whose output layer is trained on them) can only
    produce points in that affine span, so the component of an unseen word vector outside it is a
    class-specific constant in every squared distance — it biases the nearest-vector rule towards the
    unseen classes closest to the span and carries no information about the image. ``s`` and ``m`` come
    from the held-out seen images: their per-class mapped centroids ``c_y`` regressed on ``w_y - μ``
    (``s = Σ <c_y - m, w_y - μ> / Σ ||w_y - μ||²``, ``m`` = mean of the ``c_y``) — the L2 penalty pulls mapped
    points towards the mean, and an unseen class's images are pulled the same way.
    """
    W_seen = np.asarray(W_seen, dtype=np.float64)
    mu = W_seen.mean(0)
    if kind == "word":
        return {"kind": kind, "mu": mu, "basis": None, "m": mu, "s": 1.0}
    Dm = W_seen - mu
    _, sv, vt = np.linalg.svd(Dm, full_matrices=False)
    basis = vt[sv > 1e-10 * max(sv.max(initial=0), 1e-300)]
    if kind == "projected":
        return {"kind": kind, "mu": mu, "basis": basis, "m": mu, "s": 1.0}
    cent = np.asarray(centroids, dtype=np.float64)
    m = cent.mean(0)
    s = float(np.sum((cent - m) * Dm) / max(np.sum(Dm * Dm), 1e-300))
    return {"kind": kind, "mu": mu, "basis": basis, "m": m, "s": s}


def apply_prototype_map(pm, V):
    V = np.atleast_2d(np.asarray(V, dtype=np.float64))
    if pm["kind"] == "word":
        return V.copy()
    P = (V - pm["mu"]) @ pm["basis"].T @ pm["basis"]
    return pm["m"] + pm["s"] * P


@register
class ZeroShotClassifier:
    """Zero-shot classifier through cross-modal transfer (Socher et al. 2013).

    Parameters
    ----------
    word_vectors : zsl_core.semantic.WordVectors or None
        Source of the class word vectors (``word_vectors.class_vectors(class_names)``); may be ``None`` when
        ``class_vectors`` is passed to :meth:`fit`.
    mapping : {'linear', 'mlp'}, default 'linear'
        θ: ridge regression (:class:`~zsl_core.mapping.LinearMapping`) or the paper's 2-layer tanh net
        (:class:`~zsl_core.mapping.TanhMLPMapping`).
    novelty : str, default 'gaussian'
        A name in ``novelty.DETECTORS``: the paper's word-space detectors (``'gaussian'``: Eq. 3, ``'loop'``:
        LoOP with k=20, λ=3), scores of the seen softmax (``'max_softmax'``, ``'entropy'``, ``'energy'``),
        of the image features (``'cosine_knn'``, ``'relative_mahalanobis'``), the relative word score
        (``'relative_word'``), or ``'learned'``: a combination of them fitted on pseudo-unseen splits of the
        seen classes, which also learns its own threshold (``threshold_`` then comes from it, not from
        ``seen_false_novel``).
    gate : {'hard', 'mixture'}, default 'hard'
        ``'hard'``: ``P(V=u|x) = [novelty_score > threshold]``. ``'mixture'``: ``P(V=u|x)`` =
        ``novelty_probability`` (the threshold is then not used by :meth:`predict_proba`/:meth:`predict`).
    threshold : float or None, default None
        Novel iff ``novelty_score > threshold``. ``None`` picks ``threshold_`` without any unseen image: the
        ``1 - seen_false_novel`` quantile of the novelty scores of held-out *seen* validation images.
    seen_false_novel : float in [0, 1), default 0.35
        Fraction of held-out seen images the default threshold calls novel. 0.35 was chosen with a
        pseudo-unseen protocol on CIFAR-10 EfficientNet features that never touched test images or the real
        unseen classes: with 2 of the 8 seen classes held out as pseudo-unseen (5 pairs, linear and MLP
        maps), the threshold of best harmonic mean H flagged 28–47 % (median 36 %) of held-out seen images,
        and flagging 30–40 % came within 0.02 of the best H, where 10 % lost 0.1–0.4. It trades seen
        accuracy for unseen accuracy; lower it when unseen images are rare.
    validation_fraction : float, default 0.15
        Stratified share of the seen training rows held out. They choose the ridge penalty / weight decay
        and the softmax penalty, calibrate the detector (``calibration='validation'``), and set
        ``threshold_``. The mapping is *not* refitted on them; the softmax is (see Notes).
    calibration : {'validation', 'train'}, default 'validation'
        Which mapped points the detector is fitted on: the held-out validation images (the mapping never saw
        them, so their spread matches test images) or the mapping's own training images (the paper; their
        mapped points are too tight, so too much is called novel).
    softmax_C : float or None, default None
        Inverse L2 strength of the seen softmax (scikit-learn's ``C``); ``None`` chooses it on validation.
    unseen_centers : {'calibrated', 'projected', 'word'}, default 'calibrated'
        Centres of the unseen classes' Gaussians. ``'word'``: the word vectors (the paper). ``'projected'``:
        their projections onto the affine span of the seen classes' word vectors, where every mapped point
        lies (see :meth:`prototypes`). ``'calibrated'``: those projections shrunk towards the mean of the
        mapped held-out seen images by the factor the seen classes show (ridge shrinks by ~0.7 on CIFAR-10).
        On the pseudo-unseen protocol (5 held-out pairs among the 8 seen classes, linear map) the 2-way
        unseen accuracy was 0.79 / 0.89 / 0.90 for word / projected / calibrated (dog vs automobile: 0.58 /
        0.89 / 0.93). Uses only seen images and the unseen classes' word vectors.
    mapping_params, novelty_params, softmax_params : dict or None
        Extra keyword arguments for the mapping / detector / softmax constructors (e.g. ``{'alpha': 10.0}``,
        ``{'centers': 'centroid'}``, ``{'max_reference': 5000}``, ``{'max_iter': 50}``).
    random_state : int, default 0

    Attributes
    ----------
    class_names_ : list[str] (C,)
    seen_, unseen_ : ndarray of int64
        Indices into ``class_names_``.
    class_vectors_ : ndarray (C, D)
    mean_, scale_ : ndarray (d,)
        Standardisation of the features (seen training rows).
    mapping_ : LinearMapping or TanhMLPMapping
    softmax_ : SoftmaxRegression
        Over the seen classes, in the order of ``seen_``.
    detector_ : a detector of ``novelty.DETECTORS``
    novelty_softmax_ : SoftmaxRegression
        Only for detectors that read logits: a seen softmax fitted on the fitting part alone (see
        :mod:`zsl_core.model.pseudo_unseen`).
    unseen_centers_ : ndarray (U, D)
        Centres of the unseen classes' Gaussians (rows in the order of ``unseen_``).
    prototype_map_ : dict
        The rule behind ``unseen_centers_`` (see :meth:`prototypes`).
    unseen_sigma2_ : float
        Shared variance of the unseen Gaussians: the mean squared distance per dimension of held-out mapped
        seen points to their own class's centre under the same rule.
    threshold_ : float
    validation_novelty_ : ndarray (n_val,)
        Novelty scores of the held-out seen images (leave-one-out for LoOP when they are its reference).
    validation_mapped_ : ndarray (n_val, D)
        The held-out seen images mapped into word space.
    validation_labels_ : ndarray (n_val,)
        Their classes (indices into ``class_names_``).
    fit_time_ : dict[str, float]
        Seconds spent per stage.

    Notes
    -----
    The mapping is fitted on the training part only: the detector's variances are calibrated on mapped
    points the mapping never saw, and stay valid only for that mapping, so it is not refitted on the
    validation rows afterwards (losing 15 % of its rows costs little; refitting would also double the cost
    of the MLP). The softmax's penalty is chosen against the validation part, after which the softmax is
    refitted on every seen row, since nothing downstream needs its held-out outputs.
    """

    def __init__(self, word_vectors=None, mapping="linear", novelty="gaussian", gate="hard", threshold=None,
                 seen_false_novel=0.35, validation_fraction=0.15, calibration="validation", softmax_C=None,
                 unseen_centers="calibrated", mapping_params=None, novelty_params=None, softmax_params=None,
                 random_state=0):
        self.word_vectors = word_vectors
        self.mapping = mapping
        self.novelty = novelty
        self.gate = gate
        self.threshold = threshold
        self.seen_false_novel = seen_false_novel
        self.validation_fraction = validation_fraction
        self.calibration = calibration
        self.softmax_C = softmax_C
        self.unseen_centers = unseen_centers
        self.mapping_params = mapping_params
        self.novelty_params = novelty_params
        self.softmax_params = softmax_params
        self.random_state = random_state

    def get_params(self) -> dict:
        """The constructor arguments (scikit-learn style)."""
        return {k: getattr(self, k) for k in (
            "word_vectors", "mapping", "novelty", "gate", "threshold", "seen_false_novel",
            "validation_fraction", "calibration", "softmax_C", "unseen_centers", "mapping_params", "novelty_params",
            "softmax_params", "random_state")}

    # -- validation of the call ----------------------------------------------------------------------------
    def _check_params(self):
        if self.mapping not in MAPPINGS:
            raise ValueError(f"mapping must be one of {sorted(MAPPINGS)}; got {self.mapping!r}")
        if self.novelty not in DETECTORS:
            raise ValueError(f"novelty must be one of {sorted(DETECTORS)}; got {self.novelty!r}")
        if self.gate not in GATES:
            raise ValueError(f"gate must be one of {sorted(GATES)}; got {self.gate!r}")
        if self.calibration not in ("validation", "train"):
            raise ValueError(f"calibration must be 'validation' or 'train'; got {self.calibration!r}")
        if not 0 < self.validation_fraction < 1:
            raise ValueError(f"validation_fraction must be in (0, 1); got {self.validation_fraction!r}")
        if self.unseen_centers not in UNSEEN_CENTERS:
            raise ValueError(f"unseen_centers must be one of {UNSEEN_CENTERS}; got {self.unseen_centers!r}")
        if not 0 <= self.seen_false_novel < 1:
            raise ValueError(f"seen_false_novel must be in [0, 1); got {self.seen_false_novel!r}")
        if self.threshold is not None and not isinstance(self.threshold, (int, float, np.floating, np.integer)):
            raise ValueError(f"threshold must be a number or None; got {self.threshold!r}")

    @staticmethod
    def _resolve_unseen(unseen, class_names):
        if isinstance(unseen, (str, int, np.integer)):
            unseen = [unseen]
        idx = []
        for u in unseen:
            if isinstance(u, (int, np.integer)) and not isinstance(u, bool):
                if not 0 <= u < len(class_names):
                    raise ValueError(f"unseen class index {u} is out of range 0..{len(class_names) - 1}")
                idx.append(int(u))
            elif isinstance(u, str):
                if u not in class_names:
                    raise ValueError(f"unknown unseen class {u!r}; the class names are {list(class_names)}")
                idx.append(class_names.index(u))
            else:
                raise ValueError(f"unseen must hold class names or indices; got {u!r}")
        return np.array(sorted(set(idx)), dtype=np.int64)

    # -- fitting -------------------------------------------------------------------------------------------
    def fit(self, X, y, class_names, unseen, class_vectors=None, statistics=None, progress: Progress = None,
            like=None):
        """Fit on the seen classes' images only.

        Parameters
        ----------
        X : array-like of shape (n, d)
            Image features of the training images (any classes; unseen-class rows are never read).
        y : array-like of shape (n,)
            Labels, indices into ``class_names``.
        class_names : sequence of str (C,)
        unseen : sequence of str or int
            The held-out (zero-shot) classes, by name or index.
        class_vectors : array-like of shape (C, D) or None
            Word vectors of the classes; default ``word_vectors.class_vectors(class_names)``.
        statistics : ClassStatistics or None
            Per-class sufficient statistics of ``X`` on its fixed fitting / validation split (see
            :mod:`zsl_core.model.statistics`), e.g. computed once per feature set and cached. With them the
            ridge map is solved without reading the fitting rows, and with rows attached
            (``attach_rows``) the softmax reads the seen rows in place. ``None`` computes them here over the
            seen classes' rows (the same split, so the same result).
        progress : callable(step, done, total) or None
        like : ZeroShotClassifier or None
            A model fitted on the same data with the same map and softmax settings (it may differ in the
            novelty detector, its calibration, the gate, the threshold and the unseen centres): its map θ and
            softmax are reused rather than refitted (with 12,800-d features they are minutes of work).

        Returns
        -------
        self
        """
        t_start = time.perf_counter()
        if like is not None:
            self._check_like(like, class_names, unseen)
        fitted = self.fit_mapping(X, y, class_names, unseen, class_vectors, statistics, progress,
                                  fitted_mapping=None if like is None else like.mapping_)
        times = dict(self.fit_time_)
        X, y, seen_idx, local = fitted["X"], fitted["y"], self.seen_, fitted["local"]
        Xval, yval, F_val, W_seen = fitted["Xval"], fitted["yval"], fitted["F_val"], fitted["W_seen"]
        statistics, standardiser = fitted["statistics"], fitted["standardiser"]

        report(progress, "softmax", 2, 4)
        t = time.perf_counter()
        softmax_ = SoftmaxRegression(**{"C": self.softmax_C, "random_state": self.random_state,
                                        **(self.softmax_params or {})})
        if like is not None:
            softmax_ = like.softmax_
        elif getattr(statistics, "rows_", None) is not None:
            # The seen rows read in place from the class-sorted copy (no gather, no standardised copy).
            Xs = statistics.rows_.standardised(seen_idx, standardiser)
            ys, selection = local[Xs.labels], np.flatnonzero(~Xs.is_validation)
        else:
            # Every seen row, the fitting part first: C is chosen on the fitting part against the validation
            # part, then the softmax is refitted on all of them (the logit detectors get their own softmax).
            rows = np.concatenate([fitted["fit_rows"], fitted["val_rows"]])
            Xs = standardiser.transform(np.take(X, rows, axis=0))
            ys, selection = local[y[rows]], np.arange(fitted["fit_rows"].size)
        # The preconditioner: the covariance of z over the fitting rows, already summed for a ridge map.
        if like is None:
            M = fitted["system"].G / max(fitted["n_fit"], 1) if fitted["system"] is not None else None
            if M is None and fitted["gram"] is not None:
                M = fitted["gram"]()  # many features: the same covariance, built from G_all
            softmax_.fit(Xs, ys, n_classes=seen_idx.size, selection_rows=selection, second_moment=M,
                         validation_data=None if self.softmax_C is not None else (Xval, yval), progress=progress)
            del Xs
        else:
            # The reused softmax's preconditioner is not rebuilt (12,800-d: minutes); a detector that needs its
            # own softmax (logits) then preconditions it on a subsample.
            M = fitted["system"].G / max(fitted["n_fit"], 1) if fitted["system"] is not None else None
        self.softmax_ = softmax_
        times["softmax"] = time.perf_counter() - t

        report(progress, "novelty detector", 3, 4)
        t = time.perf_counter()
        pieces = ModelPieces(X=X, y=y, seen=seen_idx, local=local, fit_rows=fitted["fit_rows"],
                             val_rows=fitted["val_rows"], standardiser=standardiser, mapping=self.mapping_,
                             softmax=None, statistics=statistics, seen_vectors=W_seen,
                             seen_prototypes=self.prototypes(W_seen), unseen_prototypes=self.unseen_centers_)
        learned = DETECTORS[self.novelty] is LearnedGate
        gate = LearnedGate(**(self.novelty_params or {})) if learned else None
        names = list(gate.components) if learned else [self.novelty]
        if learned:
            gate._check_params()
            unknown = [n for n in names if n not in DETECTORS or DETECTORS[n] is LearnedGate]
            if unknown:
                raise ValueError(f"the learned gate's components must be single detectors of {sorted(DETECTORS)};"
                                 f" got {unknown}")
        kinds = {DETECTORS[n].input for n in names}
        if "logits" in kinds:
            # A softmax that never saw the validation rows: their logits then look like a test image's.
            pieces.softmax = self.novelty_softmax_ = fit_novelty_softmax(pieces, softmax_.C_, M, self.random_state)
        Xv_raw = np.take(X, fitted["val_rows"], axis=0)
        val_inputs = detector_inputs(kinds, Xv_raw, Xval, F_val, pieces.softmax)
        params = {} if learned else {self.novelty: self.novelty_params or {}}
        detectors, val_scores = fit_detectors(names, params, pieces, self.calibration, val_inputs)
        if learned:
            # Hold out fewer classes at a time when few are seen (3 seen: one at a time); with 2 seen none can
            # be held out, and the gate falls back to equal weights (see LearnedGate.fit_unsplit).
            k = min(gate.k, seen_idx.size - 2)
            if k >= 1:
                table = pseudo_unseen_table(self, pieces, names, params, softmax_.C_, k, gate.max_splits,
                                            gate.random_state, progress)
                gate.fit(table["scores"], table["novel"], groups=table["groups"],
                         seen_correct=table["seen_correct"], unseen_correct=table["unseen_correct"],
                         held_out=table["held_out"])
            else:
                gate.fit_unsplit(len(names), self.seen_false_novel)
            gate.components_ = detectors
            detector = gate.calibrate(val_scores)
            val_novelty = gate.novelty_score(val_scores)
        else:
            detector, val_novelty = detectors[self.novelty], val_scores[:, 0]
        times["novelty"] = time.perf_counter() - t

        self.detector_ = detector
        self.validation_novelty_ = np.asarray(val_novelty, dtype=np.float64)
        self.validation_mapped_ = F_val
        self.validation_labels_ = seen_idx[yval]
        if self.threshold is None and learned:
            self.threshold_ = float(gate.threshold_)  # learned on the pseudo-unseen splits
        elif self.threshold is None:
            self.threshold_ = float(np.quantile(self.validation_novelty_, 1 - self.seen_false_novel))
        else:
            self.threshold_ = float(self.threshold)
        times["total"] = time.perf_counter() - t_start
        self.fit_time_ = times
        report(progress, "done", 4, 4)
        return self

    def _check_like(self, like, class_names, unseen):
        check_is_fitted(like, "softmax_")
        shared = ("mapping", "mapping_params", "softmax_C", "softmax_params", "random_state", "validation_fraction")
        if (type(like) is not type(self) or any(getattr(like, k) != getattr(self, k) for k in shared)
                or list(like.class_names_) != [str(c) for c in class_names]
                or list(like.unseen_) != list(self._resolve_unseen(unseen, [str(c) for c in class_names]))):
            raise ValueError("like= must be a model fitted on the same classes and held-out set with the same "
                             f"{', '.join(shared)}")

    def fit_mapping(self, X, y, class_names, unseen, class_vectors=None, statistics=None,
                    progress: Progress = None, fitted_mapping=None) -> dict:
        """The first half of :meth:`fit`: the standardisation, the map θ and the unseen-class prototypes.

        This is all a 2-way zero-shot figure needs (the all-pairs matrix calls it once per pair), so a pair's
        cell of that matrix and the model fitted with that pair held out are one computation. Sets
        ``class_names_``, ``seen_``, ``unseen_``, ``class_vectors_``, ``mean_``, ``scale_``, ``mapping_``,
        ``prototype_map_``, ``unseen_centers_``, ``unseen_sigma2_``, ``n_features_in_``; parameters as in
:meth:`fit`. ``fitted_mapping``: the map of this held-out set already fitted, used as is (the
        all-pairs matrix solves every pair's ridge map in one lockstep run of ``krylov.ridge_maps``; ``fit(like=)``
        passes the map of a model that differs only in its novelty detector).

        Returns
        -------
        dict
            Intermediate results :meth:`fit` continues from (validation rows, their mapped points, ...).
        """
        t_start = time.perf_counter()
        self._check_params()
        class_names = [str(c) for c in class_names]
        C = len(class_names)
        if len(set(class_names)) != C:
            raise ValueError("class_names must be unique")
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"X must be a 2-D array (n_images, n_features); got shape {X.shape}")
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != X.shape[0]:
            raise ValueError(f"X and y must have the same number of rows; got X {X.shape} and y {y.shape}")
        if y.size and (not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= C):
            raise ValueError(f"y must hold integer class indices in 0..{C - 1} (into class_names)")
        unseen_idx = self._resolve_unseen(unseen, class_names)
        if unseen_idx.size == 0:
            raise ValueError("at least one unseen class is needed (unseen=[...] names the zero-shot classes)")
        seen_idx = np.setdiff1d(np.arange(C), unseen_idx)
        if seen_idx.size < 2:
            raise ValueError(f"at least 2 seen classes are needed; {C} classes with {unseen_idx.size} unseen"
                             f" leave {seen_idx.size}")
        if class_vectors is None:
            if self.word_vectors is None:
                raise ValueError("no class vectors: pass word_vectors=WordVectors.from_glove_package() to the"
                                 " constructor or class_vectors=(C, D) array to fit")
            class_vectors = self.word_vectors.class_vectors(class_names)
        class_vectors = np.asarray(class_vectors, dtype=np.float64)
        if class_vectors.ndim != 2 or class_vectors.shape[0] != C:
            raise ValueError(f"class_vectors must have shape ({C}, D), one row per class; got {class_vectors.shape}")
        counts = np.bincount(y, minlength=C)[seen_idx]
        if (counts < 2).any():
            missing = [class_names[seen_idx[i]] for i in np.flatnonzero(counts < 2)]
            raise ValueError(f"every seen class needs at least 2 training images (for the validation split);"
                             f" too few for {missing}")

        report(progress, "class statistics", 0, 4)
        if statistics is None:
            # Only the seen rows are read; the split of each class does not depend on the others.
            seen_rows = np.flatnonzero(np.isin(y, seen_idx))
            # From here on X and y are the seen rows alone, the coordinates these statistics index, so the
            # learned gate's pseudo-unseen models can reuse them.
            X, y = np.take(X, seen_rows, axis=0), y[seen_rows]
            statistics = ClassStatistics(self.validation_fraction, self.random_state).fit(
                X, y, n_classes=C, grams=self.mapping == "linear")
            X_stats, y_stats = X, y
            fit_rows = statistics.rows(seen_idx, y, "fit")
            val_rows = statistics.rows(seen_idx, y, "val")
        else:
            if statistics.n_features_in_ != X.shape[1] or statistics.n_classes_ != C:
                raise ValueError(f"statistics were computed for {statistics.n_classes_} classes x "
                                 f"{statistics.n_features_in_} features; X has {X.shape[1]} features, {C} classes")
            if (statistics.validation_fraction, statistics.random_state) != (self.validation_fraction,
                                                                             self.random_state):
                raise ValueError("statistics were computed on another split (validation_fraction / random_state)")
            X_stats, y_stats = X, y
            fit_rows = statistics.rows(seen_idx, y, "fit")
            val_rows = statistics.rows(seen_idx, y, "val")
        standardiser = statistics.standardiser(seen_idx)
        local = np.full(C, -1, dtype=np.int64)
        local[seen_idx] = np.arange(seen_idx.size)
        yval = local[y[val_rows]]
        Xval = standardiser.transform(np.take(X, val_rows, axis=0))
        W_seen = class_vectors[seen_idx]
        times = {"prepare": time.perf_counter() - t_start}

        report(progress, "mapping", 1, 4)
        t = time.perf_counter()
        mapping = MAPPINGS[self.mapping](**(self.mapping_params or {}))
        if "random_state" in mapping.__dict__ and "random_state" not in (self.mapping_params or {}):
            mapping.random_state = self.random_state
        system, n_fit, gram = None, fit_rows.size, None
        if isinstance(mapping, LinearMapping) and statistics.large:
            # Many features: the Krylov solver from the total Gram matrix (no d × d factorisation).
            if fitted_mapping is None:
                params = self.mapping_params or {}
                fitted_mapping = ridge_maps(statistics, X_stats, y_stats, [unseen_idx], class_vectors,
                                            alpha=params.get("alpha"), alphas=params.get("alphas"),
                                            progress=progress, step="mapping (Krylov ridge)")[0][0]
            mapping = fitted_mapping
            # The softmax's preconditioner: the seen classes' covariance (kept classes' Gram from G_all).
            gram = lambda: kept_gram(statistics, X_stats, y_stats, seen_idx, standardiser)  # noqa: E731
        elif fitted_mapping is not None:
            mapping = fitted_mapping  # e.g. the same model with another novelty detector (fit(like=...))
        elif isinstance(mapping, LinearMapping):
            # Solved from the class statistics: no pass over the fitting rows.
            G, B, z_mean, t_mean, n_fit = statistics.ridge_system(seen_idx, W_seen, standardiser)
            system = RidgeSystem(G, B, z_mean, t_mean)
            # The penalty's validation errors as quadratic forms in the validation sums when they were kept.
            validation = statistics.ridge_validation(seen_idx, W_seen, standardiser, z_mean, t_mean)
            mapping.fit_system(system, validation_data=validation or (Xval, W_seen[yval]))
        else:  # the tanh net needs the rows (minutes of training: report every epoch)
            Xtr = standardiser.transform(np.take(X, fit_rows, axis=0))
            mapping.fit(Xtr, W_seen[local[y[fit_rows]]], validation_data=(Xval, W_seen[yval]), progress=progress)
            del Xtr
        F_val = mapping.predict(Xval)
        times["mapping"] = time.perf_counter() - t

        D = class_vectors.shape[1]
        centroids = np.stack([F_val[yval == c].mean(0) for c in range(seen_idx.size)])
        self.prototype_map_ = prototype_map(W_seen, centroids, self.unseen_centers)
        own = apply_prototype_map(self.prototype_map_, W_seen)[yval]
        self.unseen_sigma2_ = float(max(((F_val - own) ** 2).sum(1).mean() / D, 1e-12))
        self.unseen_centers_ = apply_prototype_map(self.prototype_map_, class_vectors[unseen_idx])
        self.class_names_ = class_names
        self.seen_ = seen_idx
        self.unseen_ = unseen_idx
        self.class_vectors_ = class_vectors
        self.mean_, self.scale_ = standardiser.mean_, standardiser.scale_
        self.mapping_ = mapping
        self.n_features_in_ = X.shape[1]
        self.fit_time_ = times
        return {"X": X, "y": y, "local": local, "Xval": Xval, "yval": yval, "F_val": F_val, "W_seen": W_seen,
                "statistics": statistics, "standardiser": standardiser, "fit_rows": fit_rows,
                "val_rows": val_rows, "system": system, "n_fit": n_fit, "gram": gram}

    # -- scoring -------------------------------------------------------------------------------------------
    def _standardise(self, X) -> np.ndarray:
        check_is_fitted(self, "mapping_")
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(f"X must have shape (n, {self.n_features_in_}); got {X.shape}")
        X = np.ascontiguousarray(X, dtype=np.float32)
        return (X - self.mean_) / self.scale_

    def map(self, X) -> np.ndarray:
        """θ(x): image features → word space.

        Parameters
        ----------
        X : array-like of shape (n, d)

        Returns
        -------
        ndarray of shape (n, D)
        """
        return self.mapping_.predict(self._standardise(X))

    def _novelty_kinds(self) -> set:
        det = self.detector_
        if det.input == "scores":
            return {c.input for c in det.components_.values()}
        return {det.input}

    def detector_inputs(self, X) -> dict:
        """What the detectors read, for some images: ``{'features', 'mapped'[, 'logits']}`` arrays."""
        Xs = self._standardise(X)
        return detector_inputs(self._novelty_kinds(), np.asarray(X), Xs, self.mapping_.predict(Xs),
                               getattr(self, "novelty_softmax_", None))

    def _detector_input(self, inputs: dict):
        det = self.detector_
        return det.component_scores(inputs) if det.input == "scores" else inputs[det.input]

    def novelty_score(self, X) -> np.ndarray:
        """Higher = more novel; novel iff ``novelty_score > threshold``. Shape (n,)."""
        check_is_fitted(self, "detector_")
        return self.detector_.novelty_score(self._detector_input(self.detector_inputs(X)))

    def component_novelty(self, X) -> dict:
        """The learned gate's components' novelty scores of some images: ``{name: (n,)}`` (empty otherwise)."""
        check_is_fitted(self, "detector_")
        if self.detector_.input != "scores":
            return {}
        S = self.detector_.component_scores(self.detector_inputs(X))
        return {name: S[:, j] for j, name in enumerate(self.detector_.components)}

    def unseen_log_proba(self, F, extra_centers=None) -> np.ndarray:
        """``log P(y | V=u, f)`` over the unseen classes (columns in the order of ``unseen_``), shape (n, U).

        ``extra_centers`` (E, D), e.g. ``prototypes(vectors)`` of words a user typed, join the candidates
        without any refitting: the result then has ``U + E`` columns, the extra ones last.
        """
        check_is_fitted(self, "mapping_")
        Wu = self.unseen_centers_
        if extra_centers is not None and len(extra_centers):
            Wu = np.vstack([Wu, np.asarray(extra_centers, dtype=np.float64)])
        F = np.atleast_2d(np.asarray(F, dtype=np.float64))
        sq = ((F[:, None, :] - Wu[None, :, :]) ** 2).sum(2)
        logits = -sq / (2 * self.unseen_sigma2_)
        return logits - logsumexp(logits, axis=1, keepdims=True)

    def prototypes(self, vectors) -> np.ndarray:
        """Where the unseen classifier centres the Gaussian of a class with these word vectors.

        Parameters
        ----------
        vectors : array-like of shape (k, D)
            Word vectors (unseen classes, or distractor words).

        Returns
        -------
        ndarray of shape (k, D)
            The vectors themselves (``unseen_centers='word'``), their projections onto the affine span of the
            seen classes' word vectors (``'projected'``), or those projections shrunk like the mapped
            validation images (``'calibrated'``).
        """
        check_is_fitted(self, "mapping_")
        return apply_prototype_map(self.prototype_map_, np.asarray(vectors, dtype=np.float64))

    def decompose(self, X) -> ZSLScores:
        """All the quantities of Eq. 2 for some images, computed once.

        Parameters
        ----------
        X : array-like of shape (n, d)

        Returns
        -------
        ZSLScores
        """
        Xs = self._standardise(X)
        F = self.mapping_.predict(Xs)
        Z = self._detector_input(detector_inputs(self._novelty_kinds(), np.asarray(X), Xs, F,
                                                 getattr(self, "novelty_softmax_", None)))
        n, C = Xs.shape[0], len(self.class_names_)
        seen_proba = np.zeros((n, C))
        seen_proba[:, self.seen_] = self.softmax_.predict_proba(Xs)
        unseen_proba = np.zeros((n, C))
        unseen_proba[:, self.unseen_] = np.exp(self.unseen_log_proba(F))
        return ZSLScores(seen_proba=seen_proba, unseen_proba=unseen_proba,
                         novelty=np.asarray(self.detector_.novelty_score(Z), dtype=np.float64),
                         novelty_probability=np.asarray(self.detector_.novelty_probability(Z), dtype=np.float64),
                         mapped=F)

    def proba_from_scores(self, scores: ZSLScores, threshold=None) -> np.ndarray:
        """Eq. 2 from precomputed scores; moving the threshold needs no model call.

        Parameters
        ----------
        scores : ZSLScores
        threshold : float or None
            ``None`` uses ``threshold_``. Ignored by the mixture gate.

        Returns
        -------
        ndarray of shape (n, C); rows sum to 1
        """
        check_is_fitted(self, "threshold_")
        if self.gate == "mixture":
            p = np.clip(scores.novelty_probability, 0, 1)[:, None]
        else:
            t = self.threshold_ if threshold is None else float(threshold)
            p = (scores.novelty > t).astype(np.float64)[:, None]
        return (1 - p) * scores.seen_proba + p * scores.unseen_proba

    def predict_from_scores(self, scores: ZSLScores, threshold=None) -> np.ndarray:
        """Class indices (into ``class_names_``) from precomputed scores, shape (n,)."""
        return np.argmax(self.proba_from_scores(scores, threshold), axis=1).astype(np.int64)

    def predict_proba(self, X, threshold=None) -> np.ndarray:
        """``P(y | x)`` over all C classes (Eq. 2), shape (n, C)."""
        return self.proba_from_scores(self.decompose(X), threshold)

    def predict(self, X, threshold=None) -> np.ndarray:
        """Most probable class (index into ``class_names_``), shape (n,)."""
        return self.predict_from_scores(self.decompose(X), threshold)

    def score(self, X, y, threshold=None) -> float:
        """Accuracy over all images of ``X`` (seen and unseen classes)."""
        y = np.asarray(y)
        return float(np.mean(self.predict(X, threshold) == y))
