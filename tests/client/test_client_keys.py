"""API keys through the client (the /v1/keys routes)."""

from __future__ import annotations

import asyncio

from interlock.client import ApiKey, AsyncClient, Client
from interlock.runtime.model import Page
from tests.server.support import Server


def test_create_list_and_revoke_a_key(server: Server) -> None:
    with Client(server.url) as client:  # development mode: the caller is admin
        created = client.create_key("billing", ["events:write", "read"])
        assert isinstance(created, ApiKey) and created.secret is not None and created.secret.startswith("ilk_")
        assert created.secret not in repr(created)
        assert (created.name, created.scopes, created.revoked) == ("billing", ("events:write", "read"), False)
        listed = {k.id: k for k in client.list_keys()}
        assert listed[created.id].secret is None  # the server never shows it again
        revoked = client.revoke_key(created.id)
        assert revoked.revoked and client.revoke_key(created.id).revoked
        assert next(k for k in client.list_keys() if k.id == created.id).revoked


def test_keys_are_read_page_by_page(server: Server) -> None:
    with Client(server.url) as client:
        made = [client.create_key(f"k{n}", ["read"]).id for n in range(5)]
        first = client.list_keys(limit=2)
        assert isinstance(first, Page) and [k.id for k in first] == made[:2] and first.next == made[1]
        assert [k.id for k in client.list_keys(cursor=first.next, limit=2)] == made[2:4]
        assert [k.id for k in client.keys(page_size=2)] == made


def test_the_async_client_reads_keys_page_by_page(server: Server) -> None:
    async def scenario() -> None:
        async with AsyncClient(server.url) as client:
            made = [(await client.create_key(f"k{n}", ["read"])).id for n in range(3)]
            page = await client.list_keys(limit=2)
            assert [k.id for k in page] == made[:2] and page.next is not None
            assert [k.id async for k in client.keys(page_size=2)] == made

    asyncio.run(scenario())
