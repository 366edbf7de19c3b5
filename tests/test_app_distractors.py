"""AppTest of the Distractors page: typed and suggested words change unseen accuracy as the engine says."""

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from zsl_app.testing import REPO, data_path, metrics, reference
from zsl_core.evaluation import distractor_curve
from zsl_core.semantic import WordVectors

pytestmark = [pytest.mark.skipif(not data_path().exists(), reason=f"test data {data_path()} not found (ZSL_TEST_DATA)"),
              pytest.mark.usefixtures("app_env")]
PAGE = str(REPO / "pages" / "5_Distractors.py")
TIMEOUT = 900


def test_distractors_change_unseen_accuracy_as_the_engine_says():
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    at.multiselect(key="distractor_pick").set_value([]).run()
    at.text_input(key="distractor_typed").set_value("kitten, lorry, tiger").run()
    assert not at.exception and not at.warning

    data, feats, model, scores = reference()
    words = WordVectors.from_glove_package()
    curve = distractor_curve(model, feats.X_test, data.test_labels, words.class_vectors(["kitten", "lorry", "tiger"]),
                             scores=scores)
    m = metrics(at)
    assert m["Unseen accuracy, 2 candidates"] == f"{curve['unseen'][0]:.1%}"
    assert m["With 3 distractor(s)"] == f"{curve['unseen'][-1]:.1%}"
    assert m["Candidates"] == "5"


def test_out_of_vocabulary_word_gets_suggestions():
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.text_input(key="distractor_typed").set_value("kitten, truckk, qzxqzxq").run()
    assert not at.exception, at.exception
    warnings = [w.value for w in at.warning]
    assert any("truckk" in w and "Did you mean" in w for w in warnings), warnings
    assert any("qzxqzxq" in w for w in warnings), warnings
    assert "kitten" in " ".join(m.value for m in at.markdown)


def test_suggested_words_are_neighbours_of_the_unseen_classes():
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    options = at.multiselect(key="distractor_pick").options
    assert len(options) == 20 and not {"cat", "truck"} & set(options)
    at.multiselect(key="distractor_pick").set_value(options[:10]).run()
    assert metrics(at)["Candidates"] == "12"
    values = [float(v.strip("%")) for v in (metrics(at)["Unseen accuracy, 2 candidates"],
                                            metrics(at)["With 10 distractor(s)"])]
    assert values[1] <= values[0]
    assert np.isfinite(values).all()
