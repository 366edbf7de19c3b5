"""AppTest of the Home page (app.py), the shared sidebar, and the no-data page."""

from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from zsl_app.testing import REPO, data_path, metrics, reference

pytestmark = [pytest.mark.skipif(not data_path().exists(), reason=f"test data {data_path()} not found (ZSL_TEST_DATA)"),
              pytest.mark.usefixtures("app_env")]
APP = str(REPO / "app.py")
TIMEOUT = 900


def test_home_shows_the_idea_and_the_models_figures():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    assert at.title[0].value == "ZSL Explorer"
    assert len(at.image) == 1  # our drawing of the paper's Figure 1

    data, feats, model, scores = reference(("cat", "truck"))
    y = data.test_labels
    seen, unseen = np.isin(y, model.seen_), np.isin(y, model.unseen_)
    seen_softmax = np.mean(model.seen_[np.argmax(scores.seen_proba[:, model.seen_], 1)][seen] == y[seen])
    zero_shot = np.mean(model.unseen_[np.argmax(scores.unseen_proba[:, model.unseen_], 1)][unseen] == y[unseen])
    overall = model.score(feats.X_test, y)  # at the model's own threshold
    m = metrics(at)
    assert m["Seen classes only (8-way)"] == f"{seen_softmax:.1%}"
    assert m["Held-out only (2-way)"] == f"{zero_shot:.1%}"
    assert m["Full model, gated"] == f"{overall:.1%}"
    for metric in at.metric:  # every number says what it measures
        assert metric.help and "test" in metric.help.lower(), metric.label


def test_honest_headline_calls_nothing_unseen_beside_the_gated_figure():
    """Issue 9: the gated overall figure never stands alone; the gate's gain or cost is said in words."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    data, feats, model, scores = reference(("cat", "truck"))
    y = data.test_labels
    seen = np.isin(y, model.seen_)
    seen_pred = model.seen_[np.argmax(scores.seen_proba[:, model.seen_], 1)]
    nothing = np.sum(seen_pred[seen] == y[seen]) / len(y)  # every image to the seen softmax
    overall = model.score(feats.X_test, y)
    m = metrics(at)
    assert m["Call nothing unseen"] == f"{nothing:.1%}"
    gated = next(x for x in at.metric if x.label == "Full model, gated")
    assert gated.delta == f"{(overall - nothing) * 100:+.1f} pts"
    sentence = " ".join(i.value for i in at.info)
    verdict = "buys" if overall > nothing else "costs"
    assert f"the gate {verdict} {abs(overall - nothing) * 100:.1f} points" in sentence, sentence
    assert f"{np.mean(scores.novelty > model.threshold_):.1%} of the test images novel" in sentence


def test_one_held_out_class_shows_no_1_way_figure():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.multiselect(key="unseen").set_value(["cat"]).run()
    assert not at.exception, at.exception
    assert not any("1-way" in m.label for m in at.metric), [m.label for m in at.metric]
    assert any("nothing to choose among" in m.value for m in at.markdown)


def test_full_dataset_choice_keeps_its_label_and_asks_before_long_work(monkeypatch):
    """Issue 9: choosing the full dataset left the box reading "Choose an option" (a None option)."""
    monkeypatch.setenv("ZSL_APP_CONFIRM_SECONDS", "0")  # any work not yet in memory asks first
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    box = at.selectbox(key="subset")
    full = box.options.index("Full dataset (every image)")
    box.select_index(full).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="subset").index == full and at.selectbox(key="subset").value == "full"
    starts = [b for b in at.button if (b.key or "").startswith("start.")]
    assert len(starts) == 1, "a plan and a Start button, nothing computed yet"
    assert "in all" in " ".join(m.value for m in at.markdown)
    assert not at.metric, "no model shown before the start"


def test_home_and_pairs_page_show_one_figure_per_pair():
    """Issue 9: airplane + dog had 2-way 77.5 % on the pairs page and 79.5 % on Home."""
    import re

    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.multiselect(key="unseen").set_value(["airplane", "dog"]).run()
    home = metrics(at)["Held-out only (2-way)"]
    at.switch_page("pages/4_Held-out_pairs.py").run()
    assert not at.exception, at.exception
    at.selectbox(key="pair_pick").set_value("airplane + dog").run()
    shown = " ".join(m.value for m in at.markdown)
    pairs = re.search(r"2-way zero-shot accuracy: \*\*([\d.]+%)\*\*", shown).group(1)
    assert pairs == home, (pairs, home)


def test_a_link_carries_the_setup_and_the_url_follows_the_sidebar():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params = {"unseen": "dog,ship", "novelty": "loop", "novel": "25", "present": "1",
                       "features": "nonsense"}
    at.run()
    assert not at.exception, at.exception
    assert at.multiselect(key="unseen").value == ["dog", "ship"]
    assert at.radio(key="novelty").value == "loop"
    assert at.radio(key="features").value == "efficientnet", "an unknown value is ignored"
    assert at.toggle(key="present").value is True
    at.switch_page("pages/1_Threshold_tradeoff.py").run()
    assert at.slider(key="novel_pct").value == 25.0
    at.multiselect(key="unseen").set_value(["cat", "deer"]).run()
    assert at.query_params["unseen"] == "cat,deer" and at.query_params["novel"] == "25"
    assert "data" not in " ".join(at.query_params), "a link never carries a dataset path"
    assert any("never a dataset path" in c.value for c in at.sidebar.caption)


def test_presentation_mode_is_larger_and_has_fewer_controls():
    at = AppTest.from_file(str(REPO / "pages" / "1_Threshold_tradeoff.py"), default_timeout=TIMEOUT)
    at.query_params = {"present": "1"}
    at.run()
    assert not at.exception, at.exception
    assert any("font-size" in h.proto.body for h in at.get("html")), "larger type"
    assert len(at.get("plotly_chart")) == 2, "no comparison chart, only the tradeoff and the confusion matrix"
    assert not [b for b in at.button if b.key == "reset_threshold"]
    assert not at.main.get("popover"), "no download menus"


def test_shared_server_never_shows_its_paths(monkeypatch):
    """Issue 7: with ZSL_ALLOWED_DATA_DIRS the path box is confined and no server path reaches the page."""
    folder = str(data_path().parent)
    monkeypatch.setenv("ZSL_ALLOWED_DATA_DIRS", folder)
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    assert at.text_input(key="data_source").value == "", "the box does not show the server's data path"
    assert at.metric, "the default dataset still loads"
    at.text_input(key="data_source").set_value("/etc/passwd").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "No dataset yet"
    from zsl_core.data.serving import REFUSED

    page = " ".join([e.value for e in at.error] + [m.value for m in at.markdown] + [c.value for c in at.caption])
    assert REFUSED in page
    for secret in (folder, "/etc", str(data_path()), str(REPO)):
        assert secret not in page, secret
    at.text_input(key="data_source").set_value(data_path().name).run()  # a name inside the allowed folder
    assert not at.exception and at.metric


def test_sidebar_choices_survive_page_switches():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.multiselect(key="unseen").set_value(["automobile", "deer"]).run()
    at.radio(key="mapping").set_value("linear").run()
    for page in ("pages/1_Threshold_tradeoff.py", "pages/5_Distractors.py", "pages/3_Classify_a_photo.py"):
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
        assert at.multiselect(key="unseen").value == ["automobile", "deer"], page
        assert at.text_input(key="data_source").value == str(data_path()), page


def test_two_sessions_do_not_disturb_each_other():
    first = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    second = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    first.multiselect(key="unseen").set_value(["dog", "ship"]).run()
    second.run()
    assert second.multiselect(key="unseen").value == ["cat", "truck"]
    assert first.multiselect(key="unseen").value == ["dog", "ship"]


def test_no_data_gives_a_page_that_says_what_to_do(monkeypatch, tmp_path):
    monkeypatch.setenv("ZSL_DATA_DIR", str(tmp_path / "nowhere"))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    assert at.title[0].value == "No dataset yet"
    assert "does not exist" in at.error[0].value
    text = " ".join(m.value for m in at.markdown)
    assert "Dataset path" in text and "ZSL_DATA_DIR" in text and "cifar-10-python.tar.gz" in text


def test_progress_says_step_count_and_time_left():
    from zsl_app.progress import StreamlitProgress, describe

    frac, text = describe("Encoding train images", 250, 1000, 10.0)
    assert frac == 0.25 and text == "Encoding train images: 250 / 1,000 · about 30s left"
    assert describe("Encoding train images", 1000, 1000, 12.0) == (1.0, "Encoding train images: 1,000 / 1,000 · done")
    assert "estimating" in describe("Decoding", 0, 10, 0.0)[1]
    bar = StreamlitProgress(min_interval=0)  # outside a script run Streamlit draws nothing, but it must not fail
    for step, done, total in (("Loading", 0, 2), ("Loading", 2, 2), ("Training: mapping", 1, 4)):
        bar(step, done, total)
    assert bar.steps == ["Loading", "Training: mapping"]


def test_paper_features_option_trains():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.radio(key="features").set_value("coates").run()
    assert not at.exception, at.exception
    assert len(at.metric) == 6
    assert any("no outside data" in c.value for c in at.sidebar.caption), "the note on what the features have seen"
    at.radio(key="features").set_value("efficientnet").run()
    assert any("ImageNet" in c.value for c in at.sidebar.caption)


def zipped_image_folder(broken: int = 2, train: int = 30) -> bytes:
    """A small image-folder dataset as a ZIP, made here (random colours per class) with ``broken`` bad files."""
    import io
    import zipfile

    from PIL import Image

    rng = np.random.default_rng(0)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for c, name in enumerate(["cat", "dog", "ship", "truck"]):
            base = rng.integers(0, 255, 3)
            for split, count in (("train", train), ("test", 6)):
                for i in range(count):
                    pixels = np.clip(base + rng.normal(0, 25, (32, 32, 3)), 0, 255).astype(np.uint8)
                    out = io.BytesIO()
                    Image.fromarray(pixels).save(out, format="PNG")
                    z.writestr(f"pets/{split}/{name}/{i}.png", out.getvalue())
        for i in range(broken):
            z.writestr(f"pets/train/dog/broken{i}.jpg", b"not a picture")
    return buffer.getvalue()


def test_uploaded_dataset_trains_and_its_warnings_are_shown():
    """Issue 7, app side: a zipped image folder instead of a server path; skipped files are counted."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.sidebar.file_uploader(key="data_upload").set_value(("pets.zip", zipped_image_folder(), "application/zip"))
    at.run()
    assert not at.exception, at.exception
    assert any("pets" in c.value and "120 training" in c.value for c in at.sidebar.caption), \
        [c.value for c in at.sidebar.caption]
    warned = " ".join(w.value for w in at.sidebar.warning)
    assert "2" in warned and "broken0.jpg" in warned, warned
    assert at.metric, "a model trained on the upload"


def test_loop_on_a_dataset_too_small_for_it_is_said_before_any_features(monkeypatch):
    """Issue 7: LoOP needs 3 validation images of the seen classes; the app said so only after computing the
    features. Now the sidebar says what is needed, and no features are computed for the impossible setting."""
    from zsl_app import pipeline

    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.sidebar.file_uploader(key="data_upload").set_value(("tiny.zip", zipped_image_folder(0, train=8),
                                                           "application/zip"))
    at.run()
    assert not at.exception, at.exception
    computed = []
    real = pipeline.features
    monkeypatch.setattr(pipeline, "features", lambda *a, **k: computed.append(1) or real(*a, **k))
    at.sidebar.radio(key="novelty").set_value("loop")
    at.run()
    assert not at.exception, at.exception
    said = " ".join(m.value for m in [*at.sidebar.warning, *at.sidebar.error, *at.warning, *at.error])
    assert "LoOP needs at least 3 validation images" in said and "Gaussian" in said, said
    assert computed == [], "no features for a setting the dataset cannot support"


def test_a_bad_dataset_upload_gets_a_message_not_a_traceback():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.sidebar.file_uploader(key="data_upload").set_value(("notes.zip", b"PK\x03\x04 garbage" * 10,
                                                           "application/zip"))
    at.run()
    assert not at.exception, at.exception
    assert any("Cannot use this upload" in e.value for e in at.sidebar.error), [e.value for e in at.sidebar.error]
    assert at.metric, "the page goes on with the dataset it had"


def test_an_unwritable_cache_is_said_once_without_the_servers_path(monkeypatch):
    """Issue 7, app side: cache_warnings() reach the sidebar; on a shared server without the folder's path."""
    import os

    from zsl_core import cache

    folder = os.environ["ZSL_CACHE_DIR"]
    monkeypatch.setattr(cache, "cache_warnings", lambda: (cache.CacheWarning(Path(folder), "Read-only file system"),))
    monkeypatch.setenv("ZSL_ALLOWED_DATA_DIRS", str(data_path().parent))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    warned = [w.value for w in at.sidebar.warning if "cache folder" in w.value]
    assert len(warned) == 1 and "Read-only file system" in warned[0] and "Everything still works" in warned[0]
    assert folder not in warned[0] and "$ZSL_CACHE_DIR" in warned[0], warned[0]


def test_figure_helpers_keep_labels_apart_and_colours_distinct():
    """Issue 9: UMAP's "dog" label sat on "cat (unseen)"; "your photo" on the frog star; correct / wrong
    colouring used the palette's green and red, which are also class colours."""
    from zsl_app import figures

    close = np.array([[0.0, 0.0], [0.02, 0.01], [5.0, 5.0]])
    a, b, _ = figures.label_positions(close)
    assert a != b
    assert figures.CORRECT_COLOUR not in figures.PALETTE and figures.WRONG_COLOUR not in figures.PALETTE
    pts = np.random.default_rng(0).normal(size=(50, 2))
    stars = np.array([[0.0, 0.0], [1.0, 1.0]])
    fig = figures.landing_figure(pts, np.zeros(50, int), stars, np.array([0.05, 0.0]), ["frog", "cat"], ["cat"])
    note = [x for x in fig.layout.annotations if "your photo" in x.text][0]
    assert note.ax > 20 and abs(note.ay) < 40, "the label points away from the frog star (to the right)"
    assert not any("your photo" in str(t.text) for t in fig.data), "no text label on top of the point"
