"""A client of an Interlock server (``interlock serve``): :class:`Client` (blocking) and
:class:`AsyncClient` (asyncio, with :meth:`AsyncClient.subscribe` for the live change feed).

Results are the embedded API's types (:class:`~interlock.Instance` as :class:`RemoteInstance`,
:class:`~interlock.SendResult`, :class:`~interlock.HistoryEntry`, :class:`~interlock.Page`); errors are its
exceptions (see :mod:`interlock.client.errors`). docs/client.md has the whole tour.
"""

from __future__ import annotations

from interlock.client.aio import AsyncClient
from interlock.client.errors import (
    HTTPError,
    RateLimitedError,
    RequestError,
    ServerError,
    UnreachableError,
)
from interlock.client.models import ApiKey, Machine, RemoteInstance, Version
from interlock.client.sync import Client

__all__ = [
    "ApiKey",
    "AsyncClient",
    "Client",
    "HTTPError",
    "Machine",
    "RateLimitedError",
    "RemoteInstance",
    "RequestError",
    "ServerError",
    "UnreachableError",
    "Version",
]
