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
