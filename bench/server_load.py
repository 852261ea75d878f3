"""The server benchmark's load generator: N clients, each one keep-alive HTTP/1.1 connection (aiohttp),
each sending its next POST as soon as the previous one is answered (a closed loop), for a fixed time.

aiohttp rather than httpx: on this 2-core machine the generator shares the CPU with the server under
test, and aiohttp's client costs about a third of httpx's per request, so more of the machine is left
to the server. The same generator, at the same concurrency, drives Interlock and every peer.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

# a random source -> (path, JSON body, the instance key it goes to)
Request = Callable[[random.Random], tuple[str, dict[str, Any], str]]


@dataclass
class Outcome:
    """One timed run at one concurrency."""

    clients: int
    seconds: float
    latencies: list[float] = field(default_factory=list)  # of the answered requests (2xx), seconds
    errors: dict[str, int] = field(default_factory=dict)  # status or exception name -> how many
    answered: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # key -> bodies sent

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def pct(self, p: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(len(ordered) * p))] if ordered else float("nan")

    def __repr__(self) -> str:
        return (f"Outcome(clients={self.clients}, rate={self.rate:,.0f}/s, p50={self.pct(0.5) * 1e3:.1f} ms, "
                f"p99={self.pct(0.99) * 1e3:.1f} ms, errors={self.errors})")


async def drive(base: str, request: Request, *, clients: int, seconds: float, seed: int = 0,
                warmup: float = 0.0, headers: dict[str, str] | None = None) -> Outcome:
    """``clients`` closed loops against ``base`` for ``seconds`` (after ``warmup`` seconds not counted);
    every request carries ``headers`` (credentials)."""
    outcome = Outcome(clients, seconds)
    connector = aiohttp.TCPConnector(limit=clients, force_close=False)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base, connector=connector, timeout=timeout, headers=headers) as session:
        start = time.perf_counter() + warmup
        stop = start + seconds

        async def client(number: int) -> None:
            rng = random.Random(seed * 100_003 + number)
            while (began := time.perf_counter()) < stop:
                path, body, key = request(rng)
                try:
                    async with session.post(path, json=body) as response:
                        await response.read()
                        status = response.status
                except (TimeoutError, aiohttp.ClientError) as exc:
                    status, name = 0, type(exc).__name__
                else:
                    name = str(status)
                took = time.perf_counter() - began
                if began < start:
                    if 200 <= status < 300:  # a warm-up event still counts for the step check
                        outcome.answered.setdefault(key, []).append(body)
                    continue
                if 200 <= status < 300:
                    outcome.latencies.append(took)
                    outcome.answered.setdefault(key, []).append(body)
                else:
                    outcome.errors[name] = outcome.errors.get(name, 0) + 1

        await asyncio.gather(*(client(i) for i in range(clients)))
    return outcome


def answered_per_key(outcomes: list[Outcome]) -> dict[str, int]:
    """How many requests each key had answered, over every round: what a peer's state must show."""
    answered: dict[str, int] = {}
    for outcome in outcomes:
        for key, bodies in outcome.answered.items():
            answered[key] = answered.get(key, 0) + len(bodies)
    return answered
