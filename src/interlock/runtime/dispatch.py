"""Turning a step's effects into rows of the same transaction (the transactional outbox).

What each effect means is decided once, for both runtimes, by the effect interpreter
(runtime/interpret.py); this module is its durable host (:class:`StoreHost`): what the interpreter
delivers goes to an instance's inbox, delayed sends become timers, invoked machines become child
instances, all atomically with the step. Invoked services become tasks that workers run after the
commit, at least once, under the effect's key ``<machine>/<id>#<step>.<index>``.

Events an invocation sends its invoker (a task's result, a child's events to its parent and its done
event) carry the invoke id (``Event.invokeid``). When the invocation is cancelled (its state is exited)
it sends nothing more; what it sent before stays queued and is applied (a finished child's done event
arrives after its state was left, W3C test 236, as in the in-memory runner) until a new invocation
takes the same id (the state entered again): then the old one's queued events are dropped, so the new
invocation never sees them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from interlock.auth.policy import Refusal
from interlock.core.chart import Chart
from interlock.core.effects import Effect, InvokeEffect, LogEffect, SendEffect
from interlock.core.events import Event
from interlock.core.execute import BASICHTTP_PROCESSOR
from interlock.core.reach import Reach
from interlock.runtime.addresses import SESSION_IDS, session_id, split_session
from interlock.runtime.basichttp import BASICHTTP_SERVICE, communication_error
from interlock.runtime.callers import caller_toward, instance_caller, invoke_refusal
from interlock.runtime.children import MAX_INVOKE_DEPTH, refusal
from interlock.runtime.interpret import INVOKE_ERROR, carry_out, classify, invoke_failed, resolve
from interlock.runtime.interpret import send_now as interpret_send
from interlock.runtime.machines import SCXML_TYPES, inline_name
from interlock.runtime.unit import Isolate, Unit
from interlock.storage.codec import NotStorable, encode_exact
from interlock.storage.store import InstanceRow, StaleRowError, TaskRow, TimerRow

log = logging.getLogger("interlock.chart")
Key = tuple[str, str]  # (machine, id): how the store host names an instance


def effect_key(row: InstanceRow, number: int, index: int) -> str:
    """The stable idempotency key of an effect: instance, step, index."""
    return f"{row.machine}/{row.id}#{number}.{index}"


# An uploaded machine's sends to other machines' instances are requests (runtime/callers.py) that the
# target's rules decide when taken from its inbox; a refused one is a step in the target's history. They
# are bounded as callers' sends are, so one machine cannot fill another's inbox or history at will
# (docs/limits.md): at most this many per step of the sender ...
MAX_REQUESTS_PER_STEP = 100
# ... and none to an instance with ``Interlock(max_queued=)`` events waiting (Registry.max_queued, a
# caller's send's limit). Beyond either, the send is undeliverable: error.communication in the sender,
# nothing queued.


class StoreHost:
    """The effect interpreter's host in a store transaction: step ``number`` of ``row`` (its sender)."""

    __slots__ = ("number", "requests", "row", "unit")

    def __init__(self, unit: Unit, row: InstanceRow, number: int) -> None:
        self.unit, self.row, self.number = unit, row, number
        self.requests = 0  # sends of this step that are requests (MAX_REQUESTS_PER_STEP)

    def key(self, sender: Key, index: int) -> str:
        return effect_key(self.row, self.number, index)

    def session_id(self, sender: Key) -> str:
        return session_id(*sender)

    def session(self, sid: str) -> Key | None:
        return split_session(sid)  # whether it exists is known when it is delivered

    def instance(self, machine: str, id: str) -> Key | None:
        return machine, id

    def parent(self, sender: Key) -> tuple[Key, str] | None:
        row = self.row
        if row.parent_machine is None or row.parent_id is None or row.parent_invokeid is None:
            return None
        return (row.parent_machine, row.parent_id), row.parent_invokeid

    def child(self, sender: Key, invokeid: str) -> Key | None:
        found = self.unit.tx.find_child(self.row.machine, self.row.id, invokeid)
        return (found.machine, found.id) if found is not None else None

    def deliver(self, to: Key, event: Event, *, cause: str | None, sendid: str | None = None) -> bool:
        # an instance that has ended receives nothing from charts: a send to it is error.communication in
        # its sender, as in memory (SCXML 6.2.4); callers' events to it are still recorded as ignored
        target = self.unit.row(*to)
        if target is None or target.status != "active":
            return False
        # an uploaded machine's event to an instance other than itself and its parent carries its
        # sender as the caller: the target's send rule decides it when it is taken from the inbox
        caller = caller_toward(self.unit, self.row, target)
        if caller is not None:
            self.requests += 1
            limit = self.unit.registry.max_queued
            if self.requests > MAX_REQUESTS_PER_STEP or (limit is not None and target.queued >= limit):
                return False
        return deliver(self.unit, to[0], to[1], event, cause=cause, sendid=sendid, caller=caller)

    def silent(self, sender: Key) -> bool:
        return False  # a cancelled instance takes no more steps

    def rules(self, sender: Key) -> str:
        return self.unit.registry.chart(self.row.machine, self.row.version).rules.name

    def schedule(self, sender: Key, effect: SendEffect, key: str) -> None:
        unit, row = self.unit, self.row
        if self._delayed_request(sender, effect):
            self.requests += 1  # when it fires it is its timer's one request: it counts in this step
            if self.requests > MAX_REQUESTS_PER_STEP:
                error = Event("error.communication", {
                    "message": f"send target {effect.target!r} is not reachable: this step already sent "
                               f"{MAX_REQUESTS_PER_STEP} events to other machines' instances (docs/limits.md)",
                    "target": effect.target, "event": effect.event.name}, "platform", effect.event.sendid)
                deliver(unit, row.machine, row.id, error, cause=key)
                return
        due = unit.now + effect.delay_ms / 1000
        unit.tx.add_timer(TimerRow(key, row.machine, row.id, effect.sendid, effect.target,
                                   effect.event.to_json(), due))
        unit.woke(due)

    def _delayed_request(self, sender: Key, effect: SendEffect) -> bool:
        """Is a delayed send of an uploaded machine's instance to ``target`` (as it resolves now) a
        request to another instance? Each fires in a step of its own timer, so without counting it here a
        step could schedule any number (one target that does not resolve yet counts too)."""
        target = effect.target
        if target is None or effect.event.origintype == BASICHTTP_PROCESSOR \
                or instance_caller(self.unit, self.row) is None:
            return False  # to itself, a Basic HTTP send (a task: docs/server.md), or trusted code's
        resolved = resolve(self, sender, target)
        if resolved is None:
            return True
        parent = self.parent(sender)
        return resolved[0] != sender and (parent is None or resolved[0] != parent[0])

    def cancel_send(self, sender: Key, sendid: str) -> None:
        self.unit.tx.cancel_timers(self.row.machine, self.row.id, sendid)
        # fired but not applied yet (the instance was busy or paused)
        self.unit.remove_events_by_sendid(self.row, sendid)

    def post(self, sender: Key, event: Event, target: str, cause: str) -> None:
        _post(self.unit, self.row, event, target, cause)

    def forget_invocation(self, sender: Key, invokeid: str) -> None:
        _forget_old(self.unit, self.row, invokeid)

    def invoke(self, sender: Key, effect: InvokeEffect, key: str) -> None:
        _invoke(self.unit, self.row, effect, key)

    def cancel_invoke(self, sender: Key, invokeid: str) -> None:
        _cancel_invoke(self.unit, self.row, invokeid)

    def log(self, sender: Key, label: str | None, value: Any) -> None:
        log.info("%s/%s %s: %r", self.row.machine, self.row.id, label or "log", value)

    def finished(self, sender: Key, output: Any) -> None:
        pass  # the step's row is marked done by apply.py; its timers go there


def dispatch(unit: Unit, row: InstanceRow, number: int, effects: Sequence[Effect]) -> list[dict[str, Any]]:
    """Carry out (or schedule) each effect of step ``number``; returns them as JSON for the history."""
    if effects:
        carry_out(StoreHost(unit, row, number), (row.machine, row.id), effects)
    return [_json(effect) for effect in effects]


def _json(effect: Effect) -> dict[str, Any]:
    if isinstance(effect, InvokeEffect):  # one per task started: built directly, as dataclasses.asdict
        content = effect.content  # deep-copies field by field (~9% of the writer's time in a workflow)
        return {"invokeid": effect.invokeid, "state": effect.state, "type": effect.type, "src": effect.src,
                "content": content if isinstance(content, str | None) else repr(content),
                "data": dict(effect.data), "autoforward": effect.autoforward, "kind": effect.kind}
    data = effect.to_json()
    if isinstance(effect, LogEffect):
        try:  # a diagnostic never fails a step: what cannot be stored is kept as its repr
            data["value"] = encode_exact(effect.value)[0]
        except NotStorable:
            data["value"] = repr(effect.value)
    return data


def deliver(unit: Unit, machine: str, id: str, event: Event, *, cause: str | None,
            sendid: str | None = None, caller: dict[str, Any] | None = None) -> bool:
    """Put an event in an instance's inbox (applied when this unit settles). False: no such instance.
    ``sendid``: the delayed send it came from, so a ``<cancel>`` finds it there too; ``caller``: who the
    instance's send rule decides it for when it is taken (None: trusted)."""
    row = unit.row(machine, id)
    if row is None:
        return False
    stored = event.to_json()
    if caller is not None:
        stored["caller"] = caller
    unit.enqueue(row, stored, cause=cause, sendid=sendid)
    unit.mark((machine, id))
    return True


def send_now(unit: Unit, row: InstanceRow, event: Event, target: str | None, *, cause: str,
             sendid: str | None = None) -> None:
    """Deliver an event a step of ``row`` sent (a timer that fired); an unknown target raises
    error.communication in ``row`` (runtime/interpret.py)."""
    interpret_send(StoreHost(unit, row, row.step), (row.machine, row.id), event, target, cause=cause,
                   sendid=sendid)


def _post(unit: Unit, row: InstanceRow, event: Event, target: str, cause: str) -> None:
    """A Basic HTTP send: a task POSTs it (runtime/basichttp.py), if this process may send there."""
    http = unit.registry.http_sends
    task = {"url": target, "event": event.to_json()}
    refused = "this process sends no HTTP events" if http is None else http.refusal(target)
    if refused is not None:
        deliver(unit, row.machine, row.id, communication_error(cause, task, refused), cause=cause)
        return
    service = unit.registry.services[BASICHTTP_SERVICE]
    unit.tx.add_task(TaskRow(cause, row.machine, row.id, "", BASICHTTP_SERVICE, task, service.policy_json),
                     unit.now)
    unit.task_added(cause)


def reach_of(unit: Unit, chart: Chart, row: InstanceRow, invocations: dict[str, tuple[str, int]]) -> Reach:
    """What a step of ``row`` knows before it runs (core/reach.py): the invoke ids of its child instances.
    Other instances are not listed: a ``#_scxml_`` id that cannot name an instance is unreachable at
    once; one that can is resolved when the send is dispatched."""
    if not invocations or _services_only(chart, invocations):  # no child to reach (and no query on
        return unit.registry.no_children  # the hot path: a workflow's every step invokes a service)
    ids = frozenset(c.parent_invokeid for c in unit.tx.children(row.machine, row.id) if c.parent_invokeid)
    return Reach(ids, SESSION_IDS, unit.registry.http_location)


def _services_only(chart: Chart, invocations: dict[str, tuple[str, int]]) -> bool:
    """Every active invocation names a service (a fixed ``service:`` src, no inline content: never a
    child instance, see ``_invoke``), so the instance has no child to look up."""
    for state, index in invocations.values():
        spec = chart.states[state].invokes[index]
        if spec.srcexpr is not None or spec.content is not None or not (spec.src or "").startswith("service:"):
            return False
    return True


def _forget_old(unit: Unit, row: InstanceRow, invokeid: str) -> None:
    """A new invocation starts under ``invokeid`` (a state entered again): drop what an earlier one sent
    that is still queued (a task's result, a child's done event or its events to its parent), in the
    table or in this transaction, so it never reaches the new invocation."""
    if row.queued:
        unit.remove_invocation_events(row, invokeid)


def _invoke(unit: Unit, row: InstanceRow, effect: InvokeEffect, key: str) -> None:
    registry = unit.registry
    if isinstance(effect.content, str) and effect.type in SCXML_TYPES:
        kind, name = "machine", inline_name(row.machine, effect.content)
        if not registry.has_chart(name):
            kind = "unknown"
    else:
        kind, name = classify(effect, registry.services, registry.has_chart)  # names: no set built
    if kind == "service":
        service = registry.services[name]
        unit.tx.add_task(TaskRow(key, row.machine, row.id, effect.invokeid, name, effect.data or {},
                                 service.policy_json), unit.now)
        unit.task_added(key)
        return
    if kind == "machine":
        _start_child(unit, row, effect, name, key)
        return
    message = (f"invoke {effect.invokeid!r} names {name!r}, which is neither a machine nor a service "
               f"registered in the process that applied this step; every process that applies steps "
               f"registers the machines and services they invoke (app.register(chart), "
               f"app.service({name!r}, fn)); worker=False only keeps a process from running tasks")
    start_failed(unit, row, effect, key, message)


def start_failed(unit: Unit, row: InstanceRow, effect: InvokeEffect, key: str, message: str) -> None:
    """An invocation of ``row`` that cannot start (runtime/interpret.py, :func:`invoke_failed`)."""
    invoke_failed(StoreHost(unit, row, row.step), (row.machine, row.id), effect, key, message)


def _start_child(unit: Unit, row: InstanceRow, effect: InvokeEffect, name: str, key: str) -> None:
    """Start a child instance in a savepoint. If its start fails (its context cannot be stored, its chart
    loops, its version is not registered here), nothing of it stays and the parent gets error.execution
    (SCXML 6.4): the parent's own step goes on. On the writer's fast path (no savepoints) the failure
    sends the batch back to run isolated, where the savepoint exists. A child that would run inside its
    own machine, too deep, or beyond the step's count is not started (runtime/children.py)."""
    machine, _, version = name.partition("@")
    refused = refusal(machine, _ancestors(unit, row), unit.children[0])
    if refused is not None:
        log.warning("invoke %r of %s/%s: %s", effect.invokeid, row.machine, row.id, refused)
        start_failed(unit, row, effect, key, f"invoke {effect.invokeid!r}: {refused}")
        return
    unit.children[0] += 1
    unit.children[1] += 1
    unit.budget -= 1  # a child's start is work of this transaction: what is left queued waits for the worker
    try:
        _create_child(unit, row, effect, machine, version, key)
    finally:
        unit.children[1] -= 1


def _ancestors(unit: Unit, row: InstanceRow) -> list[str]:
    """The machines of ``row`` and of the instances above it, nearest first (a few beyond the limit)."""
    out = [row.machine]
    current: InstanceRow | None = row
    while current is not None and current.parent_machine is not None and current.parent_id is not None:
        if len(out) > MAX_INVOKE_DEPTH:
            break
        out.append(current.parent_machine)
        current = unit.row(current.parent_machine, current.parent_id)
    return out


def _create_child(unit: Unit, row: InstanceRow, effect: InvokeEffect, machine: str, version: str,
                  key: str) -> None:
    from interlock.runtime.apply import create

    id = child_id(unit, row, machine, effect.invokeid, key)
    input = declared_input(unit, machine, version, effect.data)
    # an uploaded machine's child meets the create rule of its machine, as a caller's create would
    caller = instance_caller(unit, row)
    refused = None if caller is None else invoke_refusal(unit, machine, version, input, caller)
    if refused is not None:
        _refused_child(unit, row, effect, key, refused)
        return
    parent = (row.machine, row.id, effect.invokeid)
    if not unit.isolate:
        try:
            started = create(unit, machine, id, input=input, version=version or None, parent=parent,
                             caller=caller)
        except StaleRowError:
            raise
        except Exception as exc:
            raise Isolate(f"child {machine}/{id} of {row.machine}/{row.id} failed to start") from exc
    else:
        try:
            with unit.attempt():
                started = create(unit, machine, id, input=input, version=version or None, parent=parent,
                                 caller=caller)
        except StaleRowError:
            raise
        except Exception as exc:
            log.warning("invoke %r of %s/%s: child %s/%s failed to start: %s", effect.invokeid, row.machine,
                        row.id, machine, id, exc)
            start_failed(unit, row, effect, key, f"invoke {effect.invokeid!r}: child {machine}/{id} failed to "
                         f"start: {type(exc).__name__}: {exc}")
            return
    if isinstance(started, Refusal):  # the create rule refused it before anything was written
        _refused_child(unit, row, effect, key, started.message)


def _refused_child(unit: Unit, row: InstanceRow, effect: InvokeEffect, key: str, message: str) -> None:
    """The machine an uploaded machine invoked refused the child (its create rule): nothing was created,
    and the invocation fails in the parent (``error.invoke.<id>`` in a document)."""
    log.info("invoke %r of %s/%s refused: %s", effect.invokeid, row.machine, row.id, message)
    start_failed(unit, row, effect, key, f"invoke {effect.invokeid!r} refused: {message}")


def declared_input(unit: Unit, machine: str, version: str, data: dict[str, Any] | None) -> dict[str, Any] | None:
    """SCXML 6.4.4: params and namelist values initialize only the data the child declares at top level;
    others are ignored (W3C test 245), as in the in-memory runner."""
    if not data:
        return None
    try:
        declared = {item.id for item in unit.registry.chart(machine, version or None).root.data}
    except Exception:  # not registered here: create() says so
        return data
    return {k: v for k, v in data.items() if k in declared} or None


def child_id(unit: Unit, row: InstanceRow, machine: str, invokeid: str, key: str) -> str:
    """Children are named after their parent and invoke id (``order/42/payment``). A state entered again
    invokes again under the same id; that child gets the invoking effect's step and index as a suffix."""
    base = f"{row.machine}/{row.id}/{invokeid}"
    if unit.row(machine, base) is None:
        return base
    return f"{base}~{key.rpartition('#')[2]}"


def _cancel_invoke(unit: Unit, row: InstanceRow, invokeid: str) -> None:
    """The invoking state was exited: stop the task or child. What it sent before (a finished child's
    done event, W3C test 236) stays queued until a new invocation takes its id (:func:`_forget_old`)."""
    unit.tx.cancel_tasks(row.machine, row.id, invokeid)
    child = unit.tx.find_child(row.machine, row.id, invokeid)
    if child is not None:
        from interlock.runtime.apply import cancel

        cached = unit.row(child.machine, child.id)
        if cached is not None:
            cancel(unit, cached, f"the state that invoked it in {row.machine}/{row.id} was exited")


def report_cancelled(unit: Unit, row: InstanceRow) -> None:
    """A caller cancelled child instance ``row``: its parent's invocation failed (``error.invoke``)."""
    if row.parent_machine is None or row.parent_id is None or row.parent_invokeid is None:
        return
    invokeid = row.parent_invokeid
    data = {"message": f"the invoked instance {row.machine}/{row.id} was cancelled by a caller",
            "machine": row.machine, "id": row.id}
    event = Event(INVOKE_ERROR.format(invokeid=invokeid), data, invokeid=invokeid)
    deliver(unit, row.parent_machine, row.parent_id, event, cause=f"{row.machine}/{row.id}#{row.step}")
