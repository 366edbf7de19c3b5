"""Novelty detectors: hand-computed LoOP, Gaussian likelihood against scipy, planted outliers, the offset API."""

import math

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.metrics import roc_auc_score

from zsl_core.model.novelty import GaussianNoveltyDetector, LoOPNoveltyDetector, knn

SQUARE = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [5.0, 5.0]])


def test_loop_hand_computed():
    # k = 2, λ = 3. Each corner of the unit square has two neighbours at distance 1:
    #   pdist = 3 * sqrt((1 + 1) / 2) = 3,  PLOF = 3 / 3 - 1 = 0.
    # (5, 5): neighbours (1, 1) at d² = 32 and (1, 0) or (0, 1) at d² = 41 (both have pdist 3):
    #   pdist = 3 * sqrt(36.5),  PLOF = sqrt(36.5) - 1.
    # nPLOF = 3 * sqrt(mean PLOF²) = 3 * PLOF_far / sqrt(5);  LoOP_far = erf(PLOF / (nPLOF √2)) = erf(√5 / (3 √2)).
    det = LoOPNoveltyDetector(n_neighbors=2, lambda_=3).fit(SQUARE)
    plof_far = math.sqrt(36.5) - 1
    np.testing.assert_allclose(det.reference_pdist_, [3, 3, 3, 3, 3 * math.sqrt(36.5)])
    np.testing.assert_allclose(det.reference_plof_, [0, 0, 0, 0, plof_far], atol=1e-12)
    nplof = 3 * math.sqrt(plof_far ** 2 / 5)
    assert det.nplof_ == pytest.approx(nplof)
    loop_far = math.erf(math.sqrt(5) / (3 * math.sqrt(2)))
    np.testing.assert_allclose(np.clip(det.reference_novelty_, 0, 1), [0, 0, 0, 0, loop_far], atol=1e-12)

    # Queries. (2, 2): neighbours (1, 1) (d² = 2) and a corner at d² = 5, both with pdist 3:
    #   PLOF = 3 sqrt(3.5) / 3 - 1.  (0.5, 0.5): two corners at d² = 0.5: PLOF = sqrt(0.5) - 1 < 0 -> LoOP 0.
    q = np.array([[2.0, 2.0], [0.5, 0.5]])
    plof_q = np.array([math.sqrt(3.5) - 1, math.sqrt(0.5) - 1])
    np.testing.assert_allclose(det.plof(q), plof_q, atol=1e-9)
    expected = [math.erf(plof_q[0] / (nplof * math.sqrt(2))), 0.0]
    np.testing.assert_allclose(det.novelty_probability(q), expected, atol=1e-9)
    np.testing.assert_allclose(det.loop(q), expected, atol=1e-9)
    np.testing.assert_allclose(det.novelty_score(q), [expected[0], math.erf(plof_q[1] / (nplof * math.sqrt(2)))],
                               atol=1e-9)
    np.testing.assert_allclose(det.score_samples(q), -plof_q / (nplof * math.sqrt(2)), atol=1e-9)


def _loop_reference(R, Q, k, lam):
    """Direct transcription of Kriegel et al. (2009) with explicit loops."""
    def nbrs(p, exclude):
        d = [(float(np.sum((p - r) ** 2)), j) for j, r in enumerate(R) if j != exclude]
        return sorted(d)[:k]

    pd_ref = []
    nb_ref = []
    for i, r in enumerate(R):
        nb = nbrs(r, i)
        nb_ref.append([j for _, j in nb])
        pd_ref.append(lam * math.sqrt(sum(d for d, _ in nb) / k))
    plof_ref = [pd_ref[i] / np.mean([pd_ref[j] for j in nb_ref[i]]) - 1 for i in range(len(R))]
    nplof = lam * math.sqrt(np.mean(np.square(plof_ref)))
    out = []
    for q in Q:
        nb = nbrs(q, -1)
        pd = lam * math.sqrt(sum(d for d, _ in nb) / k)
        plof = pd / np.mean([pd_ref[j] for _, j in nb]) - 1
        out.append(max(0.0, math.erf(plof / (nplof * math.sqrt(2)))))
    return np.array(out)


def test_loop_matches_loop_reference_on_random_points():
    rng = np.random.default_rng(0)
    R = rng.normal(size=(40, 3))
    Q = rng.normal(size=(15, 3)) * 2
    det = LoOPNoveltyDetector(n_neighbors=5, lambda_=3).fit(R)
    np.testing.assert_allclose(det.novelty_probability(Q), _loop_reference(R, Q, 5, 3.0), atol=1e-6)


def test_knn_matches_brute_force_and_excludes_self_by_index():
    rng = np.random.default_rng(1)
    R = rng.normal(size=(300, 4))
    R[10] = R[11]  # a duplicate: each must still be the other's neighbour at distance 0
    d, i = knn(R, R, 3, exclude_self=True, chunk_size=64)
    D = np.sqrt(((R[:, None] - R[None]) ** 2).sum(2))
    np.fill_diagonal(D, np.inf)
    np.testing.assert_allclose(d, np.sort(D, axis=1)[:, :3], atol=1e-5)
    assert i[10, 0] == 11 and i[11, 0] == 10 and d[10, 0] == 0


def _planted_classes(seed=0, n_per=200, D=10, S=3, sigma=0.5, n_out=30):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(S, D)) * 3
    y = np.repeat(np.arange(S), n_per)
    F = centers[y] + sigma * rng.normal(size=(y.size, D))
    inl = centers[rng.integers(0, S, 300)] + sigma * rng.normal(size=(300, D))
    out = rng.uniform(-8, 8, size=(n_out, D))
    return F, y, centers, inl, out


def test_gaussian_log_likelihood_equals_scipy_mixture():
    F, y, centers, inl, out = _planted_classes()
    det = GaussianNoveltyDetector().fit(F, y, centers)
    Q = np.vstack([inl[:5], out[:5]])
    D = F.shape[1]
    comps = [np.log(np.mean(y == c)) + multivariate_normal(centers[c], det.sigma2_[c] * np.eye(D)).logpdf(Q)
             for c in range(3)]
    np.testing.assert_allclose(det.score_samples(Q), logsumexp(comps, axis=0), rtol=1e-10)
    np.testing.assert_allclose(det.novelty_score(Q), -det.score_samples(Q))
    # Maximum likelihood variance for a fixed centre: the mean squared distance per dimension.
    for c in range(3):
        assert det.sigma2_[c] == pytest.approx(((F[y == c] - centers[c]) ** 2).sum(1).mean() / D)
    assert det.sigma2_ == pytest.approx(np.full(3, 0.25), rel=0.1)


@pytest.mark.parametrize("detector", [GaussianNoveltyDetector(), LoOPNoveltyDetector(n_neighbors=20)])
def test_planted_outliers_rank_as_novel(detector):
    F, y, centers, inl, out = _planted_classes(seed=2)
    detector.fit(F, y, centers)
    scores = detector.novelty_score(np.vstack([inl, out]))
    labels = np.r_[np.zeros(len(inl)), np.ones(len(out))]
    assert roc_auc_score(labels, scores) > 0.95
    p = detector.novelty_probability(np.vstack([inl, out]))
    assert (p >= 0).all() and (p <= 1).all()
    assert np.median(p[len(inl):]) > 0.5 > np.median(p[:len(inl)])


@pytest.mark.parametrize("detector", [GaussianNoveltyDetector(contamination=0.2),
                                      LoOPNoveltyDetector(n_neighbors=10, contamination=0.2)])
def test_offset_api(detector):
    F, y, centers, inl, out = _planted_classes(seed=3)
    detector.fit(F, y, centers)
    # contamination flags that fraction of the fitting points
    assert np.mean(detector.reference_scores_ < detector.offset_) == pytest.approx(0.2, abs=0.01)
    Q = np.vstack([inl, out])
    np.testing.assert_allclose(detector.decision_function(Q), detector.score_samples(Q) - detector.offset_)
    np.testing.assert_array_equal(detector.predict(Q), np.where(detector.decision_function(Q) >= 0, 1, -1))
    # Moving the offset (the threshold slider) changes predictions without refitting.
    detector.offset_ = -np.inf
    assert (detector.predict(Q) == 1).all()
    detector.offset_ = np.inf
    assert (detector.predict(Q) == -1).all()


def test_gaussian_centroid_option_absorbs_a_biased_map():
    F, y, centers, _, _ = _planted_classes(seed=4)
    shifted = F + 1.0  # a mapping that is systematically off by +1 in every dimension
    word = GaussianNoveltyDetector(centers="word").fit(shifted, y, centers)
    cent = GaussianNoveltyDetector(centers="centroid").fit(shifted, y, centers)
    np.testing.assert_allclose(cent.means_, centers + 1.0, atol=0.15)
    assert (cent.sigma2_ < word.sigma2_).all()


def test_loop_max_reference_subsamples():
    rng = np.random.default_rng(5)
    F = rng.normal(size=(500, 5))
    det = LoOPNoveltyDetector(n_neighbors=5, max_reference=100).fit(F)
    assert det.reference_.shape == (100, 5)
    assert det.novelty_score(F).shape == (500,)


def test_detector_errors():
    F, y, centers, _, _ = _planted_classes()
    with pytest.raises(ValueError, match="centers"):
        GaussianNoveltyDetector().fit(F, y, centers[:, :3])
    with pytest.raises(ValueError, match="labels"):
        GaussianNoveltyDetector().fit(F, y + 5, centers)
    with pytest.raises(ValueError, match="at least 21"):
        LoOPNoveltyDetector().fit(F[:10])
    with pytest.raises(RuntimeError, match="not fitted"):
        LoOPNoveltyDetector().score_samples(F)
    with pytest.raises(RuntimeError, match="not fitted"):
        GaussianNoveltyDetector().novelty_score(F)
    det = GaussianNoveltyDetector().fit(F, y, centers)
    with pytest.raises(ValueError, match="columns"):
        det.score_samples(F[:, :2])
