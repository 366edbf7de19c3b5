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
    return round(frac * 1000) / 10  # 0.1 % resolution (the slider's arrow keys step by 1 %)


AUTO = "_novel_pct_auto"  # the model's own share, when the slider holds it because nobody moved it


def sync(run: pipeline.Run) -> float:
    """Make the shared threshold follow the current model until someone moves it; return the model's default.

    A slider nobody has moved stands at the model's own threshold, and keeps doing so when the detector or the
    held-out set changes (issue 9: after switching to LoOP it stayed at the Gaussian's 38.3 %). Once moved (or
    set by a shared link) the share is kept across models: it means the same thing for every detector.
    """
    default = default_pct(run)
    pct = state.get_kept(KEY)
    auto = st.session_state.get(AUTO)
    if pct is None or (auto is not None and pct == auto and not st.session_state.get("_threshold_from_url")):
        state.set_kept(KEY, default)
        st.session_state[AUTO] = default
    return default


def _reset(value: float) -> None:
    state.set_kept(KEY, value)
    st.session_state[AUTO] = value
    st.session_state["_threshold_from_url"] = False


def _moved() -> None:
    state._copy_to_store(KEY)
    st.session_state[AUTO] = None
    st.session_state["_threshold_from_url"] = False


def slider(run: pipeline.Run, container=None, reset: bool = True) -> tuple[float, float]:
    """Draw the slider (+ a reset button); return ``(threshold, fraction_called_novel)``.

    ``threshold`` is on the detector's novelty-score scale (novel <=> score > threshold). The arrow keys move
    it by 1 %; the model's own share may sit between (e.g. 38.3 %).
    """
    box = container or st
    default = sync(run)
    kwargs = state.kept(KEY, default)
    kwargs["on_change"], kwargs["args"] = _moved, ()
    pct = box.slider(
        "Share of test images called novel (the novelty threshold)", min_value=0.0, max_value=100.0, step=1.0,
        format="%.1f%%", **kwargs,
        help="Moving right lowers the cutoff on the novelty score, so more test images are sent to the "
             "unseen classes. Arrow keys: 1 % a step.",
    )
    state.remember(KEY, pct)
    if reset:
        box.button(f"Reset to the model's own threshold ({default:.1f}% novel, chosen on seen validation images)",
                   on_click=_reset, args=(default,), key="reset_threshold")
    try:
        state.write_url()  # the threshold travels in the link too (a fragment rerun skips the sidebar)
    except Exception:  # noqa: BLE001 - outside a browser session (bench) there is no address bar
        pass
    threshold = run.threshold_for_share(pct / 100.0)
    return threshold, pct / 100.0


def current(run: pipeline.Run) -> float:
    """The shared threshold without drawing the slider (the model's own until someone moves it)."""
    sync(run)
    pct = state.get_kept(KEY)
    return run.threshold_for_share(float(pct) / 100.0)


def describe_cutoff(novelty: str, threshold: float) -> str:
    """The cutoff in the detector's own units, for a caption."""
    if novelty == "gaussian":
        return (f"novel ⇔ −log p(x) > {threshold:.4g}, i.e. the image's log-likelihood under the seen classes' "
                f"Gaussians is below {-threshold:.4g}")
    if novelty == "loop":
        if threshold >= 0:
            return f"novel ⇔ LoOP probability > {threshold:.4g}"
        return (f"novel ⇔ LoOP score > {threshold:.4g} (the LoOP probability is the positive part of this score, "
                f"so a cutoff below 0 also calls novel some images whose LoOP probability is 0)")
    return f"novel ⇔ {score_name(novelty)} > {threshold:.4g}"


def score_name(novelty: str) -> str:
    """The name of a detector's novelty score (higher = more novel)."""
    names = {"gaussian": "−log p(x)", "loop": "LoOP score", "learned": "learned gate score",
             "max_softmax": "−max softmax probability", "entropy": "softmax entropy", "energy": "−energy",
             "cosine_knn": "cosine distance to the nearest seen image",
             "relative_mahalanobis": "relative Mahalanobis distance", "relative_word": "unseen vs seen word score"}
    return names.get(novelty, "novelty score")


def novel_fraction_text(run: pipeline.Run, fraction: float) -> str:
    n = len(run.y_test)
    return f"{fraction:.1%} of the {n:,} test images ({int(round(fraction * n)):,}) are called novel"


def n_of(run: pipeline.Run, which: np.ndarray) -> int:
    return int(np.isin(run.y_test, which).sum())
