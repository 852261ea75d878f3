"""The server benchmark's load: what is sent (:class:`LoadRequest`), what came of a timed run
(:class:`Outcome`), and how a side's recorded state is checked against it (:func:`check_counts`).

Two generators drive it, the same one for Interlock and every peer in a run: ``wrk`` (bench/server_wrk.py,
the default when it is installed) and an aiohttp client (:func:`drive`, the fallback). Both keep N
keep-alive HTTP/1.1 connections, each sending its next POST as soon as the previous one is answered (closed
loops), for a fixed time. wrk is C: on this 2-core machine the generator shares the CPU with the server
under test, and at one request in flight aiohttp's client alone costs about as much time per request as
the server's HTTP stack, which is charged to whichever side is fastest.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp


@dataclass(frozen=True)
class LoadRequest:
    """INC {by: 1-3, at: now} to a random one of ``count`` keys (``c0`` ...), POSTed to ``path`` (with
    ``{key}`` in it) with ``fixed`` fields in the body (Interlock's ``type``)."""

    count: int
    path: str
    fixed: dict[str, Any] = field(default_factory=dict)

    def __call__(self, rng: random.Random) -> tuple[str, dict[str, Any], str]:
        key = f"c{rng.randrange(self.count)}"
        return self.path.format(key=key), {**self.fixed, "by": rng.randint(1, 3), "at": time.time()}, key

    def body_prefix(self) -> str:
        """The body's JSON up to the varying fields (for generators that build it as text)."""
        return json.dumps(self.fixed)[:-1] + (", " if self.fixed else "")


@dataclass
class Tally:
    """Requests sent to one key and the sum of their ``by``."""

    sent: int = 0
    by: int = 0


@dataclass
class Outcome:
    """One timed run at one concurrency. ``tallies`` count every request sent to each key, warm-up
    included, answered or not; at most ``unanswered`` of them may have had no answer (in flight when the
    generator stopped, or failed), so a side must have recorded each key at most ``sent`` times and all
    keys together at least ``sum(sent) - unanswered`` times."""

    clients: int
    seconds: float
    answered: int  # 2xx answers in the timed window
    p50: float  # seconds
    p99: float
    errors: dict[str, int] = field(default_factory=dict)  # status or failure -> how many
    tallies: dict[str, Tally] = field(default_factory=dict)
    unanswered: int = 0

    @property
    def rate(self) -> float:
        return self.answered / self.seconds

    def __repr__(self) -> str:
        return (f"Outcome(clients={self.clients}, rate={self.rate:,.0f}/s, p50={self.p50 * 1e3:.1f} ms, "
                f"p99={self.p99 * 1e3:.1f} ms, errors={self.errors})")


def check_counts(outcomes: list[Outcome], recorded: dict[str, Tally]) -> list[str]:
    """Problems, if ``recorded`` (per key: steps and the sum of ``by`` a side holds) does not match what
    was sent: no key may hold more than was sent to it (an event applied twice), and all keys together may
    miss at most the requests left unanswered (an acknowledged event lost). Where nothing was left
    unanswered the check is exact per key."""
    sent: dict[str, Tally] = {}
    unanswered = 0
    for outcome in outcomes:
        unanswered += outcome.unanswered
        for key, tally in outcome.tallies.items():
            total = sent.setdefault(key, Tally())
            total.sent += tally.sent
            total.by += tally.by
    problems = []
    missing = 0
    for key in sorted(set(sent) | set(recorded)):
        want, have = sent.get(key, Tally()), recorded.get(key, Tally())
        if have.sent > want.sent or have.by > want.by or (have.sent == want.sent and have.by != want.by):
            problems.append(f"{key}: {want.sent} sent (by {want.by}), {have.sent} recorded (by {have.by})")
        missing += max(0, want.sent - have.sent)
    if missing > unanswered:
        problems.append(f"{missing} sent events not recorded, but only {unanswered} were left unanswered")
    return problems


def sent_total(outcomes: list[Outcome]) -> int:
    return sum(t.sent for o in outcomes for t in o.tallies.values())


async def drive(base: str, request: LoadRequest, *, clients: int, seconds: float, seed: int = 0,
                warmup: float = 0.0, headers: dict[str, str] | None = None) -> Outcome:
    """The aiohttp generator: ``clients`` closed loops against ``base`` for ``seconds`` (after ``warmup``
    seconds not counted); every request carries ``headers`` (credentials)."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    tallies: dict[str, Tally] = {}
    connector = aiohttp.TCPConnector(limit=clients, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout, headers=headers) as session:
        start = time.perf_counter() + warmup
        stop = start + seconds

        async def client(number: int) -> None:
            rng = random.Random(seed * 100_003 + number)
            while (began := time.perf_counter()) < stop:
                path, body, key = request(rng)
                tally = tallies.setdefault(key, Tally())
                tally.sent += 1
                tally.by += body["by"]
                try:
                    async with session.post(path, json=body) as response:
                        await response.read()
                        status = response.status
                except (TimeoutError, aiohttp.ClientError) as exc:
                    status, name = 0, type(exc).__name__
                else:
                    name = str(status)
                if not 200 <= status < 300:
                    errors[name] = errors.get(name, 0) + 1
                elif began >= start:
                    latencies.append(time.perf_counter() - began)

        await asyncio.gather(*(client(i) for i in range(clients)))
    latencies.sort()
    return Outcome(clients, seconds, len(latencies), _pct(latencies, 0.5), _pct(latencies, 0.99), errors,
                   tallies, unanswered=sum(errors.values()))


def _pct(ordered: list[float], p: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else float("nan")
