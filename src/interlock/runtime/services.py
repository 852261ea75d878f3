"""Named Python services a chart can invoke (``<invoke type="name">``), and the events they answer with.

A service is a callable taking a :class:`~interlock.runtime.tasks.Task`, the same one the durable
runtime passes, so one implementation serves both runtimes; ``task.input`` holds the invoke's data (its
params and namelist, a dict). Its return value comes back as ``done.invoke.<invokeid>`` with that value
as data; a failure comes back as ``error.invoke.<invokeid>`` with ``{"message", "error", "service",
"attempts"}`` (``error``: the exception's class name), in both runtimes (:func:`invoke_result`). Both
carry ``invokeid``, so ``<finalize>`` runs for them. A coroutine function is run to completion on a
private event loop.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

from interlock.core.effects import InvokeEffect
from interlock.core.events import Event
from interlock.runtime.tasks import Attempt, Task, failed

ServiceFn: TypeAlias = Callable[[Task], Any]

SERVICE_ORIGINTYPE = "interlock:service"


def invoke_result(invokeid: str, attempt: Attempt, *, service: str, attempts: int) -> Event:
    """The event a service invocation answers its invoker with, in every runtime: ``done.invoke.<id>``
    with the value, or ``error.invoke.<id>`` with ``{"message", "error", "service", "attempts"}``."""
    if attempt.ok:
        return Event(f"done.invoke.{invokeid}", attempt.value, "external", None, None, SERVICE_ORIGINTYPE,
                     invokeid)
    data = {"message": attempt.error, "error": attempt.kind, "service": service, "attempts": attempts}
    return Event(f"error.invoke.{invokeid}", data, "external", None, None, SERVICE_ORIGINTYPE, invokeid)


def call_service(service: ServiceFn, effect: InvokeEffect, *, name: str, machine: str, instance: str) -> Event:
    """Call ``service`` (registered as ``name``) once with the invoke's data and turn the outcome into
    the event for the invoker."""
    invokeid = effect.invokeid
    task = Task(f"{machine}/{instance}#{invokeid}", machine, instance, invokeid, dict(effect.data), 1)
    try:
        result = service(task)
        if inspect.isawaitable(result):
            result = _run(result)
    except Exception as exc:
        return invoke_result(invokeid, failed(exc), service=name, attempts=1)
    return invoke_result(invokeid, Attempt(True, result), service=name, attempts=1)


def _run(awaitable: Awaitable[Any]) -> Any:
    async def wrapper() -> Any:
        return await awaitable

    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(wrapper())
    finally:
        loop.close()
