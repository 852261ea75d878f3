"""The ``Authorization: Bearer ...`` header: an API key (``ilk_...``) or, when the server is configured
for them, an end user's JWT (docs/auth.md)."""

from __future__ import annotations

from typing import Protocol

from interlock.auth.keys import PREFIX, ApiKeys
from interlock.auth.principal import Principal
from interlock.errors import UnauthenticatedError

MAX_HEADER = 8192  # bytes of an Authorization header that is looked at


class TokenVerifier(Protocol):
    async def verify(self, token: str) -> Principal: ...


class Bearer:
    """Implements the :class:`~interlock.auth.principal.Authenticator` protocol: keys, then tokens."""

    def __init__(self, keys: ApiKeys, tokens: TokenVerifier | None = None) -> None:
        self.keys = keys
        self.tokens = tokens

    async def authenticate(self, authorization: str | None) -> Principal:
        credential = bearer_of(authorization)
        if credential.startswith(PREFIX):
            return await self.keys.verify(credential)
        if self.tokens is None:
            raise UnauthenticatedError("this server accepts API keys (ilk_...) only, and this bearer is not "
                                       "one; bearer tokens (JWT) need jwt_secret or jwt_jwks_url in its "
                                       "configuration", reason="token.not_accepted")
        return await self.tokens.verify(credential)


def bearer_of(authorization: str | None) -> str:
    """The credential of ``Authorization: Bearer <credential>``."""
    if authorization is None or not authorization.strip():
        raise UnauthenticatedError("this call needs credentials: send 'Authorization: Bearer <key or token>' "
                                   "(an admin creates keys with `interlock keys create`)",
                                   reason="credentials.missing")
    scheme, _, credential = authorization.strip().partition(" ")
    credential = credential.strip()
    if scheme.lower() != "bearer" or not credential or " " in credential or len(authorization) > MAX_HEADER:
        raise UnauthenticatedError("the Authorization header must be 'Bearer <key or token>' (one word after "
                                   f"'Bearer', at most {MAX_HEADER} bytes)", reason="credentials.malformed")
    return credential
