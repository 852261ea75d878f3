"""A server process for the tests: ``interlock serve``'s own run_server, settings from INTERLOCK_*
variables (outside development mode, credentials are API keys of its database: ``Server.key``).

``INTERLOCK_TEST_FAILING_AUTH=1`` serves with :class:`FailingAuthenticator` instead of the default one."""

from __future__ import annotations

import os

from interlock.auth.principal import Principal
from interlock.cli.serve import run_server
from interlock.errors import UnauthenticatedError
from interlock.server.config import load_config


class FailingAuthenticator:
    """An authenticator with a bug: the credentials ``Bearer fail`` make it raise an unexpected error
    (what the server answers then is under test); any other credentials are refused. Requests without
    credentials in development mode never reach it."""

    async def authenticate(self, authorization: str | None) -> Principal:
        if authorization == "Bearer fail":
            raise RuntimeError("the test authenticator failed on purpose")
        raise UnauthenticatedError("the test authenticator knows no credentials", reason="key.unknown")


if __name__ == "__main__":
    failing = os.environ.get("INTERLOCK_TEST_FAILING_AUTH") == "1"
    run_server(load_config({}, os.environ), authenticator=FailingAuthenticator() if failing else None)
