"""The app trains one model per two cores at a time; a visitor who has to wait is told so (issue 7)."""

from __future__ import annotations

import threading
import time

from zsl_app import pipeline


def test_a_second_training_waits_its_turn_and_says_so(monkeypatch):
    monkeypatch.setattr(pipeline, "_TRAINING", threading.BoundedSemaphore(1))
    order, told = [], []
    first_inside, release_first = threading.Event(), threading.Event()

    def first():
        with pipeline._training_turn(lambda *a: told.append(("first",) + a)):
            order.append("first in")
            first_inside.set()
            release_first.wait(5)
            order.append("first out")

    def second():
        first_inside.wait(5)
        with pipeline._training_turn(lambda *a: told.append(("second",) + a)):
            order.append("second in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    first_inside.wait(5)
    time.sleep(0.2)
    assert order == ["first in"], "the second waits while the first trains"
    release_first.set()
    for t in threads:
        t.join(5)
    assert order == ["first in", "first out", "second in"]
    assert told == [("second", "Waiting for other visitors' models to finish training", 0, 1)]


def test_training_slots_from_the_environment(monkeypatch):
    monkeypatch.setenv("ZSL_TRAINING_SLOTS", "3")
    assert pipeline._training_slots() == 3
    monkeypatch.setenv("ZSL_TRAINING_SLOTS", "zero")
    assert pipeline._training_slots() >= 1
    monkeypatch.setenv("ZSL_TRAINING_SLOTS", "0")
    assert pipeline._training_slots() == 1
