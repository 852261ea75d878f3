"""Write commands: each runs as ``fn(unit)`` in the writer's transaction (see writer.py)."""

from __future__ import annotations

import random
from typing import Any

from interlock.auth.policy import Access
from interlock.errors import ConflictError, NotFoundError
from interlock.runtime import apply
from interlock.runtime.basichttp import BASICHTTP_SERVICE, communication_error
from interlock.runtime.dispatch import deliver, report_cancelled
from interlock.runtime.retry import RetryPolicy
from interlock.runtime.services import invoke_result
from interlock.runtime.tasks import Attempt
from interlock.runtime.unit import Unit
from interlock.storage.store import InstanceRow, TaskRow


def existing(unit: Unit, machine: str, id: str) -> InstanceRow:
    row = unit.row(machine, id)
    if row is None:
        raise NotFoundError(f"no instance {id!r} of machine {machine!r}")
    return row


def controlled(unit: Unit, machine: str, id: str, operation: str, caller: dict[str, Any] | None) -> InstanceRow:
    """The instance, if the control rule of its machine version lets ``caller`` (None: trusted) do
    ``operation`` (pause, resume, cancel) to it as it is; :class:`ForbiddenError` otherwise. A process
    without the instance's version cannot decide: NotFoundError (the server loads the version first)."""
    row = existing(unit, machine, id)
    if caller is None:
        return row
    chart = unit.registry.chart(machine, row.version)
    if chart.policy is None:
        return row
    configuration = tuple(row.snapshot["configuration"])
    refusal = chart.policy.decide(Access(operation, caller, id, configuration, chart.leaves(configuration),
                                         row.snapshot["context"], now=unit.now), machine)
    if refusal is not None:
        raise refusal.error()
    return row


def pause(unit: Unit, machine: str, id: str, caller: dict[str, Any] | None = None) -> InstanceRow:
    row = controlled(unit, machine, id, "pause", caller)
    if row.status != "active":
        raise ConflictError(f"instance {machine}/{id} is {row.status}; only active instances can be paused")
    if not row.paused:
        row.paused = True
        unit.save(row)
    return row


def resume(unit: Unit, machine: str, id: str, caller: dict[str, Any] | None = None) -> InstanceRow:
    row = controlled(unit, machine, id, "resume", caller)
    if row.paused:
        row.paused = False
        unit.save(row)
        unit.mark((machine, id))
        apply.settle(unit)
    return existing(unit, machine, id)


def cancel(unit: Unit, machine: str, id: str, caller: dict[str, Any] | None = None) -> InstanceRow:
    """End an instance. A child instance's parent learns of it as ``error.invoke.<invokeid>`` (its
    invocation failed), which it applies before this returns unless it is paused or busy."""
    row = controlled(unit, machine, id, "cancel", caller)
    if row.status != "active":
        raise ConflictError(f"instance {machine}/{id} is already {row.status}; only active instances "
                            "can be cancelled")
    apply.cancel(unit, row, "cancelled by a caller")
    report_cancelled(unit, row)
    apply.settle(unit)
    return row


def drain_ready(unit: Unit, limit: int) -> int:
    """Apply waiting events of instances that are ready (inbox not empty, not paused) and that this
    process can step."""
    before = unit.budget
    for key in unit.tx.ready_instances(limit, unit.registry.versions()):
        unit.mark(key)
    apply.settle(unit)
    return before - unit.budget


def claim(unit: Unit, *, owner: str, services: list[str], limit: int,
          rng: random.Random) -> list[TaskRow]:
    """Lease tasks to run; a task whose last attempt's lease ran out fails here instead of running again."""
    claimed = unit.tx.claim_tasks(unit.now, owner=owner, services=services, limit=limit,
                                  lease_of=RetryPolicy.lease_of)
    unit.tasks_claimed([task.key for task in claimed])
    runnable = []
    for task in claimed:
        policy = RetryPolicy.from_json(task.policy)
        if task.attempt > policy.attempts:
            lost = Attempt(False, error=f"the worker running attempt {task.attempt - 1} stopped "
                                        "(its lease expired)", kind="TaskLostError")
            _final(unit, task, lost, task.attempt - 1)
        else:
            runnable.append(task)
    apply.settle(unit)
    return runnable


def complete(unit: Unit, task: TaskRow, owner: str, result: Attempt, rng: random.Random) -> str:
    """Record an attempt's result: deliver it, or schedule the retry. Stale results are dropped."""
    policy = RetryPolicy.from_json(task.policy)
    if not result.ok and task.attempt < policy.attempts:
        if unit.tx.owned_task(task.key, owner, task.attempt) is None:
            return "stale"  # cancelled, or taken over after our lease expired
        unit.tx.retry_task(task.key, unit.now + policy.delay(task.attempt, rng), result.error)
        unit.woke(unit.now)
        return "retry"
    # final: one statement removes the task if this attempt still holds it (a check, then a delete,
    # was two on every step of every workflow)
    if not unit.tx.remove_owned_task(task.key, owner, task.attempt):
        return "stale"  # cancelled, or taken over after our lease expired
    _deliver_outcome(unit, task, result, task.attempt)
    apply.settle(unit)
    return "done" if result.ok else "failed"


def _final(unit: Unit, task: TaskRow, result: Attempt, attempts: int) -> None:
    unit.tx.remove_task(task.key)
    _deliver_outcome(unit, task, result, attempts)


def _deliver_outcome(unit: Unit, task: TaskRow, result: Attempt, attempts: int) -> None:
    if task.service == BASICHTTP_SERVICE:  # a send has no reply: only its failure is news
        if not result.ok:
            message = f"{result.error} (after {attempts} attempt{'s' if attempts > 1 else ''})"
            deliver(unit, task.machine, task.id, communication_error(task.key, task.input, message),
                    cause=task.key)
        return
    event = invoke_result(task.invokeid, result, service=task.service, attempts=attempts)
    apply.deliver_result(unit, task.machine, task.id, event, cause=task.key)


def heartbeat(unit: Unit, task: TaskRow, owner: str) -> bool:
    """Extend the lease by what a claim grants (twice the heartbeat interval; see RetryPolicy.lease_seconds)."""
    return unit.tx.extend_lease(task.key, owner, task.attempt, unit.now + RetryPolicy.lease_of(task.policy))


def round_of_work(unit: Unit, *, owner: str, services: list[str], limit: int, timers: int,
                  rng: random.Random) -> tuple[int, list[TaskRow]]:
    """One worker round in one transaction: fire due timers, apply waiting events, claim tasks."""
    done = apply.fire_timers(unit, timers)
    done += drain_ready(unit, timers)
    tasks = claim(unit, owner=owner, services=services, limit=limit, rng=rng) if services and limit else []
    return done, tasks
