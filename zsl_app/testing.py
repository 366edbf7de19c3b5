"""Shared set-up of the app's tests and benchmark: small cached features, a shared cache, the dev data.

Environment (all optional):

* ``ZSL_TEST_DATA``: the dataset (default ``../shared/datasets/cifar10-jpg.tar.gz`` from the repo root);
* ``ZSL_CACHE_DIR``: the cache, shared by every test of a run (default: a fixed folder in the system's temp
  folder, so a second run reuses the features of the first; CI sets a fresh one);
* ``ZSL_APP_SUBSET``: images per class (default ``100,40``);
* ``ZSL_APP_FEATURE_PARAMS``: extractor parameters (default: EfficientNet at 64×64, its small size).
"""

from __future__ import annotations

import contextlib
import json
import getpass
import os
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO.parent / "shared" / "datasets" / "cifar10-jpg.tar.gz"
TEST_SUBSET = "100,40"
TEST_FEATURE_PARAMS = '{"efficientnet": {"image_size": 64}, "coates": {"n_atoms": 100, "n_patches": 20000}}'


def data_path() -> Path:
    return Path(os.environ.get("ZSL_TEST_DATA") or DEFAULT_DATA)


def environment(subset: str = TEST_SUBSET) -> dict[str, str]:
    """The environment the app reads in tests: values already set win, except the data path (the test data).

    Nothing is changed here; tests apply it with ``monkeypatch`` (see :func:`app_env` for code outside a test).
    """
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        user = "user"
    cache = os.environ.get("ZSL_CACHE_DIR") or str(Path(tempfile.gettempdir()) / f"zsl_explorer_test_cache-{user}")
    return {
        "ZSL_CACHE_DIR": cache,
        "ZSL_APP_SUBSET": os.environ.get("ZSL_APP_SUBSET") or subset,
        "ZSL_APP_FEATURE_PARAMS": os.environ.get("ZSL_APP_FEATURE_PARAMS") or TEST_FEATURE_PARAMS,
        "ZSL_DATA_DIR": str(data_path()),
    }


@contextlib.contextmanager
def app_env(subset: str = TEST_SUBSET):
    """Apply :func:`environment` to ``os.environ`` for the duration of a ``with`` block, then restore it."""
    env = environment(subset)
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield env
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def parse_subset(text: str) -> tuple[int, int]:
    train, test = (int(v) for v in text.split(","))
    return train, test


def reference(unseen=("cat", "truck"), novelty: str = "gaussian", mapping: str = "linear",
              features: str = "efficientnet"):
    """The engine's own run for the app's test settings, computed without the app (``experiment.train``);
    ``novelty`` defaults to the app's default detector (``zsl_app.sidebar.DEFAULT_DETECTOR``).

    Returns ``(dataset, feature_set, model, test_scores)``; features come from the shared disk cache.
    """
    from zsl_core.experiment import Config, train

    with app_env() as env:
        params = json.loads(env["ZSL_APP_FEATURE_PARAMS"]).get(features) or {}
        config = Config(data=str(data_path()), subset=parse_subset(env["ZSL_APP_SUBSET"]), features=features,
                        feature_params=params, unseen=tuple(unseen), mapping=mapping, novelty=novelty)
        run = train(config, cache=False)
    return run.dataset, run.features, run.model, run.scores


def metrics(at) -> dict[str, str]:
    """The ``st.metric`` values an AppTest run shows, by label."""
    return {m.label: m.value for m in at.metric}
