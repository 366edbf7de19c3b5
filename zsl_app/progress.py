"""``st.progress`` driven by the engine's ``progress(step, done, total)`` protocol.

The bar says the step's name, the count and the time left, and redraws at most every ``min_interval``
seconds (the engine may call it thousands of times a second). It writes into a placeholder created by the
page, never inside a cached function, so nothing is recorded for cache replay.
"""

from __future__ import annotations

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
