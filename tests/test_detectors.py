"""The added novelty detectors: hand-computed small cases, planted outliers, the learned gate on a known table."""

import math

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from zsl_core.model.novelty import (DETECTORS, CosineKNNDetector, EnergyDetector, GaussianNoveltyDetector,
                                    LearnedGate, MahalanobisDetector, MaxSoftmaxDetector, RelativeWordDetector,
                                    SoftmaxEntropyDetector)
from zsl_core.model.persistence import estimator_state, load_estimator
from zsl_core.model.pseudo_unseen import pseudo_unseen_splits


# -- seen-softmax scores -----------------------------------------------------------------------------------
def test_logit_scores_hand_computed():
    L = np.array([[0.0, 0.0], [math.log(3), 0.0], [10.0, 10.0]])
    msp = MaxSoftmaxDetector().fit(L)
    np.testing.assert_allclose(msp.score_samples(L), [0.5, 0.75, 0.5])
    ent = SoftmaxEntropyDetector().fit(L)
    np.testing.assert_allclose(ent.score_samples(L), [-math.log(2), 0.75 * math.log(0.75) + 0.25 * math.log(0.25),
                                                      -math.log(2)])
    # Energy keeps the logits' scale: (10, 10) is as unsure as (0, 0) but far more excited.
    en = EnergyDetector().fit(L)
    np.testing.assert_allclose(en.score_samples(L), [math.log(2), math.log(4), 10 + math.log(2)])
    np.testing.assert_allclose(EnergyDetector(temperature=2).fit(L).score_samples(L[:1]), [2 * math.log(2)])
    np.testing.assert_allclose(msp.novelty_score(L), -msp.score_samples(L))


@pytest.mark.parametrize("cls", [MaxSoftmaxDetector, SoftmaxEntropyDetector, EnergyDetector])
def test_logit_scores_flag_planted_flat_rows(cls):
    rng = np.random.default_rng(0)
    peaked = rng.normal(size=(300, 5))
    peaked[np.arange(300), rng.integers(0, 5, 300)] += 6  # confident seen images
    flat = rng.normal(scale=0.3, size=(30, 5))            # no class stands out
    det = cls().fit(peaked[:200])
    nov = det.novelty_score(np.vstack([peaked[200:], flat]))
    assert roc_auc_score(np.r_[np.zeros(100), np.ones(30)], nov) > 0.95
    assert det.predict(flat).mean() < 0  # mostly -1 (novel)
    assert np.all((det.novelty_probability(flat) >= 0) & (det.novelty_probability(flat) <= 1))


# -- feature-space scores ----------------------------------------------------------------------------------
def test_cosine_knn_hand_computed_and_scale_free():
    ref = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]])
    det = CosineKNNDetector(n_neighbors=1).fit(ref, np.array([0, 1, 0]))
    # (1, 1) is at 45° from both axes: ||x̂ - r̂||² = 2 - 2 cos 45°.
    np.testing.assert_allclose(det.score_samples([[1.0, 1.0]]), [-math.sqrt(2 - math.sqrt(2))], rtol=1e-3)
    np.testing.assert_allclose(det.score_samples([[5.0, 0.0], [0.0, 0.1]]), [0.0, 0.0], atol=1e-3)
    # The nearest row of each class: class 0 lies along x, class 1 along y.
    np.testing.assert_allclose(det.class_distances([[0.0, 3.0]]), [[math.sqrt(2), 0.0]], atol=1e-3)
    with pytest.raises(ValueError, match="n_neighbors"):
        CosineKNNDetector(n_neighbors=0).fit(ref)


def test_cosine_knn_ranks_planted_outliers_last():
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(4, 20)) * 3
    X = np.abs(centres[rng.integers(0, 4, 600)] + rng.normal(size=(600, 20)))
    out = np.abs(rng.normal(size=(20, 20)) * 3)  # directions of no class
    det = CosineKNNDetector(n_neighbors=3, max_reference=400).fit(X[:500])
    assert det.reference_.shape == (400, 20)
    nov = det.novelty_score(np.vstack([X[500:], out]))
    assert roc_auc_score(np.r_[np.zeros(100), np.ones(20)], nov) > 0.9


def _two_class_moments():
    cross = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]])
    X = np.vstack([cross + [-1.0, 0.0], cross + [1.0, 0.0]])
    y = np.repeat([0, 1], 4)
    return X, y


def test_relative_mahalanobis_hand_computed():
    # Within-class covariance 0.5 I; class means (∓1, 0); all rows: covariance diag(1.5, 0.5).
    # x = (3, 0): MD_1 = 2² / 0.5 = 8, MD_0 = 3² / 1.5 = 6  ->  relative score -(8 - 6) = -2; plain -8.
    X, y = _two_class_moments()
    rel = MahalanobisDetector(reg=1e-9).fit(X, y)
    np.testing.assert_allclose(rel.score_samples([[3.0, 0.0]]), [-2.0], rtol=1e-6)
    plain = MahalanobisDetector(relative=False, reg=1e-9).fit(X, y)
    np.testing.assert_allclose(plain.score_samples([[3.0, 0.0]]), [-8.0], rtol=1e-6)
    # The same from sufficient statistics taken around a shift.
    shift = np.array([0.5, -2.0])
    Xs = X - shift
    mom = MahalanobisDetector(reg=1e-9).fit_moments(
        [4, 4], [Xs[y == c].sum(0) for c in (0, 1)], [Xs[y == c].T @ Xs[y == c] for c in (0, 1)], shift)
    np.testing.assert_allclose(mom.score_samples([[3.0, 0.0], [0.0, 5.0]]), rel.score_samples([[3.0, 0.0], [0.0, 5.0]]),
                               rtol=1e-6)
    with pytest.raises(ValueError, match="max_features"):
        MahalanobisDetector(max_features=1).fit(X, y)


# -- the relative word-space score -------------------------------------------------------------------------
def test_relative_word_score_hand_computed_and_keeps_unusual_points_seen():
    Ps, Pu = np.array([[0.0, 0.0]]), np.array([[4.0, 0.0]])
    F = np.array([[1.0, 0.0], [3.0, 0.0], [0.0, 100.0]])
    det = RelativeWordDetector(sigma2=1.0).fit(F[:1], [0], seen_prototypes=Ps, unseen_prototypes=Pu)
    # (1, 0): -1/2 - (-9/2) = 4;  (3, 0): -9/2 - (-1/2) = -4;  (0, 100): -5000 - (-(16 + 10⁴)/2) = 8.
    np.testing.assert_allclose(det.score_samples(F), [4.0, -4.0, 8.0])
    # The paper's absolute density calls the unusual point (0, 100) novel; the relative score keeps it seen.
    gauss = GaussianNoveltyDetector().fit(np.array([[0.5, 0.0], [-0.5, 0.0]]), [0, 0], Ps)
    assert gauss.predict(F[2:]) == -1 and det.score_samples(F[2:]) > 0
    est = RelativeWordDetector().fit(np.array([[1.0, 1.0], [-1.0, -1.0]]), [0, 0], seen_prototypes=Ps,
                                     unseen_prototypes=Pu)
    assert est.sigma2_ == pytest.approx(1.0)  # mean squared distance per dimension to the own prototype


# -- the learned gate --------------------------------------------------------------------------------------
def _table(rng, n_splits=6, n=400):
    rows = []
    for g in range(n_splits):
        novel = rng.random(n) < 0.3
        good = rng.normal(size=n) + 2.5 * novel      # informative score
        noise = rng.normal(size=n) * 5 + 100 * g     # uninformative, on a split-specific scale
        rows.append((np.c_[good, noise], novel, np.full(n, g)))
    S, novel, groups = (np.concatenate(a) for a in zip(*rows))
    seen_correct = ~novel & (rng.random(S.shape[0]) < 0.9)
    unseen_correct = novel & (rng.random(S.shape[0]) < 0.6)
    return S, novel, groups, seen_correct, unseen_correct


def test_learned_gate_weights_the_informative_score_and_learns_a_rate():
    rng = np.random.default_rng(0)
    S, novel, groups, sc, uc = _table(rng)
    held = {g: (2 * g % 6, (2 * g + 1) % 6) for g in range(6)}  # split g holds classes {2g, 2g+1} mod 6
    gate = LearnedGate(components=("a", "b")).fit(S, novel, groups=groups, seen_correct=sc, unseen_correct=uc,
                                                  held_out=held)
    assert gate.coef_[0] > 5 * abs(gate.coef_[1])
    assert 0 < gate.q_ < 0.6
    assert set(gate.validation_) == {"a", "b", "learned"}
    assert gate.validation_["a"] > gate.validation_["b"]
    seen_rows = S[~novel][:500] - [0, 100 * 9]  # a new model: other scale for the noise column
    gate.calibrate(seen_rows)
    assert np.mean(gate.novelty_score(seen_rows) > gate.threshold_) == pytest.approx(gate.q_, abs=0.01)
    again = load_estimator(estimator_state(gate))
    np.testing.assert_allclose(again.novelty_score(seen_rows), gate.novelty_score(seen_rows))


def test_learned_gate_rejects_bad_tables():
    rng = np.random.default_rng(0)
    S, novel, groups, sc, uc = _table(rng, n_splits=2)
    with pytest.raises(ValueError, match="columns"):
        LearnedGate(components=("a",)).fit(S, novel, groups=groups, seen_correct=sc, unseen_correct=uc)
    with pytest.raises(ValueError, match="pseudo-unseen rows"):
        LearnedGate(components=("a", "b")).fit(S, np.zeros_like(novel), groups=groups, seen_correct=sc,
                                               unseen_correct=uc)
    with pytest.raises(ValueError, match="target"):
        LearnedGate(components=("a", "b"), target="x").fit(S, novel, groups=groups, seen_correct=sc,
                                                           unseen_correct=uc)


def test_pseudo_unseen_splits_cover_classes_evenly():
    splits = pseudo_unseen_splits(8, 2, max_splits=8)
    assert len(splits) == 8 and len(set(splits)) == 8
    counts = np.bincount(np.ravel(splits), minlength=8)
    assert counts.min() >= 1 and counts.max() <= 3
    assert len(pseudo_unseen_splits(4, 2)) == 6
    with pytest.raises(ValueError, match="at least 2"):
        pseudo_unseen_splits(3, 2)


def test_every_detector_is_labelled_and_the_papers_are_marked():
    for name, cls in DETECTORS.items():
        assert cls.label and cls.description, name
        assert cls.input in ("mapped", "logits", "features", "scores")
    assert {n for n, c in DETECTORS.items() if c.paper} == {"gaussian", "loop"}
