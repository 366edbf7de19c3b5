"""Time loading a dataset cold (empty cache: decode everything) and warm (from the decoded-array cache).

Usage::

    python bench/bench_data.py [PATH]        # or ZSL_DATA=PATH; default: ../shared/datasets/cifar10-jpg.tar.gz

Uses a fresh temporary cache folder, so the user's cache is neither read nor filled. Prints one human line,
then one JSON line of figures (seconds) as the last line.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from zsl_core import __version__  # noqa: E402
from zsl_core.data import DatasetError, load_dataset  # noqa: E402


def main(argv: list[str]) -> int:
    default = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "cifar10-jpg.tar.gz"
    source = Path(argv[1] if len(argv) > 1 else os.environ.get("ZSL_DATA") or default)
    if not source.exists():
        print(f"bench_data: no dataset at {source}; pass a path or set ZSL_DATA", file=sys.stderr)
        return 2
    cache = tempfile.mkdtemp(prefix="zsl_bench_cache_")
    os.environ["ZSL_CACHE_DIR"] = cache
    try:
        t0 = time.perf_counter()
        cold = load_dataset(source, download=False)
        t1 = time.perf_counter()
        warm = load_dataset(source, download=False)
        t2 = time.perf_counter()
        fingerprint = warm.fingerprint
        t3 = time.perf_counter()
        cache_bytes = sum(f.stat().st_size for f in Path(cache).rglob("*.npz"))
    except DatasetError as exc:
        print(f"bench_data: {exc}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    n = len(cold.train_labels) + len(cold.test_labels)
    figures = {
        "bench": "data", "version": __version__, "source": str(source), "n_images": n,
        "n_classes": cold.n_classes, "cold_s": round(t1 - t0, 3), "warm_s": round(t2 - t1, 3),
        "fingerprint_s": round(t3 - t2, 3), "cache_mb": round(cache_bytes / 2**20, 1),
        "images_per_s_cold": round(n / (t1 - t0)), "same_fingerprint": cold.fingerprint == fingerprint,
        "cpus": os.cpu_count(), "python": platform.python_version(),
    }
    print(f"{cold.name}: {n} images, {cold.n_classes} classes; cold load {figures['cold_s']:.2f} s "
          f"({figures['images_per_s_cold']} images/s), warm load {figures['warm_s']:.2f} s, "
          f"fingerprint {figures['fingerprint_s']:.2f} s, cache {figures['cache_mb']} MB")
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
