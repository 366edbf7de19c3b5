"""Benchmark of the app's interactive paths; ends with ONE JSON line of figures.

    python bench/bench_app.py [--moves 50] [--subset 500,100] [--uploads 20]

Measured (server side, no browser):

* ``start_warm_s``: a fresh Python process runs the Home page once with warm disk caches (decoded dataset
  and features on disk, nothing in memory): imports, dataset, features, training, figures (target <= 10 s);
* ``slider_rerun_ms`` p50/p95 over ``--moves`` slider moves on the Threshold tradeoff page, as an AppTest
  rerun of the *whole* page (an upper bound: in the browser only the slider's fragment reruns), and
  ``slider_fragment_ms``: the fragment's own work at a new threshold (cutoff, engine sweep row, confusion
  matrix, three figures serialised to JSON) (target p95 <= 150 ms);
* ``upload_verdict_ms`` p50/p95: a new photo uploaded on the Classify page until the page with its verdict
  is built (AppTest rerun), and ``upload_verdict_direct_ms``: decode + features + Eq. 2 only (target <= 300 ms);
* ``held_out_change_s`` p50/max: a held-out pair never trained before in this process, set in the sidebar,
  until the Home page shows the retrained model (cached features; target <= 2 s).

Environment: ``ZSL_CACHE_DIR`` (default: the tests' shared cache), ``ZSL_TEST_DATA`` (the dataset).
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from zsl_app.testing import data_path, environment  # noqa: E402


def pct(values, q) -> float:
    return round(float(np.percentile(np.asarray(values, dtype=float), q)), 2)


def warm_start_seconds() -> float:
    """Time a fresh process that builds the Home page once (disk caches warm, memory cold)."""
    code = (
        "import time; t = time.perf_counter()\n"
        "from streamlit.testing.v1 import AppTest\n"
        f"at = AppTest.from_file({str(REPO / 'app.py')!r}, default_timeout=600).run()\n"
        "assert not at.exception, at.exception\n"
        "assert len(at.metric) == 4\n"
        "print(time.perf_counter() - t)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=os.environ.copy(), capture_output=True,
                         text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moves", type=int, default=50)
    parser.add_argument("--uploads", type=int, default=20)
    parser.add_argument("--changes", type=int, default=5)
    parser.add_argument("--subset", default="500,100", help="images per class: train,test (the app's quick default)")
    parser.add_argument("--features", default="efficientnet")
    args = parser.parse_args()
    os.environ["ZSL_APP_SUBSET"] = args.subset
    os.environ["ZSL_APP_FEATURE_PARAMS"] = os.environ.get("ZSL_BENCH_FEATURE_PARAMS", "{}")  # engine defaults
    os.environ["ZSL_APP_FEATURES"] = args.features
    env = environment(subset=args.subset)
    os.environ.update(env)
    log = lambda *a: print(*a, file=sys.stderr, flush=True)  # noqa: E731

    from PIL import Image
    from streamlit.testing.v1 import AppTest

    from zsl_app import figures, pipeline, threshold
    from zsl_core.data import load_dataset, prepare_image
    from zsl_core.experiment import Config, classify as classify_images

    # 0. Fill the disk caches (not timed): decoded dataset, features, one model.
    t0 = time.perf_counter()
    home = AppTest.from_file(str(REPO / "app.py"), default_timeout=3600).run()
    assert not home.exception, home.exception
    log(f"caches filled in {time.perf_counter() - t0:.1f} s")

    # 1. Warm start in a fresh process.
    start = [warm_start_seconds() for _ in range(2)]
    log(f"warm start: {start}")

    # 2. Slider moves (AppTest rerun of the whole page) and the fragment's own work.
    page = AppTest.from_file(str(REPO / "pages" / "1_Threshold_tradeoff.py"), default_timeout=600).run()
    assert not page.exception, page.exception
    rng = np.random.default_rng(0)
    moves = np.round(rng.uniform(0, 100, args.moves), 1)
    rerun = []
    for value in moves:
        page.slider(key="novel_pct").set_value(float(value))
        t = time.perf_counter()
        page.run()
        rerun.append((time.perf_counter() - t) * 1000)
        assert not page.exception, page.exception
    log(f"slider rerun p50 {pct(rerun, 50)} ms, p95 {pct(rerun, 95)} ms")

    source = env["ZSL_DATA_DIR"]
    subset = tuple(int(v) for v in args.subset.split(","))
    config = Config(data=source, subset=subset, features=args.features, mapping="linear", novelty="gaussian",
                    unseen=("cat", "truck"))
    run = pipeline.run(config)
    other = pipeline.run(config.with_(novelty="loop"))
    fragment = []
    for value in moves:
        t = time.perf_counter()
        cut = run.threshold_for_share(value / 100)
        at = run.at_threshold(cut)
        cut_other = other.threshold_for_share(at["novel_fraction"])
        at_other = other.at_threshold(cut_other)
        figs = [figures.tradeoff_curves(run.sweep, "current", at, 0.825),
                figures.tradeoff_curves(other.sweep, "other", at_other, 0.825),
                figures.confusion_heatmap(run.confusion(cut), run.class_names, run.unseen_names, "confusion")]
        for f in figs:
            f.to_json()
        threshold.describe_cutoff("gaussian", cut)
        fragment.append((time.perf_counter() - t) * 1000)
    log(f"slider fragment p50 {pct(fragment, 50)} ms, p95 {pct(fragment, 95)} ms")

    # 3. Upload -> verdict.
    data = load_dataset(data_path())
    classify = AppTest.from_file(str(REPO / "pages" / "3_Classify_a_photo.py"), default_timeout=600).run()
    upload, direct = [], []
    for i in range(args.uploads):
        image = Image.fromarray(np.asarray(data.test_images[1000 + i])).resize((640, 480), Image.BICUBIC)
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=90)
        raw = buffer.getvalue()
        classify.file_uploader(key="upload").set_value((f"photo{i}.jpg", raw, "image/jpeg"))
        t = time.perf_counter()
        classify.run()
        upload.append((time.perf_counter() - t) * 1000)
        assert not classify.exception and len(classify.success) + len(classify.warning) == 1
        image.save(buffer := io.BytesIO(), format="JPEG", quality=91)  # new bytes: no cache hit
        t = time.perf_counter()
        small = prepare_image(buffer.getvalue())
        classify_images(run, small)
        direct.append((time.perf_counter() - t) * 1000)
    log(f"upload -> verdict p50 {pct(upload, 50)} ms, p95 {pct(upload, 95)} ms; direct p95 {pct(direct, 95)} ms")

    # 4. Held-out change -> retrained (pairs never trained in this process).
    names = list(run.class_names)
    pairs = [list(p) for p in itertools.combinations(names, 2) if set(p) != {"cat", "truck"}]
    pairs = [pairs[i] for i in rng.choice(len(pairs), args.changes, replace=False)]
    changes = []
    for pair in pairs:
        home.multiselect(key="unseen").set_value(pair)
        t = time.perf_counter()
        home.run()
        changes.append(time.perf_counter() - t)
        assert not home.exception, home.exception
    log(f"held-out change: {[round(c, 2) for c in changes]} s")

    result = {
        "bench": "app",
        "features": args.features,
        "subset_per_class": args.subset,
        "n_train": int(len(run.dataset.train_labels)),
        "n_test": int(len(run.y_test)),
        "start_warm_s": round(min(start), 2),
        "slider_moves": args.moves,
        "slider_rerun_ms_p50": pct(rerun, 50),
        "slider_rerun_ms_p95": pct(rerun, 95),
        "slider_fragment_ms_p50": pct(fragment, 50),
        "slider_fragment_ms_p95": pct(fragment, 95),
        "upload_verdict_ms_p50": pct(upload, 50),
        "upload_verdict_ms_p95": pct(upload, 95),
        "upload_verdict_direct_ms_p95": pct(direct, 95),
        "held_out_change_s_p50": round(float(np.median(changes)), 2),
        "held_out_change_s_max": round(float(np.max(changes)), 2),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
