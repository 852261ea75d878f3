"""The change feed's subscriber limits, in process on a real SQLite store (server/feed.py)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from interlock import Interlock
from interlock.server.feed import Dropped, Feed, Subscription


def test_subscribers_that_arrive_while_the_follower_starts_meet_the_limits(tmp_path: Path) -> None:
    """The first subscriber starts the follower (a read of the feed's position, in a thread); the checks
    ran before it, so every subscriber that arrived meanwhile passed them and was added: one caller's
    burst at a fresh process held more than ``max_per_owner`` places, and more than ``max_subscribers``
    in all."""
    app = Interlock(f"sqlite:///{tmp_path / 'feed.db'}", worker=False)

    async def burst() -> tuple[list[Subscription | BaseException], int]:
        feed = Feed(app, max_subscribers=5, max_per_owner=2)
        try:
            got = await asyncio.gather(*(feed.subscribe(lambda c: True, after=None, owner="key:k")
                                         for _ in range(4)),
                                       *(feed.subscribe(lambda c: True, after=None) for _ in range(5)),
                                       return_exceptions=True)
            return got, feed.subscribers
        finally:
            await feed.close()

    try:
        got, subscribers = asyncio.run(burst())
    finally:
        app.close()
    owned = got[:4]
    assert [isinstance(s, Subscription) for s in owned] == [True, True, False, False]
    assert all(isinstance(s, Dropped) and s.reason.startswith("subscribers.caller_full") for s in owned[2:])
    assert subscribers == 5  # 2 of the caller's, 3 of the others
    others = got[4:]
    assert sum(isinstance(s, Dropped) and s.reason.startswith("subscribers.full") for s in others) == 2
