"""A server process for the tests: ``interlock serve``'s own run_server, settings from INTERLOCK_*
variables (outside development mode, credentials are API keys of its database: ``Server.key``)."""

from __future__ import annotations

import os

from interlock.cli.serve import run_server
from interlock.server.config import load_config

if __name__ == "__main__":
    run_server(load_config({}, os.environ))
