"""``st.progress`` driven by the engine's ``progress(step, done, total)`` protocol.

The bar says the step's name, the count and the time left, and redraws at most every ``min_interval``
seconds (the engine may call it thousands of times a second). It writes into a placeholder created by the
page, never inside a cached function, so nothing is recorded for cache replay.
"""

from __future__ import annotations

import re
import time

import streamlit as st

from zsl_core.progress import format_seconds


def describe(step: str, done: int, total: int, elapsed: float) -> tuple[float, str]:
    """The bar's fraction and its text: ``"step: 1,200/6,000 images · 40s left"``."""
    if total > 0:
        frac = min(1.0, max(0.0, done / total))
        if frac >= 1.0:
            eta = "done"
        elif frac > 0 and elapsed > 0.5:
            eta = f"about {format_seconds(elapsed * (1 - frac) / frac)} left"
        else:
            eta = "estimating time left…"
        return frac, f"{step}: {done:,} / {total:,} · {eta}"
    return 0.0, f"{step}: {done:,} · {format_seconds(elapsed)} so far"


class StreamlitProgress:
    """Callable ``progress(step, done, total)`` that draws one ``st.progress`` bar in a placeholder.

    Parameters
    ----------
    container : a Streamlit container or ``None`` (the main area).
    min_interval : seconds between redraws; the first and the last call of a step always draw.
    """

    def __init__(self, container=None, min_interval: float = 0.25):
        self._placeholder = (container or st).empty()
        self.min_interval = min_interval
        self._step = None
        self._started = 0.0
        self._last_draw = 0.0
        self.steps: list[str] = []  # every step seen, in order (tests read it)

    def __call__(self, step: str, done: int, total: int) -> None:
        now = time.monotonic()
        if step != self._step:
            self._step, self._started, self._last_draw = step, now, 0.0
            self.steps.append(step)
        finished = total > 0 and done >= total
        if not finished and self._last_draw and now - self._last_draw < self.min_interval:
            return
        self._last_draw = now
        frac, text = describe(step, done, total, now - self._started)
        self._placeholder.progress(frac, text=text)

    def clear(self) -> None:
        self._placeholder.empty()


_OF = re.compile(r"\((\d+) of (\d+)\)")

#: Plan stages, in order, with what the page calls them.
STAGE_LABELS = {"features": "image features", "statistics": "class statistics", "fit": "training",
                "pairs": "held-out pairs", "projection": "projection"}


def stage_of(step: str) -> str:
    """Which stage of a plan an engine progress step belongs to."""
    lower = step.lower()
    if lower.startswith("held-out pairs"):
        return "pairs"
    if lower.startswith("class statistics"):
        return "statistics"
    if lower.startswith(("training", "loading the cached model")):
        return "fit"
    if lower.startswith(("t-sne", "umap", "tsne")):
        return "projection"
    return "features"


class PlanProgress:
    """One bar for a whole job of several stages (features, statistics, training, pairs, projection).

    ``plan`` maps stages to estimated seconds (``experiment.plan``, ``projection.estimate_projection_seconds``);
    engine steps are sorted into stages by :func:`stage_of`. The bar's fraction weighs each stage by its
    estimate; its text names the stage (``2 of 3``), the engine's own step and count, and the time left for the
    whole job (the current stage's pace plus the estimates of those still to come).
    """

    def __init__(self, plan: dict, container=None, min_interval: float = 0.25):
        self.stages = [s for s in STAGE_LABELS if plan.get(s, 0) > 0.0]
        self.estimate = {s: float(plan[s]) for s in self.stages}
        self.total = max(sum(self.estimate.values()), 1e-9)
        self._placeholder = (container or st).empty()
        self.min_interval = min_interval
        self._stage = None
        self._stage_started = 0.0
        self._last_draw = 0.0
        self.steps: list[str] = []

    def __call__(self, step: str, done: int, total: int) -> None:
        now = time.monotonic()
        stage = stage_of(step)
        if stage not in self.estimate:
            self.stages.append(stage)
            self.estimate[stage] = 1.0
            self.total += 1.0
        if stage != self._stage:
            self._stage, self._stage_started, self._last_draw = stage, now, 0.0
        if not self.steps or self.steps[-1] != step:
            self.steps.append(step)
        finished = total > 0 and done >= total
        if not finished and self._last_draw and now - self._last_draw < self.min_interval:
            return
        self._last_draw = now
        frac, text = self.describe(step, done, total, now - self._stage_started)
        self._placeholder.progress(frac, text=text)

    def describe(self, step: str, done: int, total: int, elapsed: float) -> tuple[float, str]:
        i = self.stages.index(self._stage)
        before = sum(self.estimate[s] for s in self.stages[:i])
        after = sum(self.estimate[s] for s in self.stages[i + 1:])
        part = min(1.0, done / total) if total > 0 else 0.0
        within = _OF.search(step)  # "(k of P)": step k of P, itself at done / total
        if within:
            k, of = int(within.group(1)), max(1, int(within.group(2)))
            part = min(1.0, (k - 1 + part) / of)
        frac = min(1.0, (before + part * self.estimate[self._stage]) / self.total)
        if 0 < part < 1 and elapsed > 0.5:
            left_here = elapsed * (1 - part) / part
        else:
            left_here = self.estimate[self._stage] * (1 - part)
        count = f"{done:,} / {total:,}" if total > 0 else f"{done:,}"
        text = (f"Stage {i + 1} of {len(self.stages)} ({STAGE_LABELS.get(self._stage, self._stage)}): {step} "
                f"{count} · about {format_seconds(left_here + after)} left in all")
        return frac, text

    def clear(self) -> None:
        self._placeholder.empty()
