"""Evaluation: the vectorised sweep against a brute-force loop, AUSUC, pairs, distractors, confusion."""

import numpy as np
import pytest

from zsl_core.evaluation import (all_pairs_matrix, ausuc, best_point, confusion_matrix, distractor_curve,
                                 nearest_distractor_words, threshold_sweep, zero_shot_pair_accuracy)
from zsl_core.model.mapping import LinearMapping, validation_split
from zsl_core.model import ZeroShotClassifier

NAMES = ["a", "b", "c", "d", "ab", "cd"]


def planted(n_per=150, n_test=60, d=60, D=50, seed=0):
    """6 classes; 'ab' and 'cd' have word vectors between those of a, b and of c, d (as in test_model)."""
    rng = np.random.default_rng(seed)
    V = np.zeros((6, D))
    V[:4] = rng.normal(size=(4, D)) * 0.6
    V[4] = 0.5 * (V[0] + V[1])
    V[5] = 0.5 * (V[2] + V[3])
    L = rng.normal(size=(D, d)) / np.sqrt(D)

    def draw(n):
        y = np.repeat(np.arange(6), n)
        Z = V[y] + 0.25 * rng.normal(size=(y.size, D))
        return (Z @ L + 0.1 * rng.normal(size=(y.size, d))).astype(np.float32), y

    X, y = draw(n_per)
    Xt, yt = draw(n_test)
    return X, y, Xt, yt, V


@pytest.fixture(scope="module")
def setup():
    X, y, Xt, yt, V = planted(n_per=80, n_test=40, seed=1)
    m = ZeroShotClassifier().fit(X, y, NAMES, ["ab", "cd"], class_vectors=V)
    return m, X, y, Xt, yt, V


def test_sweep_equals_brute_force(setup):
    m, _, _, Xt, yt, _ = setup
    s = m.decompose(Xt)
    sweep = threshold_sweep(s, yt, m.seen_, m.unseen_)
    u = np.unique(s.novelty)
    np.testing.assert_array_equal(sweep["threshold"], np.r_[-np.inf, u, np.inf])
    seen_rows = np.isin(yt, m.seen_)
    for i, t in enumerate(sweep["threshold"]):
        pred = m.predict_from_scores(s, t)
        ok = pred == yt
        acc_s, acc_u = ok[seen_rows].mean(), ok[~seen_rows].mean()
        assert sweep["seen"][i] == pytest.approx(acc_s)
        assert sweep["unseen"][i] == pytest.approx(acc_u)
        assert sweep["overall"][i] == pytest.approx(ok.mean())
        assert sweep["novel_fraction"][i] == pytest.approx(np.mean(s.novelty > t))
        h = 0 if acc_s + acc_u == 0 else 2 * acc_s * acc_u / (acc_s + acc_u)
        assert sweep["H"][i] == pytest.approx(h)
    # ends: all novel, then nothing novel
    assert sweep["seen"][0] == 0 and sweep["novel_fraction"][0] == 1
    assert sweep["unseen"][-1] == 0 and sweep["novel_fraction"][-1] == 0
    # explicit thresholds and thinning
    thin = threshold_sweep(s, yt, m.seen_, m.unseen_, max_points=20)
    assert thin["threshold"].size <= 20 and thin["threshold"][0] == -np.inf and thin["threshold"][-1] == np.inf
    some = threshold_sweep(s, yt, m.seen_, m.unseen_, thresholds=[m.threshold_, -np.inf])
    np.testing.assert_allclose(some["seen"], [sweep["seen"][0],
                                              np.mean((m.predict_from_scores(s) == yt)[seen_rows])])


def test_ausuc_known_areas():
    tri = {"seen": np.array([1.0, 0.5, 0.0]), "unseen": np.array([0.0, 0.5, 1.0])}
    assert ausuc(tri) == pytest.approx(0.5)
    perfect = {"seen": np.array([1.0, 1.0, 0.0]), "unseen": np.array([0.0, 1.0, 1.0])}
    assert ausuc(perfect) == pytest.approx(1.0)
    # endpoints are added when a sweep lacks them: a single operating point (0.8, 0.6)
    one = {"seen": np.array([0.8]), "unseen": np.array([0.6])}
    assert ausuc(one) == pytest.approx(0.6 * 0.8)


def test_ausuc_and_best_point_on_a_real_sweep(setup):
    m, _, _, Xt, yt, _ = setup
    sweep = threshold_sweep(m.decompose(Xt), yt, m.seen_, m.unseen_)
    a = ausuc(sweep)
    assert 0 < a <= sweep["seen"].max() * sweep["unseen"].max() + 1e-12
    b = best_point(sweep, "H")
    assert b["H"] == sweep["H"].max() and set(b) == set(sweep)
    with pytest.raises(KeyError):
        best_point(sweep, "f1")


def test_confusion_matrix():
    cm = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    with pytest.raises(ValueError):
        confusion_matrix([0, 3], [0, 1], 3)


@pytest.mark.parametrize("centers", ["calibrated", "word"])
def test_pair_accuracy_equals_refitting_linear_mapping(setup, centers):
    _, X, y, Xt, yt, V = setup
    pair = (0, 3)  # a = 2·ab - b and d = 2·cd - c: both in the span of the classes kept
    got = zero_shot_pair_accuracy(X, y, Xt, yt, V, pair, unseen_centers=centers)
    # The same computation from the raw rows: the fixed split restricted to the kept classes, standardised
    # with the kept classes' training statistics, alpha chosen on the kept validation part, prototypes
    # calibrated on the kept validation part's mapped class means.
    fit, val = validation_split(y, 0.15, 0)
    keep = lambda idx: idx[~np.isin(y[idx], pair)]
    fit, val = keep(fit), keep(val)
    both = np.concatenate([fit, val])
    mu, sd = X[both].mean(0, dtype=np.float64), X[both].std(0, dtype=np.float64)
    z = lambda A: (A - mu) / sd
    est = LinearMapping().fit(z(X[fit]), V[y[fit]], validation_data=(z(X[val]), V[y[val]]))
    kept = [1, 2, 4, 5]
    Fv = est.predict(z(X[val]))
    cent = np.stack([Fv[y[val] == c].mean(0) for c in kept])
    W = V[kept]
    if centers == "word":
        protos = V[list(pair)]
    else:
        # projection onto the affine span of the kept vectors, then the seen classes' shrinkage
        Bm = np.linalg.svd(W - W.mean(0), full_matrices=False)[2][:3]
        P = (V[list(pair)] - W.mean(0)) @ Bm.T @ Bm
        s = np.sum((cent - cent.mean(0)) * (W - W.mean(0))) / np.sum((W - W.mean(0)) ** 2)
        protos = cent.mean(0) + s * P
    rows = np.isin(yt, pair)
    F = est.predict(z(Xt[rows]))
    d = ((F[:, None] - protos[None]) ** 2).sum(2)
    expected = np.mean(np.array(pair)[d.argmin(1)] == yt[rows])
    assert got == pytest.approx(expected)
    assert got > 0.8


def test_all_pairs_matrix(setup):
    _, X, y, Xt, yt, V = setup
    calls = []
    M = all_pairs_matrix(X, y, Xt, yt, V, progress=lambda *a: calls.append(a))
    assert M.shape == (6, 6) and np.isnan(np.diag(M)).all()
    np.testing.assert_array_equal(M, M.T)
    off = M[~np.eye(6, dtype=bool)]
    assert (off >= 0).all() and (off <= 1).all() and np.nanmean(off) > 0.8
    assert calls[-1] == ("Held-out pairs", 15, 15)
    # A cell is the model's own figure: the classifier fitted with that pair held out gives the same 2-way
    # accuracy on the pair's test images (one computation, so the app's pages cannot disagree).
    for pair in [(0, 5), (2, 3)]:
        model = ZeroShotClassifier(softmax_C=1.0).fit(X, y, NAMES, list(pair), class_vectors=V)
        s = model.decompose(Xt)
        rows = np.isin(yt, pair)
        two_way = np.mean(model.unseen_[s.unseen_proba[rows][:, model.unseen_].argmax(1)] == yt[rows])
        assert M[pair] == pytest.approx(two_way)
    # a fixed penalty is honoured and changes the figures only a little on this easy problem
    fixed = all_pairs_matrix(X, y, Xt, yt, V, mapping_params={"alpha": 30.0}, pairs=[(0, 5), (2, 3)])
    assert abs(fixed[0, 5] - M[0, 5]) < 0.1 and abs(fixed[2, 3] - M[2, 3]) < 0.1


def test_distractor_curve_monotone_on_planted_case(setup):
    m, _, _, Xt, yt, V = setup
    rng = np.random.default_rng(0)
    # distractors: words between an unseen class and one of its parents (hard) and random vectors (easy)
    hard = np.array([0.6 * V[0] + 0.4 * V[1], 0.4 * V[2] + 0.6 * V[3], 0.4 * V[0] + 0.6 * V[1], 0.6 * V[2] + 0.4 * V[3]])
    easy = rng.normal(size=(4, 50))
    dis = np.vstack([easy[:2], hard[:2], easy[2:], hard[2:]])
    curve = distractor_curve(m, Xt, yt, dis)
    np.testing.assert_array_equal(curve["count"], np.arange(9))
    assert (np.diff(curve["unseen"]) <= 0).all() and (np.diff(curve["gated"]) <= 0).all()
    assert curve["unseen"][-1] < curve["unseen"][0]
    assert (curve["gated"] <= curve["unseen"]).all()
    s = m.decompose(Xt)
    rows = np.isin(yt, m.unseen_)
    two_way = np.mean(m.unseen_[s.unseen_proba[rows][:, m.unseen_].argmax(1)] == yt[rows])
    assert curve["unseen"][0] == pytest.approx(two_way)
    gated0 = np.mean((m.predict_from_scores(s) == yt)[rows])
    assert curve["gated"][0] == pytest.approx(gated0)
    # a distractor equal to a true class vector ties and ties go to the true class (with the paper's
    # word-vector centres the prototypes are the vectors themselves, so the tie is exact)
    _, X, y, _, _, _ = setup
    w = ZeroShotClassifier(unseen_centers="word", softmax_C=1.0).fit(X, y, NAMES, ["ab", "cd"], class_vectors=V)
    same = distractor_curve(w, Xt, yt, V[[4]], counts=[0, 1])
    assert same["unseen"][0] == same["unseen"][1]


class TinyVectors:
    """The part of zsl_core.semantic.WordVectors that nearest_distractor_words uses."""

    def __init__(self):
        rng = np.random.default_rng(0)
        base = {"cat": rng.normal(size=5), "truck": rng.normal(size=5)}
        self.words = {"cat": base["cat"], "truck": base["truck"],
                      "cats": base["cat"] + 0.01, "kitten": base["cat"] + 0.1, "dog": base["cat"] + 0.2,
                      "trucks": base["truck"] + 0.01, "lorry": base["truck"] + 0.1, "van": base["truck"] + 0.2,
                      "far": rng.normal(size=5) * 10, "u.s.": base["cat"] + 0.05}

    def vector(self, w):
        return self.words[w]

    def nearest(self, points, k=10, exclude=(), metric="cosine"):
        out = []
        for p in np.atleast_2d(points):
            d = sorted((float(np.linalg.norm(v - p)), w) for w, v in self.words.items() if w not in exclude)
            out.append([(w, -dist) for dist, w in d[:k]])
        return out


def test_nearest_distractor_words_skips_names_variants_and_tokens():
    vectors = TinyVectors()
    assert nearest_distractor_words(vectors, ["cat", "truck"], n=2, exclude=["dog"]) == ["kitten", "lorry"]
    words = nearest_distractor_words(vectors, ["cat", "truck"], n=10, exclude=["dog"])
    assert sorted(words) == ["far", "kitten", "lorry", "van"]  # no cats/trucks/u.s./dog, no duplicates


def test_similarity_vs_accuracy_by_hand():
    """Support = the weaker class's cosine to its nearest seen class; r computed over the pairs (issue 9)."""
    from zsl_core.evaluation import similarity_vs_accuracy

    cos = np.array([[1.0, 0.2, 0.9, 0.1],
                    [0.2, 1.0, 0.3, 0.8],
                    [0.9, 0.3, 1.0, 0.4],
                    [0.1, 0.8, 0.4, 1.0]])
    acc = np.full((4, 4), np.nan)
    for (a, b), v in {(0, 1): 0.9, (0, 2): 0.3, (0, 3): 0.7, (1, 2): 0.8, (1, 3): 0.45, (2, 3): 0.6}.items():
        acc[a, b] = acc[b, a] = v
    out = similarity_vs_accuracy(acc, cos)
    assert out["pairs"][0] == (0, 1)
    # pair (0, 1): 0's nearest seen among {2, 3} is 2 (0.9); 1's is 3 (0.8) -> support 0.8
    assert out["support"][0] == pytest.approx(0.8) and out["nearest"][0] == (2, 3)
    # pair (0, 2): 0 -> 1 (0.2), 2 -> 3 (0.4) -> 0.2
    assert out["support"][1] == pytest.approx(0.2)
    x, y = out["support"], out["accuracy"]
    assert out["pearson_r"] == pytest.approx(np.corrcoef(x, y)[0, 1])
    assert out["slope"] == pytest.approx(np.polyfit(x, y, 1)[0])
    assert out["below_chance"] == [(0, 2), (1, 3)]
    assert -1 <= out["spearman_r"] <= 1
    flat = similarity_vs_accuracy(np.where(np.isnan(acc), np.nan, 0.5), cos)
    assert np.isnan(flat["pearson_r"]) and flat["below_chance"] == []
