"""The caller of a request, as the server and the runtime's authorization checks see it.

A principal is plain data: how the caller proved who it is (``kind``), who it is (``subject``), what
it may do everywhere (``scopes``) and, for end users with a bearer token, the token's verified claims
(what machines' authorization rules decide from).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, Protocol

# admin may do everything; each other scope allows one kind of call (docs/server.md, "Authorization")
SCOPES = ("admin", "machines:write", "instances:write", "events:write", "read")
Kind = Literal["key", "token", "dev"]


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller."""

    kind: Kind
    subject: str
    scopes: frozenset[str]
    claims: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def admin(self) -> bool:
        return "admin" in self.scopes

    def allows(self, scope: str) -> bool:
        """True if the caller holds ``scope`` (or admin, which holds every scope)."""
        return self.admin or scope in self.scopes

    def __repr__(self) -> str:
        return f"<Principal {self.kind}:{self.subject} scopes={sorted(self.scopes)}>"


# development mode (`interlock serve --dev`, loopback only): a request without credentials acts as admin
DEVELOPER = Principal("dev", "developer", frozenset({"admin"}))


class Authenticator(Protocol):
    """Turns a request's ``Authorization`` header into a principal.

    Raises :class:`~interlock.errors.UnauthenticatedError` (with a ``reason``) when the header is missing,
    malformed or does not verify. Awaited on the server's event loop: it must not block it (the store
    and identity providers are reached on a worker thread)."""

    async def authenticate(self, authorization: str | None) -> Principal: ...
