"""A terminal progress bar that speaks the engine's ``progress(step, done, total)`` protocol.

Used by the command line; the Streamlit app has its own (``st.progress``).
"""

from __future__ import annotations

import sys
import time


def format_seconds(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class TerminalProgress:
    """Callable ``progress(step, done, total)`` drawing one line per step with a bar and time left.

    Redraws at most ``min_interval`` seconds apart (a callback may fire thousands of times a second) and
    starts a new line whenever the step changes, so a log keeps one finished line per step.
    """

    def __init__(self, stream=None, width: int = 30, min_interval: float = 0.2):
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.min_interval = min_interval
        self._step = None
        self._started = 0.0
        self._last_draw = 0.0
        self._interactive = hasattr(self.stream, "isatty") and self.stream.isatty()

    def __call__(self, step: str, done: int, total: int) -> None:
        now = time.monotonic()
        if step != self._step:
            if self._step is not None and self._interactive:
                self.stream.write("\n")
            self._step, self._started, self._last_draw = step, now, 0.0
        finished = total > 0 and done >= total
        if not finished and now - self._last_draw < self.min_interval:
            return
        if not self._interactive and not finished and now - self._last_draw < 5.0:
            # In a log file, a line every few seconds is plenty.
            return
        self._last_draw = now
        elapsed = now - self._started
        if total > 0:
            frac = min(1.0, done / total)
            filled = int(round(frac * self.width))
            bar = "#" * filled + "-" * (self.width - filled)
            left = elapsed * (1 - frac) / frac if frac > 0 else float("nan")
            eta = "done" if finished else (f"{format_seconds(left)} left" if frac > 0 else "")
            line = f"{step}: [{bar}] {done:,}/{total:,} {eta} ({format_seconds(elapsed)})"
        else:
            line = f"{step}: {done:,} ({format_seconds(elapsed)})"
        self.stream.write(("\r" if self._interactive else "") + line + ("" if self._interactive else "\n"))
        self.stream.flush()

    def close(self) -> None:
        if self._step is not None and self._interactive:
            self.stream.write("\n")
            self.stream.flush()
        self._step = None
