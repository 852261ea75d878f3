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


class Proxy:
    """A TCP relay on loopback whose connections the test can cut, as a network would."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []
        self.connections = 0

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.port)
        self.writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def cut(self) -> None:
        for writer in self.writers:
            writer.transport.abort()
        self.writers.clear()

    async def close(self) -> None:
        self.cut()
        assert self.server is not None
        self.server.close()


def test_a_lost_connection_is_resumed_after_the_last_change(server: Server) -> None:
    async def scenario() -> None:
        proxy = Proxy(server.port)
        url = await proxy.start()
        async with AsyncClient(server.url) as direct, AsyncClient(url) as client:
            await direct.create("door", "d1")
            seen: list[RemoteChange] = []
            async with contextlib.aclosing(client.subscribe("door", after=0)) as changes:
                async for change in changes:
                    seen.append(change)
                    if len(seen) == 1:
                        proxy.cut()  # the connection drops; this change was already received
                        await direct.send("door", "d1", "OPEN")
                        await direct.send("door", "d1", "CLOSE")
                    if len(seen) == 3:
                        break
            assert [(c.id, c.step) for c in seen] == [("d1", 0), ("d1", 1), ("d1", 2)]
            assert proxy.connections >= 2  # it did reconnect
        await proxy.close()

    asyncio.run(asyncio.wait_for(scenario(), 120))
