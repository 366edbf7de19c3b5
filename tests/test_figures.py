"""The figures redrawn on every slider move are built without Plotly's validation (for speed): check here that
what they hold is valid Plotly and says what the page claims."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest

from zsl_app import figures


def sweep(n: int = 900, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    frac = np.sort(rng.random(n))
    return {"novel_fraction": frac, "threshold": np.linspace(5, -5, n), "seen": 1 - frac, "unseen": frac,
            "overall": 0.8 * (1 - frac) + 0.2 * frac, "H": 2 * frac * (1 - frac)}


AT = {"novel_fraction": 0.25, "seen": 0.75, "unseen": 0.25, "overall": 0.65, "H": 0.375}


def test_tradeoff_curves_are_valid_plotly_and_mark_the_slider_and_the_lines():
    fig = figures.tradeoff_curves(sweep(), "Gaussian (current)", AT, paper_seen=0.825, nothing=0.683)
    go.Figure(fig.to_dict())  # Plotly's validation: raises on any unknown property or bad value

    curves = [t for t in fig.data if t.mode == "lines"]
    assert [t.name for t in curves] == [label for _, label, *_ in figures.CURVES]
    assert all(len(t.x) <= 400 for t in curves), "curves are thinned for the browser"
    assert all(np.all(np.diff(np.asarray(t.x)) >= 0) for t in curves)
    dots = [t for t in fig.data if t.mode == "markers"]
    assert len(dots) == 1 and list(dots[0].y) == [0.75, 0.25, 0.65, 0.375] and set(dots[0].x) == {0.25}

    lines = {(s.y0, s.x0) for s in fig.layout.shapes}
    assert (0.683, 0) in lines and (0.825, 0) in lines, "call-nothing-unseen and the paper's seen accuracy"
    assert any(s.x0 == 0.25 and s.x1 == 0.25 for s in fig.layout.shapes), "the slider's vertical line"
    texts = [a.text for a in fig.layout.annotations]
    assert "call nothing unseen: 68.3%" in texts and "paper: seen softmax 82.5%" in texts
    assert fig.layout.title.text == "Gaussian (current)" and fig.layout.template.layout.paper_bgcolor == "white"


def test_tradeoff_curves_without_the_optional_lines():
    fig = figures.tradeoff_curves(sweep(50), "LoOP")
    go.Figure(fig.to_dict())
    assert len(fig.data) == len(figures.CURVES) and not fig.layout.shapes and not fig.layout.annotations


def test_confusion_heatmap_is_valid_and_row_normalised():
    cm = np.array([[8, 2, 0], [0, 0, 0], [1, 1, 198]])
    fig = figures.confusion_heatmap(cm, ["cat", "dog", "truck"], ["cat", "truck"], "Confusion")
    go.Figure(fig.to_dict())
    heat = fig.data[0]
    z = np.asarray(heat.z)
    assert z[0].tolist() == pytest.approx([0.8, 0.2, 0.0]) and z[1].tolist() == [0, 0, 0]
    assert list(heat.text[0]) == ["80", "20", ""] and list(heat.text[2]) == ["", "", "99"], "under 1 % blank"
    assert list(heat.x) == ["cat ✱", "dog", "truck ✱"] and list(fig.layout.xaxis.tickvals) == list(heat.x)
    assert np.asarray(heat.customdata).tolist() == cm.tolist(), "the counts are in the hover"
    # White at 0, dark blue at 1, spelled out: a bare "Blues" reaches plotly.js unvalidated, where it runs the
    # other way (the screenshots showed a dark-blue matrix with a white scale top).
    scale = [tuple(step) for step in heat.colorscale]
    assert scale[0] == (0.0, "rgb(247,251,255)") and scale[-1] == (1.0, "rgb(8,48,107)")


def test_unvalidated_figures_take_later_changes():
    """Presentation mode enlarges the type of a figure after it is built."""
    fig = figures.tradeoff_curves(sweep(20), "t", AT)
    fig.update_layout(font=dict(size=17))
    assert fig.to_dict()["layout"]["font"]["size"] == 17


def test_probability_bars_sorted_with_unseen_in_their_colour():
    fig = figures.probability_bars(["cat", "dog", "truck"], np.array([0.2, 0.7, 0.1]), ["cat", "truck"])
    go.Figure(fig.to_dict())
    bars = fig.data[0]
    assert list(bars.y) == ["truck", "cat", "dog"], "largest on top (Plotly draws the last bar at the top)"
    assert list(bars.marker.color) == [figures.UNSEEN_COLOUR, figures.UNSEEN_COLOUR, figures.SEEN_COLOUR]
    assert list(bars.text) == ["10.0%", "20.0%", "70.0%"]


def test_csv_of_a_table_or_of_a_table_built_on_demand():
    import pandas as pd

    from zsl_app import charts

    table = pd.DataFrame({"threshold": [1.5, 0.5], "seen": [0.9, 0.8]})
    built = []

    def later():
        built.append(1)
        return table

    assert charts.table_csv(table) == b"threshold,seen\n1.5,0.9\n0.5,0.8\n"
    assert charts.table_csv(later) == charts.table_csv(table) and built == [1]


def test_landing_figure_is_valid_with_typed_labels():
    rng = np.random.default_rng(0)
    pts, labels = rng.normal(size=(60, 2)), np.repeat([0, 1, 2], 20)
    fig = figures.landing_figure(pts, labels, np.eye(3)[:, :2] * 3, np.array([0.2, 0.1]), ["cat", "dog", "truck"],
                                 ["cat", "truck"], extra_xy=np.array([[2.0, -1.0]]), extra_names=["tiger"])
    go.Figure(fig.to_dict())
    names = [t.name for t in fig.data]
    assert names[:3] == ["cat", "dog", "truck"] and names[3:] == ["class word vectors", "your labels", "your photo"]
    assert list(fig.data[3].text) == ["cat (unseen)", "dog", "truck (unseen)"]
    assert list(fig.data[4].text) == ["<i>tiger</i> (typed)"]
    assert [a.text for a in fig.layout.annotations] == ["<b>your photo</b>"]
