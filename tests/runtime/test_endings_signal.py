"""The wake-up of a thread waiting for an instance's end (runtime/endings.py, ``Signal``)."""

from __future__ import annotations

import threading

from interlock.runtime.endings import Signal


def test_a_signal_is_taken_by_one_wait_however_often_it_was_set() -> None:
    signal = Signal()
    assert not signal.wait(0)
    signal.set()
    signal.set()  # a second set before the wait adds nothing (and does not raise)
    assert signal.wait(0)
    assert not signal.wait(0)  # taken
    assert not signal.wait(0.01)


def test_a_set_from_another_thread_wakes_the_waiting_one() -> None:
    signal = Signal()
    setter = threading.Timer(0.01, signal.set)
    setter.start()
    assert signal.wait(5.0)
    setter.join()
    assert not signal.wait(0)
