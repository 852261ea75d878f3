"""Applying events to instances, one step of the core each, inside a write transaction.

A step's new snapshot, its history record and everything its effects put in the database (inbox events,
timers, tasks, child instances) are written in the same transaction, so a transition is never lost,
applied twice or half-applied.
"""

from __future__ import annotations

import json
import logging
from typing import Any, NamedTuple

from interlock.auth.policy import Access, Refusal
from interlock.core.events import Event
from interlock.core.snapshot import Snapshot
from interlock.core.step import start, step
from interlock.errors import (
    ConflictError,
    EventRejectedError,
    InstanceBusyError,
    NotFoundError,
    StorageError,
)
from interlock.runtime.addresses import session_id
from interlock.runtime.dispatch import deliver, dispatch, reach_of
from interlock.runtime.rule_versions import version_refusal
from interlock.runtime.step_errors import describe
from interlock.runtime.unit import Isolate, Unit
from interlock.storage.codec import (
    NotStorable,
    check_exact,
    dumps,
    encode_exact,
    loads,
    sorted_text,
)
from interlock.storage.store import HistoryRow, InstanceRow, StaleRowError

log = logging.getLogger("interlock.runtime")
# A snapshot is read and written on every step: one that grows without bound (a document doubling a list
# in a loop) would slow every step of its instance and bloat the database. The step that crosses it fails.
MAX_SNAPSHOT_CHARS = 4 * 1024 * 1024
Parent = tuple[str, str, str]  # machine, id, invokeid


class Applied(NamedTuple):
    """What one event came to: ``outcome`` (started, applied, ignored, failed, refused) and the ``step``
    recording it; ``refusal`` says why the machine's authorize rules refused it."""

    outcome: str
    step: int
    refusal: Refusal | None = None


class Answer(NamedTuple):
    """A caller's event: its ``outcome`` (or ``queued``, or ``refused`` by the machine's rules, with the
    ``refusal``), its ``step`` (None while queued or refused unrecorded), and whether it was a
    ``duplicate`` of an idempotency key already seen."""

    outcome: str
    step: int | None
    duplicate: bool
    refusal: Refusal | None = None


def create(unit: Unit, machine: str, id: str, *, input: dict[str, Any] | None = None,
           version: str | None = None, parent: Parent | None = None,
           caller: dict[str, Any] | None = None, idempotency_key: str | None = None) -> InstanceRow | Refusal:
    """Start a new instance: run the chart's initial macrostep and record it as step 0. With a ``caller``,
    the chart's create rule decides on the instance the start made; a refusal writes nothing. With an
    ``idempotency_key``, step 0 records it, and a create of an existing instance with the key that created
    it is a retry of that create: it returns the instance as it is now and changes nothing."""
    chart = unit.registry.chart(machine, version)
    existing = unit.row(machine, id)
    if existing is not None:
        if idempotency_key is not None and _created_with(unit, machine, id, idempotency_key):
            return existing
        retry = "" if idempotency_key is None else (
            f" (not by a create with idempotency key {shown_key(idempotency_key)!r}, so this is no retry of it)")
        raise ConflictError(f"instance {id!r} of machine {machine!r} already exists{retry}; choose another "
                            "id, or send the existing instance events")
    if caller is not None:  # the newest version's rules are the caller's, at whichever version it names
        left = version_refusal(unit, machine, chart, caller)
        if left is not None:
            return left
    result = unit.watchdog.run(f"the start of {machine}/{id}", lambda: start(
        chart, sessionid=session_id(machine, id), data=input, now=unit.now, reachable=unit.registry.no_children))
    snap = result.snapshot
    if caller is not None and chart.policy is not None:
        configuration = snap.configuration
        refusal: Refusal | None = chart.policy.decide(Access(
            "create", caller, id, configuration, chart.leaves(configuration), snap.context, now=unit.now), machine)
        if refusal is not None:
            return refusal
    parent_machine, parent_id, parent_invokeid = parent or (None, None, None)
    row = InstanceRow(machine, id, chart.version, "active", False, 0, 0, {}, parent_machine,
                      parent_id, parent_invokeid, created_at=unit.now, updated_at=unit.now)
    # encoded (and checked) once, before the insert: the row goes in as step 0 leaves it, so _finish
    # neither encodes it again nor writes it again unless the step's effects changed it
    snap = _store_snapshot(row, snap, 0, {"set": snap.context}, [])
    try:
        unit.tx.insert_instance(row)
    except NotStorable as exc:
        raise _not_json(machine, id, 0, exc) from exc
    unit.add(row, snap)
    effects = _dispatch(unit, row, 0, result.effects)
    _finish(unit, row, snap, snap, "started", None, idempotency_key, None, effects, errors=result.errors)
    return row


def stored_key(sub: str | None, key: str) -> str:
    """An idempotency key as stored: a restrained caller's as ``["<sub>","<key>"]``, so its keys are its
    own; trusted code's and admins' (``sub`` None) as given, unless it starts with ``[``: then as
    ``[null,"<key>"]``, so that no key of theirs (a webhook's, mapped from a body another system wrote)
    is ever a caller's stored key, and a caller's retry never meets their request (or theirs its)."""
    if sub is None and not key.startswith("["):
        return key
    return json.dumps([sub, key], separators=(",", ":"))


def shown_key(key: str) -> str:
    """An idempotency key as its caller gave it (see :func:`stored_key`), which a message should show
    rather than the stored form."""
    if key.startswith("["):
        try:
            sub_and_key = json.loads(key)
        except ValueError:
            return key
        if isinstance(sub_and_key, list) and len(sub_and_key) == 2 and isinstance(sub_and_key[1], str):
            return sub_and_key[1]
    return key


def legacy_key(key: str) -> str | None:
    """The form an admin's or trusted code's key starting with ``[`` was stored in before such keys were
    stored as ``[null,"<key>"]`` (the key as given), for the lookup of a retry of a request made before:
    else it would be applied twice. None for any other key, and for one shaped like a restrained caller's
    stored key (``["<sub>","<key>"]``), which is that caller's.

    ``[null,"[x"]`` -> ``"[x"``; ``[null,"[\"key:1\",\"k\"]"]`` -> None; ``"k"`` -> None"""
    if not key.startswith("[null,"):
        return None
    try:
        given = json.loads(key)[1]
    except (ValueError, IndexError, TypeError):
        return None
    if not isinstance(given, str) or not given.startswith("["):
        return None
    try:
        shaped = json.loads(given)
    except ValueError:
        return given
    if isinstance(shaped, list) and len(shaped) == 2 and all(isinstance(part, str) for part in shaped):
        return None
    return given


def _history_by_key(unit: Unit, machine: str, id: str, key: str) -> HistoryRow | None:
    seen = unit.tx.history_by_key(machine, id, key)
    legacy = legacy_key(key) if seen is None else None
    return seen if legacy is None else unit.tx.history_by_key(machine, id, legacy)


def _created_with(unit: Unit, machine: str, id: str, key: str) -> bool:
    """Whether ``key`` is the idempotency key of the instance's create (its step 0); a send's key is not."""
    seen = _history_by_key(unit, machine, id, key)
    return seen is not None and seen.step == 0 and seen.outcome == "started"


def send(unit: Unit, machine: str, id: str, event: Event, *, idempotency_key: str | None = None,
         reject_unhandled: bool = False, caller: dict[str, Any] | None = None,
         queue_limit: int | None = None) -> Answer:
    """An event from a caller, answered once the instance has settled. With a ``caller`` (None: trusted
    code), the machine's send rule decides against the state the event meets: now, or when a queued event
    is taken from the inbox (it keeps its caller). Refused now, nothing is written."""
    row = unit.row(machine, id)
    if row is None:
        if not unit.registry.has_chart(machine):
            raise NotFoundError(f"no instance {id!r} of machine {machine!r}, and no machine {machine!r} is "
                                "registered in this process (a typo?)")
        raise NotFoundError(f"no instance {id!r} of machine {machine!r}; create it first")
    if idempotency_key is not None:
        seen = _history_by_key(unit, machine, id, idempotency_key)
        if seen is not None:
            if seen.step == 0 and seen.outcome == "started":
                raise ConflictError(
                    f"idempotency key {shown_key(idempotency_key)!r} of {machine}/{id} was already used for the create of "
                    f"the instance, not for this {event.name!r}; nothing was changed. Use a new key for a new request")
            _same_request(machine, id, idempotency_key, seen.event, event)
            if seen.outcome == "refused":  # recorded by _refuse as "reason: message (detail)"
                reason = (seen.error or "rule.refused").partition(": ")[0]
                return Answer(seen.outcome, seen.step, True, Refusal(reason, (
                    f"the event with idempotency key {shown_key(idempotency_key)!r} was refused by the authorize "
                    f"rules of machine {machine!r} when its turn came (step {seen.step} of {machine}/{id})")))
            return Answer(seen.outcome, seen.step, True)
        legacy = legacy_key(idempotency_key)
        waiting = unit.tx.inbox_by_key(machine, id, idempotency_key) or (
            None if legacy is None else unit.tx.inbox_by_key(machine, id, legacy))
        if waiting is not None:
            _same_request(machine, id, idempotency_key, waiting.event, event)
            return Answer("queued", None, True)
    if row.queued or (row.paused and row.status == "active"):
        # behind other events (or paused): keep arrival order by going through the inbox. An instance
        # that has ended records the event as ignored at once, paused or not (after any still queued).
        if queue_limit is not None and row.queued >= queue_limit:
            raise InstanceBusyError(
                f"{machine}/{id} has {row.queued:,} events waiting, as many as it may hold "
                f"({'it is paused' if row.paused else 'it is applying them'}); nothing was queued: send again "
                "once it has applied some")
        stored = event.to_json()
        if caller is not None:
            stored["caller"] = caller
        seq = unit.enqueue(row, stored, idempotency_key=idempotency_key)
        unit.mark((machine, id))
        settle(unit)
        taken = unit.outcomes.get(seq)
        return (Answer("queued", None, False) if taken is None
                else Answer(taken.outcome, taken.step, False, taken.refusal))
    if caller is not None:
        refusal = refused(unit, row, event, caller)
        if refusal is not None:
            return Answer("refused", None, False, refusal)
    applied = apply_event(unit, row, event, idempotency_key=idempotency_key, reject_unhandled=reject_unhandled)
    settle(unit)
    return Answer(applied.outcome, applied.step, False)


def refused(unit: Unit, row: InstanceRow, event: Event, caller: dict[str, Any]) -> Refusal | None:
    """Why the send rule of the instance's machine version refuses ``caller``'s ``event`` now (None: allowed,
    or the machine has no rules). A process without the instance's version cannot decide: NotFoundError
    (the server loads the version and sends again). :func:`settle` leaves an active instance's events for a
    process that has it, and records an ended instance's as ignored without asking (they change nothing)."""
    chart = unit.registry.chart(row.machine, row.version)
    if chart.policy is None:
        return None
    configuration = tuple(row.snapshot["configuration"])
    access = Access("send", caller, row.id, configuration, chart.leaves(configuration),
                    row.snapshot["context"], event, unit.now)
    result: Refusal | None = chart.policy.decide(access, row.machine)
    return result


def _same_request(machine: str, id: str, key: str, recorded: dict[str, Any] | None, event: Event) -> None:
    """A key names one request: reusing it for another event is a client's bug, not a duplicate."""
    # compared as stored (1, 1.0 and True are equal in Python, not in JSON), keys in any order
    if recorded is None or (recorded.get("name") == event.name
                            and sorted_text(recorded.get("data")) == sorted_text(event.data)):
        return
    before = recorded.get("name")
    differs = f"with other data than this {event.name!r}" if before == event.name else (
        f"not for this {event.name!r}")
    raise ConflictError(
        f"idempotency key {shown_key(key)!r} of {machine}/{id} was already used for event {before!r}, {differs}; "
        "nothing was changed. A retry must send the same event; use a new key for a new request")


def apply_event(unit: Unit, row: InstanceRow, event: Event, *, idempotency_key: str | None = None,
                cause: str | None = None, reject_unhandled: bool = False) -> Applied:
    """One step of the core for one event, with everything it produced."""
    if row.status != "active":
        if reject_unhandled:
            raise EventRejectedError(f"instance {row.machine}/{row.id} is {row.status}; it accepts no events")
        snap = unit.snapshot(row)
        return _finish(unit, row, snap, snap, "ignored", event, idempotency_key, cause, [])
    chart = unit.registry.chart(row.machine, row.version)
    snap = unit.snapshot(row)
    try:
        reach = reach_of(unit, chart, row, snap.invocations)
        result = unit.watchdog.run(f"the step of {row.machine}/{row.id} on event {event.name!r}",
                                   lambda: step(chart, snap, event, now=unit.now, reachable=reach))
    except KeyError:
        unknown = [s for s in snap.configuration if s not in chart.states]
        if not unknown:
            raise
        raise ConflictError(
            f"{row.machine}/{row.id} is in states {unknown} that machine {row.machine!r} version "
            f"{row.version!r} registered here does not have: the chart was changed without a new version. "
            "Register the definition the instance was created with (or a new version for new instances)"
        ) from None
    if reject_unhandled and not result.transitions:
        raise EventRejectedError(
            f"event {event.name!r} is not accepted by {row.machine}/{row.id} in state "
            f"{list(snap.configuration[1:])}; nothing was changed")
    outcome = "applied" if result.transitions else "ignored"
    effects = _dispatch(unit, row, row.step + 1, result.effects)
    return _finish(unit, row, snap, result.snapshot, outcome, event, idempotency_key, cause, effects,
                   errors=result.errors)


def _dispatch(unit: Unit, row: InstanceRow, number: int, effects: Any) -> list[dict[str, Any]]:
    """:func:`dispatch`, with a sent event that cannot be stored reported as this step's failure."""
    if not unit.children[1]:  # a step of its own, not the start of a child inside another step
        unit.children[0] = 0
    try:
        return dispatch(unit, row, number, effects)
    except NotStorable as exc:
        raise _not_json(row.machine, row.id, number, exc) from exc


def _finish(unit: Unit, row: InstanceRow, old: Any, new: Any, outcome: str, event: Event | None,
            key: str | None, cause: str | None, effects: list[dict[str, Any]], *,
            errors: tuple[dict[str, Any], ...] = ()) -> Applied:
    started = outcome == "started"
    number = 0 if started else row.step + 1
    error = describe(errors, event) if errors else None
    if error is not None:
        log.warning("step %d of %s/%s (%s%s) raised errors:\n%s", number, row.machine, row.id, outcome,
                    "" if event is None else f" {event.name!r}", error)
    change = {"set": new.context} if started else context_change(old.context, new.context)
    if new is not old:
        new = _store_snapshot(row, new, number, change, effects)
    elif started and effects:  # create encoded the snapshot before inserting it: only the effects
        _check_effects(row, number, effects)
    if new.status == "done" and row.status == "active":
        row.status = "done"
        unit.tx.cancel_timers(row.machine, row.id, None)
    row.step = number
    if not started or (row.status, row.paused, row.queued) != row.stored:
        unit.save(row)  # a new instance that its step 0 left as inserted is not written twice
    unit.remember(row, new)
    if started:
        _index(unit, row, None, new.configuration)
    elif new.configuration != old.configuration:
        _index(unit, row, old.configuration, new.configuration)
    unit.tx.append_history(HistoryRow(
        row.machine, row.id, number, unit.now, outcome, None if event is None else event.to_json(), key,
        cause, list(old.configuration) if not started else [], list(new.configuration), change, effects,
        error))
    return Applied(outcome, number)


def _store_snapshot(row: InstanceRow, new: Snapshot, number: int, change: dict[str, Any],
                    effects: list[dict[str, Any]]) -> Snapshot:
    """Encode the step's snapshot onto the row (checked here, so a step whose values cannot be stored
    fails alone) and return the snapshot as the store will give it back."""
    try:
        exact = check_exact(change)
        exact = (new.output is None or check_exact(new.output)) and exact
        if effects:
            encode_exact(effects)  # refused here, with the step named, not when the history is written
        data = new.to_json()
        text = dumps(data)
    except NotStorable as exc:
        raise _not_json(row.machine, row.id, number, exc) from exc
    if len(text) > MAX_SNAPSHOT_CHARS:
        raise StorageError(
            f"step {number} of {row.machine}/{row.id} would store a snapshot of {len(text):,} characters, "
            f"more than the limit of {MAX_SNAPSHOT_CHARS:,}; nothing was changed. Keep large data "
            "outside the instance (store a reference in the context)")
    if not exact:  # tuples or non-string keys: keep what a restart would read, not what the step made
        data = loads(text)
        new = Snapshot.from_json(data)
    row.snapshot, row.snapshot_json = data, text
    return new


def _check_effects(row: InstanceRow, number: int, effects: list[dict[str, Any]]) -> None:
    """Refuse effects that cannot be stored here, with the step named, not when the history is written."""
    try:
        encode_exact(effects)
    except NotStorable as exc:
        raise _not_json(row.machine, row.id, number, exc) from exc


def _index(unit: Unit, row: InstanceRow, before: tuple[str, ...] | None,
           configuration: tuple[str, ...]) -> None:
    """Move the state/tag index from ``before`` (None: a new instance, nothing stored) to now. The chart
    of the row ran this step, so the tags of both configurations are known."""
    tags = unit.registry.tags(row.machine, row.version, configuration)
    old = ((), ()) if before is None else (before, unit.registry.tags(row.machine, row.version, before))
    unit.tx.set_index(row.machine, row.id, configuration, tags, before=old)


def context_change(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The top-level difference of two contexts: ``{"set": {...}, "unset": [...]}`` (empty if equal)."""
    if old is new:
        return {}
    changed = {k: v for k, v in new.items() if k not in old or old[k] != v}
    removed = [k for k in old if k not in new]
    out: dict[str, Any] = {}
    if changed:
        out["set"] = changed
    if removed:
        out["unset"] = removed
    return out


def settle(unit: Unit) -> None:
    """Apply queued events of the instances this unit touched, in inbox order, within its budget."""
    while True:
        if unit.budget <= 0:  # out of budget: the worker applies the rest, now
            unit.woke(unit.now)
            return
        key = unit.next_pending()
        if key is None:
            return
        row = unit.row(*key)
        while row is not None and row.queued > 0 and not row.paused and unit.budget > 0:
            known = unit.registry.has_version(row.machine, row.version)
            if row.status == "active" and not known:
                break  # this process lacks the version: the events wait for a process that has it
            queued = unit.take_event(row)
            if queued is None:  # the counter drifted (should not happen): the store set it from the inbox
                break
            unit.budget -= 1
            event = Event.from_json(queued.event)
            caller = queued.event.get("caller")
            # an ended instance's events are only recorded as ignored (by any process): nothing to decide
            if caller is not None and known and (refusal := refused(unit, row, event, caller)) is not None:
                result = _refuse(unit, row, event, queued.idempotency_key, refusal)
            else:
                result = _apply_one(unit, key, row, event, queued.idempotency_key, queued.cause)
            unit.outcomes[queued.seq] = result
            row = unit.row(*key)


def _apply_one(unit: Unit, key: tuple[str, str], row: InstanceRow, event: Event, idempotency_key: str | None,
               cause: str | None) -> Applied:
    """One event taken for an instance: on the fast path a failure sends the whole batch back (isolated);
    isolated, a failing event is recorded as failed so a poison event cannot block the instance."""
    if not unit.isolate:
        try:
            return apply_event(unit, row, event, idempotency_key=idempotency_key, cause=cause)
        except StaleRowError:
            raise
        except Exception as exc:
            raise Isolate(f"step of {key[0]}/{key[1]} failed") from exc
    try:
        with unit.tx.savepoint():
            return apply_event(unit, row, event, idempotency_key=idempotency_key, cause=cause)
    except StaleRowError:  # another writer: the whole transaction runs again
        raise
    except Exception as exc:
        unit.forget()
        fresh = unit.row(*key)
        assert fresh is not None
        return _fail(unit, fresh, event, idempotency_key, cause, exc)


def deliver_result(unit: Unit, machine: str, id: str, event: Event, *, cause: str) -> bool:
    """A task's result for its instance: applied at once when nothing waits before it in the inbox (what
    :func:`settle` would do next), so it is never written to the inbox and deleted again in the same
    transaction; otherwise queued behind the others (:func:`deliver`). False: no such instance."""
    row = unit.row(machine, id)
    if row is None:
        return False
    if (row.queued or row.paused or row.status != "active" or unit.budget <= 0
            or not unit.registry.has_version(row.machine, row.version)):
        return deliver(unit, machine, id, event, cause=cause)
    unit.budget -= 1
    _apply_one(unit, (machine, id), row, event, None, cause)
    return True


def _refuse(unit: Unit, row: InstanceRow, event: Event, key: str | None, refusal: Refusal) -> Applied:
    """Record a queued event its machine's rules refused when its turn came: it is consumed, nothing
    else changes, and the history says why (outcome ``refused``)."""
    number = row.step + 1
    row.step = number
    unit.save(row)
    config = list(row.snapshot["configuration"])
    unit.tx.append_history(HistoryRow(row.machine, row.id, number, unit.now, "refused", event.to_json(), key,
                                      None, config, config, {}, [],
                                      f"{refusal.reason}: {refusal.message} ({refusal.detail})"))
    return Applied("refused", number, refusal)


def _fail(unit: Unit, row: InstanceRow, event: Event, key: str | None, cause: str | None,
          exc: Exception) -> Applied:
    """Record an event whose step raised (a value that cannot be stored, a runaway chart): it is consumed,
    and the instance gets ``error.execution`` after the events already queued, so a chart waiting for it
    (a task's result, a child's done event) can react. A failing ``error.*`` event raises nothing more."""
    log.error("step of %s/%s failed on %r: %s", row.machine, row.id, event.name, exc)
    number = row.step + 1
    row.step = number
    unit.save(row)
    config = list(row.snapshot["configuration"])
    error = f"{type(exc).__name__}: {exc}"
    unit.tx.append_history(HistoryRow(row.machine, row.id, number, unit.now, "failed", event.to_json(), key,
                                      cause, config, config, {}, [], error))
    if row.status == "active" and not event.name.startswith("error."):
        notice = Event("error.execution", {"message": f"the step of event {event.name!r} failed and was "
                                           f"not applied: {error}", "event": event.name, "step": number},
                       "platform")
        deliver(unit, row.machine, row.id, notice, cause=f"{row.machine}/{row.id}#{number}")
    return Applied("failed", number)


def _not_json(machine: str, id: str, number: int, exc: Exception) -> StorageError:
    return StorageError(
        f"step {number} of {machine}/{id} produced a value that cannot be stored ({exc}); nothing was "
        "changed. Keep only dicts, lists, strings, finite numbers, booleans and None in the context, "
        "output and sent events")


def cancel(unit: Unit, row: InstanceRow, reason: str) -> None:
    """Stop an instance and everything it started: inbox, timers, tasks and child instances."""
    if row.status != "active":
        return
    tx = unit.tx
    unit.clear_inbox(row)
    row.paused = False  # nothing is left to resume: later events are recorded as ignored at once
    tx.cancel_timers(row.machine, row.id, None)
    tx.cancel_tasks(row.machine, row.id, None)
    for child in tx.children(row.machine, row.id):
        cached = unit.row(child.machine, child.id)
        if cached is not None:
            cancel(unit, cached, f"its parent {row.machine}/{row.id} was cancelled")
    row.status = "cancelled"
    row.step += 1
    unit.save(row)
    config = list(row.snapshot["configuration"])
    tx.append_history(HistoryRow(row.machine, row.id, row.step, unit.now, "cancelled", None, None, None,
                                 config, config, {}, [], reason))


def fire_timers(unit: Unit, limit: int) -> int:
    """Deliver the timers due now; each is deleted in the transaction that delivers its event."""
    from interlock.runtime.dispatch import send_now

    due = unit.tx.take_due_timers(unit.now, limit)  # only the rows this transaction deleted
    for timer in due:
        owner = unit.row(timer.machine, timer.id)
        if owner is not None:
            send_now(unit, owner, Event.from_json(timer.event), timer.target, cause=timer.key,
                     sendid=timer.sendid)
    settle(unit)
    return len(due)
