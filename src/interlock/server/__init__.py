"""The HTTP API: an ASGI app (Starlette) over an :class:`~interlock.Interlock`, served by uvicorn.

``create_app(interlock, config)`` builds it (server/app.py); ``interlock serve`` runs it (cli/serve.py);
docs/server.md is the contract.
"""

from __future__ import annotations

from interlock.server.app import create_app
from interlock.server.config import ServerConfig, load_config

__all__ = ["ServerConfig", "create_app", "load_config"]
