"""The wall-clock limit of one step: the last line of defence behind the expression budget.

The pure core bounds what document expressions do (docs/limits.md), but a Python guard or action, or a
bug, can still run long, and the writer runs every instance's steps one after another. So the writer runs
each step under :meth:`Watchdog.run`: a background thread watches the running step and, once it has run
``limit`` seconds, raises :class:`StepTimeout` inside it (``PyThreadState_SetAsyncExc``, checked between
bytecodes). The step is abandoned (the core never mutates its inputs), :meth:`run` raises
:class:`~interlock.errors.StepLimitError`, and the event is refused like any failing step: the caller of
``send`` gets the error, a queued event is recorded as ``failed``, and the writer goes on with the next one.

The exception reaches the step at the next bytecode, so a call blocked in C (a long ``time.sleep``) is
stopped when it returns. ``StepTimeout`` derives from ``BaseException`` so that ``except Exception`` in the
core (which turns errors into ``error.execution``) does not swallow it; if a callable swallows it anyway,
the step is still refused.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from interlock.errors import StepLimitError

T = TypeVar("T")
DEFAULT_STEP_TIME_LIMIT = 10.0  # seconds one step may run in the durable runtime (docs/limits.md)


class StepTimeout(BaseException):
    """Raised inside a step that ran past its wall-clock limit; becomes :class:`StepLimitError`."""


def _interrupt(thread_id: int, exc: type[BaseException] | None) -> None:
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc else None)


class Watchdog:
    """Runs steps under a wall-clock ``limit`` (seconds; ``None``: no limit); see the module docstring.

    One step at a time: the writer thread is its only user.
    """

    def __init__(self, limit: float | None = DEFAULT_STEP_TIME_LIMIT) -> None:
        if limit is not None and not limit > 0:
            raise ValueError(f"step_time_limit must be a positive number of seconds or None, not {limit!r}")
        self.limit = limit
        self._lock = threading.Lock()
        self._armed: tuple[object, int, float] | None = None  # (token, thread id, deadline) of the step running
        self._fired: object | None = None  # the token of the step the watchdog interrupted
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()

    def run(self, what: str, fn: Callable[[], T]) -> T:
        """``fn()``, aborted with :class:`StepLimitError` if it runs longer than the limit."""
        limit = self.limit
        if limit is None:
            return fn()
        armed = self._armed
        ident = threading.get_ident()
        if armed is not None and armed[1] == ident:
            return fn()  # a step inside a step: the outer one's limit covers it
        if self._thread is None:
            self._ensure_thread()
        token = object()
        try:
            self._armed = (token, ident, time.monotonic() + limit)
            result = fn()
            fired = self._disarm(token)  # the interrupt may arrive in here, once; then the except runs
        except StepTimeout:
            fired = self._disarm(token) or True
        if fired:
            raise StepLimitError(
                f"{what} ran longer than its wall-clock limit of {self.limit:g} s and was aborted; nothing "
                "it did was kept. Look for a slow Python guard or action, or raise step_time_limit "
                "(see docs/limits.md)")
        return result

    def _disarm(self, token: object) -> bool:
        """Stop watching the step; True if it was interrupted (a pending interrupt is withdrawn)."""
        with self._lock:
            self._armed = None
            if self._fired is not token:
                return False
            self._fired = None
            _interrupt(threading.get_ident(), None)
            return True

    def close(self) -> None:
        self._stopped.set()

    def _ensure_thread(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._watch, name="interlock-step-watchdog",
                                                    daemon=True)
                    self._thread.start()

    def _watch(self) -> None:
        assert self.limit is not None
        tick = min(self.limit / 10, 0.5)
        while not self._stopped.wait(tick):
            armed = self._armed
            if armed is None or time.monotonic() < armed[2]:
                continue
            with self._lock:  # interrupt only the very step that is still armed, and only once
                if self._armed is armed and self._fired is not armed[0]:
                    self._fired = armed[0]
                    _interrupt(armed[1], StepTimeout)
