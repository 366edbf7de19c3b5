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
  until the Home page shows the retrained model (cached features; target <= 2 s);
* ``typed_label_verdict_ms`` p50/p95: new candidate labels typed on the Classify page (a photo already there)
  until the page shows the updated verdict (AppTest rerun of the whole page), and ``typed_label_direct_ms``:
  the engine's part (prototypes of the words, Eq. 2, nearest words) (target <= 300 ms);
* ``camera_verdict_ms`` p50/p95: a new 640×480 camera snapshot until the verdict is built (AppTest rerun), and
  ``camera_verdict_direct_ms`` (target <= 500 ms);
* ``shared_link_ready_s`` p50/max: a new session opening the Threshold page from a link with a prepared
  setup (held-out set, detector, threshold, presentation mode) until the page is built, warm (the setup's
  model trained once in this process before) (target <= 5 s).

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
        "assert len(at.metric) == 6\n"
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
    from zsl_core.experiment import Config, classify as classify_images, summary

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
    from zsl_app.state import parse_subset

    subset = parse_subset(args.subset)  # None for "full": every image
    config = Config(data=source, subset=subset, features=args.features, mapping="linear", novelty="gaussian",
                    unseen=("cat", "truck"))
    run = pipeline.run(config)
    other = pipeline.run(config.with_(novelty="loop"))
    fragment = []
    for value in moves:
        t = time.perf_counter()
        cut = run.threshold_for_share(value / 100)
        h = summary(run, cut)
        at = h["at_threshold"]
        cut_other = other.threshold_for_share(at["novel_fraction"])
        h_other = summary(other, cut_other)
        figs = [figures.tradeoff_curves(run.sweep, "current", at, 0.825, nothing=h["call_nothing_unseen"]),
                figures.tradeoff_curves(other.sweep, "other", h_other["at_threshold"], 0.825,
                                        nothing=h_other["call_nothing_unseen"]),
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

    # 5. Typed candidate labels -> verdict (a photo already on the page).
    from zsl_app import images as app_images

    labels_page = AppTest.from_file(str(REPO / "pages" / "3_Classify_a_photo.py"), default_timeout=600).run()
    image = Image.fromarray(np.asarray(data.test_images[5])).resize((320, 320), Image.BICUBIC)
    image.save(buffer := io.BytesIO(), format="PNG")
    labels_page.file_uploader(key="upload").set_value(("photo.png", buffer.getvalue(), "image/png")).run()
    words = ["tiger", "bus", "violin", "lion", "boat", "kitten", "lorry", "eagle", "piano", "horse", "wolf", "van"]
    word_sets = [", ".join(words[i % len(words): i % len(words) + 2 + i % 3]) for i in range(args.uploads)]
    typed_ms, typed_direct = [], []
    small = prepare_image(buffer.getvalue())
    t_share = run.threshold_for_share(0.5)
    for i, text in enumerate(word_sets):
        labels_page.text_input(key="labels").set_value(text)
        t = time.perf_counter()
        labels_page.run()
        typed_ms.append((time.perf_counter() - t) * 1000)
        assert not labels_page.exception and len(labels_page.success) + len(labels_page.warning) >= 1
        extra = tuple(w.strip() for w in text.split(","))
        t = time.perf_counter()
        pipeline.classify(run, small, app_images.digest(buffer.getvalue()), t_share, extra)
        typed_direct.append((time.perf_counter() - t) * 1000)
    log(f"typed labels -> verdict p50 {pct(typed_ms, 50)} ms, p95 {pct(typed_ms, 95)} ms; "
        f"direct p95 {pct(typed_direct, 95)} ms")

    # 6. Camera snapshot -> verdict.
    camera = AppTest.from_file(str(REPO / "pages" / "3_Classify_a_photo.py"), default_timeout=600).run()
    camera.radio(key="photo_source").set_value("camera").run()
    camera_ms, camera_direct = [], []
    for i in range(args.uploads):
        shot = Image.fromarray(np.asarray(data.test_images[2000 + i])).resize((640, 480), Image.BICUBIC)
        shot.save(buffer := io.BytesIO(), format="JPEG", quality=85)
        camera.camera_input(key="camera").set_value(("snapshot.jpg", buffer.getvalue(), "image/jpeg"))
        t = time.perf_counter()
        camera.run()
        camera_ms.append((time.perf_counter() - t) * 1000)
        assert not camera.exception and len(camera.success) + len(camera.warning) == 1
        shot.save(buffer := io.BytesIO(), format="JPEG", quality=86)
        t = time.perf_counter()
        classify_images(run, prepare_image(buffer.getvalue()))
        camera_direct.append((time.perf_counter() - t) * 1000)
    log(f"camera -> verdict p50 {pct(camera_ms, 50)} ms, p95 {pct(camera_ms, 95)} ms; "
        f"direct p95 {pct(camera_direct, 95)} ms")

    # 7. A shared link with a prepared setup -> page ready (warm: the setup's model trained once before).
    setup = {"unseen": "dog,ship", "novelty": "loop", "novel": "25", "present": "1"}
    ready = []
    for i in range(args.changes + 1):
        visitor = AppTest.from_file(str(REPO / "pages" / "1_Threshold_tradeoff.py"), default_timeout=600)
        visitor.query_params = dict(setup)
        t = time.perf_counter()
        visitor.run()
        elapsed = time.perf_counter() - t
        assert not visitor.exception, visitor.exception
        assert visitor.slider(key="novel_pct").value == 25.0 and visitor.multiselect(key="unseen").value == ["dog", "ship"]
        if i:  # the first visit trains the setup's model: not "warm"
            ready.append(elapsed)
    log(f"shared link -> page ready: {[round(r, 2) for r in ready]} s")

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
        "typed_label_verdict_ms_p50": pct(typed_ms, 50),
        "typed_label_verdict_ms_p95": pct(typed_ms, 95),
        "typed_label_direct_ms_p95": pct(typed_direct, 95),
        "camera_verdict_ms_p50": pct(camera_ms, 50),
        "camera_verdict_ms_p95": pct(camera_ms, 95),
        "camera_verdict_direct_ms_p95": pct(camera_direct, 95),
        "shared_link_ready_s_p50": round(float(np.median(ready)), 2),
        "shared_link_ready_s_max": round(float(np.max(ready)), 2),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
