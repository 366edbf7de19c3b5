"""Peak memory and time of hostile inputs: what one upload or dataset can cost the server (issue 7).

Usage::

    python bench/bench_hostile.py            # about 30 s on 2 cores; writes its inputs to a temporary folder

Each case runs in a fresh interpreter and reports the peak resident memory it added after the imports
(``ru_maxrss``; Pillow's pixel buffers are allocated outside Python, so ``tracemalloc`` would not see them)
and its wall time. Prints a table, then one JSON line of figures as the last line.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import struct
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import zlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _zero_png(path: Path, width: int, height: int, colour_type: int) -> None:
    """A valid PNG of zeros, streamed: 13000 x 13000 RGBA compresses to 657 KB."""
    channels = {2: 3, 6: 4}[colour_type]
    compressor = zlib.compressobj(9)
    row = b"\0" * (1 + width * channels)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b""))


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


def _inputs(folder: Path) -> dict[str, str]:
    from PIL import Image

    _zero_png(folder / "bomb_13000x13000_rgba.png", 13000, 13000, 6)
    _zero_png(folder / "largest_accepted_8000x8000_rgb.png", 8000, 8000, 2)
    photo = Image.new("RGB", (8160, 6120), (10, 120, 230))
    photo.save(folder / "phone_50mp.jpg", quality=85)
    small = io.BytesIO()
    Image.new("RGB", (32, 32), (1, 2, 3)).save(small, format="PNG")
    with tarfile.open(folder / "gib_member.tar.gz", "w:gz", compresslevel=1) as tar:
        for split in ("train", "test"):
            for cls in ("cat", "dog"):
                info = tarfile.TarInfo(f"ds/{split}/{cls}/0.png")
                info.size = len(small.getvalue())
                tar.addfile(info, io.BytesIO(small.getvalue()))
        info = tarfile.TarInfo("ds/train/cat/huge.png")
        info.size = 2**30
        tar.addfile(info, io.BufferedReader(_Zeros(2**30), 1 << 20))
    return {
        "png 13000x13000 RGBA (657 KB), refused": f"prepare_image({str(folder / 'bomb_13000x13000_rgba.png')!r})",
        "png 8000x8000 RGB (64 MP, the largest accepted)":
            f"prepare_image({str(folder / 'largest_accepted_8000x8000_rgb.png')!r})",
        "jpeg 8160x6120 (50 MP phone photo)": f"prepare_image({str(folder / 'phone_50mp.jpg')!r})",
        "/dev/zero as a stream, refused at 64 MB": "prepare_image(open('/dev/zero', 'rb'))",
        "tar.gz (4.7 MB) with a 1 GiB member, skipped":
            f"load_dataset({str(folder / 'gib_member.tar.gz')!r}, cache=False)",
    }


def _measure(code: str) -> dict:
    script = textwrap.dedent(f"""
        import json, resource, sys, time
        sys.path.insert(0, {str(REPO)!r})
        from zsl_core.data import DatasetError, load_dataset, prepare_image
        def status(key):  # kB, from Linux's /proc/self/status
            return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith(key + ':'))
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')  # resets the peak (VmHWM) to now: the imports' own peak is not counted
        base = status('VmRSS')
        start = time.perf_counter()
        try:
            {code}
            outcome = "accepted"
        except DatasetError as exc:
            outcome = "refused: " + str(exc)[:70]
        print(json.dumps({{"outcome": outcome, "seconds": round(time.perf_counter() - start, 2),
                          "peak_mb": round((status('VmHWM') - base) / 1024)}}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        return {"outcome": "crashed: " + done.stderr.strip().splitlines()[-1][:70], "seconds": None, "peak_mb": None}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Each case runs in a fresh interpreter; prints a table, then one JSON line of figures (peak MB "
               "added after the imports, seconds, outcome per input).")
    parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="zsl_bench_hostile_"))
    try:
        cases = _inputs(folder)
        figures = {name: _measure(code) for name, code in cases.items()}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    width = max(map(len, figures))
    print(f"{'input':<{width}}  {'peak MB':>8}  {'seconds':>7}  outcome")
    for name, f in figures.items():
        print(f"{name:<{width}}  {f['peak_mb']!s:>8}  {f['seconds']!s:>7}  {f['outcome']}")
    print(json.dumps({"bench": "hostile", "cases": figures}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
