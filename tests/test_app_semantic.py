"""AppTest of the Semantic space page (t-SNE / UMAP) and its selection helper."""

import base64

import numpy as np
import plotly.io
import pytest
from streamlit.testing.v1 import AppTest

from zsl_app.figures import selected_points
from zsl_app.testing import REPO, data_path

pytestmark = [pytest.mark.skipif(not data_path().exists(), reason=f"test data {data_path()} not found (ZSL_TEST_DATA)"),
              pytest.mark.usefixtures("app_env")]
PAGE = str(REPO / "pages" / "2_Semantic_space.py")
TIMEOUT = 900


def traces(at) -> list:
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    return list(plotly.io.from_json(charts[0].proto.spec).data)  # decodes plotly's binary arrays


def n_points(values) -> int:
    """Length of a trace's x, which plotly may send as a base64 typed array."""
    if isinstance(values, dict) and "bdata" in values:
        return len(np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"]))
    return len(values)


@pytest.mark.parametrize("method", ["tsne", "umap"])
def test_projection_shows_images_and_every_word_vector(method):
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.radio(key="proj_method").set_value(method).run()
    at.slider(key="proj_n").set_value(200).run()
    assert not at.exception, at.exception
    data = traces(at)
    stars = [t for t in data if t.name == "class word vectors"]
    assert len(stars) == 1 and n_points(stars[0].x) == 10
    images = [t for t in data if t.name != "class word vectors"]
    assert sum(n_points(t.x) for t in images) == 200
    assert {t.marker.symbol for t in images} == {"circle", "x"}, "seen and unseen images told apart"
    assert any("(unseen)" in s for s in stars[0].text)


def test_colouring_and_parameters():
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.slider(key="proj_n").set_value(200).run()
    at.slider(key="tsne_perplexity").set_value(10).run()
    for colour in ("predicted", "correct"):
        at.radio(key="colour_by").set_value(colour).run()
        assert not at.exception, at.exception
    names = {t.name or "" for t in traces(at)}
    assert any(n.startswith("correct") for n in names) and any(n.startswith("wrong") for n in names)


def test_selected_points_reads_customdata():
    event = {"selection": {"points": [{"customdata": 5}, {"customdata": [7]}, {"customdata": None},
                                      {"x": 1.0}, {"customdata": 5}, {"customdata": "cat"}]}}
    assert selected_points(event) == [5, 7]
    assert selected_points(None) == [] and selected_points({}) == []


def test_search_box_finds_a_class_or_any_word():
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.slider(key="proj_n").set_value(200).run()
    at.text_input(key="semantic_search").set_value("kitten").run()
    assert not at.exception, at.exception
    found = [t for t in traces(at) if (t.name or "").startswith("nearest to")]
    assert found and n_points(found[0].x) == 25
    assert any("landed nearest “kitten”" in c.value for c in at.caption)
    at.text_input(key="semantic_search").set_value("cat").run()
    faded = {t.marker.opacity for t in traces(at) if t.name and t.name.startswith("dog")}
    bright = {t.marker.opacity for t in traces(at) if t.name and t.name.startswith("cat")}
    assert max(faded) < min(bright), (faded, bright)
    at.text_input(key="semantic_search").set_value("kittten").run()
    assert any("kittten" in w.value and "Did you mean" in w.value for w in at.warning)


def test_a_box_is_a_group_and_a_click_is_one_image():
    """Issue 9: a box selection made the "Selected image" panel jump to the box's first image."""
    from zsl_app.figures import read_selection

    click = {"selection": {"points": [{"customdata": 7}], "box": [], "lasso": []}}
    box = {"selection": {"points": [{"customdata": 3}, {"customdata": 9}], "box": [{"x": [0, 1]}], "lasso": []}}
    one_in_box = {"selection": {"points": [{"customdata": 3}], "box": [{"x": [0, 1]}], "lasso": []}}
    assert read_selection(click) == ([7], False)
    assert read_selection(box) == ([3, 9], True)
    assert read_selection(one_in_box) == ([3], True), "a box around one dot is still a group"
    assert read_selection(None) == ([], False)


def test_projection_over_the_limit_asks_first_and_keeps_the_last_picture(monkeypatch):
    monkeypatch.setenv("ZSL_APP_CONFIRM_SECONDS", "0")
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.run()
    starts = [b for b in at.button if (b.key or "").startswith("start.")]
    if starts:  # the default projection is not in this process's memory yet
        starts[0].click().run()
    assert len(traces(at)) > 0
    at.slider(key="tsne_perplexity").set_value(7).run()  # a projection never computed
    assert not at.exception, at.exception
    assert [b for b in at.button if (b.key or "").startswith("start.")], "a Start button before the work"
    assert any("stays until the new one is ready" in c.value for c in at.caption)
    assert len(at.get("plotly_chart")) == 1, "the last picture is still shown"
