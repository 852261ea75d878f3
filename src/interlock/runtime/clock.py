"""The runtimes' clocks. The engine never reads time; runtimes read it only through a :class:`Clock`.

``SystemClock`` is wall time in seconds since the epoch, so durable timers mean the same after a restart.
``VirtualClock`` moves only when told to, so tests fire timers deterministically and instantly::

    clock = VirtualClock()
    app = Interlock("sqlite:///t.db", clock=clock)
    clock.advance(5)            # five seconds pass
    app.run_until_idle()        # the timers now due fire
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    """A source of time in seconds. ``virtual`` clocks never advance on their own."""

    virtual: bool

    def now(self) -> float:
        """The current time in seconds."""

    def sleep_until(self, when: float) -> None:
        """Let time pass until ``when`` (a virtual clock just jumps there)."""


class SystemClock:
    """Wall-clock time, seconds since the epoch."""

    virtual = False

    def now(self) -> float:
        return time.time()

    def sleep_until(self, when: float) -> None:
        delay = when - time.time()
        if delay > 0:
            time.sleep(delay)

    def __repr__(self) -> str:
        return "SystemClock()"


class VirtualClock:
    """A clock that moves only when :meth:`advance`, :meth:`set` or :meth:`sleep_until` is called.

    Thread-safe, and it never goes back in time.
    """

    virtual = True

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        """Move time forward by ``seconds`` and return the new time."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go back in time (advance({seconds}))")
        with self._lock:
            self._now += seconds
            return self._now

    def sleep_until(self, when: float) -> None:
        """Jump to ``when`` if it is later."""
        with self._lock:
            self._now = max(self._now, float(when))

    def set(self, when: float) -> None:
        """Jump to ``when``, which must not be earlier than now."""
        with self._lock:
            if when < self._now:
                raise ValueError(f"a clock cannot go back in time (set({when}) < now {self._now})")
            self._now = float(when)

    def __repr__(self) -> str:
        return f"VirtualClock(now={self._now})"
