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
