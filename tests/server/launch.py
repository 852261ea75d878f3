"""A server process for the tests: ``interlock serve``'s own run_server, settings from INTERLOCK_*
variables, and (outside development mode) a fixed-key authenticator, the test stand-in for API keys."""

from __future__ import annotations

import os

from interlock.auth.principal import Principal
from interlock.cli.serve import run_server
from interlock.errors import UnauthenticatedError
from interlock.server.config import load_config

KEYS = {"admin-key": frozenset({"admin"}), "reader-key": frozenset({"read"}),
        "writer-key": frozenset({"read", "instances:write", "events:write", "machines:write"})}


class FixedKeys:
    """Bearer keys from a fixed table (implements the Authenticator protocol)."""

    def authenticate(self, authorization: str | None) -> Principal:
        if authorization is None:
            raise UnauthenticatedError("send Authorization: Bearer <key>", reason="credentials.missing")
        scheme, _, key = authorization.partition(" ")
        if scheme.lower() != "bearer" or key not in KEYS:
            raise UnauthenticatedError("unknown key", reason="key.unknown")
        return Principal("key", key, KEYS[key])


if __name__ == "__main__":
    settings = load_config({}, os.environ)
    run_server(settings, authenticator=None if settings.dev else FixedKeys())
