"""End to end on a real CIFAR-10 subset (300 train / 100 test images per class, cat + truck unseen).

Small enough for CI, large enough that every figure must be clearly above chance for the test to pass.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from zsl_core.evaluation import best_point, threshold_sweep, zero_shot_pair_accuracy
from zsl_core.features import compute_features
from zsl_core.model import ZeroShotClassifier
from zsl_core.semantic import WordVectors

UNSEEN = ["cat", "truck"]


@pytest.fixture(scope="module")
def efficientnet_small(cifar_small):
    return compute_features(cifar_small, "efficientnet")


@pytest.fixture(scope="module")
def words():
    return WordVectors.from_glove_package()


@pytest.mark.parametrize("novelty", ["gaussian", "loop"])
def test_efficientnet_model_beats_chance_on_real_images(cifar_small, efficientnet_small, words, novelty):
    ds, fs = cifar_small, efficientnet_small
    model = ZeroShotClassifier(word_vectors=words, novelty=novelty).fit(
        fs.X_train, ds.train_labels, ds.class_names, UNSEEN)
    scores = model.decompose(fs.X_test)
    seen_rows = np.isin(ds.test_labels, model.seen_)
    seen_acc = np.mean(np.argmax(scores.seen_proba[seen_rows], 1) == ds.test_labels[seen_rows])
    assert seen_acc > 0.6, f"8-way seen accuracy {seen_acc:.3f} (chance 0.125)"

    sweep = threshold_sweep(scores, ds.test_labels, model.seen_, model.unseen_)
    # All familiar at the top threshold: seen accuracy is the softmax's, no unseen image is right.
    top = int(np.argmax(sweep["threshold"]))
    assert sweep["unseen"][top] == 0.0
    assert sweep["seen"][top] == pytest.approx(seen_acc)
    best = best_point(sweep, "H")
    assert best["H"] > 0.3, f"best harmonic mean {best['H']:.3f}"
    # The figures at a threshold are exactly those of the model's own predictions there.
    t = best["threshold"]
    pred = model.predict(fs.X_test, threshold=t)
    unseen_rows = ~seen_rows
    assert np.mean(pred[unseen_rows] == ds.test_labels[unseen_rows]) == pytest.approx(best["unseen"])
    assert np.mean(pred[seen_rows] == ds.test_labels[seen_rows]) == pytest.approx(best["seen"])


def test_two_way_zero_shot_cat_truck_is_far_above_chance(cifar_small, efficientnet_small, words):
    ds, fs = cifar_small, efficientnet_small
    pair = (ds.class_names.index("cat"), ds.class_names.index("truck"))
    acc = zero_shot_pair_accuracy(fs.X_train, ds.train_labels, fs.X_test, ds.test_labels,
                                  words.class_vectors(ds.class_names), pair)
    assert acc > 0.75, f"2-way cat-truck accuracy {acc:.3f} (chance 0.5)"


def test_coates_features_learn_something_on_real_images(cifar_small, words):
    """The paper's pipeline with a small dictionary: still well above chance on the seen classes."""
    ds = cifar_small.subset(150, 50, seed=1)
    fs = compute_features(ds, "coates", {"n_atoms": 64, "n_patches": 20_000, "kmeans_iters": 5})
    assert fs.X_train.shape == (len(ds.train_labels), 8 * 64)
    model = ZeroShotClassifier(word_vectors=words).fit(fs.X_train, ds.train_labels, ds.class_names, UNSEEN)
    seen_rows = np.isin(ds.test_labels, model.seen_)
    scores = model.decompose(fs.X_test[seen_rows])
    acc = np.mean(np.argmax(scores.seen_proba, 1) == ds.test_labels[seen_rows])
    assert acc > 0.3, f"8-way seen accuracy with K=64 Coates features {acc:.3f} (chance 0.125)"


def test_reproduce_command_writes_the_report(cifar_small, efficientnet_small, real_archive, tmp_path):
    """``python -m zsl_core reproduce`` on the same subset (features come from the cache)."""
    from zsl_core.__main__ import main

    out = tmp_path / "report"
    code = main(["reproduce", "--data", str(real_archive), "--train-per-class", "300", "--test-per-class", "100",
                 "--out", str(out), "--skip-pairs", "--distractors", "5"])
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["features"] == "efficientnet" and report["unseen"] == UNSEEN
    assert 0.6 < report["seen_accuracy"] <= 1.0
    assert report["zero_shot_pair_accuracy"]["cat-truck"] > 0.75
    for detector in ("gaussian", "loop"):
        sweep = report["sweep"][detector]
        lengths = {len(sweep[k]) for k in ("threshold", "seen", "unseen", "overall", "H")}
        assert len(lengths) == 1
        assert report["best_H"][detector]["value"] == pytest.approx(max(h for h in sweep["H"] if h is not None),
                                                                   abs=0.02)
    assert report["paper"]["seen_accuracy"] == 0.825
    md = (out / "report.md").read_text()
    assert "call nothing unseen" in md.lower() and "cat-truck" in md
    for png in report["plots"].values():
        assert (out / png).stat().st_size > 5_000
