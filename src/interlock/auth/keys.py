"""API keys: ``ilk_<id>_<secret>``, kept in the store as the sha256 digest of the whole key (docs/auth.md).

The id is public (it names the key in listings and in ``DELETE /v1/keys/{id}``); the secret comes from
:mod:`secrets` and is shown once, when the key is created. A presented key is looked up by its id and its
digest compared in constant time (:func:`hmac.compare_digest`).

    text, row = new_key(["read"], label="dashboard", now=time.time())
    with store.write() as tx:
        tx.insert_key(row)
    # text == "ilk_3f9a0c1d2e4b_..." (print it once); row.digest is all the store keeps
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from interlock.auth.principal import SCOPES, Principal
from interlock.errors import NotFoundError, UnauthenticatedError
from interlock.runtime.model import Page
from interlock.storage.store import KeyRow, Store

PREFIX = "ilk_"
ID_BYTES = 6  # 12 hex digits: names a key; not a secret
SECRET_BYTES = 32  # 256 bits from secrets.token_urlsafe
MAX_KEY_LENGTH = 200  # a longer bearer is refused before it is hashed or looked up
MAX_LABEL_LENGTH = 200
CACHE_TTL = 10.0  # seconds a verified key is trusted without the store (a revocation takes this long)
CACHE_SIZE = 10_000  # verified keys one process remembers


def new_key(scopes: Iterable[str], *, label: str, now: float) -> tuple[str, KeyRow]:
    """A fresh key's text (give it to its owner, once) and the row to store (its digest only)."""
    checked = check_scopes(scopes)
    label = check_label(label)
    key_id = secrets.token_hex(ID_BYTES)
    text = f"{PREFIX}{key_id}_{secrets.token_urlsafe(SECRET_BYTES)}"
    return text, KeyRow(key_id, digest_of(text), checked, label, now)


def check_scopes(scopes: Iterable[str]) -> tuple[str, ...]:
    """The scopes, sorted and deduplicated; ValueError naming an unknown one, or none at all."""
    found = sorted(set(scopes))
    unknown = [s for s in found if s not in SCOPES]
    if unknown:
        raise ValueError(f"unknown scope(s) {', '.join(map(repr, unknown))}; a key's scopes are among "
                         f"{', '.join(SCOPES)}")
    if not found:
        raise ValueError(f"a key needs at least one scope: admin, or some of {', '.join(SCOPES[1:])}")
    return tuple(found)


def check_label(label: str) -> str:
    if len(label) > MAX_LABEL_LENGTH or not label.isprintable():
        raise ValueError(f"a key's label is printable text of at most {MAX_LABEL_LENGTH} characters; "
                         f"this one has {len(label)}" + ("" if label.isprintable() else " and control characters"))
    return label


def digest_of(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def key_id_of(text: str) -> str:
    """The public id of a key's text; :class:`UnauthenticatedError` ``key.malformed`` if it is not one."""
    body = text.removeprefix(PREFIX)
    key_id, _, secret = body.partition("_")
    if (not text.startswith(PREFIX) or len(text) > MAX_KEY_LENGTH or len(key_id) != 2 * ID_BYTES
            or not secret or not text.isascii()):
        raise UnauthenticatedError("this is not an Interlock API key (ilk_<id>_<secret>, as `interlock keys "
                                   "create` prints it); check it was copied whole", reason="key.malformed")
    return key_id


@dataclass(frozen=True, slots=True)
class _Verified:
    principal: Principal
    until: float


class ApiKeys:
    """Verifies API keys against the store (implements the :class:`~interlock.auth.principal.Authenticator`
    protocol for keys; :class:`~interlock.auth.bearer.Bearer` routes a request's bearer here).

    The store is read on a worker thread, never on the event loop. A verified key is remembered for
    ``ttl`` seconds (by its digest), so a revocation takes effect within ``ttl`` on every process; each
    lookup in the store also records the key's last use.

    Requests that present the same key while it is being looked up wait for that one lookup: when a busy
    client's key leaves the cache, every request it has in flight misses at once, and each lookup is a
    write transaction (the last use) with its own fsync, queued behind the store's writer (256 requests
    in flight: ~180 such commits in 3.5 s, stalling the server; docs/benchmarks.md, "Server")."""

    def __init__(self, store: Store, *, ttl: float = CACHE_TTL, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.store = store
        self.ttl = ttl
        self._clock = clock
        self._wall = wall
        self._verified: dict[str, _Verified] = {}
        self._pending: dict[str, asyncio.Future[Principal]] = {}  # digest -> its lookup in progress
        self._forgotten = 0  # calls of forget(): a lookup that began before one is not remembered

    async def verify(self, text: str) -> Principal:
        """The principal of a key's text, or :class:`UnauthenticatedError` with its reason."""
        key_id = key_id_of(text)
        digest = digest_of(text)
        cached = self._verified.get(digest)
        if cached is not None and cached.until > self._clock():
            return cached.principal
        pending = self._pending.get(digest)
        if pending is None or pending.get_loop() is not asyncio.get_running_loop():
            pending = asyncio.ensure_future(self._look_up_and_remember(key_id, digest))
            self._pending[digest] = pending
            pending.add_done_callback(lambda done: self._forget_pending(digest, done))
        # shielded: a caller that gives up (its request cancelled) does not cancel the others' lookup
        return await asyncio.shield(pending)

    async def _look_up_and_remember(self, key_id: str, digest: str) -> Principal:
        forgotten = self._forgotten
        principal = await asyncio.to_thread(self._look_up, key_id, digest)
        if forgotten == self._forgotten:  # else a key was revoked meanwhile: this read may predate it
            self._remember(digest, principal)
        return principal

    def _forget_pending(self, digest: str, done: asyncio.Future[Principal]) -> None:
        if self._pending.get(digest) is done:
            del self._pending[digest]
        if not done.cancelled():
            done.exception()  # retrieved: a refusal nobody awaits any more is not logged as lost

    def _look_up(self, key_id: str, digest: str) -> Principal:
        # read first: an unknown or revoked key (a guess) never waits for the store's writer
        with self.store.read() as tx:
            row = tx.get_key(key_id)
        if row is None or not hmac.compare_digest(row.digest, digest):
            raise UnauthenticatedError(f"no API key {key_id!r} with this secret; create one with "
                                       "`interlock keys create` or POST /v1/keys", reason="key.unknown")
        if row.revoked:
            raise UnauthenticatedError(f"API key {key_id!r} ({row.label!r}) was revoked; ask an admin "
                                       "for a new one", reason="key.revoked")
        with self.store.write() as tx:
            tx.touch_key(key_id, self._wall())
        return Principal("key", f"key:{row.id}", frozenset(row.scopes))

    def _remember(self, digest: str, principal: Principal) -> None:
        if self.ttl <= 0:
            return
        if len(self._verified) >= CACHE_SIZE:  # forget the expired ones, else start over
            now = self._clock()
            self._verified = {d: v for d, v in self._verified.items() if v.until > now}
            if len(self._verified) >= CACHE_SIZE:
                self._verified.clear()
        self._verified[digest] = _Verified(principal, self._clock() + self.ttl)

    def forget(self, key_id: str) -> None:
        """Drop a key from this process's cache (its revocation through this process is then at once),
        and remember no lookup in progress: one that read the key before its revocation would put it
        back for ``ttl`` seconds. A request arriving later looks the key up again."""
        self._forgotten += 1
        self._verified = {d: v for d, v in self._verified.items() if v.principal.subject != f"key:{key_id}"}
        self._pending.clear()


# -- what `interlock keys` and /v1/keys do (blocking: the server calls them on a worker thread) ----------

def create_key(store: Store, scopes: Iterable[str], *, label: str = "") -> tuple[str, KeyRow]:
    """Store a new key; its text (shown once) and its row. ValueError for bad scopes or label."""
    text, row = new_key(scopes, label=label, now=time.time())
    with store.write() as tx:
        tx.insert_key(row)
    return text, row


def list_keys(store: Store, *, after: str = "", limit: int = 100) -> Page[KeyRow]:
    """A page of keys, oldest first (revoked ones too); its ``next`` (the last key's id) goes back as
    ``after`` for the following page. ValueError if ``after`` is no key's id."""
    if limit < 1:
        raise ValueError(f"a page holds at least one key; limit={limit}")
    with store.read() as tx:
        if after and tx.get_key(after) is None:
            raise ValueError(f"cursor {after!r} is no API key's id; pass the 'next' of the previous page "
                             "(or no cursor for the first page)")
        rows = tx.api_keys(after=after, limit=limit + 1)  # one more: is there a next page?
    more = len(rows) > limit
    return Page(tuple(rows[:limit]), rows[limit - 1].id if more else None)


def revoke_key(store: Store, key_id: str) -> KeyRow:
    """The key, revoked (again: unchanged); :class:`~interlock.errors.NotFoundError` if there is none."""
    with store.write() as tx:
        row = tx.revoke_key(key_id, time.time())
    if row is None:
        raise NotFoundError(f"no API key {key_id!r}; `interlock keys list` or GET /v1/keys lists them")
    return row
