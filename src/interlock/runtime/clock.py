"""Clocks for runtimes: a virtual clock that jumps to the next timer, and the real monotonic clock."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """What a runner needs from time. ``virtual`` clocks move only when told to."""

    virtual: bool

    def now(self) -> float:
        """Seconds since the clock started."""

    def sleep_until(self, when: float) -> None:
        """Let time pass until ``when`` (a virtual clock just jumps there)."""


class VirtualClock:
    """Time that passes only when the runner moves it: tests run delays instantly and deterministically."""

    virtual = True

    def __init__(self, start: float = 0.0) -> None:
        self._now = start

    def now(self) -> float:
        return self._now

    def sleep_until(self, when: float) -> None:
        self._now = max(self._now, when)

    def __repr__(self) -> str:
        return f"VirtualClock(now={self._now})"


class RealClock:
    """Wall-clock time from :func:`time.monotonic`, counted from the clock's creation."""

    virtual = False

    def __init__(self) -> None:
        self._origin = time.monotonic()

    def now(self) -> float:
        return time.monotonic() - self._origin

    def sleep_until(self, when: float) -> None:
        delay = when - self.now()
        if delay > 0:
            time.sleep(delay)

    def __repr__(self) -> str:
        return f"RealClock(now={self.now():.3f})"
