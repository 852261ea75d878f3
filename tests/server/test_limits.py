"""The per-client token bucket, on explicit times (no clock in the test)."""

from __future__ import annotations

from interlock.server.limits import MAX_CLIENTS, RateLimit


async def _app(scope: object, receive: object, send: object) -> None:  # never called here
    raise AssertionError


def test_a_burst_then_the_rate_then_a_wait() -> None:
    limit = RateLimit(_app, rate=2.0, burst=3)
    assert [limit.take("a", 100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limit.take("a", 100.0) == 0.5  # one token comes every 1/2 s
    assert limit.take("b", 100.0) == 0.0  # clients have buckets of their own
    assert limit.take("a", 100.5) == 0.0
    assert limit.take("a", 110.0) == 0.0 and limit.take("a", 110.0) == 0.0  # refilled up to the burst
    assert limit.take("a", 110.0) == 0.0 and limit.take("a", 110.0) == 0.5


def test_the_least_recently_seen_clients_are_forgotten() -> None:
    limit = RateLimit(_app, rate=1.0, burst=1)
    limit.take("first", 0.0)
    for n in range(MAX_CLIENTS):
        limit.take(f"c{n}", 0.0)
    assert limit.take("first", 0.0) == 0.0  # forgotten: a full bucket again
    assert limit.take("c9999", 0.0) == 1.0
