"""End users' JWTs: HS256 with a secret, RS256 from a JWKS that a small local HTTP server serves; every
refusal with its reason (expired, malformed, issuer, audience, algorithm with ``none``, signature)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from interlock.auth.tokens import Tokens
from interlock.errors import UnauthenticatedError

SECRET = "a-test-secret-long-enough-for-hs512-" * 2  # 64+ bytes: PyJWT warns below
ISSUER, AUDIENCE = "https://id.test", "interlock"


def _claims(**changes: Any) -> dict[str, Any]:
    return {"sub": "alice", "iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 600} | changes


def _hs(**changes: Any) -> str:
    return jwt.encode(_claims(**changes), SECRET, algorithm="HS256")


def _reason(tokens: Tokens, token: str) -> str | None:
    with pytest.raises(UnauthenticatedError) as refused:
        asyncio.run(tokens.verify(token))
    return refused.value.reason


@pytest.fixture
def hs() -> Tokens:
    return Tokens(secret=SECRET, issuer=ISSUER, audience=AUDIENCE)


def test_a_valid_token_is_its_subject_claims_and_default_scopes(hs: Tokens) -> None:
    principal = asyncio.run(hs.verify(_hs(team="blue")))
    assert (principal.kind, principal.subject) == ("token", "alice")
    assert principal.scopes == {"read", "events:write"} and principal.claims["team"] == "blue"


def test_scopes_come_from_a_configured_claim_and_unknown_ones_are_dropped() -> None:
    tokens = Tokens(secret=SECRET, scopes_claim="scope")
    principal = asyncio.run(tokens.verify(jwt.encode(_claims(scope="read nonsense"), SECRET, algorithm="HS256")))
    assert principal.scopes == {"read"}


def test_every_refusal_says_why(hs: Tokens) -> None:
    assert _reason(hs, _hs(exp=int(time.time()) - 3600)) == "token.expired"
    assert _reason(hs, "not.a.jwt") == "token.malformed"
    assert _reason(hs, "garbage") == "token.malformed"
    assert _reason(hs, _hs(iss="https://evil.test")) == "token.issuer"
    assert _reason(hs, _hs(aud="another-service")) == "token.audience"
    assert _reason(hs, jwt.encode(_claims(), "another-secret-that-is-long-enough-" * 2, algorithm="HS256")) \
        == "token.signature"
    unsigned = jwt.encode(_claims(), None, algorithm="none")  # type: ignore[arg-type]
    assert _reason(hs, unsigned) == "token.algorithm"
    assert _reason(hs, jwt.encode(_claims(), SECRET, algorithm="HS512")) == "token.algorithm"
    assert _reason(hs, jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "exp": int(time.time()) + 60}, SECRET,
                                  algorithm="HS256")) == "token.claims"  # no sub


def test_configurations_that_would_mix_algorithms_are_refused() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Tokens()
    with pytest.raises(ValueError, match="RS256 cannot be used with jwt_secret"):
        Tokens(secret=SECRET, algorithms=["RS256"])
    with pytest.raises(ValueError, match="HS256 cannot be used with jwt_jwks_url"):
        Tokens(jwks_url="http://127.0.0.1:1/jwks", algorithms=["HS256"])


@pytest.fixture
def provider() -> Iterator[tuple[str, rsa.RSAPrivateKey]]:
    """An identity provider's JWKS (one RS256 key, kid "k1") on a loopback HTTP server."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    body = json.dumps({"keys": [public | {"kid": "k1", "alg": "RS256", "use": "sig"}]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json", key
    finally:
        server.shutdown()
        server.server_close()


def test_rs256_tokens_verify_against_the_providers_jwks(provider: tuple[str, rsa.RSAPrivateKey]) -> None:
    url, key = provider
    tokens = Tokens(jwks_url=url, issuer=ISSUER, audience=AUDIENCE)
    good = jwt.encode(_claims(), key, algorithm="RS256", headers={"kid": "k1"})
    assert asyncio.run(tokens.verify(good)).subject == "alice"
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(_claims(), other, algorithm="RS256", headers={"kid": "k1"})
    assert _reason(tokens, forged) == "token.signature"
    assert _reason(tokens, jwt.encode(_claims(), other, algorithm="RS256", headers={"kid": "k9"})) == "token.key"
    # HS/RS confusion: an HS256 token signed with the provider's public key as the secret
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    confused = _hs256_with(pem)
    assert _reason(tokens, confused) == "token.algorithm"
    assert _reason(tokens, jwt.encode(_claims(exp=int(time.time()) - 3600), key, algorithm="RS256",
                                      headers={"kid": "k1"})) == "token.expired"


def _hs256_with(secret: bytes) -> str:
    """An HS256 JWT keyed with ``secret`` (PyJWT refuses a PEM as an HMAC key, as it should: built by hand)."""
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing = f"{b64(json.dumps({'alg': 'HS256', 'typ': 'JWT', 'kid': 'k1'}).encode())}." \
              f"{b64(json.dumps(_claims()).encode())}"
    return f"{signing}.{b64(hmac.new(secret, signing.encode(), hashlib.sha256).digest())}"
