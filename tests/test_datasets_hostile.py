"""Damaged, hostile and odd datasets (issue 7): every archive is generated here, nothing is committed.

Tests whose names end in ``_was_broken`` failed before the fix of issue 7 (a damaged archive loaded partly and
was cached, a 1 GiB member was read into memory, a user's archive was deleted, a symlink chain escaped
``safe_extract``, class folders were taken verbatim); the others pin behaviour that already held. Downloads
use the loopback server of ``test_data.py``.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import textwrap
import unicodedata
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import Image

from test_data import _md5, _Server, make_official  # the loopback server and CIFAR builder of test_data.py
from zsl_core import cache
from zsl_core.data import DatasetError, DatasetWarning, download_cifar10, load_dataset, safe_extract
from zsl_core.data.imagefolder import class_key, class_name, split_class

REPO = Path(__file__).resolve().parents[1]
NAMES = ("cat", "dog", "ship")


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("ZSL_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("ZSL_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    monkeypatch.delenv("ZSL_ALLOWED_DATA_DIRS", raising=False)


def _png(colour=(0, 0, 0), size=4) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buf, format="PNG")
    return buf.getvalue()


def _members(n_train=10, n_test=5, classes=NAMES, prefix="ds/"):
    """Test images first, then training images: a stream cut after the test split used to load partly."""
    rng = np.random.default_rng(0)
    out = []
    for split, n in (("test", n_test), ("train", n_train)):
        for cls in classes:
            for i in range(n):
                colour = tuple(int(c) for c in rng.integers(0, 256, 3))
                out.append((f"{prefix}{split}/{cls}/{i:03d}.png", _png(colour, 8)))
    return out


def _write_tar(path: Path, members, mode="w:gz", **kw) -> Path:
    with tarfile.open(path, mode, **kw) as tar:
        for name, payload in members:
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return path


def _cached_datasets() -> list[Path]:
    return list((cache.cache_dir() / "datasets").glob("*"))


# ------------------------------------------------------------------------------------- damaged archives


def _damage(path: Path, how: str) -> Path:
    members = _members()
    if how.startswith("gzip"):
        raw = bytearray(_write_tar(path, members).read_bytes())
        if how == "gzip-flipped":
            at = len(raw) * 7 // 10
            raw[at:at + 64] = bytes(b ^ 0x5A for b in raw[at:at + 64])
        else:
            raw = raw[: len(raw) * 7 // 10]
        path.write_bytes(bytes(raw))
        return path
    if how in ("bz2-cut", "xz-cut"):
        raw = _write_tar(path, members, mode="w:" + how[:-4]).read_bytes()
        path.write_bytes(raw[: len(raw) * 7 // 10])
        return path
    plain = path.with_suffix("")  # x.tar
    raw = bytearray(_write_tar(plain, members, mode="w").read_bytes())
    with tarfile.open(plain) as tar:
        offsets = [m.offset for m in tar.getmembers()]
    at = offsets[len(offsets) * 7 // 10]
    if how == "tar-cut-at-member":
        raw = raw[:at]  # exactly between two members: no sign of damage but the missing end marker
    else:  # "tar-header-garbage"
        raw[at:at + 512] = np.random.default_rng(1).integers(1, 256, 512, dtype=np.uint8).tobytes()
    plain.write_bytes(bytes(raw))
    return plain


@pytest.mark.parametrize("how", ["gzip-flipped", "gzip-cut", "bz2-cut", "xz-cut", "tar-cut-at-member",
                                 "tar-header-garbage"])
def test_damaged_archive_is_an_error_naming_it_and_nothing_is_cached_was_broken(tmp_path, how):
    """Before: tarfile stopped silently at the damage, so the test split and part of train loaded, exit 0,
    and the partial dataset was cached."""
    path = _damage(tmp_path / "pets.tar.gz", how)
    with pytest.raises(DatasetError) as err:
        load_dataset(path)
    message = str(err.value)
    assert str(path) in message and "damaged" in message and "nothing from it was used" in message
    assert "\n" not in message
    assert _cached_datasets() == []


def test_whole_archives_in_every_compression_still_load(tmp_path):
    for mode in ("w", "w:gz", "w:bz2", "w:xz"):
        path = _write_tar(tmp_path / f"pets-{mode[-2:]}.tar", _members(n_train=2, n_test=1), mode=mode)
        ds = load_dataset(path, cache=False)
        assert ds.class_names == list(NAMES) and len(ds.train_labels) == 6 and ds.warnings == ()


def _peak_rss(code: str) -> dict:
    script = textwrap.dedent("""
        import json, resource, sys, time
        sys.path.insert(0, {repo!r})
        from zsl_core.data import DatasetError, load_dataset
        def status(key):  # kB, from Linux's /proc/self/status
            return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith(key + ':'))
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')  # resets the peak (VmHWM) to now: the imports' own peak is not counted
        base = status('VmRSS')
        start = time.perf_counter()
        out = {{}}
        {body}
        out["seconds"] = time.perf_counter() - start
        out["peak_mb"] = (status('VmHWM') - base) / 1024
        print(json.dumps(out))
    """).format(repo=str(REPO), body=textwrap.dedent(code).strip())
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={**os.environ})
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


class _Zeros(io.RawIOBase):
    def __init__(self, n):
        self.left = n

    def readable(self):
        return True

    def readinto(self, buffer):
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def test_a_1_gib_member_in_a_small_tar_gz_is_skipped_with_bounded_memory_was_broken(tmp_path):
    """The issue's case: a 4.7 MB tar.gz whose member declares (and holds) 1 GiB. Before: 2.1 GB peak."""
    path = tmp_path / "bomb.tar.gz"
    with tarfile.open(path, "w:gz", compresslevel=1) as tar:
        for name, payload in _members(n_train=2, n_test=1):
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
        info = tarfile.TarInfo("ds/train/cat/huge.png")
        info.size = 2**30
        tar.addfile(info, io.BufferedReader(_Zeros(2**30), 1 << 20))
    assert path.stat().st_size < 6 * 2**20
    figures = _peak_rss(f"""
        ds = load_dataset({str(path)!r}, cache=False)
        out["n_train"] = len(ds.train_labels)
        out["warnings"] = [w.to_dict() for w in ds.warnings]
    """)
    assert figures["n_train"] == 6, figures
    (skipped,) = figures["warnings"]
    assert skipped["kind"] == "skipped" and skipped["count"] == 1
    assert "ds/train/cat/huge.png: 1024 MB, over the 64 MB limit for one file" in skipped["message"]
    assert figures["peak_mb"] < 50, figures


# ------------------------------------------------------------------------------------------- warnings


def test_skipped_files_and_empty_classes_are_counted_with_examples_was_broken(tmp_path):
    """Before: one flat string without per-class counts, and no structure for the app to show."""
    root = tmp_path / "pets"
    for i in range(20):
        f = root / "train" / "cat" / f"{i:02d}.png"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_bytes(_png() if i < 2 else b"broken" * i)  # 18 of the 20 cat images are unreadable
    for cls in ("dog", "ship"):
        for i in range(3):
            f = root / "train" / cls / f"{i}.png"
            f.parent.mkdir(parents=True, exist_ok=True)
            f.write_bytes(_png((9, 9, 9)))
    for cls in ("cat", "dog"):  # ship has no test images
        (root / "test" / cls).mkdir(parents=True)
        (root / "test" / cls / "0.png").write_bytes(_png())
    ds = load_dataset(root)
    skipped, no_test = ds.warnings
    assert isinstance(skipped, DatasetWarning) and skipped.kind == "skipped" and skipped.count == 18
    assert "skipped 18 unreadable file(s) of 28 (train/cat: 18 of 20)" in skipped
    assert len(skipped.examples) == 3 and skipped.examples[0].startswith("train/cat/02.png is ")
    assert str(tmp_path) not in skipped  # relative names: a shared app never shows the server's paths
    assert no_test.kind == "no_images" and no_test.split == "test" and no_test.examples == ("ship",)
    assert "no test images for 1 class(es): ship" in no_test and "AUSUC" in no_test
    # The same facts come back from the decoded-dataset cache, and survive pickling (st.cache_data).
    again = load_dataset(root)
    assert [w.to_dict() for w in again.warnings] == [w.to_dict() for w in ds.warnings]
    import pickle

    assert pickle.loads(pickle.dumps(ds)).warnings[0].count == 18
    assert ds.subset(1, 1).warnings == ds.warnings


def test_a_class_with_no_readable_image_is_left_out_and_said_was_broken(tmp_path):
    """Before: such a class vanished from class_names without a word."""
    members = _members(n_train=2, n_test=1) + [("ds/train/bird/0.png", b"junk"), ("ds/test/bird/0.png", b"")]
    ds = load_dataset(_write_tar(tmp_path / "x.tar.gz", members))
    assert ds.class_names == list(NAMES)
    dropped = [w for w in ds.warnings if w.kind == "no_images" and w.split == ""]
    assert dropped and dropped[0].examples == ("bird",)


# ------------------------------------------------------------------------------ user files, downloads


@pytest.fixture
def server(tmp_path):
    archive = tmp_path / "served.tar.gz"
    make_official(archive)
    srv = _Server(archive.read_bytes())
    srv.md5 = _md5(archive)
    yield srv
    srv.close()


def test_a_users_own_archive_with_another_md5_is_never_deleted_was_broken(server, tmp_path, monkeypatch):
    """Before: the user's file was removed (and a new one downloaded) without a word."""
    monkeypatch.setenv("ZSL_DATA_DIR", str(tmp_path / "data"))
    mine = tmp_path / "data" / "cifar-10-python.tar.gz"
    mine.parent.mkdir()
    mine.write_bytes(b"my own re-packed copy" * 1000)
    before = mine.read_bytes()
    with pytest.raises(DatasetError) as err:
        load_dataset(None, url=server.url, md5=server.md5)
    assert "left in place" in str(err.value) and str(mine) in str(err.value)
    assert mine.read_bytes() == before and server.hits == 0
    with pytest.raises(DatasetError, match="left in place"):
        download_cifar10(mine.parent, url=server.url, md5=server.md5)
    assert mine.read_bytes() == before and server.hits == 0
    assert sorted(os.listdir(mine.parent)) == ["cifar-10-python.tar.gz"]


def test_a_file_put_over_our_download_is_the_users_was_broken(server, tmp_path):
    dest = tmp_path / "data"
    archive = download_cifar10(dest, url=server.url, md5=server.md5)
    archive.write_bytes(b"the user's replacement")  # new size and time: no longer the file we wrote
    with pytest.raises(DatasetError, match="left in place"):
        download_cifar10(dest, url=server.url, md5=server.md5)
    assert archive.read_bytes() == b"the user's replacement"


@pytest.mark.parametrize("mode", ["truncated", "wrong-checksum"])
def test_interrupted_or_wrong_downloads_leave_nothing_and_cache_nothing(server, tmp_path, monkeypatch, mode):
    monkeypatch.setenv("ZSL_DATA_DIR", str(tmp_path / "data"))
    if mode == "truncated":
        server.mode = "truncated"
    md5 = server.md5 if mode == "truncated" else "0" * 32
    with pytest.raises(DatasetError, match="stopped after|could not download|checksum mismatch") as err:
        load_dataset(None, url=server.url, md5=md5)
    assert "\n" not in str(err.value)
    assert os.listdir(tmp_path / "data") == [] and _cached_datasets() == []


# ---------------------------------------------------------------------------------------- safe_extract


def _symlink(tar, name, target):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    tar.addfile(info)


@pytest.mark.parametrize("chain", ["link-under-a-link", "link-to-a-link", "file-through-links"])
def test_safe_extract_follows_the_archives_own_links_was_broken(tmp_path, chain):
    # (file-through-links was already refused: its second link escapes on its own; kept as a guard.)
    """Each link looks inside on its own; followed together they leave the destination."""
    path = tmp_path / "x.tar"
    with tarfile.open(path, "w") as tar:
        _symlink(tar, "up", ".")
        if chain == "link-under-a-link":
            _symlink(tar, "up/up/up/escape", "../../..")  # lexically dest/up/up -> dest; really 3 levels above
        elif chain == "link-to-a-link":
            _symlink(tar, "escape", "up/up/../..")  # lexically dest; really dest/..
        else:
            _symlink(tar, "deep", "a/b/c")
            _symlink(tar, "a/b/c", "../../../..")  # a link *to* which "deep" points, escaping
            info = tarfile.TarInfo("deep/evil.txt")
            info.size = 4
            tar.addfile(info, io.BytesIO(b"evil"))
    dest = tmp_path / "inner" / "dest"
    with tarfile.open(path) as tar, pytest.raises(DatasetError, match="refusing to extract"):
        safe_extract(tar, dest)
    assert list(dest.rglob("*")) == []
    assert not list(tmp_path.rglob("evil*"))


def test_safe_extract_refuses_to_write_through_a_link_already_in_the_folder_was_broken(tmp_path):
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "out").symlink_to(tmp_path)  # put there by someone else
    path = _write_tar(tmp_path / "x.tar", [("out/evil.txt", b"evil")], mode="w")
    with tarfile.open(path) as tar, pytest.raises(DatasetError, match="outside"):
        safe_extract(tar, dest)
    assert not (tmp_path / "evil.txt").exists()


def test_safe_extract_allows_links_that_stay_inside(tmp_path):
    path = tmp_path / "x.tar"
    with tarfile.open(path, "w") as tar:
        for name, payload in (("a/b/file.txt", b"hello"),):
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
        _symlink(tar, "a/here", "b/file.txt")
        _symlink(tar, "twice", "a/here")  # a link to a link, both inside
        _symlink(tar, "a/b/back", "../../a/b/file.txt")
    with tarfile.open(path) as tar:
        safe_extract(tar, tmp_path / "dest")
    for name in ("a/here", "twice", "a/b/back"):
        assert (tmp_path / "dest" / name).read_bytes() == b"hello"


# ------------------------------------------------------------------------------------------ class names


def _names_tar(path: Path, folders, **kw) -> Path:
    members = []
    for folder in folders:
        for split in ("train", "test"):
            members.append((f"{split}/{folder}/0.png", _png()))
    return _write_tar(path, members, **kw)


def test_unicode_class_folders_are_nfc_so_word_vectors_find_them_was_broken(tmp_path):
    """macOS writes "café" decomposed (e + U+0301): taken verbatim it is not in the vocabulary."""
    from zsl_core.semantic import OutOfVocabularyError, WordVectors

    nfd = unicodedata.normalize("NFD", "café")
    ds = load_dataset(_names_tar(tmp_path / "x.tar", [nfd, "dog"]))
    assert ds.class_names == ["café", "dog"]
    words = WordVectors.from_glove_package()
    words.vector(ds.class_names[0])  # found
    with pytest.raises(OutOfVocabularyError):
        words.vector(nfd)
    folder = tmp_path / "tree"  # the same on disk
    for split in ("train", "test"):
        for cls in (nfd, "dog"):
            (folder / split / cls).mkdir(parents=True)
            (folder / split / cls / "0.png").write_bytes(_png())
    assert load_dataset(folder).class_names == ["café", "dog"]


def test_latin1_folder_names_in_an_old_archive_was_broken(tmp_path):
    """Before: the undecodable name reached Dataset.fingerprint and failed with UnicodeEncodeError."""
    path = _names_tar(tmp_path / "old.tar", ["café", "dog"], mode="w", format=tarfile.GNU_FORMAT, encoding="latin-1")
    ds = load_dataset(path)
    assert ds.class_names == ["café", "dog"] and len(ds.fingerprint) == 20


@pytest.mark.parametrize("folders, message", [
    (["Cat", "cat", "dog"], "'Cat' and 'cat' name the same class"),
    (["pickup_truck", "pickup truck", "dog"], "name the same class"),
    (["café", unicodedata.normalize("NFD", "café"), "dog"], "name the same class"),
    (["___", "dog", "cat"], "has no letter or digit"),
    (["   ", "dog", "cat"], "has no letter or digit"),
    (["ca\tt", "dog"], "control characters"),
    (["ca\u200bt", "dog"], "control characters"),
])
def test_class_folders_that_clash_or_name_nothing_are_refused_was_broken(tmp_path, folders, message):
    with pytest.raises(DatasetError, match=message) as err:
        load_dataset(_names_tar(tmp_path / "x.tar", folders))
    assert "\n" not in str(err.value)
    assert _cached_datasets() == []


def test_train_and_test_spellings_that_differ_only_in_spaces_are_one_class_was_broken(tmp_path):
    members = [("train/cat /0.png", _png()), ("test/cat/0.png", _png()),
               ("train/dog/0.png", _png()), ("test/dog/0.png", _png())]
    ds = load_dataset(_write_tar(tmp_path / "x.tar", members))
    assert ds.class_names == ["cat", "dog"] and ds.warnings == ()


def test_out_of_vocabulary_folder_names_load_and_the_word_space_says_what_is_missing(tmp_path):
    from zsl_core.semantic import OutOfVocabularyError, WordVectors

    ds = load_dataset(_names_tar(tmp_path / "x.tar", ["elephnat", "zqxjvw", "cat"]))
    assert ds.class_names == ["cat", "elephnat", "zqxjvw"]
    with pytest.raises(OutOfVocabularyError) as err:
        WordVectors.from_glove_package().class_vectors(ds.class_names)
    assert "'elephnat'" in str(err.value) and "elephant" in err.value.suggestions


_NAME_CHARS = st.characters(blacklist_categories=("Cs",), blacklist_characters="/\\\0")


@settings(max_examples=300, deadline=None, database=None, derandomize=True)
@given(st.text(_NAME_CHARS, max_size=30))
def test_class_name_cleaning_is_stable(folder):
    name = class_name(folder)
    assert name == class_name(name) == name.strip()
    assert unicodedata.is_normalized("NFC", name)
    assert class_key(name) == class_key(class_key(name)) == class_key(name.upper().lower())


@settings(max_examples=300, deadline=None, database=None, derandomize=True)
@given(st.lists(st.text(_NAME_CHARS, max_size=12), max_size=6))
def test_split_class_never_fails(parts):
    found = split_class(tuple(parts))
    assert found is None or (found[0] in ("train", "test") and found[1] == parts[-2])


@settings(max_examples=25, deadline=None, database=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(st.text(_NAME_CHARS, min_size=1, max_size=10).filter(lambda s: not s.startswith(".")),
                min_size=2, max_size=4, unique=True))
def test_any_folder_names_give_clean_classes_or_one_clear_error(tmp_path_factory, folders):
    path = _names_tar(tmp_path_factory.mktemp("names") / "x.tar", folders)
    names = [class_name(f) for f in folders]
    invalid = any(not any(ch.isalnum() for ch in n) or
                  any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in n) for n in names)
    clash = len({class_key(n) for n in names}) < len(folders)
    try:
        ds = load_dataset(path, cache=False)
    except DatasetError as exc:
        assert invalid or clash, str(exc)
        assert "\n" not in str(exc)
        return
    assert not invalid and not clash
    assert ds.class_names == sorted(names)
    assert len(ds.train_labels) == len(folders) and ds.warnings == ()


# ------------------------------------------------------------------------------- small datasets, reports


def _noisy_folder(root: Path, n_train: int, n_test: int, classes=("cat", "dog", "ship", "truck"),
                  no_test=()) -> Path:
    """An image folder of 16x16 noisy colour patches (a colour per class), small enough for coates/16 atoms."""
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("test", n_test)):
        for ci, cls in enumerate(classes):
            if split == "test" and cls in no_test:
                continue
            for i in range(n):
                mean = np.clip([60 * ci, 255 - 60 * ci, 20 * i], 0, 255)
                pixels = np.clip(rng.normal(mean, 30, (16, 16, 3)), 0, 255).astype(np.uint8)
                path = root / split / cls / f"{i:03d}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(pixels).save(path)
    return root


def _reproduce(data: Path, out: Path, unseen=("cat", "truck")):
    from zsl_core.experiment import Config
    from zsl_core.reproduce import ReportOptions, run

    lines = []
    config = Config(data=str(data), features="coates", feature_params={"n_atoms": 16}, unseen=unseen)
    report = run(config, ReportOptions(out=str(out), n_distractors=2, tsne_points=100, skip_pairs=True),
                 log=lines.append)
    return report, lines


def test_a_dataset_too_small_for_loop_still_gets_its_report_was_broken(tmp_path):
    """Before: the Gaussian figures were printed, then LoOP raised, and the report folder stayed empty."""
    data = _noisy_folder(tmp_path / "small", n_train=8, n_test=2)
    report, lines = _reproduce(data, tmp_path / "rep")
    skip = next(i for i, line in enumerate(lines) if line.startswith("LoOP novelty detector: skipped"))
    features = next(i for i, line in enumerate(lines) if line.startswith("Features:"))
    assert skip < features  # said from the labels, before the features are computed
    assert "this dataset has 2 (15% of each seen class's training images are kept for validation: dog 1 of 8, " \
           "ship 1 of 8). To use LoOP, give each seen class at least 10 training images or hold out fewer " \
           "classes" in lines[skip]
    assert "--novelty" not in lines[skip]  # reproduce reports both detectors; it has no such option
    assert list(report["best_overall"]) == ["gaussian", "learned"] and "loop" in report["skipped_detectors"]
    saved = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert saved["skipped_detectors"]["loop"].startswith("LoOP needs at least 3 validation images")
    assert saved["seen_accuracy"] == report["seen_accuracy"]
    markdown = (tmp_path / "rep" / "report.md").read_text()
    assert "| loop | not run on this dataset: LoOP needs at least 3 validation images" in markdown
    assert "| gaussian |" in markdown


def test_the_command_line_refuses_loop_on_a_tiny_dataset_before_any_work_was_broken(tmp_path, capsys):
    from zsl_core.__main__ import main

    data = _noisy_folder(tmp_path / "small", n_train=8, n_test=2)
    photo = data / "test" / "dog" / "000.png"
    code = main(["classify", "--data", str(data), "--features", "coates", "--atoms", "16", "--novelty", "loop",
                 str(photo)])
    err = capsys.readouterr().err
    assert code == 2 and "error: LoOP needs at least 3 validation images of the seen classes" in err
    assert err.strip().endswith("or use the Gaussian novelty detector (--novelty gaussian).")
    assert not list((cache.cache_dir() / "features").glob("*"))  # nothing computed


def test_figures_of_a_held_out_class_without_test_images_are_not_available_was_broken(tmp_path):
    """Before: after warning that AUSUC is undefined, the report printed AUSUC 1.000 and the pair's 2-way figure,
    both measured on the other held-out class's images alone; report.md did not carry the warning."""
    data = _noisy_folder(tmp_path / "notest", n_train=20, n_test=4, no_test=("ship",))
    report, lines = _reproduce(data, tmp_path / "rep", unseen=("ship", "truck"))
    assert any(line.startswith("Dataset warning: no test images for 1 class(es): ship") for line in lines)
    detector_lines = [line for line in lines if line.startswith(("gaussian:", "loop:"))]
    assert len(detector_lines) == 2
    assert all("AUSUC n/a (no test images of ship);" in line for line in detector_lines), detector_lines
    assert "2-way zero-shot ship-truck: n/a (no test images of ship)" in lines
    saved = json.loads((tmp_path / "rep" / "report.json").read_text())
    assert saved["ausuc"] == {"gaussian": None, "loop": None, "learned": None}
    assert saved["zero_shot_pair_accuracy"] == {"ship-truck": None}
    assert saved["undefined"] == {"ausuc": "no test images of ship",
                                  "zero_shot_pair_accuracy": {"ship-truck": "no test images of ship"}}
    assert saved["novelty_auroc"]["gaussian"] is not None  # truck's images still measure the detector
    markdown = (tmp_path / "rep" / "report.md").read_text()
    assert "## Dataset warnings\n\n- no test images for 1 class(es): ship;" in markdown
    assert "| ship-truck (held out here) | n/a (no test images of ship) |" in markdown
    assert markdown.count("| n/a (no test images of ship) |") == 4  # the pair, and the AUSUC of each of 3 detectors
    assert "the unseen figures are measured on truck alone" in markdown
    assert "AUSUC 1.000" not in markdown
    table = markdown.split("## Every novelty detector")[1].split("\n\n")[2].splitlines()[2:]
    assert table and all(row.split(" | ")[2] == "—" for row in table), table  # AUSUC: undefined, not measured


def test_link_members_are_counted_as_skipped_in_tar_and_zip_alike_was_broken(tmp_path):
    """Before: a tar's links were dropped without a word, while a ZIP's were skipped as 'text, not an image'."""
    import stat
    import zipfile

    from zsl_core.data import load_uploaded_dataset

    members = _members(n_train=3, n_test=1, prefix="")
    tar_path = _write_tar(tmp_path / "links.tar", members, mode="w")
    with tarfile.open(tar_path, "a") as tar:
        _symlink(tar, "train/cat/link.png", "000.png")
    zip_path = tmp_path / "links.zip"
    with zipfile.ZipFile(zip_path, "w") as archive:
        for name, payload in members:
            archive.writestr(name, payload)
        link = zipfile.ZipInfo("train/cat/link.png")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "000.png")
    expected = "train/cat/link.png: a link, not an image file (links in an archive are not followed)"
    for ds in (load_dataset(tar_path), load_uploaded_dataset(tar_path.read_bytes(), "links.tar"),
               load_uploaded_dataset(zip_path.read_bytes(), "links.zip")):
        (skipped,) = [w for w in ds.warnings if w.kind == "skipped"]
        assert skipped.count == 1 and skipped.examples == (expected,)
        assert "skipped 1 unreadable file(s) of 13 (train/cat: 1 of 4)" in skipped
        assert len(ds.train_labels) == 9  # every real image is used


def test_many_features_skip_the_learned_gate_with_a_line_in_the_report(tmp_path, monkeypatch):
    """At 12,800 features each pseudo-unseen split of the learned gate refits the map, a softmax and the feature
    detectors (minutes each): reproduce reports the others and says why the gate is missing. Here the limit of
    "many features" is lowered so that 128-d features count as many."""
    from zsl_core.model import statistics as statistics_module

    monkeypatch.setattr(statistics_module, "_PER_CLASS_GRAM_MAX_DIM", 64)
    data = _noisy_folder(tmp_path / "medium", n_train=30, n_test=4)
    report, lines = _reproduce(data, tmp_path / "rep")
    assert any(line.startswith("Learned gate: skipped. the learned gate is not trained at 128 features") for line in
               lines), lines
    assert list(report["best_overall"]) == ["gaussian", "loop"] and "learned" in report["skipped_detectors"]
    assert report["detectors"] is None and report["seen_accuracy"] > 0
    markdown = (tmp_path / "rep" / "report.md").read_text()
    assert "| learned | not run on this dataset: the learned gate is not trained at 128 features" in markdown
    assert "## Every novelty detector" not in markdown
