"""Long work, planned: one estimate for the whole job, a confirmation before anything long, progress, cancel.

A page that is about to compute something not yet cached asks :func:`confirm` with the engine's plan
(``experiment.plan``: features + statistics + fit [+ pairs], or a projection's estimate). Under
``$ZSL_APP_CONFIRM_SECONDS`` (default 60 s) it just goes ahead; above, it shows the plan and a *Start* button
and stops the page until the button is pressed. :func:`running` then draws a *Cancel* button and one
:class:`~zsl_app.progress.PlanProgress` bar for the whole job.

Cancelling works with Streamlit's own machinery: a click during a run asks for a rerun, which interrupts the
running script at its next element update (the progress bar redraws every 0.25 s); the engine writes its
caches atomically, so nothing half-done is kept, and the next run finds the cancel flag and shows the plan
again instead of starting over.
"""

from __future__ import annotations

import contextlib
import os

import streamlit as st

from zsl_app.progress import STAGE_LABELS, PlanProgress
from zsl_core.progress import format_seconds


def confirm_seconds() -> float:
    """Work estimated above this many seconds waits for a confirmation (``$ZSL_APP_CONFIRM_SECONDS``)."""
    try:
        return float(os.environ.get("ZSL_APP_CONFIRM_SECONDS", "60"))
    except ValueError:
        return 60.0


def describe_plan(plan: dict) -> str:
    """``"about 3m20s in all: image features 2m00s, training 10s, held-out pairs 1m10s"``."""
    parts = [f"{STAGE_LABELS[s]} {format_seconds(plan[s])}" for s in STAGE_LABELS if plan.get(s, 0) >= 0.5]
    cached = [STAGE_LABELS[s] for s, done in (plan.get("cached") or {}).items() if done and s in STAGE_LABELS]
    text = f"about {format_seconds(plan['total'])} in all"
    if parts:
        text += ": " + ", ".join(parts)
    if cached:
        text += f" (already computed: {', '.join(cached)})"
    return text


def _start(key: str) -> None:
    st.session_state[f"_confirmed.{key}"] = True
    st.session_state.pop(f"_cancelled.{key}", None)


def _cancel(key: str) -> None:
    st.session_state[f"_cancelled.{key}"] = True
    st.session_state.pop(f"_confirmed.{key}", None)


def needed(key: str, plan: dict) -> bool:
    """Whether :func:`confirm` would stop the page to ask (long, or cancelled before)."""
    if st.session_state.get(f"_confirmed.{key}"):
        return False
    return plan["total"] > confirm_seconds() or bool(st.session_state.get(f"_cancelled.{key}"))


def confirm(key: str, plan: dict, what: str, alternative: str = "", container=None) -> None:
    """Go ahead, or show the plan with a *Start* button and stop the page (long or cancelled work).

    Parameters
    ----------
    key : str
        Identifies the job (e.g. the run's cache key): a confirmation is for this job only.
    plan : dict
        Stage → seconds and ``total`` (``experiment.plan``).
    what : str
        What the work is, e.g. "Training the model for this setting".
    alternative : str
        A cheaper choice to suggest.
    """
    if not needed(key, plan):
        return
    cancelled = st.session_state.get(f"_cancelled.{key}")
    box = (container or st).container(border=True)
    if cancelled:
        box.warning("Cancelled. Nothing half-done was kept; start again when you are ready.",
                    icon=":material/cancel:")
    box.markdown(f"**{what}** takes {describe_plan(plan)} on this computer (a rough estimate, ±50 %).")
    if alternative:
        box.caption(alternative)
    box.button(f"Start ({format_seconds(plan['total'])})", key=f"start.{key}", type="primary",
               icon=":material/play_arrow:", on_click=_start, args=(key,))
    st.stop()


@contextlib.contextmanager
def running(key: str, plan: dict, what: str, container=None):
    """Draw *Cancel* and one progress bar for the whole job; yield the bar (the engine's ``progress``)."""
    holder = (container or st).empty()  # emptied when the work is over (a container's .empty() would add)
    box = holder.container(border=True)
    box.markdown(f"**{what}** — {describe_plan(plan)}.")
    box.button("Cancel", key=f"cancel.{key}", icon=":material/cancel:", on_click=_cancel, args=(key,))
    bar = PlanProgress(plan, box)
    try:
        yield bar
    finally:
        bar.clear()
        holder.empty()
        st.session_state.pop(f"_confirmed.{key}", None)
