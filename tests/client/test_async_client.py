"""The asyncio client against a real server: the same calls, awaited."""

from __future__ import annotations

import asyncio

import pytest

from interlock import NotFoundError
from interlock.client import AsyncClient
from tests.server.support import Server


def test_the_async_client_drives_an_instance(server: Server) -> None:
    async def scenario() -> None:
        async with AsyncClient(server.url) as client:
            await client.create("door", "d1")
            await client.create("door", "d2")
            sent = await client.send("door", "d1", "OPEN", idempotency_key="once")
            assert (sent.outcome, sent.instance.state) == ("applied", ("door.open",))
            assert (await client.send("door", "d1", "OPEN", idempotency_key="once")).duplicate
            assert [i.id async for i in client.instances("door", page_size=1)] == ["d1", "d2"]
            assert [e.outcome for e in await client.history("door", "d1")] == ["started", "applied"]
            assert (await client.pause("door", "d2")).paused
            assert (await client.cancel("door", "d2")).status == "cancelled"
            assert "door" in {m.name for m in await client.machines()}
            with pytest.raises(NotFoundError):
                await client.get("door", "nope")

    asyncio.run(scenario())


def test_the_async_client_waits_for_an_end(server: Server) -> None:
    async def scenario() -> None:
        async with AsyncClient(server.url) as client:
            await client.create("door", "d1")
            waiting = asyncio.ensure_future(client.wait("door", "d1", timeout=20))
            await client.send("door", "d1", "OPEN")
            await client.cancel("door", "d1")
            assert (await asyncio.wait_for(waiting, 25)).status == "cancelled"
            await client.create("door", "d2")
            with pytest.raises(TimeoutError, match="door/d2 has not ended"):
                await client.wait("door", "d2", timeout=0.2)
            running = asyncio.ensure_future(client.execute("door", "d3", timeout=20))
            while "d3" not in {i.id for i in (await client.list("door")).items}:
                await asyncio.sleep(0.01)  # until the create has committed
            await client.cancel("door", "d3")
            assert (await asyncio.wait_for(running, 25)).status == "cancelled"

    asyncio.run(scenario())
