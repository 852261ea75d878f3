"""End users' JWTs on a real server (HS256 from INTERLOCK_JWT_SECRET): a valid token reads and sends,
every refusal is 401 with its reason code, and keys keep working beside tokens."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import jwt
import pytest

from tests.server.support import bearer, running

SECRET = "a-server-secret-long-enough-for-hs512-" * 2


def _token(**changes: Any) -> str:
    claims = {"sub": "alice", "iss": "https://id.test", "aud": "interlock", "exp": int(time.time()) + 600}
    return jwt.encode(claims | changes, SECRET, algorithm="HS256")


def test_tokens_are_verified_with_issuer_audience_and_expiry(sqlite_url: str, tmp_path: Path) -> None:
    env = {"INTERLOCK_JWT_SECRET": SECRET, "INTERLOCK_JWT_ISSUER": "https://id.test",
           "INTERLOCK_JWT_AUDIENCE": "interlock"}
    with running(sqlite_url, dev=False, log=tmp_path / "s.log", env=env) as server:
        c = server.client
        assert c.post("/v1/machines/door/instances", json={"name": "d"},
                      headers=bearer(server.key("admin"))).status_code == 201
        user = bearer(_token())
        assert c.get("/v1/machines/door/instances/d", headers=user).status_code == 200
        sent = c.post("/v1/machines/door/instances/d/events", json={"type": "OPEN"}, headers=user)
        assert sent.status_code == 200, sent.text
        refused = c.post("/v1/machines/door/instances", json={"name": "e"}, headers=user)
        assert refused.json()["error"]["code"] == "auth.scope.missing"  # tokens read and send by default
        unsigned = jwt.encode({"sub": "alice", "exp": int(time.time()) + 60}, None, algorithm="none")  # type: ignore[arg-type]
        for token, code in ((_token(exp=int(time.time()) - 3600), "auth.token.expired"),
                            (_token(iss="https://evil.test"), "auth.token.issuer"),
                            (_token(aud="elsewhere"), "auth.token.audience"),
                            (unsigned, "auth.token.algorithm"),
                            (_token()[:-4] + "AAAA", "auth.token.signature"),
                            ("a.b.c", "auth.token.malformed"),
                            (_token(sub=""), "auth.token.claims"),  # nobody
                            (_token(sub="key:0123456789ab"), "auth.token.claims"),  # an API key's caller
                            (_token(sub="instance:x/1"), "auth.token.claims"),  # an uploaded machine's instance
                            (_token(sub=42), "auth.token.claims"),  # not text (was auth.token.invalid)
                            (_token(iat="now"), "auth.token.claims"),
                            (jwt.encode({"sub": "a", "iss": "https://id.test", "aud": "interlock",
                                         "exp": int(time.time()) + 60}, SECRET, algorithm="HS256",
                                        headers={"crit": ["exp"]}), "auth.token.invalid")):
            answer = c.get("/v1/machines", headers=bearer(token))
            assert answer.status_code == 401 and answer.json()["error"]["code"] == code, (code, answer.text)


def test_a_server_with_a_short_jwt_secret_does_not_start(sqlite_url: str, tmp_path: Path) -> None:
    """Anyone holding one token can try secrets offline; a short one is found: refused at start."""
    with pytest.raises(RuntimeError, match="jwt_secret is 6 bytes"), \
            running(sqlite_url, dev=False, log=tmp_path / "s.log", env={"INTERLOCK_JWT_SECRET": "secret"}):
        pass  # (stopped again if it started)


def test_every_token_of_one_end_user_draws_on_one_rate(sqlite_url: str, tmp_path: Path) -> None:
    """An identity provider gives a user a new token at every refresh: each used to get a bucket of its
    own once accepted, so a user with many tokens had many times the rate. The bucket is the user's
    (``sub``) now; another user's is their own."""
    env = {"INTERLOCK_JWT_SECRET": SECRET, "INTERLOCK_JWT_ISSUER": "https://id.test",
           "INTERLOCK_JWT_AUDIENCE": "interlock", "INTERLOCK_RATE": "0.5", "INTERLOCK_BURST": "4"}
    with running(sqlite_url, dev=False, log=tmp_path / "s.log", env=env) as server:
        c = server.client
        # the readiness probe took one of the address's 4; a token's first request is paid by the address
        first, second = _token(jti="t1"), _token(jti="t2")
        assert [c.get("/v1/machines", headers=bearer(t)).status_code for t in (first, second)] == [200, 200]
        codes = [c.get("/v1/machines", headers=bearer(t)).status_code for t in (first, second) * 3]
        assert codes == [200, 200, 200, 200, 429, 429]  # alice's 4, whichever token she shows
        bob = _token(sub="bob")  # the address's last one, then his own 4
        assert [c.get("/v1/machines", headers=bearer(bob)).status_code for _ in range(6)] == (
            [200, 200, 200, 200, 200, 429])
