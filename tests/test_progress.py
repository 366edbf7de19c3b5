"""The terminal progress bar: one finished line per step, with counts and time left."""

import io

from zsl_core.progress import TerminalProgress, format_seconds


def test_format_seconds():
    assert format_seconds(5) == "5s"
    assert format_seconds(65) == "1m05s"
    assert format_seconds(3725) == "1h02m"


def test_log_output_has_one_final_line_per_step():
    stream = io.StringIO()
    bar = TerminalProgress(stream=stream)
    for i in range(0, 101):
        bar("Encoding train images", i, 100)
    bar("Learning dictionary", 10, 10)
    bar.close()
    lines = [line for line in stream.getvalue().splitlines() if line]
    assert lines[-1].startswith("Learning dictionary: [") and "10/10 done" in lines[-1]
    finished = [line for line in lines if line.startswith("Encoding train images") and "100/100 done" in line]
    assert len(finished) == 1
