"""AppTest of the Home page (app.py), the shared sidebar, and the no-data page."""

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
    assert m["Seen classes, softmax alone (8-way)"] == f"{seen_softmax:.1%}"
    assert m["Zero-shot among held-out (2-way)"] == f"{zero_shot:.1%}"
    assert m["Overall, full model (10-way)"] == f"{overall:.1%}"
    for metric in at.metric:  # every number says what it measures
        assert metric.help and "test" in metric.help.lower(), metric.label


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
    assert len(at.metric) == 4
    assert any("no outside data" in c.value for c in at.sidebar.caption), "the note on what the features have seen"
    at.radio(key="features").set_value("efficientnet").run()
    assert any("ImageNet" in c.value for c in at.sidebar.caption)
