"""AppTest of the Threshold tradeoff page: the figures at the slider are exactly the engine's."""

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from zsl_app.testing import REPO, data_path, metrics, reference
from zsl_core.evaluation import threshold_sweep

pytestmark = [pytest.mark.skipif(not data_path().exists(), reason=f"test data {data_path()} not found (ZSL_TEST_DATA)"),
              pytest.mark.usefixtures("app_env")]
PAGE = str(REPO / "pages" / "1_Threshold_tradeoff.py")
TIMEOUT = 900


def cutoff_for(novelty: np.ndarray, pct: float) -> float:
    """The cutoff that calls round(pct% of n) test images novel (novel <=> score > cutoff)."""
    s = np.sort(np.asarray(novelty, dtype=np.float64))[::-1]
    k = int(round(pct / 100 * len(s)))
    if k <= 0:
        return float(s[0])
    if k >= len(s):
        return float(np.nextafter(s[-1], -np.inf))
    return float(s[k])


def expected(ref, pct: float) -> tuple[float, dict]:
    data, feats, model, scores = ref
    t = cutoff_for(scores.novelty, pct)
    row = threshold_sweep(scores, data.test_labels, model.seen_, model.unseen_, thresholds=np.array([t]))
    out = {k: float(v[0]) for k, v in row.items()}
    out["score"] = model.score(feats.X_test, data.test_labels, threshold=t)
    return t, out


def assert_shows(at, ref, pct: float) -> None:
    t, e = expected(ref, pct)
    m = metrics(at)
    assert m["Called novel"] == f"{e['novel_fraction']:.1%}"
    assert m["Seen accuracy"] == f"{e['seen']:.1%}"
    assert m["Unseen accuracy"] == f"{e['unseen']:.1%}"
    assert m["Overall accuracy"] == f"{e['overall']:.1%}" == f"{e['score']:.1%}"
    assert m["H (harmonic mean)"] == f"{e['H']:.1%}"
    assert any(f"{t:.4g}" in c.value for c in at.caption), "the cutoff is shown in the detector's units"


@pytest.fixture(scope="module")
def cat_truck():
    return reference(("cat", "truck"))


@pytest.fixture(scope="module")
def cat_truck_learned():
    return reference(("cat", "truck"), novelty="learned")


def _compare_detectors(at):
    """The comparison of every detector: shown at once when the learned gate is trained for this setup (the
    current detector, or trained before in this process); else it waits for a click."""
    buttons = [b for b in at.button if b.key == "compare_detectors"]
    if buttons:
        buttons[0].click().run()
        assert not at.exception, at.exception
    return _chart_titled(at, "Every novelty detector")


def test_slider_figures_are_the_engines(cat_truck):
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    seen_values = set()
    for pct in (0.0, 5.0, 30.0, 62.5, 100.0):
        at.slider(key="novel_pct").set_value(pct).run()
        assert not at.exception, at.exception
        assert_shows(at, cat_truck, pct)
        seen_values.add(tuple(metrics(at).values()))
    assert len(seen_values) >= 4, "moving the slider changes the figures"
    assert len(at.get("plotly_chart")) == 2  # the tradeoff and the confusion matrix (the comparison waits for a click)


def test_reset_goes_back_to_the_models_threshold(cat_truck):
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.slider(key="novel_pct").set_value(80.0).run()
    at.button(key="reset_threshold").click().run()
    _, _, model, scores = cat_truck
    own = float(np.mean(scores.novelty > model.threshold_)) * 100
    assert abs(at.slider(key="novel_pct").value - own) <= 0.05 + 1e-9


def test_changing_the_held_out_set_retrains(cat_truck):
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.slider(key="novel_pct").set_value(30.0).run()
    before = metrics(at)
    at.multiselect(key="unseen").set_value(["dog", "ship"]).run()
    assert not at.exception, at.exception
    assert at.slider(key="novel_pct").value == 30.0, "the threshold slider keeps its place"
    assert_shows(at, reference(("dog", "ship")), 30.0)
    assert metrics(at) != before


def test_loop_detector(cat_truck):
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.radio(key="novelty").set_value("loop").run()
    at.slider(key="novel_pct").set_value(20.0).run()
    assert not at.exception, at.exception
    assert_shows(at, reference(("cat", "truck"), novelty="loop"), 20.0)


@pytest.mark.parametrize("unseen, message", [
    ([], "at least one held-out"),
    (["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship"], "at least two seen"),
])
def test_a_choice_that_cannot_train_gets_a_message(unseen, message):
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.multiselect(key="unseen").set_value(unseen).run()
    assert not at.exception, at.exception
    assert any(message in w.value for w in at.warning), [w.value for w in at.warning]
    at.multiselect(key="unseen").set_value(["cat", "truck"]).run()  # and it recovers
    assert not at.exception and not at.warning


def test_call_nothing_unseen_beside_the_gated_figure_and_on_the_chart(cat_truck):
    import plotly.io

    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    at.slider(key="novel_pct").set_value(10.0).run()
    data, feats, model, scores = cat_truck
    y = data.test_labels
    seen = np.isin(y, model.seen_)
    nothing = np.sum(model.seen_[np.argmax(scores.seen_proba[:, model.seen_], 1)][seen] == y[seen]) / len(y)
    t, e = expected(cat_truck, 10.0)
    assert metrics(at)["Call nothing unseen"] == f"{nothing:.1%}"
    assert any(f"{abs(e['overall'] - nothing) * 100:.1f} points" in i.value for i in at.info)
    chart = plotly.io.from_json(at.get("plotly_chart")[0].proto.spec)
    notes = [a.text for a in chart.layout.annotations]
    assert f"call nothing unseen: {nothing:.1%}" in notes, notes


def test_slider_steps_by_one_percent_and_follows_the_detector_until_moved(cat_truck):
    """Issue 9: arrow keys moved 0.1 %; after switching to LoOP the slider kept the Gaussian's share."""
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert at.slider(key="novel_pct").step == 1.0

    def own(ref):
        _, _, model, scores = ref
        return round(float(np.mean(scores.novelty > model.threshold_)) * 1000) / 10

    assert at.slider(key="novel_pct").value == own(cat_truck)
    at.radio(key="novelty").set_value("loop").run()
    loop = reference(("cat", "truck"), novelty="loop")
    assert at.slider(key="novel_pct").value == own(loop), "the LoOP model's own threshold"
    at.slider(key="novel_pct").set_value(30.0).run()
    at.radio(key="novelty").set_value("gaussian").run()
    assert at.slider(key="novel_pct").value == 30.0, "once moved, the share is kept"


def test_confusion_matrix_reads_at_projector_width(cat_truck):
    """Issue 9: at 1,024 px the percentages ran together and every other class name vanished."""
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    cm = _chart_titled(at, "Confusion matrix")
    heat = cm.data[0]
    assert len(cm.layout.xaxis.tickvals) == 10 and len(cm.layout.yaxis.tickvals) == 10, "every class named"
    texts = [t for row in heat.text for t in row if t]
    assert texts and not any("%" in t for t in texts) and all(len(t) <= 3 for t in texts)
    labels = [m.label for m in at.metric]
    assert max(len(label) for label in labels) <= 20, labels


def _chart_titled(at, text):
    import plotly.io

    for element in at.get("plotly_chart"):
        fig = plotly.io.from_json(element.proto.spec)
        if fig.layout.title.text and text in fig.layout.title.text:
            return fig
    raise AssertionError(f"no chart titled {text!r}")


def test_every_detector_on_one_chart_with_the_engines_figures(cat_truck_learned):
    """Issue 10: the page compares every detector on one chart, each at its seen-only threshold."""
    from zsl_core.evaluation import auroc
    from zsl_core.model import DETECTORS

    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert not at.exception, at.exception
    fig = _compare_detectors(at)
    names = [t.name for t in fig.data if t.name]
    data, feats, model, scores = cat_truck_learned
    seen = np.isin(data.test_labels, model.seen_)
    expected_scores = {**model.component_novelty(feats.X_test), "learned": scores.novelty}
    assert len(names) == len(DETECTORS) == len(expected_scores)
    for name, nov in expected_scores.items():
        label = f"{DETECTORS[name].label} (AUROC {auroc(nov[~seen], nov[seen]):.2f})"
        assert label in names, (label, names)
    table = next(d.value for d in at.dataframe if "detector" in d.value.columns)
    assert list(table["detector"]) == [DETECTORS[n].label for n in expected_scores]
    assert set(table.loc[table["paper's"] == "yes", "detector"]) == {DETECTORS["gaussian"].label,
                                                                       DETECTORS["loop"].label}


@pytest.mark.parametrize("novelty", ["energy", "relative_word"])
def test_any_detector_can_be_picked(cat_truck, novelty):
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    assert at.radio(key="novelty").value == "gaussian", "the app starts with the paper's detector"
    at.radio(key="novelty").set_value(novelty).run()
    at.slider(key="novel_pct").set_value(20.0).run()
    assert not at.exception, at.exception
    assert_shows(at, reference(("cat", "truck"), novelty=novelty), 20.0)
    _compare_detectors(at)  # still compared, from the learned gate's run


def test_the_comparison_waits_for_a_click_unless_the_learned_gate_is_trained():
    """Training the learned gate takes tens of seconds: a visitor of the threshold page is not made to wait for
    it. A held-out set nobody has compared yet shows a button, and nothing is trained until it is clicked."""
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    at.query_params = {"unseen": "bird,frog"}
    at.run()
    assert not at.exception, at.exception
    assert [b.key for b in at.button if b.key == "compare_detectors"], "a button, not a training"
    with pytest.raises(AssertionError, match="no chart titled"):
        _chart_titled(at, "Every novelty detector")
    fig = _compare_detectors(at)
    assert len([t for t in fig.data if t.name]) >= 9
