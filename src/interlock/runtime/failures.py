"""Repeated failures of background work (a full disk, a lost database), logged once per kind with
counts, and retried with exponential backoff instead of once per poll.

A worker round that fails the same way every second would otherwise log the same traceback 600 times
in ten minutes and hammer a store that cannot answer.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

MAX_BACKOFF = 60.0  # seconds between attempts, at most


@dataclass
class FailureLog:
    """Counts failures by kind (the exception's type and message); ``failed`` says how long to wait."""

    log: logging.Logger
    what: str
    base: float = 1.0
    counts: dict[str, int] = field(default_factory=dict)
    streak: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def failed(self, exc: BaseException) -> float:
        """Record one failure; log it if its kind is new. Returns the seconds to wait before retrying."""
        kind = f"{type(exc).__name__}: {exc}"
        with self._lock:
            seen = self.counts.get(kind, 0)
            self.counts[kind] = seen + 1
            self.streak += 1
            streak = self.streak
        if not seen:
            self.log.error("%s failed (retrying with backoff; the same failure is not logged again until "
                           "it recovers): %s", self.what, kind, exc_info=exc)
        return min(MAX_BACKOFF, self.base * float(2 ** min(streak - 1, 16)))

    def succeeded(self) -> None:
        """Work went through: report what failed meanwhile, with counts, and reset."""
        if not self.counts:  # the common case, read without the lock
            return
        with self._lock:
            counts, streak = dict(self.counts), self.streak
            self.counts.clear()
            self.streak = 0
        if counts:
            summary = "; ".join(f"{count} x {kind}" for kind, count in counts.items())
            self.log.warning("%s recovered after %d failure(s): %s", self.what, streak, summary)
