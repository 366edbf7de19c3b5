"""Shared set-up of the app's tests and benchmark: small cached features, a shared cache, the dev data.

Environment (all optional):

* ``ZSL_TEST_DATA``: the dataset (default ``../shared/datasets/cifar10-jpg.tar.gz`` from the repo root);
* ``ZSL_CACHE_DIR``: the cache, shared by every test of a run (default: a fixed folder in the system's temp
  folder, so a second run reuses the features of the first);
* ``ZSL_APP_SUBSET``: images per class (default ``100,40``);
* ``ZSL_APP_FEATURE_PARAMS``: extractor parameters (default: EfficientNet at 64×64, its small size).
"""

from __future__ import annotations

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


def configure(subset: str = TEST_SUBSET) -> dict[str, str]:
    """Set the environment the app reads (idempotent; values already set win) and return it."""
    try:
        user = getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        user = "user"
    os.environ.setdefault("ZSL_CACHE_DIR", str(Path(tempfile.gettempdir()) / f"zsl_explorer_test_cache-{user}"))
    os.environ.setdefault("ZSL_APP_SUBSET", subset)
    os.environ.setdefault("ZSL_APP_FEATURE_PARAMS", TEST_FEATURE_PARAMS)
    os.environ["ZSL_DATA_DIR"] = str(data_path())
    return {k: os.environ[k] for k in ("ZSL_CACHE_DIR", "ZSL_APP_SUBSET", "ZSL_APP_FEATURE_PARAMS", "ZSL_DATA_DIR")}


def parse_subset() -> tuple[int, int]:
    train, test = (int(v) for v in os.environ.get("ZSL_APP_SUBSET", TEST_SUBSET).split(","))
    return train, test


def reference(unseen=("cat", "truck"), novelty: str = "gaussian", mapping: str = "linear",
              features: str = "efficientnet"):
    """The engine's own answer for the app's test settings, computed without the app.

    Returns ``(dataset, feature_set, model, test_scores)``; features come from the shared disk cache.
    """
    import json

    from zsl_core.data import load_dataset
    from zsl_core.features import compute_features
    from zsl_core.model import ZeroShotClassifier
    from zsl_core.semantic import WordVectors

    configure()
    train, test = parse_subset()
    data = load_dataset(data_path()).subset(train, test, seed=0)
    params = json.loads(os.environ["ZSL_APP_FEATURE_PARAMS"]).get(features) or None
    feats = compute_features(data, features, params)
    model = ZeroShotClassifier(word_vectors=WordVectors.from_glove_package(), mapping=mapping, novelty=novelty,
                               random_state=0).fit(feats.X_train, data.train_labels, list(data.class_names),
                                                   list(unseen))
    return data, feats, model, model.decompose(feats.X_test)
