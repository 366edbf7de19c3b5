"""Hostile and unusual photos for ``prepare_image`` (issue 7): every input is generated here, nothing is committed.

Tests whose names end in ``_was_broken`` failed before the fix of issue 7 (format chosen by Pillow from any
plugin, a pixel limit above Pillow's, unbounded reads); the others pin behaviour that already held.
"""

from __future__ import annotations

import io
import json
import struct
import subprocess
import sys
import textwrap
import time
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from PIL import EpsImagePlugin, Image, features

from zsl_core.data import FORMATS, MAX_BYTES, MAX_PIXELS, DatasetError, describe_preparation, prepare_image

REPO = Path(__file__).resolve().parents[1]
PROPERTY = settings(max_examples=150, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


def _encode(image: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png(width: int, height: int, bit_depth: int, colour_type: int, rows: bytes | None = None, level: int = 6) -> bytes:
    """A PNG written by hand (Pillow cannot write 16-bit RGB); ``rows`` are raw scanlines without filter
    bytes (zeros when omitted, streamed so a huge image costs no memory to make)."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    stride = width * channels * bit_depth // 8
    compressor = zlib.compressobj(level)
    if rows is None:
        zero_row = b"\0" * (1 + stride)
        parts = [compressor.compress(zero_row) for _ in range(height)]
    else:
        parts = [compressor.compress(b"\0" + rows[y * stride:(y + 1) * stride]) for y in range(height)]
    idat = b"".join(parts) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")


def _one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message and len(message) < 400, message
    return message


# ------------------------------------------------------------------------------------- formats by content


EPS = (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 16 16\n%%EndComments\n"
       b"newpath 0 0 moveto 16 16 lineto stroke\nshowpage\n%%EOF\n")


def test_eps_named_jpg_never_starts_ghostscript_was_broken(monkeypatch):
    """Pillow's EPS plugin runs Ghostscript in a subprocess; an upload must never get there."""
    started = []

    class Recorder:
        def __init__(self, args, *a, **kw):
            started.append(args)
            raise OSError("a subprocess was started")

    monkeypatch.setattr(subprocess, "Popen", Recorder)
    # Make Pillow believe Ghostscript is installed (it is not on CI), so the old code path would reach it.
    monkeypatch.setattr(EpsImagePlugin, "gs_binary", "gs", raising=False)
    with pytest.raises(DatasetError) as err:
        prepare_image(EPS, name="holiday.jpg")
    assert "holiday.jpg is a PostScript/EPS document" in _one_line(err)
    assert started == []


def _save_as(fmt: str) -> bytes:
    image = Image.new("RGB", (16, 16), (200, 30, 30))
    if fmt == "ICO":
        return _encode(image, "ICO", sizes=[(16, 16)])
    if fmt == "XBM":
        return _encode(image.convert("1"), fmt)
    return _encode(image, fmt)


Image.init()
_OTHER_FORMATS = [f for f in ("TIFF", "ICO", "PPM", "PCX", "TGA", "SGI", "IM", "DDS", "QOI", "JPEG2000", "XBM")
                  if f in Image.SAVE]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # Pillow's IM format is deprecated
@pytest.mark.parametrize("fmt", _OTHER_FORMATS)
def test_other_pillow_formats_named_png_are_refused_was_broken(fmt):
    """TIFF, ICO and every other format Pillow can decode are refused by content, whatever the name."""
    try:
        raw = _save_as(fmt)
    except (OSError, KeyError, ValueError) as exc:  # e.g. no JPEG 2000 codec in this Pillow build
        pytest.skip(f"Pillow cannot write {fmt} here: {exc}")
    assert Image.open(io.BytesIO(raw)).format is not None  # Pillow itself would have decoded it
    with pytest.raises(DatasetError) as err:
        prepare_image(raw, name="cat.png")
    message = _one_line(err)
    assert message.startswith("cat.png is ") and "accepted formats are JPEG, PNG, WebP, GIF and BMP" in message
    if fmt in ("TIFF", "ICO"):
        assert {"TIFF": "a TIFF image", "ICO": "an ICO icon"}[fmt] in message


def test_pil_image_of_a_refused_format_is_refused_was_broken(tmp_path):
    path = tmp_path / "x.png"
    path.write_bytes(_save_as("TIFF"))
    with Image.open(path) as opened, pytest.raises(DatasetError, match="TIFF"):
        prepare_image(opened)


@pytest.mark.parametrize("raw, what", [
    (b"", "empty"),
    (b"Dear diary, today I renamed a text file to .jpg", "text, not an image"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "SVG"),
    (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n", "a PDF document"),
    (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00", "HEIC"),
    (bytes(range(256)) * 4, "not an image in an accepted format"),
])
def test_non_images_get_one_clear_line(raw, what):
    with pytest.raises(DatasetError) as err:
        prepare_image(raw, name="upload.jpg")
    assert what in _one_line(err)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "WEBP", "BMP"])
def test_truncated_files_get_one_clear_line(fmt):
    rng = np.random.default_rng(0)
    raw = _encode(Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)), fmt)
    with pytest.raises(DatasetError) as err:
        prepare_image(raw[: len(raw) // 2], name=f"x.{fmt.lower()}")
    assert "truncated or corrupt" in _one_line(err) or "is not" in _one_line(err)


# ------------------------------------------------------------------------------------------- size limits


def _peak_rss_mb(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; return its JSON output plus the peak RSS it added after imports."""
    script = textwrap.dedent("""
        import json, resource, sys, time
        sys.path.insert(0, {repo!r})
        from zsl_core.data import DatasetError, load_dataset, prepare_image
        def status(key):  # kB, from Linux's /proc/self/status
            return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith(key + ':'))
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')  # resets the peak (VmHWM) to now: the imports' own peak is not counted
        base = status('VmRSS')
        start = time.perf_counter()
        out = {{}}
        try:
        {body}
        except DatasetError as exc:
            out["error"] = str(exc)
        out["seconds"] = time.perf_counter() - start
        out["peak_mb"] = (status('VmHWM') - base) / 1024
        print(json.dumps(out))
    """).format(repo=str(REPO), body=textwrap.indent(textwrap.dedent(code), " " * 4))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def png_bomb(tmp_path_factory) -> Path:
    """The issue's case: a 657 KB PNG that decodes to 13000 x 13000 RGBA (676 MB)."""
    path = tmp_path_factory.mktemp("bomb") / "tiny.png"
    path.write_bytes(_png(13000, 13000, 8, 6, level=9))
    return path


def test_small_png_that_decodes_huge_is_refused_cheaply_was_broken(png_bomb):
    assert png_bomb.stat().st_size < 1_000_000
    figures = _peak_rss_mb(f"""
        out["shape"] = list(prepare_image({str(png_bomb)!r}).shape)
    """)
    assert "too large" in figures.get("error", "") and "13000x13000" in figures["error"], figures
    # Before: 2.6 GB peak and seconds of decoding. Now only the header is read.
    assert figures["peak_mb"] < 20 and figures["seconds"] < 2, figures


def test_pixel_limit_sits_below_pillows_and_is_checked_from_the_header_was_broken():
    assert MAX_PIXELS < Image.MAX_IMAGE_PIXELS  # our message fires, not Pillow's warning or error
    over = _png(8001, 8000, 8, 2)  # 64.008 MP, all zeros
    with pytest.raises(DatasetError) as err:
        prepare_image(over, name="wide.png")
    assert "wide.png is too large (8001x8000 = 64 megapixels; the limit is 64 megapixels)" in _one_line(err)
    header_only = over[: over.index(b"IDAT") + 8]  # cut 4 bytes into the pixel data: the header alone decides
    with pytest.raises(DatasetError, match="too large"):
        prepare_image(header_only)


def _with_header_size(fmt: str, width: int, height: int) -> bytes:
    """A small valid image of ``fmt`` whose header claims ``width`` x ``height`` (what Pillow's open reads)."""
    raw = bytearray(_encode(Image.new("RGB", (8, 8), (200, 30, 30)), fmt))
    if fmt == "GIF":  # a 16x16 screen whose first frame reaches far past it (Pillow grows the image to fit)
        raw[6:10] = struct.pack("<HH", 16, 16)
        at = raw.index(b"\x2c", 13)
        raw[at + 5:at + 9] = struct.pack("<HH", width, height)
    elif fmt == "BMP":
        raw[18:26] = struct.pack("<ii", width, height)
    elif fmt == "JPEG":
        at = raw.index(b"\xff\xc0")
        raw[at + 5:at + 9] = struct.pack(">HH", height, width)
    return bytes(raw)


@pytest.mark.parametrize("width, height, fmt", [
    (10_000, 10_000, "PNG"),   # 100 MP: Pillow's DecompressionBombWarning (above 89 MP) came first
    (20_000, 20_000, "PNG"),   # 400 MP: Pillow's DecompressionBombError text was wrapped in ours
    (13_000, 13_000, "JPEG"), (20_000, 20_000, "BMP"), (12_000, 12_000, "GIF"),
])
def test_our_pixel_limit_fires_before_pillows_warning_and_error_was_broken(width, height, fmt, tmp_path):
    """Before: Pillow's check ran first inside Image.open, printing its warning or raising with its own text."""
    if fmt == "PNG":
        raw = _png(width, height, 1, 0, level=9)  # 1-bit grey: 12 KB / 49 KB on disk
        assert len(raw) < 64_000
    else:
        raw = _with_header_size(fmt, width, height)
    path = tmp_path / f"huge.{fmt.lower()}"
    path.write_bytes(raw)
    expected = (f"huge.{fmt.lower()} is too large ({width}x{height} = {width * height / 1e6:.0f} megapixels; "
                f"the limit is 64 megapixels): refusing it as a possible decompression bomb")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for source in (path, raw):
            with pytest.raises(DatasetError) as err:
                prepare_image(source, name=path.name)
            assert _one_line(err) == expected
        with pytest.raises(DatasetError, match="too large"):
            describe_preparation(raw)
    assert [str(w.message) for w in caught] == []
    assert Image.MAX_IMAGE_PIXELS == 89_478_485  # Pillow's own process-wide limit is left alone


def test_the_command_line_prints_one_line_per_huge_photo_and_no_pillow_warning_was_broken(tmp_path):
    for side in (10_000, 20_000):
        (tmp_path / f"huge{side}.png").write_bytes(_png(side, side, 1, 0, level=9))
    # Every photo is refused before any data is loaded, so the (missing) dataset is never read.
    done = subprocess.run([sys.executable, "-m", "zsl_core", "classify", "--data", str(tmp_path / "none"),
                           str(tmp_path / "huge10000.png"), str(tmp_path / "huge20000.png")],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 2, done.stderr
    assert lines[0].endswith("huge10000.png is too large (10000x10000 = 100 megapixels; the limit is 64 megapixels): "
                             "refusing it as a possible decompression bomb")
    assert "20000x20000 = 400 megapixels" in lines[1]
    assert "DecompressionBomb" not in done.stderr and "exceeds limit" not in done.stderr


@given(st.sampled_from(["PNG", "GIF", "BMP", "JPEG", "WEBP"]), st.integers(1, 300), st.integers(1, 300),
       st.sampled_from(["RGB", "L", "P", "RGBA"]))
@PROPERTY
def test_header_size_agrees_with_pillow(fmt, width, height, mode):
    from zsl_core.data.images import _header_size

    if fmt == "JPEG" and mode in ("P", "RGBA"):
        mode = "RGB"
    if fmt == "WEBP" and not features.check("webp"):
        pytest.skip("Pillow without WebP")
    raw = _encode(Image.new(mode, (width, height), 90), fmt)
    with Image.open(io.BytesIO(raw)) as image:
        assert _header_size(raw) == image.size


def test_50_megapixel_phone_photo_still_works(tmp_path):
    photo = Image.new("RGB", (8160, 6120), (10, 120, 230))  # 49.9 MP, a common phone sensor
    photo.paste((250, 250, 0), (3080, 2060, 5080, 4060))
    path = tmp_path / "phone.jpg"
    photo.save(path, quality=80)
    del photo
    figures = _peak_rss_mb(f"""
        image = prepare_image({str(path)!r})
        out["centre"] = image[16, 16].tolist()
    """)
    assert "error" not in figures, figures
    assert np.abs(np.array(figures["centre"]) - (250, 250, 0)).max() < 12
    assert figures["peak_mb"] < 50, figures  # decoded at 1/8 scale (draft), never at full size


def test_dev_zero_and_endless_streams_stop_at_the_byte_limit_was_broken(tmp_path):
    """Before: an endless stream was read until MemoryError (``classify /dev/zero``)."""
    start = time.perf_counter()
    with open("/dev/zero", "rb") as endless, pytest.raises(DatasetError) as err:
        prepare_image(endless, name="stream")
    assert f"stream is larger than the {MAX_BYTES // 2**20} MB limit" in _one_line(err)
    assert time.perf_counter() - start < 10
    with pytest.raises(DatasetError) as err:
        prepare_image("/dev/zero")  # a path: refused before opening (a pipe would block, a device never ends)
    assert "/dev/zero is not a regular file" in _one_line(err)
    huge = tmp_path / "huge.jpg"
    with open(huge, "wb") as f:
        f.truncate(10 * 2**30)  # 10 GB, sparse: refused from its size, nothing read
    with pytest.raises(DatasetError, match="larger than the 64 MB limit"):
        prepare_image(huge)
    with pytest.raises(DatasetError, match="does not exist"):
        prepare_image(tmp_path / "missing.png")
    with pytest.raises(DatasetError, match="not a regular file"):
        prepare_image(tmp_path)


# ----------------------------------------------------------------------------------- unusual real photos


def _close(a: np.ndarray, colour, tol: int = 10) -> bool:
    return bool(np.abs(a.astype(int) - np.array(colour)).max() <= tol)


def test_cmyk_jpeg():
    out = prepare_image(_encode(Image.new("CMYK", (40, 40), (0, 255, 255, 0)), "JPEG"))
    assert _close(out, (255, 0, 0))


def test_16_bit_png_grey_and_rgb():
    grey = np.full((20, 20), 32896, dtype=">u2")  # mid grey in 16 bits
    out = prepare_image(_png(20, 20, 16, 0, grey.tobytes()))
    assert _close(out, (128, 128, 128), 2)
    rgb = np.zeros((20, 20, 3), dtype=">u2")
    rgb[..., 0] = 65535  # red at full 16-bit scale
    out = prepare_image(_png(20, 20, 16, 2, rgb.tobytes()))
    assert _close(out, (255, 0, 0), 2)


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_animated_images_give_their_first_frame(fmt):
    if fmt == "WEBP" and not features.check("webp"):
        pytest.skip("no WebP support in this Pillow")
    frames = [Image.new("RGB", (32, 32), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    raw = _encode(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert getattr(Image.open(io.BytesIO(raw)), "n_frames", 1) == 3
    assert _close(prepare_image(raw), (255, 0, 0), 8)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_rotated_jpeg_is_turned_upright(orientation):
    stored = np.zeros((48, 48, 3), np.uint8)
    stored[:24] = (255, 0, 0)   # top half red as stored
    stored[24:] = (0, 0, 255)   # bottom half blue
    exif = Image.Exif()
    exif[0x0112] = orientation
    raw = _encode(Image.fromarray(stored), "JPEG", exif=exif.tobytes(), quality=95)
    out = prepare_image(raw)
    # Where the red half ends up once the photo is shown upright.
    red_at = {3: (slice(18, 32), slice(None)),     # 180 degrees: red at the bottom
              6: (slice(None), slice(18, 32)),     # 90 degrees clockwise: red on the right
              8: (slice(None), slice(0, 14))}[orientation]  # 90 counter-clockwise: red on the left
    assert _close(out[red_at], (255, 0, 0), 40)


def test_palette_with_transparency_is_flattened_on_white():
    palette = Image.new("P", (32, 32), 1)
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0, 0, 0] * 254)
    palette.paste(0, (0, 0, 32, 16))  # top half uses index 0, declared transparent
    for fmt in ("PNG", "GIF"):
        out = prepare_image(_encode(palette, fmt, transparency=0))
        assert _close(out[:12], (255, 255, 255), 2) and _close(out[20:], (255, 0, 0), 2), fmt


def test_large_rgba_png_with_transparent_garbage_does_not_bleed():
    rgba = np.zeros((400, 400, 4), np.uint8)
    rgba[..., :3] = (0, 255, 0)       # green colour channels...
    rgba[..., 3] = 0                  # ...fully transparent: must read as white
    rgba[150:250, 150:250] = (0, 0, 255, 255)
    out = prepare_image(_encode(Image.fromarray(rgba), "PNG"))
    assert _close(out[0, 0], (255, 255, 255), 2) and _close(out[16, 16], (0, 0, 255), 10)


def test_odd_modes():
    assert _close(prepare_image(_encode(Image.new("1", (30, 30), 1), "BMP")), (255, 255, 255), 0)
    assert _close(prepare_image(_encode(Image.new("L", (30, 50), 77), "JPEG")), (77, 77, 77), 3)
    assert _close(prepare_image(_encode(Image.new("LA", (30, 30), (0, 0)), "PNG")), (255, 255, 255), 0)
    progressive = _encode(Image.new("RGB", (300, 200), (9, 99, 199)), "JPEG", progressive=True)
    assert _close(prepare_image(progressive), (9, 99, 199), 4)
    assert prepare_image(_encode(Image.new("RGB", (1, 1), (1, 2, 3)), "PNG")).shape == (32, 32, 3)
    assert prepare_image(_encode(Image.new("RGB", (5000, 1), (1, 2, 3)), "PNG")).shape == (32, 32, 3)


# ---------------------------------------------------------------------------------------- property tests


def _check_result(out: np.ndarray) -> None:
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8 and out.flags.c_contiguous


@PROPERTY
@given(st.binary(max_size=4096))
def test_random_bytes_raise_only_dataset_error(raw):
    try:
        _check_result(prepare_image(raw))
    except DatasetError as exc:
        assert "\n" not in str(exc)


_MAGIC = [b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff\xe0", b"GIF89a", b"GIF87a", b"BM", b"RIFF\x00\x00\x00\x00WEBPVP8 "]


@PROPERTY
@given(st.sampled_from(_MAGIC), st.binary(max_size=2048))
def test_random_bytes_behind_a_real_signature_raise_only_dataset_error(magic, tail):
    try:
        _check_result(prepare_image(magic + tail))
    except DatasetError as exc:
        assert "\n" not in str(exc)


_MODES = {"JPEG": ["RGB", "L", "CMYK"], "PNG": ["RGB", "RGBA", "L", "LA", "P", "1", "I;16"],
          "GIF": ["P", "L", "RGB"], "BMP": ["RGB", "L", "P", "1"], "WEBP": ["RGB", "RGBA"]}


@st.composite
def _valid_images(draw):
    fmt = draw(st.sampled_from(sorted(_MODES)))
    mode = draw(st.sampled_from(_MODES[fmt]))
    width, height = draw(st.integers(1, 300)), draw(st.integers(1, 300))
    seed = draw(st.integers(0, 2**31))
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 4), dtype=np.uint8)
    image = Image.fromarray(pixels, "RGBA")
    image = image.convert(mode) if mode not in ("I;16",) else image.convert("I").convert("I;16")
    return _encode(image, fmt), fmt, (width, height)


@PROPERTY
@given(_valid_images())
def test_any_valid_image_of_any_size_and_mode_gives_32x32_rgb(case):
    raw, fmt, size = case
    _check_result(prepare_image(raw))


@PROPERTY
@given(_valid_images(), st.data())
def test_damaged_valid_images_never_escape_as_anything_but_dataset_error(case, data):
    raw, fmt, size = case
    raw = bytearray(raw)
    cut = data.draw(st.integers(0, len(raw)))
    flips = data.draw(st.lists(st.tuples(st.integers(0, max(0, len(raw) - 1)), st.integers(1, 255)), max_size=8))
    for where, mask in flips:
        if raw:
            raw[where] ^= mask
    try:
        _check_result(prepare_image(bytes(raw[:cut]) if data.draw(st.booleans()) else bytes(raw)))
    except DatasetError as exc:
        assert "\n" not in str(exc)


def test_formats_are_the_five_we_accept():
    assert set(FORMATS) == {"JPEG", "PNG", "WEBP", "GIF", "BMP"}


def test_describe_preparation_says_what_is_kept_and_filled():
    """The app shows the centre crop and the white fill of an upload (issue 9); the header is enough."""
    import io

    from PIL import Image

    from zsl_core.data import describe_preparation, prepare_image

    def encode(image, fmt="PNG", **kw):
        buffer = io.BytesIO()
        image.save(buffer, format=fmt, **kw)
        return buffer.getvalue()

    wide = encode(Image.new("RGB", (300, 100), (10, 20, 30)))
    out = describe_preparation(wide)
    assert out["size"] == (300, 100) and out["crop"] == (100, 0, 200, 100) and out["cropped"]
    assert out["kept_share"] == pytest.approx(1 / 3) and not out["transparent"] and not out["rotated"]
    clear = encode(Image.new("RGBA", (64, 64), (0, 0, 0, 0)))
    out = describe_preparation(clear)
    assert out["transparent"] and not out["cropped"]
    assert (prepare_image(clear) == 255).all(), "transparent areas become white"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90°
    tall = encode(Image.new("RGB", (200, 100)), "JPEG", exif=exif)
    out = describe_preparation(tall)
    assert out["rotated"] and out["size"] == (100, 200) and out["crop"] == (0, 50, 100, 150)
    with pytest.raises(DatasetError):
        describe_preparation(b"not an image at all")


def test_the_hostile_benchmark_answers_help_without_running_was_broken():
    """Before: ``bench_hostile.py --help`` ignored its arguments and ran the whole benchmark (~30 s)."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, str(REPO / "bench" / "bench_hostile.py"), "--help"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("usage: bench_hostile.py")
    assert "peak" in done.stdout and "input " not in done.stdout  # the help, not the benchmark's table
    assert time.perf_counter() - start < 20
    wrong = subprocess.run([sys.executable, str(REPO / "bench" / "bench_hostile.py"), "--n", "3"], cwd=REPO,
                           capture_output=True, text=True, timeout=120)
    assert wrong.returncode == 2 and "unrecognized arguments" in wrong.stderr
