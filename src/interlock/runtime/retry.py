"""Retry policies of tasks: how many attempts, how long to wait between them, how long each may take."""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When and how often a task is retried.

    - ``attempts``: total tries, the first included (1 = no retry).
    - ``backoff``: seconds before the second try; each later wait is ``multiplier`` times longer, at most
      ``max_backoff``; ``jitter`` spreads each wait by up to that fraction (0.1 = +-10%).
    - ``timeout``: seconds one attempt may run (None: no limit); past it the attempt counts as failed.
    - ``heartbeat``: if set, a running attempt should call ``task.heartbeat()`` this often. A claim and
      each heartbeat grant a lease of twice the interval, so a beat may be late by up to one interval;
      after that the lease lapses and another worker takes the task over. Without it the lease lasts
      ``timeout`` plus a margin, or ``lease`` seconds.

    The policy is stored with the task when it is created, so every process retries it the same way.
    """

    attempts: int = 3
    backoff: float = 1.0
    multiplier: float = 2.0
    max_backoff: float = 300.0
    jitter: float = 0.1
    timeout: float | None = None
    heartbeat: float | None = None
    lease: float = 60.0

    def __post_init__(self) -> None:
        problems = []
        if self.attempts < 1:
            problems.append(f"attempts must be at least 1, not {self.attempts}")
        if self.backoff < 0 or self.multiplier < 1 or self.max_backoff < 0:
            problems.append("backoff and max_backoff must be >= 0 and multiplier >= 1")
        if not 0 <= self.jitter <= 1:
            problems.append(f"jitter must be between 0 and 1, not {self.jitter}")
        for name in ("timeout", "heartbeat"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                problems.append(f"{name} must be positive or None, not {value}")
        if self.lease <= 0:
            problems.append(f"lease must be positive (seconds a claim lasts), not {self.lease}")
        if problems:
            raise ValueError("invalid RetryPolicy: " + "; ".join(problems))

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based) before the next one."""
        base = min(self.max_backoff, self.backoff * self.multiplier ** (attempt - 1))
        if self.jitter and base:
            spread = (rng or random).uniform(-self.jitter, self.jitter)
            return max(0.0, base * (1 + spread))
        return base

    def lease_seconds(self) -> float:
        """How long a claim lasts before another worker may take the task over."""
        if self.heartbeat is not None:
            return 2 * self.heartbeat  # a beat on schedule, or late by up to one interval, keeps it
        if self.timeout is not None:
            return self.timeout + max(1.0, self.timeout * 0.5)
        return self.lease

    def to_json(self) -> dict[str, Any]:
        """The policy as stored with a task, with ``lease_seconds``: what a claim or heartbeat grants."""
        return {**asdict(self), "lease_seconds": self.lease_seconds()}

    @staticmethod
    def lease_of(stored: dict[str, Any]) -> float:
        """Seconds a claim or heartbeat grants under a policy as stored (:meth:`to_json`)."""
        seconds = stored.get("lease_seconds")  # every stored policy has it (schema 3 added it to older ones)
        return float(seconds) if seconds is not None else RetryPolicy.from_json(stored).lease_seconds()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RetryPolicy:
        # Every task carries its policy; a process sees only a few distinct ones, so parse each once.
        # A step asks about its task's policy three times (claim, run, record), mostly the same one:
        # the policy last parsed is answered by comparing dicts, without building a key to hash.
        global _LAST
        last = _LAST
        if last is not None and last[0] == data:
            return last[1]
        key = tuple(data.items())
        found = _PARSED.get(key)
        if found is None:
            found = cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
            if len(_PARSED) < 1024:
                _PARSED[key] = found
        _LAST = (dict(data), found)  # a copy: the caller's dict may change later
        return found


_PARSED: dict[tuple[tuple[str, Any], ...], RetryPolicy] = {}
_LAST: tuple[dict[str, Any], RetryPolicy] | None = None  # the policy last asked about, as it was then
