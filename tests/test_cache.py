"""The cache: keys cover every input, writes are atomic, corrupt files are detected and removed."""

import os

import numpy as np
import pytest

from zsl_core import cache


def test_make_key_is_order_independent_and_changes_with_any_part():
    a = cache.make_key(dataset="abc", extractor="coates", params={"n_atoms": 1600, "alpha": 0.25})
    b = cache.make_key(params={"alpha": 0.25, "n_atoms": 1600}, extractor="coates", dataset="abc")
    assert a == b
    assert a != cache.make_key(dataset="abc", extractor="coates", params={"n_atoms": 800, "alpha": 0.25})
    assert a != cache.make_key(dataset="abd", extractor="coates", params={"n_atoms": 1600, "alpha": 0.25})


def test_cache_dir_follows_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ZSL_CACHE_DIR", str(tmp_path / "c"))
    assert cache.cache_dir() == tmp_path / "c"
    assert (tmp_path / "c").is_dir()


def test_arrays_round_trip(tmp_path):
    x = np.random.default_rng(0).normal(size=(7, 5)).astype(np.float32)
    labels = np.arange(7)
    cache.save_arrays(tmp_path / "a.npz", x=x, labels=labels, name=np.array("cifar"))
    got = cache.load_arrays(tmp_path / "a.npz")
    np.testing.assert_array_equal(got["x"], x)
    np.testing.assert_array_equal(got["labels"], labels)
    assert str(got["name"]) == "cifar"
    assert [p.name for p in tmp_path.iterdir()] == ["a.npz"], "no temporary files left behind"


def test_missing_file_is_none(tmp_path):
    assert cache.load_arrays(tmp_path / "nothing.npz") is None


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_corrupt_file_is_detected_and_removed(tmp_path, damage):
    path = tmp_path / "a.npz"
    cache.save_arrays(path, x=np.arange(10_000, dtype=np.float64))
    raw = bytearray(path.read_bytes())
    if damage == "truncate":
        raw = raw[: len(raw) // 2]
    elif damage == "flip":
        # Flip a byte inside the array payload: the zip CRC or our checksum must catch it.
        raw[len(raw) // 2] ^= 0xFF
    else:
        raw = bytearray(b"not a zip file at all")
    path.write_bytes(bytes(raw))
    assert cache.load_arrays(path) is None
    assert not path.exists(), "a corrupt cache file is removed so it gets rebuilt"


def test_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "a.npz"
    cache.save_arrays(path, x=np.arange(3))

    class Boom:
        def __array__(self, *args, **kwargs):
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError):
        cache.save_arrays(path, x=Boom())
    np.testing.assert_array_equal(cache.load_arrays(path)["x"], np.arange(3))
    assert sorted(os.listdir(tmp_path)) == ["a.npz"]


def test_atomic_write_interrupted_mid_write_leaves_no_partial(tmp_path, monkeypatch):
    path = tmp_path / "report.json"
    cache.atomic_write_text(path, "old")

    def failing_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(cache.os, "replace", failing_replace)
    with pytest.raises(OSError):
        cache.atomic_write_text(path, "new")
    assert path.read_text() == "old"
    assert sorted(os.listdir(tmp_path)) == ["report.json"]


def test_empty_multidimensional_arrays_round_trip(tmp_path):
    from zsl_core.cache import load_arrays, save_arrays

    path = tmp_path / "empty.npz"
    assert save_arrays(path, curve=np.zeros((0, 3)), flat=np.zeros(0))
    loaded = load_arrays(path)
    assert loaded["curve"].shape == (0, 3) and loaded["flat"].shape == (0,)
