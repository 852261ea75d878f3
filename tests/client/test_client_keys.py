"""API keys through the client (the /v1/keys routes)."""

from __future__ import annotations

from interlock.client import ApiKey, Client
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
