"""bench/postgres.py runs: two processes of 64 senders each race for the same 1,000 instances and every
send is answered (a sender that got an error would end its process and fail here) and recorded once.
No timing."""

from __future__ import annotations

import asyncio

from bench.postgres import INSTANCES, run_senders

from bench import durable_machines as machines
from interlock.app import Interlock
from tests.postgres_support import fresh_database


def test_two_sender_processes_over_one_database_are_all_answered() -> None:
    with fresh_database() as url:
        with Interlock(url, worker=False) as app:
            app.register(machines.switch())

            async def create() -> None:
                await asyncio.gather(*(app.aio.create("switch", f"s{i}") for i in range(INSTANCES)))

            asyncio.run(create())
        sent, _ = run_senders(url, 2, 0.5)
        with Interlock(url, worker=False) as app:
            app.register(machines.switch())
            flips = sum(app.get("switch", f"s{i}").step for i in range(INSTANCES))
            seen, after = 0, 0
            while page := app.changes(after=after, limit=5000).items:
                seen, after = seen + len(page), page[-1].position
            assert flips == sent > 0  # one step per answered send: none lost, none applied twice
            assert seen == after == INSTANCES + flips  # every step in the feed, no gap
