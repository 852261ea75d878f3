"""Named Python services a chart can invoke (``<invoke type="name">``), and the events they answer with.

A service is a callable taking a :class:`~interlock.runtime.tasks.Task`, the same one the durable
runtime passes, so one implementation serves both runtimes; ``task.input`` holds the invoke's data (its
params and namelist, a dict). Its return value comes back as ``done.invoke.<invokeid>`` with that value as data; an exception comes back as
``error.invoke.<invokeid>`` with ``{"message", "error"}``. Both carry ``invokeid``, so ``<finalize>``
runs for them. A coroutine function is run to completion on a private event loop.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

from interlock.core.effects import InvokeEffect
from interlock.core.events import Event
from interlock.runtime.tasks import Task

ServiceFn: TypeAlias = Callable[[Task], Any]

SERVICE_ORIGINTYPE = "interlock:service"


def call_service(service: ServiceFn, effect: InvokeEffect, *, machine: str, instance: str) -> Event:
    """Call ``service`` with the invoke's data and turn the outcome into the event for the invoker."""
    invokeid = effect.invokeid
    task = Task(f"{machine}/{instance}#{invokeid}", machine, instance, invokeid, dict(effect.data), 1)
    try:
        result = service(task)
        if inspect.isawaitable(result):
            result = _run(result)
    except Exception as exc:
        data = {"message": str(exc), "error": type(exc).__name__}
        return Event(f"error.invoke.{invokeid}", data, "external", None, None, SERVICE_ORIGINTYPE, invokeid)
    return Event(f"done.invoke.{invokeid}", result, "external", None, None, SERVICE_ORIGINTYPE, invokeid)


def _run(awaitable: Awaitable[Any]) -> Any:
    async def wrapper() -> Any:
        return await awaitable

    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(wrapper())
    finally:
        loop.close()
