"""Running one attempt of a task: the service call, its timeout, its heartbeat, and what comes of it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from interlock.errors import ConflictError
from interlock.runtime.registry import Service
from interlock.runtime.retry import RetryPolicy
from interlock.storage.codec import NotStorable, canonical
from interlock.storage.store import TaskRow


class TaskLostError(ConflictError):
    """The task's lease was lost (it was cancelled, or another worker took it over after a timeout)."""


@dataclass
class Task:
    """What a service receives: its input and where it stands.

    ``key`` is stable across attempts (``<machine>/<id>#<step>.<index>``): pass it to external systems
    as an idempotency key, since an attempt may run more than once.
    """

    key: str
    machine: str
    instance: str
    invokeid: str
    input: Any
    attempt: int
    _beat: Callable[[], bool] = field(repr=False, default=lambda: True)

    def heartbeat(self) -> None:
        """Tell the runtime this attempt is alive (extends its lease); raises if the lease was lost."""
        if not self._beat():
            raise TaskLostError(f"task {self.key} lost its lease (cancelled or taken over); stop working")


@dataclass(frozen=True, slots=True)
class Attempt:
    """The result of one attempt: ``ok`` with a JSON ``value``, or an ``error`` message and its ``kind``
    (the exception's class name). Both runtimes turn it into the invoker's event the same way
    (:func:`~interlock.runtime.services.invoke_result`)."""

    ok: bool
    value: Any = None
    error: str = ""
    kind: str = ""


def run_attempt(service: Service, row: TaskRow, beat: Callable[[], bool]) -> Attempt:
    """Call the service once, within the policy's timeout; never raises."""
    task = Task(row.key, row.machine, row.id, row.invokeid, row.input, row.attempt, beat)
    policy = RetryPolicy.from_json(row.policy)
    try:
        if service.is_async:
            def call(task: Task) -> Any:
                return asyncio.run(_async_call(service, task, policy.timeout))

            # run_until_idle() called from async code: this thread's loop is busy running the caller
            value = _run_on_thread(call, task, None) if _loop_running() else call(task)
        elif policy.timeout is None:
            value = service.fn(task)
        else:
            value = _run_on_thread(service.fn, task, policy.timeout)
    except TimeoutError:
        return Attempt(False, error=f"attempt {row.attempt} timed out after {policy.timeout}s",
                       kind="TimeoutError")
    except Exception as exc:
        return failed(exc)
    try:
        value = canonical(value)  # what the chart sees is what the store keeps
    except NotStorable as exc:
        return Attempt(False, error=f"service {service.name!r} returned a value that is not JSON: {exc}",
                       kind="TypeError")
    return Attempt(True, value)


def failed(exc: BaseException) -> Attempt:
    """An attempt that raised: its message (the exception's class when it has none) and class name."""
    return Attempt(False, error=str(exc) or type(exc).__name__, kind=type(exc).__name__)


async def _async_call(service: Service, task: Task, timeout: float | None) -> Any:
    return await asyncio.wait_for(service.fn(task), timeout)


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _run_on_thread(fn: Callable[[Task], Any], task: Task, timeout: float | None) -> Any:
    """Run a service on its own thread; stop waiting after ``timeout`` seconds if one is given (the
    thread is abandoned: Python cannot kill it, so services should check ``heartbeat()`` to notice)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn(task)
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name=f"interlock-task-{task.key}", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError
    if "error" in box:
        raise box["error"]
    return box["value"]
