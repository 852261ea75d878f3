"""End users' bearer tokens: JWTs verified with PyJWT (never hand-written JOSE; docs/auth.md).

Either a shared HS256 secret or the JWKS URL of an identity provider (RS256/ES256 keys, found by the
token's ``kid``). The algorithms are pinned: a token whose header names another one (``none`` included,
or HS256 against an RSA key) is refused before its signature is looked at. ``exp`` and ``sub`` are
required; ``iss`` and ``aud`` when configured.

    tokens = Tokens(secret="...", issuer="https://id.example", audience="interlock")
    principal = await tokens.verify(jwt_text)     # Principal("token", sub, scopes, claims)
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from types import MappingProxyType
from typing import Any

import jwt

from interlock.auth.principal import SCOPES, Principal
from interlock.errors import UnauthenticatedError

SYMMETRIC = ("HS256", "HS384", "HS512")
ASYMMETRIC = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA")
DEFAULT_SCOPES = ("events:write", "read")  # what a token may do when no scopes claim is configured
LEEWAY = 30.0  # seconds of clock difference allowed on exp / nbf / iat
MIN_SECRET_BYTES = 32  # an HMAC key as long as its hash at least (RFC 7518, 3.2): 256 bits for HS256
MAX_TOKEN_LENGTH = 8192  # characters of a token looked at (also bounded by the header: bearer.py)

# a registered claim of the wrong kind (RFC 7519, 4.1: sub and jti text, iat a number); PyJWT 2.10 and
# later tell them apart (before, the token.invalid below)
_CLAIM_KINDS = tuple(getattr(jwt.exceptions, name) for name in ("InvalidSubjectError", "InvalidJTIError",
                                                                 "InvalidIssuedAtError")
                     if hasattr(jwt.exceptions, name))
# PyJWT's refusals, most specific first (subclasses before their bases), as reason codes
_REASONS: tuple[tuple[type[Exception], str, str], ...] = (
    *((kind, "token.claims", "a claim of the token is not of its kind (sub and jti are text, iat a number)")
      for kind in _CLAIM_KINDS),
    (jwt.ExpiredSignatureError, "token.expired", "the token has expired; get a new one"),
    (jwt.ImmatureSignatureError, "token.not_yet_valid", "the token is not valid yet (nbf or iat in the future)"),
    (jwt.InvalidIssuerError, "token.issuer", "the token's issuer (iss) is not the one this server trusts"),
    (jwt.InvalidAudienceError, "token.audience", "the token is not meant for this server (aud)"),
    (jwt.MissingRequiredClaimError, "token.claims", "the token lacks a required claim"),
    (jwt.InvalidAlgorithmError, "token.algorithm", "the token's algorithm is not allowed here"),
    (jwt.InvalidSignatureError, "token.signature", "the token's signature does not verify"),
    (jwt.PyJWKClientError, "token.key", "no key of the identity provider verifies this token"),
    (jwt.DecodeError, "token.malformed", "this is not a well-formed JWT"),
    (jwt.InvalidTokenError, "token.invalid", "the token is not valid"),
)


class Tokens:
    """Verifies JWTs (implements the token half of :class:`~interlock.auth.bearer.Bearer`)."""

    def __init__(self, *, secret: str | None = None, jwks_url: str | None = None, issuer: str | None = None,
                 audience: str | None = None, algorithms: Sequence[str] = (), scopes_claim: str | None = None,
                 leeway: float = LEEWAY) -> None:
        if (secret is None) == (jwks_url is None):
            raise ValueError("JWT verification needs jwt_secret (HS256) or jwt_jwks_url (an identity provider's "
                             "keys), exactly one")
        if secret is not None and len(secret.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"jwt_secret is {len(secret.encode())} bytes; an HS256 secret needs at least "
                             f"{MIN_SECRET_BYTES} (RFC 7518, 3.2), as a shorter one can be guessed from any token "
                             "offline: use 64 random bytes (python -c 'import secrets; "
                             "print(secrets.token_urlsafe(64))')")
        allowed = SYMMETRIC if secret is not None else ASYMMETRIC
        self.algorithms = tuple(algorithms) or (("HS256",) if secret is not None else ("RS256", "ES256"))
        wrong = [a for a in self.algorithms if a not in allowed]
        if wrong:
            raise ValueError(f"jwt_algorithms {', '.join(wrong)} cannot be used with "
                             f"{'jwt_secret' if secret is not None else 'jwt_jwks_url'}; choose among "
                             f"{', '.join(allowed)}")
        self.secret = secret
        self.jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300, timeout=10) if jwks_url else None
        self.issuer = issuer
        self.audience = audience
        self.scopes_claim = scopes_claim
        self.leeway = leeway

    async def verify(self, token: str) -> Principal:
        if self.jwks is not None:  # fetching the provider's keys is blocking I/O
            return await asyncio.to_thread(self.verify_now, token)
        return self.verify_now(token)

    def verify_now(self, token: str) -> Principal:
        """The principal of ``token``, or :class:`UnauthenticatedError` with a ``token.*`` reason."""
        try:
            if len(token) > MAX_TOKEN_LENGTH:
                raise jwt.DecodeError(f"longer than {MAX_TOKEN_LENGTH} characters")
            header = jwt.get_unverified_header(token)
            if header.get("alg") not in self.algorithms:
                raise jwt.InvalidAlgorithmError(f"it names {header.get('alg')!r}; this server accepts "
                                                f"{', '.join(self.algorithms)}")
            claims = jwt.decode(token, self._key(token), algorithms=list(self.algorithms), issuer=self.issuer,
                                audience=self.audience, leeway=self.leeway, options=self._options())
        except jwt.InvalidTokenError as exc:
            raise _refusal(exc) from None
        except jwt.PyJWKClientError as exc:
            raise _refusal(exc) from None
        return Principal("token", _subject(claims["sub"]), self._scopes(claims), MappingProxyType(claims))

    def _key(self, token: str) -> Any:
        if self.jwks is not None:
            return self.jwks.get_signing_key_from_jwt(token).key
        return self.secret

    def _options(self) -> Any:
        required = ["exp", "sub"] + (["iss"] if self.issuer else []) + (["aud"] if self.audience else [])
        return {"require": required, "verify_aud": self.audience is not None}

    def _scopes(self, claims: dict[str, Any]) -> frozenset[str]:
        if self.scopes_claim is None:
            return frozenset(DEFAULT_SCOPES)
        given = claims.get(self.scopes_claim, ())
        words = given.split() if isinstance(given, str) else given if isinstance(given, list) else ()
        return frozenset(w for w in words if isinstance(w, str) and w in SCOPES)


def _subject(sub: object) -> str:
    """The token's ``sub``, if it names somebody: not empty, and not ``key:...`` nor ``instance:...``,
    which is how rules and idempotency keys name an API key's caller and an uploaded machine's instance
    (a token with it would act as that key or instance in a rule such as ``owner == claims.sub``, and
    share its idempotency keys)."""
    text = str(sub)
    if not text.strip() or text.startswith(("key:", "instance:")):
        raise UnauthenticatedError(f"the token's subject (sub) {text[:80]!r} names nobody this server can tell "
                                   "apart: it must be non-empty and not start with 'key:' or 'instance:' (API "
                                   "keys' callers and machines' instances are named so)", reason="token.claims")
    return text


def _refusal(exc: Exception) -> UnauthenticatedError:
    for kind, reason, message in _REASONS:
        if isinstance(exc, kind):
            return UnauthenticatedError(f"{message}: {exc}", reason=reason)
    return UnauthenticatedError(f"the token is not valid: {exc}", reason="token.invalid")
