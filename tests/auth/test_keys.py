"""API keys verified against a real SQLite store: the digest kept, the secret never, revocation within
the cache time, constant-format refusals with their reasons."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from interlock.auth.keys import ApiKeys, create_key, digest_of, list_keys, new_key, revoke_key
from interlock.auth.principal import Principal
from interlock.errors import NotFoundError, UnauthenticatedError
from interlock.storage import open_store
from interlock.storage.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    found = open_store(f"sqlite:///{tmp_path / 'keys.db'}")
    yield found
    found.close()


def _reason(keys: ApiKeys, text: str) -> str | None:
    with pytest.raises(UnauthenticatedError) as refused:
        asyncio.run(keys.verify(text))
    return refused.value.reason


def test_a_new_key_is_ilk_id_secret_and_only_its_digest_is_stored(store: Store, tmp_path: Path) -> None:
    text, row = create_key(store, ["read", "events:write", "read"], label="dashboard")
    prefix, key_id, secret = text.split("_", 2)
    assert (prefix, key_id) == ("ilk", row.id) and len(secret) >= 40
    assert row.scopes == ("events:write", "read") and row.digest == digest_of(text)
    raw = sqlite3.connect(tmp_path / "keys.db").execute("SELECT * FROM api_keys").fetchall()
    assert secret not in str(raw) and row.digest in str(raw)
    assert [k.id for k in list_keys(store)] == [row.id]


def test_a_verified_key_is_its_scopes_and_its_use_is_recorded(store: Store) -> None:
    text, row = create_key(store, ["read"])
    principal = asyncio.run(ApiKeys(store).verify(text))
    assert (principal.kind, principal.subject, principal.scopes) == ("key", f"key:{row.id}", frozenset({"read"}))
    [listed] = list_keys(store)
    assert listed.last_used_at is not None and listed.last_used_at >= row.created_at


def test_refusals_say_why(store: Store) -> None:
    text, row = create_key(store, ["read"])
    keys = ApiKeys(store)
    assert _reason(keys, text[:-2] + "xx") == "key.unknown"  # the id is known, the secret is not
    assert _reason(keys, f"ilk_{'0' * 12}_secret") == "key.unknown"
    assert _reason(keys, "ilk_nothing") == "key.malformed"
    assert _reason(keys, "ilk_" + "a" * 12 + "_" + "s" * 300) == "key.malformed"
    revoke_key(store, row.id)
    assert _reason(keys, text) == "key.revoked"


def test_a_revocation_takes_effect_once_the_cache_time_is_over(store: Store) -> None:
    now = [0.0]
    keys = ApiKeys(store, ttl=10.0, clock=lambda: now[0])
    text, row = create_key(store, ["read"])
    assert asyncio.run(keys.verify(text)).subject == f"key:{row.id}"
    revoke_key(store, row.id)
    now[0] = 9.0
    assert asyncio.run(keys.verify(text)).subject == f"key:{row.id}"  # still cached: the documented delay
    now[0] = 10.5
    assert _reason(keys, text) == "key.revoked"


def test_bad_scopes_labels_and_ids_are_refused_clearly(store: Store) -> None:
    with pytest.raises(ValueError, match=r"unknown scope.*'write'.*among admin"):
        new_key(["write"], label="", now=0)
    with pytest.raises(ValueError, match="at least one scope"):
        new_key([], label="", now=0)
    with pytest.raises(ValueError, match="label"):
        new_key(["read"], label="a\nb", now=0)
    with pytest.raises(NotFoundError, match="no API key 'nope'"):
        revoke_key(store, "nope")


class _CountedKeys(ApiKeys):
    """ApiKeys over the real store, counting its lookups in the store."""

    lookups = 0

    def _look_up(self, key_id: str, digest: str) -> Principal:
        self.lookups += 1
        return super()._look_up(key_id, digest)


def test_a_lookup_in_flight_when_the_key_is_revoked_does_not_put_it_back(store: Store, tmp_path: Path) -> None:
    """A lookup that read the key before its revocation answers its own request, but is not remembered:
    the process that revoked the key (``forget``) refuses it from then on, not ``ttl`` seconds later."""
    keys = ApiKeys(store, ttl=3600.0)
    text, row = create_key(store, ["read"])
    other = sqlite3.connect(tmp_path / "keys.db", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # the lookup reads the key, then waits to record its use

        async def race() -> Principal:
            lookup = asyncio.ensure_future(keys.verify(text))
            await asyncio.sleep(0.3)
            other.execute("UPDATE api_keys SET revoked_at = 1.0 WHERE id = ?", (row.id,))
            keys.forget(row.id)  # what DELETE /v1/keys/{id} does after the revocation
            other.execute("COMMIT")
            return await lookup

        assert asyncio.run(race()).subject == f"key:{row.id}"  # began before the revocation
    finally:
        other.close()
    assert _reason(keys, text) == "key.revoked"


def test_requests_in_flight_with_an_expired_key_share_one_lookup(store: Store) -> None:
    # a busy client's key leaving the cache made each of its requests in flight a write transaction
    now = [0.0]
    keys = _CountedKeys(store, ttl=10.0, clock=lambda: now[0])
    text, row = create_key(store, ["read"])
    wrong = text[:-2] + "xx"

    async def wave() -> list[Principal | BaseException]:
        return await asyncio.gather(*(keys.verify(text) for _ in range(50)),
                                    *(keys.verify(wrong) for _ in range(20)), return_exceptions=True)

    first = asyncio.run(wave())
    assert keys.lookups == 2  # one for the key, one for the wrong secret
    assert {p.subject for p in first[:50] if isinstance(p, Principal)} == {f"key:{row.id}"}
    assert all(isinstance(e, UnauthenticatedError) and e.reason == "key.unknown" for e in first[50:])
    asyncio.run(wave())
    assert keys.lookups == 3  # the key is cached; a refusal is not, each wave looks it up again
    now[0] = 10.5
    revoke_key(store, row.id)
    expired = asyncio.run(wave())
    assert keys.lookups == 5
    assert all(isinstance(e, UnauthenticatedError) and e.reason == "key.revoked" for e in expired[:50])


def test_a_caller_that_gives_up_does_not_cancel_the_others_lookup(store: Store) -> None:
    keys = _CountedKeys(store)
    text, row = create_key(store, ["read"])

    async def main() -> Principal:
        impatient = asyncio.ensure_future(keys.verify(text))
        patient = asyncio.ensure_future(keys.verify(text))
        await asyncio.sleep(0)
        impatient.cancel()
        return await patient

    assert asyncio.run(main()).subject == f"key:{row.id}"
    assert keys.lookups == 1
