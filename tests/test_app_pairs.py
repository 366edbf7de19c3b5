"""AppTest of the Held-out pairs page: the all-pairs matrix, and choosing a pair makes it the held-out set."""

import re

import pytest
from streamlit.testing.v1 import AppTest

from zsl_app.testing import REPO, data_path, reference
from zsl_core.evaluation import zero_shot_pair_accuracy
from zsl_core.semantic import WordVectors

pytestmark = [pytest.mark.skipif(not data_path().exists(), reason=f"test data {data_path()} not found (ZSL_TEST_DATA)"),
              pytest.mark.usefixtures("app_env")]
PAGE = str(REPO / "pages" / "4_Held-out_pairs.py")
TIMEOUT = 1200


def test_pairs_matrix_and_holding_out_a_pair():
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) == 3  # accuracy, cosine, accuracy vs similarity
    at.selectbox(key="pair_pick").set_value("automobile + deer").run()
    shown = " ".join(m.value for m in at.markdown)
    accuracy = float(re.search(r"2-way zero-shot accuracy: \*\*([\d.]+)%\*\*", shown).group(1)) / 100

    data, feats, _, _ = reference()
    names = list(data.class_names)
    vectors = WordVectors.from_glove_package().class_vectors(names)
    expected = zero_shot_pair_accuracy(feats.X_train, data.train_labels, feats.X_test, data.test_labels, vectors,
                                       (names.index("automobile"), names.index("deer")))
    assert accuracy == pytest.approx(expected, abs=0.0005 + 1e-9)

    at.button(key="hold_out_pair").click().run()
    assert not at.exception, at.exception
    assert at.multiselect(key="unseen").value == ["automobile", "deer"]
    assert at.button(key="hold_out_pair").disabled, "the pair is now the held-out set"


def test_pairs_page_states_what_the_scatter_shows_and_scales_from_zero():
    """Issue 9: the colour scale stopped at 50 %, pairs below chance were unexplained, and the text claimed
    a similar-seen-class effect the scatter beside it did not show."""
    import numpy as np
    import plotly.io

    from zsl_core.evaluation import cosine_similarity_matrix, similarity_vs_accuracy
    from zsl_core.experiment import Config, pairs_matrix

    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    heat = plotly.io.from_json(at.get("plotly_chart")[0].proto.spec).data[0]
    assert heat.zmin == 0 and heat.zmax == 1
    data, feats, _, _ = reference()
    words = WordVectors.from_glove_package()
    from zsl_app.testing import environment
    import json

    params = json.loads(environment()["ZSL_APP_FEATURE_PARAMS"])["efficientnet"]
    matrix = pairs_matrix(Config(feature_params=params), data, feats, words=words)
    rel = similarity_vs_accuracy(matrix, cosine_similarity_matrix(words.class_vectors(list(data.class_names))))
    text = " ".join(m.value for m in at.markdown)
    assert f"r = {rel['pearson_r']:.2f}" in text and f"Spearman {rel['spearman_r']:.2f}" in text
    assert "borrow from (truck ← automobile)" in text and "measured below" in text
    assert ("Below chance" in text) == bool(rel["below_chance"])
    scatter = plotly.io.from_json(at.get("plotly_chart")[2].proto.spec)
    assert any(f"r = {rel['pearson_r']:.2f}" in (t.name or "") for t in scatter.data)
    assert not np.isnan(rel["pearson_r"])
