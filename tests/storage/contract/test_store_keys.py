"""The store contract for API keys (auth/keys.py keeps them), on every store."""

from __future__ import annotations

import pytest

from interlock.errors import ConflictError
from interlock.storage.store import KeyRow, Store
from tests.storage.contract.conftest import Opener


def _key(id: str, at: float = 1.0, scopes: tuple[str, ...] = ("events:write", "read")) -> KeyRow:
    return KeyRow(id, "ab" * 32, scopes, f"label of {id}", at)


def test_a_key_is_kept_with_its_digest_scopes_and_label(store: Store, open_connection: Opener) -> None:
    with store.write() as tx:
        tx.insert_key(_key("k1"))
    with open_connection().read() as tx:
        assert tx.get_key("k1") == _key("k1")
        assert tx.get_key("nothing") is None


def test_a_taken_id_is_a_conflict(store: Store) -> None:
    with store.write() as tx:
        tx.insert_key(_key("k1"))
    with pytest.raises(ConflictError, match="'k1' already exists"), store.write() as tx:
        tx.insert_key(_key("k1", at=2.0, scopes=("admin",)))
    with store.read() as tx:
        assert tx.get_key("k1") == _key("k1")


def test_keys_are_listed_oldest_first_revoked_ones_too(store: Store) -> None:
    with store.write() as tx:
        tx.insert_key(_key("b", at=2.0))
        tx.insert_key(_key("a", at=3.0))
        tx.insert_key(_key("c", at=1.0))
        tx.revoke_key("b", 5.0)
    with store.read() as tx:
        listed = tx.api_keys()
    assert [k.id for k in listed] == ["c", "b", "a"]
    assert [k.revoked for k in listed] == [False, True, False]


def test_keys_are_paged_after_a_cursor_in_the_same_order(store: Store) -> None:
    with store.write() as tx:
        for id, at in (("e", 1.0), ("d", 2.0), ("a", 2.0), ("c", 3.0), ("b", 4.0)):
            tx.insert_key(_key(id, at=at))
    pages, after = [], ""
    with store.read() as tx:
        while page := tx.api_keys(after=after, limit=2):
            pages.append([k.id for k in page])
            after = page[-1].id
        assert tx.api_keys(after="no such key", limit=10) == []
        assert [k.id for k in tx.api_keys(limit=1)] == ["e"]
    # oldest first; keys made at the same time by id, so a page boundary between them loses none
    assert pages == [["e", "a"], ["d", "c"], ["b"]]


def test_a_cursor_sees_keys_created_after_the_first_page(store: Store, open_connection: Opener) -> None:
    with store.write() as tx:
        tx.insert_key(_key("k1", at=1.0))
    with store.read() as tx:
        [first] = tx.api_keys(limit=10)
    with open_connection().write() as tx:
        tx.insert_key(_key("k2", at=2.0))
    with store.read() as tx:
        assert [k.id for k in tx.api_keys(after=first.id, limit=10)] == ["k2"]


def test_revoking_keeps_the_first_time_and_an_unknown_id_is_none(store: Store) -> None:
    with store.write() as tx:
        tx.insert_key(_key("k"))
        first = tx.revoke_key("k", 5.0)
        again = tx.revoke_key("k", 9.0)
        assert tx.revoke_key("nothing", 5.0) is None
    assert first is not None and first.revoked_at == 5.0
    assert again is not None and again.revoked_at == 5.0


def test_last_use_only_moves_forward(store: Store) -> None:
    with store.write() as tx:
        tx.insert_key(_key("k"))
        tx.touch_key("k", 7.0)
        tx.touch_key("k", 4.0)
    with store.read() as tx:
        found = tx.get_key("k")
    assert found is not None and found.last_used_at == 7.0


def test_the_digest_is_not_in_the_repr() -> None:
    assert "abab" not in repr(_key("k"))
