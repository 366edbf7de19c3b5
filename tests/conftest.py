"""Shared fixtures: the real CIFAR-10 copy used for integration tests.

The data's location comes from ``$ZSL_TEST_DATA`` (CI sets it), else ``../shared/datasets/cifar10-jpg.tar.gz``
beside the repository. Tests that need it skip, saying why, when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
REAL_ARCHIVE = Path(os.environ.get("ZSL_TEST_DATA", REPO.parent / "shared" / "datasets" / "cifar10-jpg.tar.gz"))


@pytest.fixture(scope="session")
def real_archive() -> Path:
    """Path of the shared CIFAR-10 archive (skips the test when it is absent)."""
    if not REAL_ARCHIVE.is_file():
        pytest.skip(f"real CIFAR-10 archive not found at {REAL_ARCHIVE} (set ZSL_TEST_DATA to its path)")
    return REAL_ARCHIVE


@pytest.fixture(scope="session")
def real_cifar():
    """The shared CIFAR-10 image-folder archive (50k/10k), decoded once per cache folder."""
    if not REAL_ARCHIVE.is_file():
        pytest.skip(f"real CIFAR-10 archive not found at {REAL_ARCHIVE} (set ZSL_TEST_DATA to its path)")
    from zsl_core.data import load_dataset

    return load_dataset(REAL_ARCHIVE)


@pytest.fixture(scope="session")
def cifar_small(real_cifar):
    """A stratified subset small enough for fast integration tests: 300 train / 100 test per class."""
    return real_cifar.subset(300, 100, seed=0)


@pytest.fixture
def app_env(monkeypatch):
    """The app's test settings (small cached features, the test data), for one test."""
    from zsl_app.testing import environment

    for key, value in environment().items():
        monkeypatch.setenv(key, value)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item, so a fixture can tell that its test failed."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report
