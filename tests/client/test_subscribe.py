"""The live change feed through the async client, on a real server: changes as they commit, filtered by
instance, resumed after a position, refusals raised."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from interlock.client import AsyncClient, Client
from interlock.client.models import RemoteChange
from interlock.errors import UnauthenticatedError
from tests.server.support import Server


async def take(client: AsyncClient, count: int, **kwargs: object) -> list[RemoteChange]:
    found: list[RemoteChange] = []
    async with contextlib.aclosing(client.subscribe("door", **kwargs)) as changes:  # type: ignore[arg-type]
        async for change in changes:
            found.append(change)
            if len(found) == count:
                break
    return found


def test_changes_arrive_as_they_commit_and_resume_after_a_position(server: Server) -> None:
    async def scenario() -> None:
        async with AsyncClient(server.url) as client:
            following = asyncio.ensure_future(take(client, 3, after=0))
            await client.create("door", "d1")
            await client.create("door", "d2")
            await client.send("door", "d1", "OPEN")
            changes = await asyncio.wait_for(following, 60)
            assert [(c.id, c.step, c.outcome) for c in changes] == [
                ("d1", 0, "started"), ("d2", 0, "started"), ("d1", 1, "applied")]
            assert changes[0].position < changes[1].position < changes[2].position
            assert changes[2].instance is not None and changes[2].instance.state == ("door.open",)
            # what followed a position, again: the same changes, none repeated
            again = await asyncio.wait_for(take(client, 2, after=changes[0].position), 60)
            assert [c.position for c in again] == [c.position for c in changes[1:]]
            only = await asyncio.wait_for(take(client, 1, after=0, instances=["d2"]), 60)
            assert [(c.id, c.step) for c in only] == [("d2", 0)]

    asyncio.run(scenario())


def test_from_now_skips_what_committed_before(server: Server) -> None:
    with Client(server.url) as sync:
        sync.create("door", "old")

    async def scenario() -> None:
        async with AsyncClient(server.url) as client:
            it = client.subscribe("door")
            first = asyncio.ensure_future(anext(it))
            # the subscription is made once the first message is awaited; send until it sees one
            for i in range(100):
                await client.create("door", f"new{i}")
                done, _ = await asyncio.wait({first}, timeout=0.2)
                if done:
                    break
            change = first.result()
            assert change.id.startswith("new")
            await it.aclose()

    asyncio.run(scenario())


def test_a_refused_subscription_is_raised(keyed: Server) -> None:
    async def scenario() -> None:
        async with AsyncClient(keyed.url) as client:
            with pytest.raises(UnauthenticatedError) as info:
                await take(client, 1)
            assert info.value.reason == "credentials.missing"

    asyncio.run(scenario())
