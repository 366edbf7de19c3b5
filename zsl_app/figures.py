"""Plotly figure builders: plain data in, ``go.Figure`` out (no Streamlit, no engine calls).

Colours are fixed per class (``class_colours``) so a class looks the same on every page; seen things are
drawn in blue tones and unseen things in orange where a figure contrasts the two.
"""

from __future__ import annotations

import numpy as np
import plotly.colors
import plotly.graph_objects as go
import plotly.io as pio

PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
           "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
SEEN_COLOUR = "#2563eb"
UNSEEN_COLOUR = "#ea580c"
# Correct / wrong must not look like a class: greys, not the palette's green and red (issue 9).
CORRECT_COLOUR = "#b8c0cc"
WRONG_COLOUR = "#111827"
CURVES = (  # sweep key, label, colour, dash
    ("seen", "seen accuracy", SEEN_COLOUR, "solid"),
    ("unseen", "unseen accuracy", UNSEEN_COLOUR, "solid"),
    ("overall", "overall accuracy", "#111827", "solid"),
    ("H", "H (harmonic mean)", "#7c3aed", "dot"),
)


def class_colours(class_names: list[str]) -> dict[str, str]:
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(class_names)}


def _white_template() -> go.layout.Template:
    """The look of plotly's ``plotly_white``, and only what our figures use of it.

    The full template travels inside every figure's JSON: building and serialising one took ~50 ms of a
    slider move against ~10 ms with this one (30 students moving sliders at once is what makes that count)."""
    grid = dict(gridcolor="#EBF0F8", linecolor="#EBF0F8", zerolinecolor="#EBF0F8", zerolinewidth=2, ticks="",
                automargin=True)
    return go.layout.Template(layout=dict(paper_bgcolor="white", plot_bgcolor="white", font=dict(color="#2a3f5f"),
                                          xaxis=grid, yaxis=grid, hoverlabel=dict(align="left"),
                                          colorway=list(pio.templates["plotly_white"].layout.colorway)))


WHITE = _white_template()


def _layout_settings(height: int, **kw) -> dict:
    titled = "title" in kw
    settings = dict(height=height, margin=dict(l=10, r=10, t=95 if titled else 40, b=10), template=WHITE,
                    legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0))
    settings.update(kw)
    if titled:
        settings["title"] = dict(x=0.01, xanchor="left", yref="container", y=0.985, yanchor="top",
                                 **settings["title"])
    return settings


def _layout(fig: go.Figure, height: int = 380, **kw) -> go.Figure:
    """Shared look: white template, title at the very top, a horizontal legend between title and plot."""
    fig.update_layout(**_layout_settings(height, **kw))
    return fig


WHITE_DICT = WHITE.to_plotly_json()
#: Plotly's "Blues" (white → dark blue) spelled out: in an unvalidated figure a name goes to plotly.js as it is,
#: and plotly.js's own "Blues" runs the other way (dark blue at zero).
BLUES = plotly.colors.get_colorscale("Blues")


def _figure(data: list[dict], height: int, **layout) -> go.Figure:
    """A figure from plain trace and layout dicts, with the shared look, built without Plotly's validation.

    Figures redrawn on every slider move are built this way: validating the traces, ``add_hline`` and
    ``update_layout`` took ~50 ms of pure Python per figure (three per move), against ~2 ms here, and 30
    students moving sliders at once share one Python process. Their dicts use only documented properties and
    are checked by the tests (``go.Figure(fig.to_dict())`` validates them)."""
    settings = _layout_settings(height, **layout)
    settings["template"] = WHITE_DICT
    return go.Figure({"data": data, "layout": settings}, _validate=False)


def _hline(y: float, line: dict, text: str, position: str, font: dict) -> tuple[dict, dict]:
    """``add_hline`` as a plain shape + annotation (``position``: "top right" or "bottom left")."""
    vertical, horizontal = position.split()
    shape = dict(type="line", xref="x domain", x0=0, x1=1, yref="y", y0=y, y1=y, line=line)
    note = dict(xref="x domain", x=1 if horizontal == "right" else 0, xanchor=horizontal, yref="y", y=y,
                yanchor="bottom" if vertical == "top" else "top", text=text, showarrow=False, font=font)
    return shape, note


POSITIONS = ((0, 1, "top center"), (0, -1, "bottom center"), (1, 0, "middle right"), (-1, 0, "middle left"),
             (1, 1, "top right"), (-1, 1, "top left"), (1, -1, "bottom right"), (-1, -1, "bottom left"))


def label_positions(xy: np.ndarray, others: np.ndarray | None = None) -> list[str]:
    """A ``textposition`` per point that keeps labels apart (greedy, in order): each label goes to the side
    whose spot is farthest from the other points and from the labels already placed. Drawing only.

    ``others``: more points to keep clear of (e.g. "your photo").
    """
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    if len(xy) == 0:
        return []
    every = xy if others is None else np.vstack([xy, np.asarray(others, dtype=float).reshape(-1, 2)])
    span = np.ptp(every, axis=0)
    span[span == 0] = 1.0
    unit = (every - every.min(axis=0)) / span
    step = np.array([0.06, 0.045])  # a label's offset, as a share of the plot (wider than tall)
    placed: list[np.ndarray] = []
    out = []
    for i, p in enumerate(unit[: len(xy)]):
        obstacles = np.vstack([np.delete(unit, i, axis=0)] + [np.array(placed).reshape(-1, 2)])
        best, best_d = "top center", -1.0
        for dx, dy, name in POSITIONS:
            spot = p + step * np.array([dx, dy]) * (1.6 if dx else 1.0)
            d = float(np.min(np.linalg.norm((obstacles - spot) * [1.0, 1.3], axis=1))) if len(obstacles) else 1.0
            # A label pointing out of the plot near its edge would be cut off: only inward there.
            if (p[0] > 0.85 and dx > 0) or (p[0] < 0.15 and dx < 0) or (p[1] > 0.92 and dy > 0) \
                    or (p[1] < 0.08 and dy < 0):
                d -= 1.0
            if d > best_d + 1e-9:
                best, best_d = name, d
        dx, dy = next((a, b) for a, b, n in POSITIONS if n == best)
        placed.append(p + step * np.array([dx, dy]) * (1.6 if dx else 1.0))
        out.append(best)
    return out


def padded_range(values, share: float = 0.12) -> list[float]:
    """An axis range with ``share`` of the span added on each side, so labels at the edges are not cut."""
    v = np.asarray(values, dtype=float).ravel()
    v = v[np.isfinite(v)]
    if v.size == 0:
        return [-1.0, 1.0]
    lo, hi = float(v.min()), float(v.max())
    pad = (hi - lo) * share or 1.0
    return [lo - pad, hi + pad]


def decimate(n: int, max_points: int = 400) -> np.ndarray:
    """Indices that thin a curve of ``n`` points to at most ``max_points``, keeping both ends."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(int))


def tradeoff_curves(sweep: dict, title: str, at: dict | None = None, paper_seen: float | None = None,
                    score_label: str = "novelty score", height: int = 400, nothing: float | None = None) -> go.Figure:
    """Seen / unseen / overall accuracy and H against the fraction of test images called novel.

    ``sweep`` is ``evaluation.threshold_sweep``'s dict; ``at`` the same keys at the slider (scalars);
    ``nothing`` the overall accuracy when nothing is called unseen (``experiment.summary``), drawn as a line.
    """
    frac = np.asarray(sweep["novel_fraction"], dtype=float)
    order = np.argsort(frac, kind="stable")
    idx = order[decimate(len(order))]
    threshold = np.asarray(sweep["threshold"], dtype=float)[idx]
    data = [dict(type="scatter", x=frac[idx], y=np.asarray(sweep[key], dtype=float)[idx], mode="lines",
                 name=label, line=dict(color=colour, dash=dash, width=2), customdata=threshold,
                 hovertemplate=f"{label}: %{{y:.1%}}<br>called novel: %{{x:.1%}}<br>{score_label} cutoff: "
                               "%{customdata:.4g}<extra></extra>")
            for key, label, colour, dash in CURVES]
    shapes, notes = [], []
    if nothing is not None:
        shape, note = _hline(nothing, dict(color="#111827", dash="dash", width=1.5),
                             f"call nothing unseen: {nothing:.1%}", "top right", dict(size=11, color="#111827"))
        shapes.append(shape), notes.append(note)
    if paper_seen is not None:
        shape, note = _hline(paper_seen, dict(color="#6b7280", dash="dot", width=1),
                             f"paper: seen softmax {paper_seen:.1%}", "bottom left", dict(size=11, color="#4b5563"))
        shapes.append(shape), notes.append(note)
    if at is not None:
        x = at["novel_fraction"]
        shapes.append(dict(type="line", xref="x", x0=x, x1=x, yref="y domain", y0=0, y1=1,
                           line=dict(color="#9ca3af", width=1.5)))
        data.append(dict(type="scatter", x=[x] * len(CURVES), y=[at[key] for key, *_ in CURVES], mode="markers",
                         showlegend=False, hovertemplate="%{y:.1%} at the slider<extra></extra>",
                         marker=dict(size=10, color=[c for _, _, c, _ in CURVES],
                                     line=dict(color="white", width=1.5))))
    return _figure(data, height, title=dict(text=title, font=dict(size=15)), shapes=shapes, annotations=notes,
                   xaxis=dict(title=dict(text="fraction of test images called novel"), tickformat=".0%",
                              range=[-0.01, 1.01]),
                   yaxis=dict(title=dict(text="accuracy"), tickformat=".0%", range=[-0.02, 1.02]))


def detector_curves(table: dict, current: str, nothing: float, title: str, height: int = 420) -> go.Figure:
    """Overall accuracy against the share of test images called novel, one line per novelty detector.

    ``table`` is ``evaluation.detector_table(run, with_sweeps=True)``; each detector's marker is where its
    threshold chosen without unseen images puts it; ``current`` is drawn thicker; the paper's detectors dashed.
    """
    fig = go.Figure()
    for i, (name, row) in enumerate(table.items()):
        sweep = row["sweep"]
        frac = np.asarray(sweep["novel_fraction"], dtype=float)
        order = np.argsort(frac, kind="stable")
        idx = order[decimate(len(order))]
        colour = PALETTE[i % len(PALETTE)]
        label = f"{row['label']} (AUROC {row['auroc']:.2f})"
        width = 4 if name == current else 2
        fig.add_trace(go.Scatter(
            x=frac[idx], y=np.asarray(sweep["overall"], dtype=float)[idx], mode="lines", name=label,
            legendgroup=name, line=dict(color=colour, width=width, dash="dash" if row["paper"] else "solid"),
            hovertemplate=f"{row['label']}<br>overall: %{{y:.1%}}<br>called novel: %{{x:.1%}}<extra></extra>"))
        at = row["at_threshold"]
        fig.add_trace(go.Scatter(
            x=[at["novel_fraction"]], y=[at["overall"]], mode="markers", legendgroup=name, showlegend=False,
            marker=dict(size=11 if name == current else 8, color=colour, line=dict(color="white", width=1.5)),
            hovertemplate=(f"{row['label']} at its threshold chosen without unseen images:<br>overall %{{y:.1%}}, "
                           f"{at['novel_fraction']:.1%} called novel ({row['gain'] * 100:+.1f} pts)<extra></extra>")))
    fig.add_hline(y=nothing, line=dict(color="#111827", dash="dash", width=1.5),
                  annotation_text=f"call nothing unseen: {nothing:.1%}", annotation_position="bottom right",
                  annotation_font=dict(size=11, color="#111827"))
    fig.update_xaxes(title="fraction of test images called novel", tickformat=".0%", range=[-0.01, 0.61])
    fig.update_yaxes(title="overall accuracy", tickformat=".0%")
    return _layout(fig, height, title=dict(text=title, font=dict(size=15)),
                   legend=dict(orientation="v", yanchor="top", y=1.0, xanchor="left", x=1.02, font=dict(size=11)),
                   margin=dict(l=10, r=10, t=50, b=10))


def confusion_heatmap(cm: np.ndarray, class_names: list[str], unseen: list[str], title: str,
                      height: int = 460) -> go.Figure:
    """Row-normalised confusion matrix (rows: true class, columns: predicted), counts in the hover."""
    cm = np.asarray(cm, dtype=float)
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    labels = [f"{n} ✱" if n in unseen else n for n in class_names]
    # Whole percentages without the % sign (the title says so) and nothing under 1 %: at 1,024 px the cells
    # are ~35 px wide, and "12%" beside "8%" ran together (issue 9).
    text = [[f"{v * 100:.0f}" if v >= 0.01 else "" for v in row] for row in share]
    heatmap = dict(
        type="heatmap", z=share, x=labels, y=labels, text=text, texttemplate="%{text}", textfont=dict(size=11),
        customdata=cm.astype(int), colorscale=BLUES, zmin=0, zmax=1,
        colorbar=dict(title=dict(text="share of<br>the row"), tickformat=".0%"),
        hovertemplate="true %{y} → predicted %{x}<br>%{customdata} images (%{z:.1%} of the row)<extra></extra>")
    # Every class name, always: Plotly thins crowded category ticks on its own ("every other class name").
    return _figure([heatmap], height, title=dict(text=title, font=dict(size=14)),
                   margin=dict(l=10, r=10, t=45, b=10),
                   yaxis=dict(autorange="reversed", title=dict(text="true class"), tickmode="array", tickvals=labels,
                              ticktext=labels),
                   xaxis=dict(title=dict(text="predicted class"), tickangle=-45, tickmode="array", tickvals=labels,
                              ticktext=labels))


def semantic_scatter(xy: np.ndarray, star_xy: np.ndarray, class_names: list[str], unseen: list[str],
                     true_idx: np.ndarray, pred_idx: np.ndarray, novelty: np.ndarray, threshold: float,
                     colour_by: str = "true", height: int = 620, title: str = "",
                     highlight: np.ndarray | None = None, highlight_label: str = "",
                     focus_class: str | None = None) -> go.Figure:
    """Mapped test images (dots: seen classes, crosses: unseen classes) and every class's word vector (stars).

    Every image trace carries ``customdata = [row index into xy]`` so a selection can be mapped back.
    ``highlight``: positions of xy to ring (a searched word's nearest images); ``focus_class``: a searched
    class whose images stay bright while the others fade.
    """
    colours = class_colours(class_names)
    is_unseen = np.isin(true_idx, [class_names.index(u) for u in unseen])
    correct = pred_idx == true_idx
    fig = go.Figure()
    rows = np.arange(len(xy))

    def hover(sel):
        return [
            f"true: <b>{class_names[t]}</b>{' (unseen)' if u else ''}<br>predicted: {class_names[p]} "
            f"{'✓' if c else '✗'}<br>novelty score {s:.3g} ({'novel' if s > threshold else 'seen'})"
            for t, p, u, c, s in zip(true_idx[sel], pred_idx[sel], is_unseen[sel], correct[sel], novelty[sel])
        ]

    if colour_by in ("true", "predicted"):
        by = true_idx if colour_by == "true" else pred_idx
        for c, name in enumerate(class_names):
            for unseen_group, symbol in ((False, "circle"), (True, "x")):
                sel = (by == c) & (is_unseen == unseen_group)
                if not sel.any():
                    continue
                faded = focus_class is not None and name != focus_class
                fig.add_trace(go.Scattergl(
                    x=xy[sel, 0], y=xy[sel, 1], mode="markers", customdata=rows[sel],
                    name=f"{name}{' · unseen images' if unseen_group else ''}", legendgroup=name,
                    marker=dict(color=colours[name], size=6 if unseen_group else 5, symbol=symbol,
                                opacity=0.12 if faded else 0.75),
                    text=hover(sel), hovertemplate="%{text}<extra></extra>"))
    else:
        for ok, label, colour in ((True, "correct", CORRECT_COLOUR), (False, "wrong", WRONG_COLOUR)):
            for unseen_group, symbol in ((False, "circle"), (True, "x")):
                sel = (correct == ok) & (is_unseen == unseen_group)
                if not sel.any():
                    continue
                fig.add_trace(go.Scattergl(
                    x=xy[sel, 0], y=xy[sel, 1], mode="markers", customdata=rows[sel],
                    name=f"{label} · {'unseen' if unseen_group else 'seen'} classes",
                    marker=dict(color=colour, size=6 if unseen_group else 5, symbol=symbol,
                                opacity=0.9 if not ok else 0.6),
                    text=hover(sel), hovertemplate="%{text}<extra></extra>"))
    if highlight is not None and len(highlight):
        hl = np.asarray(highlight, dtype=int)
        fig.add_trace(go.Scattergl(
            x=xy[hl, 0], y=xy[hl, 1], mode="markers", customdata=rows[hl], name=highlight_label or "found",
            marker=dict(symbol="circle-open", size=13, color="#db2777", line=dict(width=2.5)),
            text=hover(hl), hovertemplate="%{text}<extra></extra>"))
    fig.add_trace(go.Scatter(
        x=star_xy[:, 0], y=star_xy[:, 1], mode="markers+text", name="class word vectors",
        marker=dict(symbol="star", size=20, color=[colours[n] for n in class_names],
                    line=dict(color="black", width=1.2)),
        text=[f"<b>{n}</b>" + (" (unseen)" if n in unseen else "") for n in class_names],
        textposition=label_positions(star_xy), textfont=dict(size=12, color="#111827"),
        hovertemplate="word vector of <b>%{text}</b><extra></extra>"))
    both = np.vstack([xy, star_xy])
    fig.update_xaxes(showticklabels=False, title=None, zeroline=False, showgrid=False,
                     range=padded_range(both[:, 0]))
    fig.update_yaxes(showticklabels=False, title=None, zeroline=False, showgrid=False,
                     range=padded_range(both[:, 1], 0.08))
    # No dragmode: Streamlit then pans on drag and selects on click (box / lasso are in the mode bar); with a
    # lasso or box drag mode it would turn click-selection off. The legend goes under the plot: beside it, it
    # took a third of the width at 1,024 px.
    return _layout(fig, height, title=dict(text=title, font=dict(size=14)), margin=dict(l=10, r=10, t=40, b=10),
                   legend=dict(orientation="h", x=0, y=-0.02, xanchor="left", yanchor="top", font=dict(size=11)))


def selected_points(event) -> list[int]:
    """The ``customdata`` row numbers of the points chosen in an ``st.plotly_chart(on_select=...)`` event.

    Points without a numeric ``customdata`` (the class stars) are skipped; order is kept, duplicates dropped.
    """
    points = (event or {}).get("selection", {}).get("points", []) if event is not None else []
    out = []
    for point in points:
        value = point.get("customdata")
        if isinstance(value, (list, tuple)):
            value = value[0] if value else None
        if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
            out.append(int(value))
    return list(dict.fromkeys(out))


def read_selection(event) -> tuple[list[int], bool]:
    """``(points, is_group)`` of an ``st.plotly_chart`` selection: the rows chosen (``selected_points``) and
    whether they come from a box or lasso (a group for the grid) rather than a click (one image for the panel).
    """
    selection = (event or {}).get("selection", {}) if event is not None else {}
    points = selected_points(event)
    group = bool(selection.get("box") or selection.get("lasso")) or len(points) > 1
    return points, group


def pair_heatmap(matrix: np.ndarray, class_names: list[str], title: str, colorbar: str, zmin: float,
                 zmax: float, colorscale: str = "Viridis", fmt: str = ".2f", highlight: tuple | None = None,
                 clickable: bool = False, height: int = 480) -> go.Figure:
    """A symmetric class × class matrix with its diagonal blank; ``highlight`` = (i, j) gets a box.

    ``clickable`` lays an invisible scatter point on every off-diagonal cell, with ``customdata = [row, col]``:
    Plotly cannot select heatmap cells, but it can select scatter points, so a click reaches
    ``st.plotly_chart(on_select=...)``.
    """
    shown = np.array(matrix, dtype=float)
    np.fill_diagonal(shown, np.nan)
    text = [["" if not np.isfinite(v) else format(v, fmt) for v in row] for row in shown]
    hover = "%{y} + %{x}: %{z:" + fmt + "}<extra></extra>"
    fig = go.Figure(go.Heatmap(
        z=shown, x=class_names, y=class_names, text=text, texttemplate="%{text}", textfont=dict(size=10),
        colorscale=colorscale, zmin=zmin, zmax=zmax, colorbar=dict(title=colorbar, thickness=14),
        hoverongaps=False,
        hovertemplate=hover, hoverinfo="skip" if clickable else None))
    if clickable:
        cells = [(i, j) for i in range(len(class_names)) for j in range(len(class_names)) if i != j]
        fig.add_trace(go.Scatter(
            x=[class_names[j] for _, j in cells], y=[class_names[i] for i, _ in cells], mode="markers",
            customdata=[[i, j] for i, j in cells], showlegend=False, name="cells",
            marker=dict(symbol="square", size=20, opacity=0), selected=dict(marker=dict(opacity=0)),
            unselected=dict(marker=dict(opacity=0)), text=[format(shown[i, j], fmt) for i, j in cells],
            hovertemplate="%{y} + %{x}: %{text} — click to hold this pair out<extra></extra>"))
    if highlight is not None:
        i, j = highlight
        for a, b in ((i, j), (j, i)):
            fig.add_shape(type="rect", x0=b - 0.5, x1=b + 0.5, y0=a - 0.5, y1=a + 0.5,
                          line=dict(color="#ef4444", width=3))
    fig.update_yaxes(autorange="reversed", tickmode="array", tickvals=class_names, ticktext=class_names)
    fig.update_xaxes(tickangle=-45, tickmode="array", tickvals=class_names, ticktext=class_names)
    return _layout(fig, height, title=dict(text=title, font=dict(size=14)), margin=dict(l=10, r=10, t=45, b=10))


def similarity_scatter(x: np.ndarray, y: np.ndarray, labels: list[str], highlight: int | None,
                       slope: float = float("nan"), intercept: float = float("nan"), r: float = float("nan"),
                       height: int = 380) -> go.Figure:
    """2-way accuracy against the held-out pair's similarity to its nearest seen class; the engine's fitted
    line and correlation (``evaluation.similarity_vs_accuracy``) when given."""
    colours = ["#ef4444" if i == highlight else "#2563eb" for i in range(len(labels))]
    fig = go.Figure(go.Scatter(
        x=x, y=y, mode="markers", text=labels, marker=dict(size=9, color=colours, opacity=0.8),
        name="held-out pair (red: the selected one)",
        hovertemplate="%{text}<br>nearest seen class: cosine %{x:.2f}<br>2-way accuracy %{y:.1%}<extra></extra>"))
    if np.isfinite(slope) and len(x):
        xs = np.array([np.min(x), np.max(x)])
        fig.add_trace(go.Scatter(x=xs, y=slope * xs + intercept, mode="lines", line=dict(color="#9ca3af", dash="dash"),
                                 name=f"least-squares line (r = {r:.2f})", hoverinfo="skip"))
    fig.add_hline(y=0.5, line=dict(color="#ef4444", dash="dot", width=1), annotation_text="chance (50 %)",
                  annotation_position="bottom right", annotation_font=dict(size=11, color="#b91c1c"))
    fig.update_xaxes(title="cosine to nearest seen class")
    fig.update_yaxes(title="2-way zero-shot accuracy", tickformat=".0%")
    return _layout(fig, height, showlegend=True)


def distractor_figure(n: np.ndarray, unseen: np.ndarray, gated: np.ndarray, words: list[str], title: str,
                      height: int = 400) -> go.Figure:
    """Unseen accuracy as distractor words join the unseen candidates (x = how many were added).

    ``unseen``: every unseen-class image classified among the candidates (perfect gate); ``gated``: through the
    novelty gate at the shared threshold (an image called familiar counts as wrong).
    """
    hover = (["no distractors"] + [f"+ {w}" for w in words] + [""] * len(n))[: len(n)]
    fig = go.Figure()
    fig.add_trace(go.Scatter(
        x=n, y=unseen, mode="lines+markers", name="perfect gate (every unseen image called novel)",
        line=dict(color=UNSEEN_COLOUR, width=2.5), text=hover,
        hovertemplate="%{x} distractor(s), last added %{text}<br>unseen accuracy %{y:.1%}<extra></extra>"))
    fig.add_trace(go.Scatter(
        x=n, y=gated, mode="lines+markers", name="through the novelty gate at the shared threshold",
        line=dict(color="#7c3aed", width=2, dash="dot"), text=hover,
        hovertemplate="%{x} distractor(s), last added %{text}<br>unseen accuracy %{y:.1%}<extra></extra>"))
    fig.update_xaxes(title="distractor words added to the unseen candidates", dtick=1 if len(n) <= 25 else None)
    fig.update_yaxes(title="unseen accuracy", tickformat=".0%", range=[0, 1.02])
    return _layout(fig, height, title=dict(text=title, font=dict(size=14)))


def probability_bars(names: list[str], proba: np.ndarray, unseen: list[str], height: int = 300) -> go.Figure:
    order = np.argsort(-proba)
    names = [names[i] for i in order][::-1]
    values = proba[order][::-1]
    colours = [UNSEEN_COLOUR if n in unseen else SEEN_COLOUR for n in names]
    bars = dict(type="bar", x=values, y=names, orientation="h", marker=dict(color=colours),
                text=[f"{v:.1%}" for v in values], textposition="outside", cliponaxis=False,
                hovertemplate="%{y}: %{x:.2%}<extra></extra>")
    return _figure([bars], height, showlegend=False, margin=dict(l=10, r=10, t=10, b=10),
                   xaxis=dict(range=[0, 1.3], tickformat=".0%", title=dict(text="probability (Eq. 2)"),
                              tickvals=[0, 0.5, 1]))


def landing_figure(pts: np.ndarray, labels: np.ndarray, class_xy: np.ndarray, photo_xy: np.ndarray,
                   class_names: list[str], unseen: list[str], height: int = 430,
                   extra_xy: np.ndarray | None = None, extra_names: list[str] = ()) -> go.Figure:
    """Where a photo lands among the mapped test images and the class word vectors (a PCA view); typed
    candidate labels (``extra_names`` at ``extra_xy``) are drawn as hollow stars. Redrawn for every photo
    and typed label, so built from plain dicts (see :func:`_figure`)."""
    colours = class_colours(class_names)
    data = [dict(type="scattergl", x=pts[labels == c, 0], y=pts[labels == c, 1], mode="markers", name=name,
                 marker=dict(size=4, color=colours[name], opacity=0.35), hoverinfo="skip", showlegend=False)
            for c, name in enumerate(class_names) if (labels == c).any()]
    extra_xy = np.zeros((0, 2)) if extra_xy is None else np.asarray(extra_xy, dtype=float).reshape(-1, 2)
    stars = np.vstack([class_xy, extra_xy])
    positions = label_positions(stars, others=np.asarray(photo_xy, dtype=float)[None])
    data.append(dict(type="scatter", x=class_xy[:, 0], y=class_xy[:, 1], mode="markers+text",
                     name="class word vectors",
                     marker=dict(symbol="star", size=16, color=[colours[n] for n in class_names],
                                 line=dict(color="black", width=1)),
                     text=[f"{n}{' (unseen)' if n in unseen else ''}" for n in class_names],
                     textposition=positions[: len(class_xy)], textfont=dict(size=11),
                     hovertemplate="word vector of %{text}<extra></extra>"))
    if len(extra_xy):
        data.append(dict(type="scatter", x=extra_xy[:, 0], y=extra_xy[:, 1], mode="markers+text", name="your labels",
                         marker=dict(symbol="star-open", size=16, color=UNSEEN_COLOUR, line=dict(width=2)),
                         text=[f"<i>{n}</i> (typed)" for n in extra_names],
                         textposition=positions[len(class_xy):], textfont=dict(size=11, color="#9a3412"),
                         hovertemplate="word vector of %{text}<extra></extra>"))
    data.append(dict(type="scatter", x=[photo_xy[0]], y=[photo_xy[1]], mode="markers", name="your photo",
                     marker=dict(symbol="x-thin", size=22, color="black", line=dict(width=4, color="black")),
                     hovertemplate="your photo<extra></extra>"))
    # The photo's label sits at the end of a short arrow pointing away from the nearest star, so it never
    # covers a class name (issue 9: "your photo" on the frog star).
    span = np.ptp(np.vstack([pts, stars, np.asarray(photo_xy)[None]]), axis=0)
    span[span == 0] = 1.0
    away = (np.asarray(photo_xy) - stars[np.argmin(np.linalg.norm((stars - photo_xy) / span, axis=1))]) / span
    norm = float(np.linalg.norm(away))
    direction = away / norm if norm > 1e-9 else np.array([0.0, -1.0])
    note = dict(x=float(photo_xy[0]), y=float(photo_xy[1]), text="<b>your photo</b>", showarrow=True, arrowhead=2,
                ax=float(55 * direction[0]), ay=float(-40 * direction[1]), font=dict(size=12),
                bgcolor="rgba(255,255,255,0.85)")
    every = np.vstack([pts, stars, np.asarray(photo_xy)[None]])
    return _figure(data, height, showlegend=False, annotations=[note],
                   xaxis=dict(title=dict(text="first principal component of the word space"), showticklabels=False,
                              zeroline=False, range=padded_range(every[:, 0])),
                   yaxis=dict(title=dict(text="second principal component"), showticklabels=False, zeroline=False,
                              range=padded_range(every[:, 1], 0.08)))
