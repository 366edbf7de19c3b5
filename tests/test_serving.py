"""A shared server (issue 7): localhost by default, dataset paths confined to allowed folders, uploaded datasets.

Tests named ``*_was_broken`` failed before: the app listened on every interface and a typed path told a
visitor whether it existed. Uploads are new (``load_uploaded_dataset``); their hostile cases are generated
here.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from zsl_core.data import (ALLOWED_DIRS_ENV, DatasetError, check_allowed_path, load_dataset,
                           load_uploaded_dataset, public_message, serving)

REPO = Path(__file__).resolve().parents[1]
REFUSED = "this dataset path is not available on this server"


@pytest.fixture(autouse=True)
def _isolated(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("ZSL_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    monkeypatch.setenv("ZSL_DATA_DIR", str(tmp_path_factory.mktemp("data")))
    monkeypatch.delenv(ALLOWED_DIRS_ENV, raising=False)


def _png(seed: int) -> bytes:
    buf = io.BytesIO()
    pixels = np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


FILES = {f"{split}/{cls}/{i}.png": _png(hash((split, cls, i)) % 2**32)
         for split, n in (("train", 3), ("test", 2)) for cls in ("cat", "dog", "ship") for i in range(n)}


def _folder(root: Path) -> Path:
    for name, payload in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(payload)
    return root


def _zip(files: dict, prefix: str = "pets/") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, payload in files.items():
            archive.writestr(prefix + name, payload)
    return buf.getvalue()


def _tar_gz(files: dict, prefix: str = "pets/") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, payload in files.items():
            info = tarfile.TarInfo(prefix + name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


def _contents(ds, split: str) -> list:
    images, labels = getattr(ds, f"{split}_images"), getattr(ds, f"{split}_labels")
    return sorted((int(label), image.tobytes()) for image, label in zip(images, labels))


# ----------------------------------------------------------------------------------------- localhost


def test_the_app_binds_to_localhost_by_default_was_broken():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "localhost"
    guide = (REPO / "docs" / "SERVING.md").read_text()
    assert "--server.address 0.0.0.0" in guide and ALLOWED_DIRS_ENV in guide


# ------------------------------------------------------------------------------------ allowed folders


def test_without_the_setting_paths_are_taken_as_typed(tmp_path):
    assert check_allowed_path("~/x") == Path("~/x").expanduser()
    assert check_allowed_path(tmp_path / "anything") == tmp_path / "anything"


@pytest.fixture
def confined(tmp_path, monkeypatch):
    allowed = tmp_path / "allowed"
    other = tmp_path / "also"
    _folder(allowed / "pets")
    other.mkdir()
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "passwords.txt").write_text("hunter2")
    (allowed / "sneaky").symlink_to(tmp_path / "secret")
    monkeypatch.setenv(ALLOWED_DIRS_ENV, os.pathsep.join([str(allowed), str(other)]))
    return tmp_path


def test_paths_inside_allowed_folders_resolve(confined):
    allowed = (confined / "allowed").resolve()
    assert check_allowed_path(allowed / "pets") == allowed / "pets"
    assert check_allowed_path("pets") == allowed / "pets"  # relative: looked up in the allowed folders
    assert check_allowed_path(str(allowed / "pets" / ".." / "pets")) == allowed / "pets"
    assert check_allowed_path("new-name") == allowed / "new-name"  # inside, even if missing
    assert load_dataset("pets").class_names == ["cat", "dog", "ship"]


@pytest.mark.parametrize("typed", [
    "/etc/passwd", "/etc", "/no/such/folder", "../secret", "../secret/passwords.txt", "sneaky",
    "sneaky/passwords.txt", "~", "~/.ssh", "", "   ", "pets\0/x", "/",
])
def test_paths_outside_allowed_folders_get_one_message_that_reveals_nothing_was_broken(confined, typed):
    """Before: "/no/such/folder does not exist" told a visitor what is and is not on the server."""
    roots = [(confined / name).resolve() for name in ("allowed", "also")]
    try:
        # A relative name may stand for a (missing) file inside an allowed folder: that is all it can be.
        resolved = check_allowed_path(typed)
        assert any(root in resolved.parents for root in roots) and not resolved.exists()
    except DatasetError as err:
        assert str(err) == serving.REFUSED
    with pytest.raises(DatasetError) as loaded:
        load_dataset(typed)
    # One fixed sentence for every refusal: nothing typed is echoed, nothing says whether it exists.
    assert str(loaded.value) == serving.REFUSED
    assert serving.REFUSED.startswith(REFUSED) and "exist" not in serving.REFUSED


def test_public_message_shows_no_server_folder(confined, monkeypatch):
    allowed = (confined / "allowed").resolve()
    archive = allowed / "pets" / "broken.tar.gz"
    archive.write_bytes(b"\x1f\x8b" + bytes(100))
    with pytest.raises(DatasetError) as err:
        load_dataset("pets/broken.tar.gz")
    assert str(allowed) in str(err.value)  # the engine's message, for the server's own log
    shown = public_message(str(err.value))
    assert shown.startswith("pets/broken.tar.gz is damaged") and str(confined) not in shown
    monkeypatch.setenv("ZSL_CACHE_DIR", str(confined / "cache"))
    assert public_message(f"cannot write to the cache folder {confined / 'cache'} (x)") == \
        "cannot write to the cache folder $ZSL_CACHE_DIR (x)"
    assert str(Path.home()) not in public_message(f"{Path.home()}/photos/cat.jpg is not a regular file")


# ------------------------------------------------------------------------------------------- uploads


@pytest.mark.parametrize("pack", [_zip, _tar_gz])
def test_an_uploaded_archive_loads_like_the_same_folder(tmp_path, pack):
    expected = load_dataset(_folder(tmp_path / "pets"))
    steps = []
    ds = load_uploaded_dataset(pack(FILES), "pets.zip", progress=lambda *a: steps.append(a))
    assert ds.class_names == expected.class_names and ds.warnings == ()
    for split in ("train", "test"):
        assert _contents(ds, split) == _contents(expected, split)  # the same images under the same labels
    assert steps and steps[-1][1] == steps[-1][2]
    # A Streamlit UploadedFile is a BytesIO: file objects work too.
    assert load_uploaded_dataset(io.BytesIO(pack(FILES)), "pets").n_classes == 3


def test_hostile_member_names_are_labels_never_paths(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    hostile = dict(FILES)
    hostile.update({"../../evil/train/cat/x.png": _png(1), "/etc/train/cat/x.png": _png(2),
                    "train/../../../x.png": _png(3), "C:\\Users\\evil\\train\\cat\\x.png": _png(4),
                    "train/cat/../../../../tmp/x.png": _png(5)})
    before = sorted(p for p in tmp_path.parent.rglob("*") if "evil" in p.name or p.name == "x.png")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for name, payload in hostile.items():
            archive.writestr(zipfile.ZipInfo(name), payload)  # ZipInfo keeps the name exactly as given
        link = zipfile.ZipInfo("train/cat/link.png")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16  # a "symlink" entry: just bytes to us
        archive.writestr(link, "/etc/passwd")
    ds = load_uploaded_dataset(buf.getvalue(), "hostile.zip")
    assert ds.class_names == ["cat", "dog", "ship"]
    assert len(ds.train_labels) == 9 and len(ds.test_labels) == 6  # the hostile names were not in the layout
    (skipped,) = ds.warnings
    assert skipped.kind == "skipped" and skipped.count == 1 and "train/cat/link.png" in skipped
    after = sorted(p for p in tmp_path.parent.rglob("*") if "evil" in p.name or p.name == "x.png")
    assert after == before  # nothing was written anywhere


def test_zip_names_in_utf8_without_the_utf8_flag_keep_their_accents():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for split in ("train", "test"):
            for cls in ("café", "dog"):
                info = zipfile.ZipInfo(f"{split}/{cls}/0.png")
                archive.writestr(info, _png(1))
    # zipfile set the UTF-8 flag (bit 11) for the non-ASCII names: clear it in every local and central
    # header, as many archivers write UTF-8 names without it.
    raw = bytearray(buf.getvalue())
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = raw.find(signature)
        while start != -1:
            raw[start + flags_at + 1] &= ~0x08
            start = raw.find(signature, start + 4)
    raw = bytes(raw)
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        assert any(not (i.flag_bits & 0x800) and "caf" in i.filename for i in archive.infolist())
    assert load_uploaded_dataset(raw, "accents.zip").class_names == ["café", "dog"]


def test_upload_limits(tmp_path):
    archive = _zip(FILES)
    with pytest.raises(DatasetError, match="larger than the"):
        load_uploaded_dataset(archive, "pets.zip", max_bytes=len(archive) - 1)
    with pytest.raises(DatasetError, match="holds 15 files, more than the 10 allowed"):
        load_uploaded_dataset(archive, "pets.zip", max_files=10)
    with pytest.raises(DatasetError, match="more than the 10 files allowed"):
        load_uploaded_dataset(_tar_gz(FILES), "pets.tgz", max_files=10)
    with pytest.raises(DatasetError, match="expands to more than"):
        load_uploaded_dataset(archive, "pets.zip", max_expanded_bytes=10_000)
    with pytest.raises(DatasetError, match="expands to more than"):
        load_uploaded_dataset(_tar_gz(FILES), "pets.tgz", max_expanded_bytes=10_000)


def test_a_zip_bomb_member_is_skipped_from_its_declared_size(tmp_path):
    """100 MB of zeros compress to ~100 KB: its declared size is over the per-file limit, so it is never read."""
    files = dict(FILES)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, payload in files.items():
            archive.writestr(name, payload)
        with archive.open("train/cat/bomb.png", "w", force_zip64=True) as member:
            chunk = bytes(1 << 20)
            for _ in range(100):
                member.write(chunk)
    assert len(buf.getvalue()) < 1_000_000
    ds = load_uploaded_dataset(buf.getvalue(), "bomb.zip")
    (skipped,) = ds.warnings
    assert "train/cat/bomb.png: 100 MB, over the 64 MB limit" in skipped


@pytest.mark.parametrize("damage, message", [
    ("crc", "damaged or not a ZIP archive"),
    ("cut-zip", "damaged or not a ZIP archive"),
    ("cut-tar", "damaged"),
    ("text", "is not a ZIP or tar archive"),
    ("empty", r"^pets\.zip is empty \(0 bytes\), not a ZIP or tar archive$"),  # was "..., not an image"
])
def test_damaged_or_wrong_uploads_are_one_clear_error(damage, message):
    if damage == "crc":
        raw = bytearray(_zip(FILES))
        at = raw.index(b"PK\x03\x04", 100) - 40  # inside the first member's compressed data
        raw[at] ^= 0xFF
        raw = bytes(raw)
    elif damage == "cut-zip":
        raw = _zip(FILES)[:-200]
    elif damage == "cut-tar":
        full = _tar_gz(FILES)
        raw = full[: len(full) * 2 // 3]
    elif damage == "text":
        raw = b"train/cat/1.png\n" * 10
    else:
        raw = b""
    with pytest.raises(DatasetError, match=message) as err:
        load_uploaded_dataset(raw, "pets.zip")
    assert "\n" not in str(err.value) and "pets.zip" in str(err.value)


def test_uploads_never_take_a_path(tmp_path):
    with pytest.raises(TypeError, match="not a path"):
        load_uploaded_dataset(str(tmp_path / "x.zip"))
    with pytest.raises(TypeError, match="not a path"):
        load_uploaded_dataset(tmp_path / "x.zip")
