"""Interlock: a statechart backend.

Business logic is a statechart; Interlock makes every instance of it durable, consistent and live.

- Define a machine: :func:`machine` (Python), :func:`load_machine` (YAML/JSON/SCXML files),
  :func:`load_document` (a mapping), :func:`load_scxml`; :func:`provide` gives implementations later.
- Run it purely: :func:`start` and :func:`step` (``(snapshot, event) -> (snapshot, effects)``).
- Run it in memory with effects carried out: :class:`MemoryRunner`.
- Run it durably on SQLite or PostgreSQL: :class:`Interlock` (and :class:`AsyncInterlock` via ``Interlock.aio``).
- Talk to an Interlock server: :class:`Client` and :class:`AsyncClient` (:mod:`interlock.client`).
- Serve it over HTTP: :func:`create_app` with a :class:`ServerConfig` (``interlock serve``).
- Decide who may do what: a machine's ``authorize`` rules, asked for a ``caller=`` :class:`Principal`.
"""

from __future__ import annotations

from interlock.app import AsyncInterlock, Interlock
from interlock.auth.principal import Principal
from interlock.client import AsyncClient, Client
from interlock.core.chart import Chart
from interlock.core.events import Event
from interlock.core.reach import Reach
from interlock.core.snapshot import Snapshot
from interlock.core.step import StepResult, start, step, stop
from interlock.errors import (
    ConflictError,
    DefinitionError,
    EventRejectedError,
    ForbiddenError,
    InstanceBusyError,
    InterlockError,
    NotFoundError,
    Problem,
    StepLimitError,
    StorageError,
)
from interlock.frontends.document import load_document
from interlock.frontends.loader import load_machine
from interlock.frontends.python import machine, provide
from interlock.frontends.scxml import load_scxml
from interlock.runtime.basichttp import HTTPSends
from interlock.runtime.clock import Clock, SystemClock, VirtualClock
from interlock.runtime.memory import LogRecord, MemoryRunner, Session
from interlock.runtime.model import HistoryEntry, Instance, Page, SendResult
from interlock.runtime.retry import RetryPolicy
from interlock.runtime.tasks import Task, TaskLostError
from interlock.server.app import create_app
from interlock.server.config import ServerConfig
from interlock.storage.store import Change

__version__ = "0.1.0"  # the one place the version is written; pyproject.toml reads it from here

__all__ = [
    "AsyncClient",
    "AsyncInterlock",
    "Change",
    "Chart",
    "Client",
    "Clock",
    "ConflictError",
    "DefinitionError",
    "Event",
    "EventRejectedError",
    "ForbiddenError",
    "HTTPSends",
    "HistoryEntry",
    "Instance",
    "InstanceBusyError",
    "Interlock",
    "InterlockError",
    "LogRecord",
    "MemoryRunner",
    "NotFoundError",
    "Page",
    "Principal",
    "Problem",
    "Reach",
    "RetryPolicy",
    "SendResult",
    "ServerConfig",
    "Session",
    "Snapshot",
    "StepLimitError",
    "StepResult",
    "StorageError",
    "SystemClock",
    "Task",
    "TaskLostError",
    "VirtualClock",
    "__version__",
    "create_app",
    "load_document",
    "load_machine",
    "load_scxml",
    "machine",
    "provide",
    "start",
    "step",
    "stop",
]
