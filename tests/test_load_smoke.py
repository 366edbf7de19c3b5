"""The load benchmark's harness still works: 2 concurrent visitor sessions over Streamlit's websocket protocol.

Runs ``bench/bench_load.py``'s own level function with N = 2 and one short tour each (open the app, the
Threshold page, two slider moves, another held-out pair, a slider move, the Classify page, an upload), against a
real ``streamlit run`` on a free loopback port with the tests' small settings. Asserts that every interaction
finished without errors and that each session saw only its own held-out set, slider value and photo — and
that those checks really ran (skipped when the test data is missing; 30-60 s on 2 cores). A second
test feeds the checks another session's values and expects each to be reported.
"""

from __future__ import annotations

import importlib.util
import sys

import pytest

from zsl_app.testing import REPO, data_path, environment

needs_data = pytest.mark.skipif(not data_path().exists(),
                                reason=f"test data {data_path()} not found (set ZSL_TEST_DATA)")


@pytest.fixture(scope="module")
def bench_load():
    spec = importlib.util.spec_from_file_location("bench_load", REPO / "bench" / "bench_load.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_load"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@needs_data
def test_two_visitors_no_errors_no_crosstalk(bench_load):
    args = bench_load.parse_args(["--visitors", "2", "--rounds", "1", "--moves", "2", "--think", "0.2,0.5",
                                  "--ramp", "0.5", "--timeout", "120", "--time-limit", "150"])
    out = bench_load.level(2, args, environment())
    bench_load.print_level(out)

    assert out["errors"] == 0, out["error_examples"]
    assert out["crosstalk"] == 0, out["crosstalk_examples"]
    assert out["skipped"] == 0
    # 1 open + 2 pages + 3 slider moves + 1 held-out change + 1 upload, per visitor
    assert {kind: out[kind]["n"] for kind in bench_load.KINDS} == {
        "open": 2, "page": 4, "slider": 6, "held_out": 2, "upload": 2}
    assert out["fragment_runs"]["slider"] == 6, "a slider move reruns only its fragment, as in the browser"
    checks = out["checks"]
    # The widgets keep their values in the browser (echoed only when the server sets one), so the pages'
    # derived figures carry the check: the held-out names in the text and the "Called novel" metric.
    assert checks["held_out_text"] >= 6 and checks["slider_metric"] >= 6, checks
    assert checks["photo"] == 2, checks
    assert out["vmhwm_mb"] > 0 and out["rss_end_mb"] > 0


def test_crosstalk_is_detected(bench_load):
    """The checks are not vacuous: a session shown another session's choices is reported."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    results = bench_load.Results()
    visitor = bench_load.Visitor(0, 0, results, timeout=1)
    visitor.held, visitor.pct, visitor.photo_name = ("cat", "truck"), 42.0, "v00-r0.jpg"

    msg = ForwardMsg()
    element = msg.delta.new_element
    element.multiselect.id = "$$ID-0-unseen"
    element.multiselect.options.extend(bench_load.CLASS_NAMES)
    element.multiselect.set_value = True
    element.multiselect.raw_values.extend(["deer", "ship"])
    visitor._on_message(msg)
    for label, body, help_ in (("Called novel", "12.5%", ""), ("Unseen accuracy", "50%", "images of deer + ship")):
        msg = ForwardMsg()
        msg.delta.new_element.metric.label, msg.delta.new_element.metric.body = label, body
        msg.delta.new_element.metric.help = help_
        visitor._on_message(msg)
    msg = ForwardMsg()
    msg.delta.new_element.slider.id = "$$ID-1-novel_pct"
    msg.delta.new_element.slider.set_value = True
    msg.delta.new_element.slider.value.append(12.5)
    visitor._on_message(msg)
    msg = ForwardMsg()
    msg.delta.new_element.imgs.imgs.add().caption = "v07-r0.jpg"
    visitor._on_message(msg)

    visitor.check("upload")
    found = "\n".join(results.crosstalk)
    assert "multiselect shows ['deer', 'ship']" in found
    assert "'deer + ship'" in found
    assert "slider shows [12.5]" in found and "'Called novel' shows 12.5%" in found
    assert "v07-r0.jpg" in found
    assert any("no verdict" in e for e in results.errors)


def test_a_widget_the_server_does_not_set_is_not_crosstalk(bench_load):
    """A kept widget is drawn without a value (``set_value`` false, ``default`` the bare minimum): the browser
    keeps the visitor's own value, so the bare default is not another session's choice."""
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    results = bench_load.Results()
    visitor = bench_load.Visitor(0, 0, results, timeout=1)
    visitor.held, visitor.pct = ("cat", "truck"), 42.0
    msg = ForwardMsg()
    msg.delta.new_element.slider.id = "$$ID-1-novel_pct"
    msg.delta.new_element.slider.default.append(0.0)
    visitor._on_message(msg)
    msg = ForwardMsg()
    msg.delta.new_element.multiselect.id = "$$ID-0-unseen"
    msg.delta.new_element.multiselect.options.extend(bench_load.CLASS_NAMES)
    visitor._on_message(msg)
    visitor.check("slider")
    assert results.crosstalk == []
