"""Caches that cannot be written, and cache entries that were changed (issue 7).

A read-only, uncreatable or full cache folder must cost only time: the work is returned uncached and one
``CacheWarning`` is issued, never a traceback after the work was done. Every entry is verified when read,
the GloVe word list and the exported ONNX model included. Tests named ``*_was_broken`` failed before.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zsl_core import cache, semantic
from zsl_core.cache import CacheWarning, cache_warnings
from zsl_core.data import load_dataset

REPO = Path(__file__).resolve().parents[1]
SMALL = dict(n_atoms=8, n_patches=2000, kmeans_iters=2)  # a Coates extractor that fits in a second


@pytest.fixture(autouse=True)
def _fresh_warnings(monkeypatch):
    """Each test starts with no cache folder reported yet (the record is per process)."""
    monkeypatch.setattr(cache, "_WARNED", {})


def _tar(path: Path) -> Path:
    rng = np.random.default_rng(0)
    with tarfile.open(path, "w:gz") as tar:
        for split, n in (("train", 10), ("test", 3)):
            for cls in ("cat", "dog", "ship"):
                for i in range(n):
                    buf = io.BytesIO()
                    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(buf, format="PNG")
                    info = tarfile.TarInfo(f"{split}/{cls}/{i}.png")
                    info.size = len(buf.getvalue())
                    tar.addfile(info, io.BytesIO(buf.getvalue()))
    return path


def _work() -> tuple:
    """Load a dataset twice and compute its features: what a cache is meant to speed up."""
    from zsl_core.features import compute_features

    path = Path(os.environ["ZSL_TEST_TAR"])
    first = load_dataset(path)
    again = load_dataset(path)
    features = compute_features(again, "coates", SMALL)
    return first, again, features


@contextlib.contextmanager
def _caught():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield caught


def _cache_warnings(caught) -> list[str]:
    return [str(w.message) for w in caught if issubclass(w.category, CacheWarning)]


# --------------------------------------------------------------------------------- unusable cache folders


def test_uncreatable_cache_folder_computes_without_caching_and_warns_once_was_broken(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("ZSL_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setenv("ZSL_TEST_TAR", str(_tar(tmp_path / "pets.tar.gz")))
    with _caught() as caught:
        first, again, features = _work()
    assert len(first.train_labels) == 30 and features.X_train.shape == (30, 8 * SMALL["n_atoms"])
    (message,) = _cache_warnings(caught)
    assert f"cannot write to the cache folder {blocker / 'cache'}" in message and "ZSL_CACHE_DIR" in message
    assert [w.folder for w in cache_warnings()] == [blocker / "cache"]


def test_the_command_line_says_an_unusable_cache_in_one_plain_line_was_broken(tmp_path):
    """Before: Python's format, ``.../zsl_core/semantic.py:95: CacheWarning: ...`` and the source line under it."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    data = _tar(tmp_path / "pets.tar.gz")
    photo = tmp_path / "photo.png"
    Image.new("RGB", (40, 40), (200, 30, 30)).save(photo)
    env = {**os.environ, "ZSL_CACHE_DIR": str(blocker / "cache"), "PYTHONPATH": str(REPO)}
    # LoOP on 5 images per class is refused right after the dataset is read: the cache is met, nothing trained.
    done = subprocess.run([sys.executable, "-m", "zsl_core", "classify", "--data", str(data), "--features",
                           "coates", "--atoms", "8", "--novelty", "loop", "--unseen", "ship", "--train-per-class", "5",
                           str(photo)],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    lines = [line for line in done.stderr.splitlines() if "cache folder" in line]
    assert lines == [f"warning: cannot write to the cache folder {blocker / 'cache'} (Not a directory): results are "
                     "computed again each time instead of being cached; set ZSL_CACHE_DIR to a writable folder with "
                     "free space to keep them"], done.stderr
    assert "CacheWarning" not in done.stderr and ".py:" not in done.stderr and "warnings.warn" not in done.stderr


def test_full_cache_disk_computes_without_caching_and_leaves_no_partial_files_was_broken(tmp_path, monkeypatch):
    """A real 'disk full': the process may not write past 4 KiB into any file (RLIMIT_FSIZE)."""
    monkeypatch.setenv("ZSL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("ZSL_TEST_TAR", str(_tar(tmp_path / "pets.tar.gz")))
    from zsl_core.features import compute_features  # imported before the limit (it may write bytecode)

    assert compute_features
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
    try:
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
        with _caught() as caught:
            first, again, features = _work()
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, handler)
    assert len(again.train_labels) == 30 and features.X_test.shape == (9, 8 * SMALL["n_atoms"])
    (message,) = _cache_warnings(caught)
    assert "File too large" in message or "No space" in message
    leftovers = [p.name for p in (tmp_path / "cache").rglob("*") if p.is_file()]
    assert leftovers == [], "no half-written cache file or temporary file remains"


def _as_unprivileged() -> dict:
    """Arguments for subprocess.run that make file permissions count even for root.

    Root writes into read-only folders through the CAP_DAC_OVERRIDE capability; the child drops it from its
    bounding set before exec (Linux prctl), so it stays root (and can run Python from /root) but a mode
    0555 folder is read-only to it, as it is to any user.
    """
    if os.geteuid() != 0:
        return {}
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)

    def drop():
        for capability in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
            if libc.prctl(24, capability, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")

    return {"preexec_fn": drop}


@pytest.fixture
def shared_tmp():
    """A scratch folder outside pytest's tmp_path, so that its modes are the only thing that counts."""
    folder = Path(tempfile.mkdtemp(prefix="zsl-readonly-"))
    folder.chmod(0o755)
    yield folder
    for path in folder.rglob("*"):
        if path.is_dir():
            path.chmod(0o755)
    shutil.rmtree(folder)


def test_read_only_cache_folder_computes_without_caching_and_warns_once_was_broken(shared_tmp):
    archive = _tar(shared_tmp / "pets.tar.gz")
    archive.chmod(0o644)
    readonly = shared_tmp / "cache"
    (readonly / "datasets").mkdir(parents=True)
    for folder in (readonly / "datasets", readonly):
        folder.chmod(0o555)
    script = textwrap.dedent(f"""
        import json, sys, warnings
        sys.path.insert(0, {str(REPO)!r})
        sys.path.insert(0, {str(REPO / 'tests')!r})
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            from test_cache_degrade import _work
            from zsl_core.cache import CacheWarning, cache_warnings
            first, again, features = _work()
        print(json.dumps({{"n_train": len(again.train_labels), "X_train": list(features.X_train.shape),
                          "warned": [str(w.message) for w in caught if issubclass(w.category, CacheWarning)],
                          "listed": [str(w) for w in cache_warnings()]}}))
    """)
    env = {**os.environ, "ZSL_CACHE_DIR": str(readonly), "ZSL_TEST_TAR": str(archive), "HOME": str(shared_tmp),
           "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300,
                              cwd=str(shared_tmp), **_as_unprivileged())
    except subprocess.SubprocessError as exc:  # e.g. a container without CAP_SETPCAP
        pytest.skip(f"cannot make a folder read-only for this root process: {exc}")
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["n_train"] == 30 and out["X_train"] == [30, 8 * SMALL["n_atoms"]]
    assert len(out["warned"]) == 1 and out["listed"] == out["warned"]
    assert "Permission denied" in out["warned"][0] and str(readonly) in out["warned"][0]
    assert list(readonly.rglob("*.npz")) == []


def test_save_arrays_reports_instead_of_raising(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with _caught() as caught:
        assert cache.save_arrays(blocker / "sub" / "a.npz", x=np.arange(3)) is False
        assert cache.save_arrays(blocker / "sub" / "b.npz", x=np.arange(3)) is False
        assert cache.cache_write_bytes(blocker / "sub" / "c.bin", b"x") is False
    assert len(_cache_warnings(caught)) == 1  # one folder, one warning
    assert cache.save_arrays(tmp_path / "ok.npz", x=np.arange(3)) is True


# ---------------------------------------------------------------------------------- verified on read


def test_an_edited_glove_word_list_is_detected_and_rebuilt_was_broken(tmp_path, monkeypatch):
    """Before: the plain word list was trusted, so an edit moved a class name onto another word's vector."""
    monkeypatch.setenv("ZSL_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(semantic, "_PACKAGE_INSTANCE", None)
    first = semantic.WordVectors.from_glove_package()
    king = first.vocabulary.index("king")
    (copy,) = (tmp_path / "glove").glob("words-*.txt")
    original = copy.read_bytes()
    assert b"\nking\n" in original
    copy.write_bytes(original.replace(b"\nking\n", b"\nkong\n", 1))  # same length, one word changed
    monkeypatch.setattr(semantic, "_PACKAGE_INSTANCE", None)
    second = semantic.WordVectors.from_glove_package()
    assert second.vocabulary[king] == "king"
    np.testing.assert_array_equal(second.vector("king"), first.vector("king"))
    assert copy.read_bytes() == original  # rebuilt from the package and rewritten


def test_glove_word_list_in_an_uncreatable_cache_still_loads(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("ZSL_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setattr(semantic, "_PACKAGE_INSTANCE", None)
    with _caught() as caught:
        words = semantic.WordVectors.from_glove_package()
    assert words.vector("cat").shape == (50,)
    assert len(_cache_warnings(caught)) == 1


def test_onnx_model_is_verified_on_read_and_rebuilt_when_changed_was_broken(tmp_path, monkeypatch):
    """Before: any file at the model's path was handed to onnxruntime, checked by nothing."""
    from zsl_core.features import efficientnet

    monkeypatch.setenv("ZSL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(efficientnet, "_SESSIONS", {})
    x = np.random.default_rng(0).integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    reference = efficientnet.EfficientNetFeatures(image_size=32).transform(x)
    (model,) = (tmp_path / "cache" / "models").glob("*.onnx")
    sidecar = model.with_name(model.name + ".sha256")
    assert sidecar.read_text() == __import__("hashlib").sha256(model.read_bytes()).hexdigest()

    # Change one weight byte far into the file (the model still loads, it just computes something else).
    raw = bytearray(model.read_bytes())
    raw[len(raw) // 2] ^= 0x01
    model.write_bytes(bytes(raw))
    monkeypatch.setattr(efficientnet, "_SESSIONS", {})  # a new process
    again = efficientnet.EfficientNetFeatures(image_size=32).transform(x)
    np.testing.assert_allclose(again, reference, rtol=1e-5, atol=1e-5)
    assert sidecar.read_text() == __import__("hashlib").sha256(model.read_bytes()).hexdigest()

    # Without a writable cache the model is exported in memory, once per process, with one warning.
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("ZSL_CACHE_DIR", str(blocker / "cache"))
    with _caught() as caught:
        uncached = efficientnet.EfficientNetFeatures(image_size=32).transform(x)
    np.testing.assert_allclose(uncached, reference, rtol=1e-5, atol=1e-5)
    assert len(_cache_warnings(caught)) == 1
