"""The experiment path end to end on a real CIFAR-10 subset: every caller reads the same figures.

Uses the shared archive (skipped when absent) at 300 train / 100 test images per class and EfficientNet at
64 px (the app tests' small setting), with a fresh cache folder per module.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zsl_core import experiment
from zsl_core.experiment import Config, summary, train

REPO = Path(__file__).resolve().parents[1]
SUBSET = (300, 100)
PARAMS = {"image_size": 64}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def config(real_archive):
    return Config(data=str(real_archive), subset=SUBSET, feature_params=PARAMS)


@pytest.fixture(scope="module")
def run(config, cache):
    mp = pytest.MonkeyPatch()
    mp.setenv("ZSL_CACHE_DIR", str(cache))
    try:
        yield train(config)
    finally:
        mp.undo()


def test_summary_figures_are_the_runs_own(run):
    s = summary(run)
    y = run.y_test
    seen = np.isin(y, run.seen)
    assert s["n_test"] == len(y) == 1000 and s["n_seen"] == 800 and s["n_unseen"] == 200
    assert s["seen_softmax"] > 0.6 and s["zero_shot"] > 0.6  # far above chance (0.125 / 0.5)
    # "call nothing unseen" is the overall accuracy at a threshold above every score
    top = run.at_threshold(float(np.max(run.scores.novelty)) + 1.0)
    assert top["novel_fraction"] == 0.0
    assert s["call_nothing_unseen"] == pytest.approx(top["overall"])
    assert s["call_nothing_unseen"] == pytest.approx(s["seen_softmax"] * seen.mean())
    # the headline at the model's threshold equals the model's own predictions there
    pred = run.predictions()
    assert s["at_threshold"]["overall"] == pytest.approx(np.mean(pred == y))
    assert s["gate_gain"] == pytest.approx(s["at_threshold"]["overall"] - s["call_nothing_unseen"])
    assert "800 test images of the seen classes" in s["describe"]["seen_softmax"]


def test_one_held_out_class_has_no_zero_shot_figure(run):
    one = train(run.config.with_(unseen=("cat",)), dataset=run.dataset, features=run.features,
                statistics=run.statistics, cache=False)
    s = summary(one)
    assert s["zero_shot"] is None and "nothing to choose among" in s["describe"]["zero_shot"]


def test_pairs_matrix_cell_equals_the_models_zero_shot_figure(run):
    matrix = experiment.pairs_matrix(run.config, run.dataset, run.features, run.statistics, cache=False)
    names = run.class_names
    for pair in [("cat", "truck"), ("airplane", "dog")]:
        r = run if set(pair) == set(run.unseen_names) else train(
            run.config.with_(unseen=pair), dataset=run.dataset, features=run.features, statistics=run.statistics,
            cache=False)
        assert matrix[names.index(pair[0]), names.index(pair[1])] == pytest.approx(summary(r)["zero_shot"])


def test_reproduce_report_reads_the_same_figures(run, cache, tmp_path, monkeypatch):
    from zsl_core.reproduce import ReportOptions
    from zsl_core.reproduce import run as reproduce

    monkeypatch.setenv("ZSL_CACHE_DIR", str(cache))
    report = reproduce(run.config, ReportOptions(out=str(tmp_path), n_distractors=3, tsne_points=200,
                                                 skip_pairs=True), log=lambda _: None)
    s = summary(run)
    assert report["seen_accuracy"] == pytest.approx(s["seen_softmax"])
    assert report["zero_shot_pair_accuracy"]["cat-truck"] == pytest.approx(s["zero_shot"])
    assert report["call_nothing_unseen_overall"] == pytest.approx(s["call_nothing_unseen"])
    assert report["at_default_threshold"]["learned"]["overall"] == pytest.approx(s["at_threshold"]["overall"])
    # Issue 10: every detector in the table; the default gate's row is the run's own figures.
    from zsl_core.model import DETECTORS

    assert set(report["detectors"]) == set(DETECTORS)
    assert report["detectors"]["learned"]["at_threshold"]["overall"] == pytest.approx(s["at_threshold"]["overall"])
    assert report["detectors"]["learned"]["gain"] == pytest.approx(s["gate_gain"])
    assert report["detectors"]["gaussian"]["paper"] and not report["detectors"]["energy"]["paper"]
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["run"]["config"]["unseen"] == ["cat", "truck"]
    assert (tmp_path / "report.md").read_text().count("0.") > 10


def test_classify_command_reads_photos_first_and_reuses_the_fitted_model(run, config, cache, tmp_path):
    photo = tmp_path / "photo.png"
    Image.fromarray(np.asarray(run.dataset.test_images[3])).resize((96, 96)).save(photo)
    env = {"ZSL_CACHE_DIR": str(cache), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    base = [sys.executable, "-m", "zsl_core", "classify", "--data", config.data, "--train-per-class", "300",
            "--test-per-class", "100", "--unseen", "deer,ship", "--json"]
    # A missing photo is reported before any work: nothing is trained, so no model appears in the cache.
    models = cache / "models"
    before = set(models.glob("*.npz")) if models.exists() else set()
    missing = subprocess.run(base + [str(tmp_path / "nope.jpg")], cwd=REPO, env=env, capture_output=True, text=True)
    assert missing.returncode == 1 and "nope.jpg: cannot classify" in missing.stderr
    assert (set(models.glob("*.npz")) if models.exists() else set()) == before
    # (the feature parameters of the module's config are the defaults of the command line: 160 px)
    first = subprocess.run(base + [str(photo)], cwd=REPO, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    result = json.loads(first.stdout.strip().splitlines()[-1])
    assert result["verdict"] in ("seen class", "novel (unseen class)") and result["class"] in run.class_names
    after = set(models.glob("*.npz"))
    assert len(after - before) == 1  # the fitted model was cached ...
    (saved,) = after - before
    written = (saved.stat().st_ino, saved.stat().st_mtime_ns)
    second = subprocess.run(base + [str(photo)], cwd=REPO, env=env, capture_output=True, text=True)
    assert json.loads(second.stdout.strip().splitlines()[-1]) == result
    # ... and reused, not refitted: a refit would have replaced the file (atomic writes make a new inode)
    assert (saved.stat().st_ino, saved.stat().st_mtime_ns) == written


def test_plan_knows_what_is_on_disk(run, config, cache, monkeypatch, tmp_path):
    """One estimate for the whole job, cheaper for stages already cached (issue 9's "long work planned")."""
    monkeypatch.setenv("ZSL_CACHE_DIR", str(cache))
    warm = experiment.plan(config, run.dataset)
    assert warm["cached"] == {"features": True, "statistics": True, "pairs": False}
    assert warm["total"] == pytest.approx(sum(v for k, v in warm.items() if k not in ("total", "cached")))
    monkeypatch.setenv("ZSL_CACHE_DIR", str(tmp_path))
    cold = experiment.plan(config, run.dataset, pairs=True)
    assert cold["cached"] == {"features": False, "statistics": False, "pairs": False}
    assert cold["features"] > warm["features"] and cold["pairs"] > 0 and cold["total"] > warm["total"]
