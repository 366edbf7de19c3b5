"""The novelty-threshold slider shared by the tradeoff and classify pages, and how a cutoff is put in words.

The slider moves the *share of test images called novel* (the x-axis of the paper's Fig. 4), which means the
same thing for every detector and every model; the cutoff on the detector's own scale (Gaussian:
``-log p(x)``; LoOP: ``erf`` score whose positive part is the LoOP probability) is derived from it with the
current model's test scores and always shown beside it. Its value lives in ``st.session_state`` under
``novel_pct`` (a kept widget), so both pages and every rerun see the same threshold.
"""

from __future__ import annotations

import numpy as np
import streamlit as st

from zsl_app import pipeline, state

KEY = "novel_pct"


def default_pct(run: pipeline.Run) -> float:
    """The share called novel by the model's own threshold (chosen on seen-class validation images)."""
    frac = run.share_for_threshold(run.threshold)
    return round(frac * 1000) / 10  # on the slider's 0.1 % grid


def _reset(value: float) -> None:
    state.set_kept(KEY, value)


def slider(run: pipeline.Run, container=None) -> tuple[float, float]:
    """Draw the slider (+ a reset button); return ``(threshold, fraction_called_novel)``.

    ``threshold`` is on the detector's novelty-score scale (novel <=> score > threshold).
    """
    box = container or st
    default = default_pct(run)
    pct = box.slider(
        "Share of test images called novel (the novelty threshold)", min_value=0.0, max_value=100.0, step=0.1,
        format="%.1f%%", **state.kept(KEY, default),
        help="Moving right lowers the cutoff on the novelty score, so more test images are sent to the "
             "unseen classes. The cutoff in the detector's own units is shown below.",
    )
    state.remember(KEY, pct)
    box.button(f"Reset to the model's own threshold ({default:.1f}% novel, chosen on seen validation images)",
               on_click=_reset, args=(default,), key="reset_threshold")
    threshold = run.threshold_for_share(pct / 100.0)
    return threshold, pct / 100.0


def current(run: pipeline.Run) -> float:
    """The shared threshold without drawing the slider (falls back to the model's own threshold)."""
    pct = state.get_kept(KEY)
    if pct is None:
        return float(run.model.threshold_)
    return run.threshold_for_share(float(pct) / 100.0)


def describe_cutoff(novelty: str, threshold: float) -> str:
    """The cutoff in the detector's own units, for a caption."""
    if novelty == "gaussian":
        return (f"novel ⇔ −log p(x) > {threshold:.4g}, i.e. the image's log-likelihood under the seen classes' "
                f"Gaussians is below {-threshold:.4g}")
    if threshold >= 0:
        return f"novel ⇔ LoOP probability > {threshold:.4g}"
    return (f"novel ⇔ LoOP score > {threshold:.4g} (the LoOP probability is the positive part of this score, "
            f"so a cutoff below 0 also calls novel some images whose LoOP probability is 0)")


def score_name(novelty: str) -> str:
    return "−log p(x)" if novelty == "gaussian" else "LoOP score"


def novel_fraction_text(run: pipeline.Run, fraction: float) -> str:
    n = len(run.y_test)
    return f"{fraction:.1%} of the {n:,} test images ({int(round(fraction * n)):,}) are called novel"


def n_of(run: pipeline.Run, which: np.ndarray) -> int:
    return int(np.isin(run.y_test, which).sum())
