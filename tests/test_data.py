"""Tests of zsl_core.data: both dataset layouts, download + verify, safe extraction, caching, prepare_image.

Every archive is built on the fly in ``tmp_path`` (a few images each) and downloads go to a loopback HTTP
server, so nothing touches the internet. One test reads the real shared CIFAR-10 image-folder archive when it
is present; it is slow only the first time (it fills the real cache, which later runs reuse).
"""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import pickle
import struct
import tarfile
import threading
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zsl_core import data
from zsl_core.data import Dataset, DatasetError, load_dataset, prepare_image, safe_extract

NAMES = ["cat", "dog", "ship"]


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory, monkeypatch):
    """Every test gets its own empty cache and data folder (the real-data fixture is session-scoped and set
    up before this runs, so it keeps the user's real cache)."""
    monkeypatch.setenv("ZSL_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("ZSL_DATA_DIR", str(tmp_path_factory.mktemp("data")))


# ------------------------------------------------------------------------------------------------ builders


def _random_split(rng, n_per_class, n_classes=len(NAMES)):
    labels = np.repeat(np.arange(n_classes), n_per_class)
    rng.shuffle(labels)
    images = rng.integers(0, 256, size=(len(labels), 32, 32, 3), dtype=np.uint8)
    return images, labels


def _batch_bytes(images, labels, protocol=2):
    # The real batches: {b'data': (n, 3072) uint8, rows = R plane, G plane, B plane; b'labels': [int]}.
    flat = images.transpose(0, 3, 1, 2).reshape(len(images), 3072)
    return pickle.dumps({b"batch_label": b"testing", b"labels": [int(x) for x in labels], b"data": flat,
                         b"filenames": [b"x.png"] * len(labels)}, protocol=protocol)


def _add_bytes(tar, name, payload):
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))


def make_official(path: Path, seed=0):
    """A tiny cifar-10-python.tar.gz: 5 train batches of 6 images and a test batch of 3."""
    rng = np.random.default_rng(seed)
    train = [_random_split(rng, 2) for _ in range(5)]
    test = _random_split(rng, 1)
    with tarfile.open(path, "w:gz") as tar:
        for i, (x, y) in enumerate(train, 1):
            _add_bytes(tar, f"cifar-10-batches-py/data_batch_{i}", _batch_bytes(x, y, protocol=2 if i % 2 else 4))
        _add_bytes(tar, "cifar-10-batches-py/test_batch", _batch_bytes(*test))
        meta = {b"num_cases_per_batch": 6, b"label_names": [n.encode() for n in NAMES], b"num_vis": 3072}
        _add_bytes(tar, "cifar-10-batches-py/batches.meta", pickle.dumps(meta, protocol=2))
    x_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return x_train, y_train, test[0], test[1]


def _md5(path):
    return hashlib.md5(Path(path).read_bytes()).hexdigest()


def _png(array):
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


def make_imagefolder(root: Path, seed=0, n_per_class=2):
    """train/<class>/*.png and test/<class>/*.png with random 32x32 pixels; returns the expected arrays."""
    rng = np.random.default_rng(seed)
    expected = {}
    for split, n in (("train", n_per_class), ("test", 1)):
        xs, ys = [], []
        for c, name in enumerate(NAMES):
            for i in range(n):
                x = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
                folder = root / split / name
                folder.mkdir(parents=True, exist_ok=True)
                (folder / f"{i:04d}.png").write_bytes(_png(x))
                xs.append(x)
                ys.append(c)
        expected[split] = (np.stack(xs), np.array(ys))
    return expected


def _sorted_by(images, labels):
    # Files are read in (class, name) order from a folder but in tar order from an archive: compare as sets.
    order = np.lexsort((images.reshape(len(images), -1).sum(1), labels))
    return images[order], labels[order]


# ------------------------------------------------------------------------------------------- official


def test_official_archive_loads_with_verified_md5(tmp_path):
    archive = tmp_path / "cifar-10-python.tar.gz"
    x_train, y_train, x_test, y_test = make_official(archive)
    ds = load_dataset(archive, md5=_md5(archive))
    assert ds.name == "CIFAR-10"
    assert ds.class_names == NAMES
    assert ds.train_images.shape == (30, 32, 32, 3) and ds.train_images.dtype == np.uint8
    assert ds.train_labels.dtype == np.int64
    np.testing.assert_array_equal(ds.train_images, x_train)
    np.testing.assert_array_equal(ds.train_labels, y_train)
    np.testing.assert_array_equal(ds.test_images, x_test)
    np.testing.assert_array_equal(ds.test_labels, y_test)


def test_official_archive_with_wrong_md5_is_refused_and_kept(tmp_path):
    archive = tmp_path / "cifar-10-python.tar.gz"
    make_official(archive)
    with pytest.raises(DatasetError, match="checksum mismatch"):
        load_dataset(archive)  # default md5 is the real archive's
    assert archive.exists()  # a file the user named is never deleted


def test_wrong_md5_advice_is_one_a_command_line_user_can_follow_was_broken(tmp_path):
    """Before: "load it with md5=None" (an API argument; the CLI and app have none), and the progress line
    "Verifying archive checksum: [---...] 0/1" was left unfinished above the error."""
    from zsl_core.progress import TerminalProgress

    archive = tmp_path / "cifar-10-python.tar.gz"
    x_train, y_train, _, _ = make_official(archive)  # a re-packed copy: same images, another MD5
    steps = []
    with pytest.raises(DatasetError) as err:
        load_dataset(archive, progress=lambda step, done, total: steps.append((step, done, total)))
    message = str(err.value)
    assert "md5=None" not in message and "\n" not in message
    assert message.endswith("For a copy you trust, extract it (tar -xzf cifar-10-python.tar.gz) and pass the "
                            "extracted cifar-10-batches-py folder instead (--data PATH on the command line, the "
                            "data field in the app).")
    assert steps[-1] == ("Verifying archive checksum", 1, 1)
    # The advice works: extracted, the same copy loads through the command line's own path.
    with tarfile.open(archive) as tar:
        safe_extract(tar, tmp_path)
    ds = load_dataset(tmp_path / "cifar-10-batches-py", cache=False)
    np.testing.assert_array_equal(ds.train_images, x_train)
    # The command line shows the finished check, then the error (progress lines end with "done").
    buf = io.StringIO()
    progress = TerminalProgress(stream=buf)
    with pytest.raises(DatasetError):
        load_dataset(archive, progress=progress)
    progress.close()
    shown = [line for line in buf.getvalue().replace("\r", "\n").splitlines() if "checksum" in line]
    assert "1/1 done" in shown[-1], shown


def test_extracted_official_folder_loads(tmp_path):
    archive = tmp_path / "src.tar.gz"
    x_train, y_train, _, _ = make_official(archive)
    with tarfile.open(archive) as tar:
        safe_extract(tar, tmp_path / "out")
    for source in (tmp_path / "out", tmp_path / "out" / "cifar-10-batches-py"):
        ds = load_dataset(source, cache=False)
        np.testing.assert_array_equal(ds.train_images, x_train)
        np.testing.assert_array_equal(ds.train_labels, y_train)


def test_malicious_pickle_is_refused_without_running(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name in data.cifar10._TRAIN_BATCHES + ("test_batch",):
        (folder / name).write_bytes(_batch_bytes(*_random_split(rng, 1)))
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [Evil(), b"a", b"b"]}))
    with pytest.raises(DatasetError, match="may not reference"):
        load_dataset(folder)
    assert not (tmp_path / "pwned").exists()


# ---------------------------------------------------------------------------------------- image folder


def test_imagefolder_folder_and_tar_agree_and_round_trip(tmp_path):
    expected = make_imagefolder(tmp_path / "pets" / "pets")
    from_dir = load_dataset(tmp_path / "pets")  # one top-level folder above train/ and test/
    archive = tmp_path / "pets.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "pets" / "pets", arcname="pets")
    from_tar = load_dataset(archive)
    plain = tmp_path / "flat.tar"  # no top-level folder, uncompressed
    with tarfile.open(plain, "w") as tar:
        for split in ("train", "test"):
            tar.add(tmp_path / "pets" / "pets" / split, arcname=split)
    from_plain = load_dataset(plain)
    assert from_tar.name == "pets"
    for ds in (from_dir, from_tar, from_plain):
        assert ds.class_names == sorted(NAMES)
        assert ds.warnings == ()
        for split in ("train", "test"):
            got = _sorted_by(getattr(ds, f"{split}_images"), getattr(ds, f"{split}_labels"))
            want = _sorted_by(*expected[split])
            np.testing.assert_array_equal(got[0], want[0])  # PNG is lossless: exact pixels
            np.testing.assert_array_equal(got[1], want[1])


def test_imagefolder_resizes_converts_and_skips_unreadable(tmp_path):
    make_imagefolder(tmp_path)
    Image.new("L", (64, 48), 200).save(tmp_path / "train" / "cat" / "big_grey.png")
    (tmp_path / "train" / "dog" / "notes.jpg").write_text("not an image")
    (tmp_path / "train" / "dog" / ".DS_Store").write_bytes(b"\0\1")  # hidden files are ignored silently
    ds = load_dataset(tmp_path)
    assert len(ds.train_labels) == 7  # 6 + the resized grey one; the text file is skipped
    grey = ds.train_images[np.all(ds.train_images == 200, axis=(1, 2, 3))]
    assert len(grey) == 1
    assert len(ds.warnings) == 1 and "skipped 1 unreadable" in ds.warnings[0] and "notes.jpg" in ds.warnings[0]
    assert "warning" in ds.describe()


@pytest.mark.parametrize("breakage, message", [
    ("no_test", "no test/ folder"),
    ("one_class", "at least 2 classes"),
    ("all_unreadable", "no readable images under test/"),
    ("empty", "no train/<class>/<image>"),
])
def test_imagefolder_bad_layouts(tmp_path, breakage, message):
    if breakage == "empty":
        (tmp_path / "train").mkdir()
        (tmp_path / "test").mkdir()
    else:
        make_imagefolder(tmp_path)
    if breakage == "no_test":
        for f in (tmp_path / "test").rglob("*.png"):
            f.unlink()
        for d in sorted((tmp_path / "test").rglob("*"), reverse=True):
            d.rmdir()
        (tmp_path / "test").rmdir()
    elif breakage == "one_class":
        for split in ("train", "test"):
            for name in NAMES[1:]:
                for f in (tmp_path / split / name).iterdir():
                    f.unlink()
                (tmp_path / split / name).rmdir()
    elif breakage == "all_unreadable":
        for f in (tmp_path / "test").rglob("*.png"):
            f.write_bytes(b"")
    with pytest.raises(DatasetError, match=message):
        load_dataset(tmp_path)


def test_missing_and_unknown_sources(tmp_path):
    with pytest.raises(DatasetError, match=r"does not exist.*ZSL_DATA_DIR"):
        load_dataset(tmp_path / "nowhere")
    (tmp_path / "readme.txt").write_text("hello")
    with pytest.raises(DatasetError, match="neither a folder nor a tar archive"):
        load_dataset(tmp_path / "readme.txt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no dataset found"):
        load_dataset(tmp_path / "empty")


def test_empty_data_dir_without_download_says_how_to_point_at_a_copy(tmp_path, monkeypatch):
    monkeypatch.setenv("ZSL_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetError) as err:
        load_dataset(None, download=False)
    msg = str(err.value)
    assert str(tmp_path) in msg and "--data PATH" in msg and "ZSL_DATA_DIR" in msg and "train/<class>" in msg


def test_data_dir_is_searched_for_any_layout(tmp_path, monkeypatch):
    monkeypatch.setenv("ZSL_DATA_DIR", str(tmp_path))
    make_imagefolder(tmp_path / "src")
    with tarfile.open(tmp_path / "mine.tgz", "w:gz") as tar:
        tar.add(tmp_path / "src", arcname="mine")
    for f in sorted((tmp_path / "src").rglob("*"), reverse=True):
        f.unlink() if f.is_file() else f.rmdir()
    (tmp_path / "src").rmdir()
    ds = load_dataset(None, download=False)
    assert ds.name == "mine" and ds.n_classes == 3


# ------------------------------------------------------------------------------------------- download


class _Server:
    """A loopback HTTP server; ``mode`` chooses between a good response, a truncated one and a 404."""

    def __init__(self, payload: bytes):
        self.payload, self.mode, self.hits = payload, "ok", 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                outer.hits += 1
                if outer.mode == "404":
                    self.send_error(404)
                    return
                body = outer.payload
                sent = body[: len(body) // 2] if outer.mode == "truncated" else body
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))  # promises the whole body
                self.end_headers()
                self.wfile.write(sent)
                self.wfile.flush()
                self.close_connection = True

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/cifar-10-python.tar.gz"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(tmp_path):
    archive = tmp_path / "served.tar.gz"
    expected = make_official(archive)
    srv = _Server(archive.read_bytes())
    srv.md5 = _md5(archive)
    srv.expected = expected
    yield srv
    srv.close()


def test_download_reports_progress_and_loads(server, tmp_path, monkeypatch):
    monkeypatch.setenv("ZSL_DATA_DIR", str(tmp_path / "data"))
    calls = []
    ds = load_dataset(None, url=server.url, md5=server.md5, progress=lambda *a: calls.append(a))
    np.testing.assert_array_equal(ds.train_images, server.expected[0])
    downloads = [(done, total) for step, done, total in calls if step == "Downloading CIFAR-10"]
    total = len(server.payload)
    assert downloads[0] == (0, total) and downloads[-1] == (total, total)
    assert all(a[0] <= b[0] for a, b in zip(downloads, downloads[1:]))
    # The archive, and the marker that says we wrote it (so only it may ever be replaced).
    assert sorted(os.listdir(tmp_path / "data")) == [".cifar-10-python.tar.gz.zsl-download", "cifar-10-python.tar.gz"]
    # The archive is there now: the next load neither downloads nor decodes.
    load_dataset(None, url=server.url, md5=server.md5)
    assert server.hits == 1


def test_download_with_wrong_checksum_removes_partial_file(server, tmp_path):
    dest = tmp_path / "dl"
    with pytest.raises(DatasetError, match=f"checksum mismatch.*expected MD5 {'0' * 32}, got {server.md5}"):
        data.download_cifar10(dest, url=server.url, md5="0" * 32)
    assert os.listdir(dest) == []
    # The same download with the right checksum succeeds and the archive loads.
    path = data.download_cifar10(dest, url=server.url, md5=server.md5)
    assert load_dataset(path, md5=server.md5).class_names == NAMES


@pytest.mark.parametrize("mode, message", [("truncated", "could not download|stopped after"),
                                           ("404", "could not download")])
def test_download_failure_leaves_nothing(server, tmp_path, mode, message):
    server.mode = mode
    dest = tmp_path / "dl"
    with pytest.raises(DatasetError, match=message) as err:
        data.download_cifar10(dest, url=server.url, md5=server.md5)
    assert "ZSL_DATA_DIR" in str(err.value)
    assert os.listdir(dest) == []


def test_unreachable_server_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("ZSL_DATA_DIR", str(tmp_path))
    srv = _Server(b"")
    url = srv.url
    srv.close()  # nothing listens on that port any more
    with pytest.raises(DatasetError, match="could not download CIFAR-10"):
        load_dataset(None, url=url, md5="0" * 32)
    assert os.listdir(tmp_path) == []


def test_our_own_download_damaged_in_place_is_replaced_only_when_downloading(server, tmp_path, monkeypatch):
    monkeypatch.setenv("ZSL_DATA_DIR", str(tmp_path))
    archive = data.download_cifar10(tmp_path, url=server.url, md5=server.md5)
    assert server.hits == 1
    # Bit rot: same size and time, different bytes. The marker still says the file is ours.
    st = archive.stat()
    raw = bytearray(archive.read_bytes())
    raw[-20] ^= 0xFF
    archive.write_bytes(bytes(raw))
    os.utime(archive, ns=(st.st_atime_ns, st.st_mtime_ns))
    with pytest.raises(DatasetError, match="checksum mismatch"):
        load_dataset(None, url=server.url, md5=server.md5, download=False)
    assert server.hits == 1
    ds = load_dataset(None, url=server.url, md5=server.md5)
    assert server.hits == 2 and ds.class_names == NAMES
    assert _md5(tmp_path / "cifar-10-python.tar.gz") == server.md5


# ---------------------------------------------------------------------------------------- safe extract


def _tar_with(tmp_path, build) -> Path:
    path = tmp_path / "x.tar"
    with tarfile.open(path, "w") as tar:
        build(tar)
    return path


@pytest.mark.parametrize("kind", ["dotdot", "absolute", "symlink_out", "hardlink_out"])
def test_safe_extract_rejects_escapes(tmp_path, kind):
    def build(tar):
        _add_bytes(tar, "ok/fine.txt", b"fine")
        if kind == "dotdot":
            _add_bytes(tar, "../evil", b"evil")
        elif kind == "absolute":
            _add_bytes(tar, str(tmp_path / "evil"), b"evil")
        else:
            info = tarfile.TarInfo("ok/link")
            info.type = tarfile.SYMTYPE if kind == "symlink_out" else tarfile.LNKTYPE
            info.linkname = "../../evil" if kind == "symlink_out" else "../evil"
            tar.addfile(info)

    dest = tmp_path / "dest"
    with tarfile.open(_tar_with(tmp_path, build)) as tar, pytest.raises(DatasetError, match="refusing to extract"):
        safe_extract(tar, dest)
    assert not (tmp_path / "evil").exists()
    assert list(dest.rglob("*")) == []  # checked before anything is written


def test_safe_extract_extracts_a_clean_archive(tmp_path):
    def build(tar):
        _add_bytes(tar, "a/b.txt", b"hello")
        info = tarfile.TarInfo("a/link")
        info.type, info.linkname = tarfile.SYMTYPE, "b.txt"
        tar.addfile(info)

    with tarfile.open(_tar_with(tmp_path, build)) as tar:
        files = safe_extract(tar, tmp_path / "dest")
    assert files == [(tmp_path / "dest" / "a" / "b.txt").resolve()]
    assert (tmp_path / "dest" / "a" / "link").read_bytes() == b"hello"


# ------------------------------------------------------------------------------------------------- cache


def test_second_load_hits_cache_and_corrupt_cache_is_rebuilt(tmp_path):
    make_imagefolder(tmp_path / "ds")
    archive = tmp_path / "ds.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "ds", arcname="ds")
    first_calls, second_calls, third_calls = [], [], []
    first = load_dataset(archive, progress=lambda *a: first_calls.append(a))
    assert any(step.startswith("Decoding") for step, *_ in first_calls)
    second = load_dataset(archive, progress=lambda *a: second_calls.append(a))
    assert second_calls == []  # served from the cache: nothing decoded
    assert second.fingerprint == first.fingerprint
    (cached,) = (Path(os.environ["ZSL_CACHE_DIR"]) / "datasets").glob("*.npz")
    blob = bytearray(cached.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    cached.write_bytes(bytes(blob))
    third = load_dataset(archive, progress=lambda *a: third_calls.append(a))
    assert any(step.startswith("Decoding") for step, *_ in third_calls)  # detected, decoded again
    assert third.fingerprint == first.fingerprint


def test_changed_source_is_not_served_stale_cache(tmp_path):
    make_imagefolder(tmp_path)
    first = load_dataset(tmp_path)
    target = tmp_path / "train" / "cat" / "0000.png"
    target.write_bytes(_png(np.zeros((32, 32, 3), np.uint8)))
    os.utime(target, ns=(1, 1))
    second = load_dataset(tmp_path)
    assert second.fingerprint != first.fingerprint


# ----------------------------------------------------------------------------------------------- Dataset


def _toy_dataset(n_train=10, n_test=4):
    rng = np.random.default_rng(1)
    xtr, ytr = _random_split(rng, n_train)
    xte, yte = _random_split(rng, n_test)
    return Dataset("toy", NAMES, xtr, ytr, xte, yte)


def test_dataset_subset_is_stratified_and_deterministic():
    ds = _toy_dataset()
    sub = ds.subset(3, None, seed=5)
    assert list(sub.counts("train")) == [3, 3, 3] and len(sub.test_labels) == len(ds.test_labels)
    assert sub.class_names == ds.class_names
    again = ds.subset(3, None, seed=5)
    assert again.fingerprint == sub.fingerprint
    assert ds.subset(3, None, seed=6).fingerprint != sub.fingerprint
    assert list(ds.subset(100, 1).counts("test")) == [1, 1, 1]
    assert list(ds.subset(100, 1).counts("train")) == [10, 10, 10]  # fewer than asked: all of them
    assert ds.subset(None, None) is ds
    with pytest.raises(ValueError, match="positive integer"):
        ds.subset(0, None)


def test_dataset_basics_and_validation():
    ds = _toy_dataset()
    assert ds.n_classes == 3 and ds.class_index("dog") == 1
    with pytest.raises(KeyError, match="cat, dog, ship"):
        ds.class_index("horse")
    assert "toy: 3 classes, 30 train / 12 test" in ds.describe()
    fp = ds.fingerprint
    assert fp == ds.fingerprint == _toy_dataset().fingerprint
    with pytest.raises(ValueError):
        ds.train_images[0, 0, 0, 0] = 1  # read-only, so the memoised fingerprint cannot go stale
    with pytest.raises(Exception):
        ds.name = "other"  # frozen
    copy = pickle.loads(pickle.dumps(ds))  # as st.cache_data does
    assert copy.fingerprint == fp and not copy.train_images.flags.writeable
    x = np.zeros((2, 32, 32, 3), np.uint8)
    with pytest.raises(DatasetError, match="at least 2 classes"):
        Dataset("d", ["a"], x, np.zeros(2), x, np.zeros(2))
    with pytest.raises(DatasetError, match=r"lie in \[0, 2\)"):
        Dataset("d", ["a", "b"], x, np.array([0, 2]), x, np.array([0, 1]))
    with pytest.raises(DatasetError, match="uint8 of shape"):
        Dataset("d", ["a", "b"], x[:, :16], np.array([0, 1]), x, np.array([0, 1]))


# ------------------------------------------------------------------------------------------ prepare_image


def _encode(image, fmt, **kw):
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kw)
    return buf.getvalue()


def test_prepare_image_rejects_non_images_clearly():
    with pytest.raises(DatasetError, match="empty"):
        prepare_image(b"")
    with pytest.raises(DatasetError, match="not an image"):
        prepare_image(b"Dear diary, today I renamed a text file to .jpg", name="diary.jpg")
    png = _png(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    with pytest.raises(DatasetError, match="truncated or corrupt"):
        prepare_image(png[: len(png) // 2])
    jpg = _encode(Image.new("RGB", (64, 64), "red"), "JPEG")
    with pytest.raises(DatasetError, match="truncated or corrupt"):
        prepare_image(jpg[: len(jpg) // 2])


def test_prepare_image_refuses_decompression_bombs():
    # A PNG header claiming 20000x20000 pixels: refused from the header alone, before any decoding.
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0))
    bomb = header + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")
    with pytest.raises(DatasetError, match="too large"):
        prepare_image(bomb)


def test_prepare_image_handles_a_50_megapixel_photo(tmp_path):
    big = Image.new("RGB", (8000, 6250), (10, 120, 230))
    big.paste((250, 250, 0), (3000, 2125, 5000, 4125))  # a centred yellow square, 2000 px wide
    path = tmp_path / "photo.jpg"
    big.save(path, quality=70)
    del big
    out = prepare_image(path)
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    # The crop is the central 6250x6250 square: the yellow block spans its middle ~10 pixels.
    assert np.abs(out[16, 16].astype(int) - (250, 250, 0)).max() < 12
    assert np.abs(out[2, 2].astype(int) - (10, 120, 230)).max() < 12


def test_prepare_image_modes_and_inputs():
    rgb = np.zeros((40, 80, 3), np.uint8)
    rgb[:, 20:60] = (0, 255, 0)  # centre-crop keeps only the green middle
    assert (prepare_image(rgb)[:, :, 1] == 255).all()
    assert prepare_image(Image.fromarray(rgb), size=8).shape == (8, 8, 3)
    assert prepare_image(io.BytesIO(_png(rgb)))[0, 0].tolist() == [0, 255, 0]

    grey16 = Image.fromarray(np.full((20, 20), 65535, np.uint16))
    assert (prepare_image(_encode(grey16, "PNG")) == 255).all()  # 16-bit white stays white
    assert (prepare_image(np.full((5, 5), 0.5)) == 128).all()  # float in [0, 1]
    rgba = np.zeros((32, 32, 4), np.uint8)  # fully transparent -> white background
    assert (prepare_image(_encode(Image.fromarray(rgba), "PNG")) == 255).all()
    palette = Image.new("P", (32, 32), 3)
    palette.putpalette([0, 0, 0] * 3 + [255, 0, 0] + [0, 0, 0] * 252)
    assert prepare_image(_encode(palette, "PNG"))[5, 5].tolist() == [255, 0, 0]
    cmyk = Image.new("CMYK", (32, 32), (0, 255, 255, 0))  # red in CMYK
    assert np.abs(prepare_image(_encode(cmyk, "JPEG")).astype(int) - (255, 0, 0)).max() < 10
    with pytest.raises(DatasetError, match="shape"):
        prepare_image(np.zeros((4, 4, 2)))


def test_prepare_image_gif_gives_first_frame():
    frames = [Image.new("RGB", (32, 32), c) for c in ((255, 0, 0), (0, 0, 255))]
    gif = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(gif)).n_frames == 2
    out = prepare_image(gif)
    assert np.abs(out.astype(int) - (255, 0, 0)).max() < 8


# -------------------------------------------------------------------------------------- real dataset


def test_real_cifar10_archive(real_cifar):
    ds = real_cifar
    assert ds.class_names == ["airplane", "automobile", "bird", "cat", "deer",
                              "dog", "frog", "horse", "ship", "truck"]
    assert ds.train_images.shape == (50000, 32, 32, 3) and ds.test_images.shape == (10000, 32, 32, 3)
    assert list(ds.counts("train")) == [5000] * 10 and list(ds.counts("test")) == [1000] * 10
    assert ds.warnings == ()
    assert 60 < ds.train_images.mean() < 200  # real photos, not blank decodes


def test_data_dir_env_may_name_the_archive_itself(tmp_path, monkeypatch):
    expected = make_imagefolder(tmp_path / "tree")
    archive = tmp_path / "mine.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "tree", arcname="mine")
    monkeypatch.setenv("ZSL_DATA_DIR", str(archive))
    ds = load_dataset(None, download=False)
    assert ds.class_names == sorted(NAMES)
    assert len(ds.train_labels) == len(expected["train"][1])


def test_data_dir_env_that_cannot_be_a_folder_gives_a_clear_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("ZSL_DATA_DIR", str(blocker / "sub"))
    with pytest.raises(DatasetError, match="cannot use the data folder"):
        load_dataset(None, download=False)
