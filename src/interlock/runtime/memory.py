"""An in-memory runner: sessions, their external queues, timers and invoked children, all in one process.

It drives the pure engine (:func:`~interlock.core.step.start`, :func:`~interlock.core.step.step`) and
carries out the effects each step returns through the effect interpreter the durable runtime uses too
(runtime/interpret.py), as its host in memory. Used by tests, ``interlock simulate`` and the SCXML
conformance suite.

>>> runner = MemoryRunner()                        # a virtual clock: delays take no real time
>>> session = runner.start(chart)                   # doctest: +SKIP
>>> runner.send(session.id, "PAY")                  # doctest: +SKIP
>>> runner.run_until_idle()                         # doctest: +SKIP
True

Events are processed strictly one at a time: a global first-in first-out order over every session's
external queue. Routing of ``<send>`` targets, invocations and the events they produce are described in
docs/semantics.md ("The in-memory runner").
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interlock.core.chart import Chart
from interlock.core.effects import InvokeEffect, SendEffect
from interlock.core.events import Event, as_event
from interlock.core.reach import Reach
from interlock.core.snapshot import Snapshot
from interlock.core.spec import DOCUMENT_DATAMODEL
from interlock.core.step import StepResult, start, step, stop
from interlock.errors import ConflictError, NotFoundError
from interlock.runtime.basichttp import communication_error
from interlock.runtime.children import MAX_INVOKE_DEPTH, check_no_cycle, invoked_machines, refusal
from interlock.runtime.clock import Clock, VirtualClock
from interlock.runtime.interpret import carry_out, classify, invoke_failed, send_now
from interlock.runtime.machines import MachineLoader, is_scxml_type
from interlock.runtime.services import ServiceFn, call_service
from interlock.runtime.step_errors import describe

__all__ = ["LogRecord", "MemoryRunner", "Session"]
_log = logging.getLogger("interlock.runtime")


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One ``<log>`` from a session, at the runner's clock time."""

    sessionid: str
    label: str | None
    value: Any
    time: float


class Session:
    """One running machine: its chart, latest snapshot, external queue and invoked children."""

    def __init__(self, sessionid: str, chart: Chart, base_dir: Path | None, *, parent: str | None = None,
                 invokeid: str | None = None) -> None:
        self.id = sessionid
        self.chart = chart
        self.base_dir = base_dir  # where its SCXML src files are read (None: it reads none)
        self.parent = parent
        self.invokeid = invokeid
        self.snapshot: Snapshot | None = None
        self.queue: deque[Event] = deque()
        self.children: dict[str, str] = {}  # invokeid -> child session id
        self.stopped = False

    @property
    def configuration(self) -> tuple[str, ...]:
        return self.snapshot.configuration if self.snapshot else ()

    @property
    def context(self) -> dict[str, Any]:
        return self.snapshot.context if self.snapshot else {}

    @property
    def done(self) -> bool:
        """Finished: it reached a top-level final state, or it was stopped (cancelled invoke)."""
        return self.stopped or (self.snapshot is not None and self.snapshot.done)

    @property
    def output(self) -> Any:
        return self.snapshot.output if self.snapshot else None

    def __repr__(self) -> str:
        state = "done" if self.done else "active"
        return f"<Session {self.id} {state} {list(self.configuration)}>"


class _Timer:
    __slots__ = ("alive", "due", "effect", "seq", "sessionid")

    def __init__(self, due: float, seq: int, sessionid: str, effect: SendEffect) -> None:
        self.due, self.seq, self.sessionid, self.effect = due, seq, sessionid, effect
        self.alive = True

    def __lt__(self, other: _Timer) -> bool:
        return (self.due, self.seq) < (other.due, other.seq)


class _MemoryHost:
    """The effect interpreter's host in memory (runtime/interpret.py decides what effects do; the durable
    runtime's host is runtime/dispatch.py). A session that is done receives nothing: what is sent to it
    raises ``error.communication`` in its sender."""

    __slots__ = ("runner",)

    def __init__(self, runner: MemoryRunner) -> None:
        self.runner = runner

    def key(self, sender: Session, index: int) -> str:
        return f"{sender.id}#{index}"

    def session_id(self, sender: Session) -> str:
        return sender.id

    def session(self, sid: str) -> Session | None:
        return self.runner.sessions.get(sid)

    def instance(self, machine: str, id: str) -> Session | None:
        found = self.runner.sessions.get(id)  # the session <id>, if it runs machine <machine>
        return found if found is not None and found.chart.name == machine else None

    def parent(self, sender: Session) -> tuple[Session, str] | None:
        if sender.parent is None or sender.invokeid is None:
            return None
        parent = self.runner.sessions.get(sender.parent)
        return (parent, sender.invokeid) if parent is not None else None

    def child(self, sender: Session, invokeid: str) -> Session | None:
        sid = sender.children.get(invokeid)
        return self.runner.sessions.get(sid) if sid is not None else None

    def deliver(self, to: Session, event: Event, *, cause: str | None, sendid: str | None = None) -> bool:
        if to.done:
            return False
        self.runner._deliver(to.id, event)
        return True

    def silent(self, sender: Session) -> bool:
        return sender.stopped  # a cancelled invocation's exit handlers send nothing (SCXML 6.4)

    def rules(self, sender: Session) -> str:
        return sender.chart.rules.name

    def schedule(self, sender: Session, effect: SendEffect, key: str) -> None:
        self.runner._schedule(sender, effect)

    def cancel_send(self, sender: Session, sendid: str) -> None:
        for timer in self.runner._timer_index.pop((sender.id, sendid), ()):
            timer.alive = False
        self.runner._unqueue_fired(sender, sendid)

    def post(self, sender: Session, event: Event, target: str, cause: str) -> None:
        self.deliver(sender, communication_error(cause, {"url": target, "event": event.to_json()},
                                                 "the in-memory runner sends no HTTP events (it has no "
                                                 "Basic HTTP processor); run the chart on Interlock"), cause=cause)

    def forget_invocation(self, sender: Session, invokeid: str) -> None:
        self.runner._unqueue(sender, lambda e: e.invokeid == invokeid)

    def invoke(self, sender: Session, effect: InvokeEffect, key: str) -> None:
        self.runner._invoke(sender, effect, key)

    def cancel_invoke(self, sender: Session, invokeid: str) -> None:
        child = sender.children.pop(invokeid, None)
        if child is not None:
            self.runner._stop(child)

    def log(self, sender: Session, label: str | None, value: Any) -> None:
        runner = self.runner
        record = LogRecord(sender.id, label, value, runner.clock.now())
        runner.logs.append(record)
        if runner.on_log is not None:
            runner.on_log(record)

    def finished(self, sender: Session, output: Any) -> None:
        self.runner._finished(sender)


class MemoryRunner:
    """Runs sessions in memory; see the module docstring.

    ``strict=False`` loads invoked SCXML documents so that Python syntax errors surface as
    ``error.execution`` at run time instead of failing the load (what the W3C suite expects).

    An invoke's ``src`` names a machine given to :meth:`register_chart`. Only with ``trusted_base`` (a
    folder) may an SCXML chart name an SCXML file instead, inside that folder; a YAML/JSON document never
    names a file. Children are bounded as in the durable runtime (runtime/children.py).
    """

    def __init__(self, *, clock: Clock | None = None, services: dict[str, ServiceFn] | None = None,
                 on_log: Callable[[LogRecord], None] | None = None,
                 on_step: Callable[[Session, Event | None, StepResult], None] | None = None,
                 strict: bool = True, trusted_base: str | Path | None = None) -> None:
        self.clock: Clock = clock if clock is not None else VirtualClock()
        self.sessions: dict[str, Session] = {}
        self._live: set[str] = set()  # ids of sessions neither done nor stopped (what a step may reach)
        self.services: dict[str, ServiceFn] = dict(services or {})
        self.trusted_base = Path(trusted_base) if trusted_base is not None else None
        self.machines = MachineLoader(strict=strict, trusted_base=self.trusted_base)
        self._children = [0, 0]  # [children started by the current step, child starts in progress]
        self.logs: list[LogRecord] = []
        self.on_log = on_log
        self.on_step = on_step
        self._ready: deque[str] = deque()  # one entry per queued event: the global processing order
        self._timers: list[_Timer] = []
        self._timer_index: dict[tuple[str, str], list[_Timer]] = {}
        self._seq = itertools.count(1)
        self._host = _MemoryHost(self)

    # -- public API ----------------------------------------------------------------------------------

    def register_service(self, name: str, service: ServiceFn) -> None:
        """Let ``<invoke type="name">`` call ``service(data)``; sync or async (see docs/semantics.md)."""
        self.services[name] = service

    def register_chart(self, name: str, chart: Chart) -> None:
        """Let ``<invoke src="name">`` start ``chart`` as a child machine; :class:`DefinitionError` if it
        would invoke itself (directly or through registered machines)."""
        check_no_cycle(chart, self._invoked, name)
        self.machines.register(name, chart)

    def _invoked(self, name: str) -> set[str]:
        chart = self.machines.registered.get(name)
        return invoked_machines(chart) if chart is not None else set()

    def start(self, chart: Chart, *, data: dict[str, Any] | None = None, sessionid: str | None = None,
              base_dir: str | Path | None = None) -> Session:
        """Start a top-level session; its first macrostep runs now, queued events wait for ``run_*``.

        ``base_dir``: where its SCXML ``src`` files are read, inside ``trusted_base`` (default: that)."""
        sid = sessionid or f"session-{next(self._seq)}"
        if sid in self.sessions:
            raise ConflictError(f"session id {sid!r} is already in use; pick another or omit it")
        session = Session(sid, chart, Path(base_dir) if base_dir else self.trusted_base)
        self.sessions[sid] = session
        self._live.add(sid)
        self._start(session, data)
        return session

    def session(self, sessionid: str) -> Session:
        try:
            return self.sessions[sessionid]
        except KeyError:
            raise NotFoundError(f"no session {sessionid!r}; known: {sorted(self.sessions)[:10]}") from None

    def send(self, sessionid: str, event: Event | str | dict[str, Any]) -> None:
        """Put an external event on a session's queue; ``run_until_idle`` processes it."""
        session = self.session(sessionid)
        if session.done:
            raise ConflictError(f"session {sessionid!r} is done and accepts no more events")
        self._deliver(session.id, as_event(event))

    def run_until_idle(self, timeout: float | None = None, *, wall_timeout: float | None = None) -> bool:
        """Process events and fire timers until nothing is left to do.

        ``timeout`` bounds clock time (a virtual clock stops there); ``wall_timeout`` bounds real time,
        against machines that never settle. Returns False if a bound stopped work that remained.
        """
        limit = None if timeout is None else self.clock.now() + timeout
        deadline = None if wall_timeout is None else time.monotonic() + wall_timeout
        while True:
            while self._ready:
                if deadline is not None and time.monotonic() > deadline:
                    return False
                self._process_next()
            due = self._next_due()
            if due is None:
                return True
            if limit is not None and due > limit:
                self.clock.sleep_until(limit)
                return False
            if deadline is not None and not self.clock.virtual:
                if due - self.clock.now() > deadline - time.monotonic():
                    return False
            elif deadline is not None and time.monotonic() > deadline:
                return False
            self.clock.sleep_until(due)
            self._fire_due()

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` of clock time pass, handling every event and timer due meanwhile."""
        until = self.clock.now() + seconds
        self.run_until_idle(timeout=seconds)
        self.clock.sleep_until(until)

    def stop(self, sessionid: str) -> None:
        """Stop a session and its children at once; pending timers are dropped."""
        self._stop(self.session(sessionid).id)

    # -- processing ----------------------------------------------------------------------------------

    def _start(self, session: Session, data: dict[str, Any] | None) -> None:
        if not self._children[1]:  # a step of its own, not the start of a child inside another step
            self._children[0] = 0
        result = start(session.chart, sessionid=session.id, data=data, now=self.clock.now(),
                       reachable=self._reachable(session))
        self._apply(session, None, result)

    def _process_next(self) -> None:
        session = self.sessions.get(self._ready.popleft())
        if session is None or not session.queue:
            return
        event = session.queue.popleft()
        if session.done or session.snapshot is None:
            return
        self._children[0] = 0
        result = step(session.chart, session.snapshot, event, now=self.clock.now(),
                      reachable=self._reachable(session))
        self._apply(session, event, result)

    def _apply(self, session: Session, event: Event | None, result: StepResult) -> None:
        session.snapshot = result.snapshot
        if result.errors:
            _log.warning("session %s%s raised errors:\n%s", session.id,
                         "" if event is None else f" on {event.name!r}", describe(result.errors, event))
        if self.on_step is not None:
            self.on_step(session, event, result)
        if result.effects:
            carry_out(self._host, session, result.effects)

    def _deliver(self, sessionid: str, event: Event) -> None:
        session = self.sessions[sessionid]
        session.queue.append(event)
        self._ready.append(sessionid)

    def _reachable(self, session: Session) -> Reach:
        """What its step may know of other sessions, given before the step (core/reach.py)."""
        return Reach(session.children, self._live)

    # -- timers --------------------------------------------------------------------------------------

    def _schedule(self, session: Session, effect: SendEffect) -> None:
        timer = _Timer(self.clock.now() + effect.delay_ms / 1000, next(self._seq), session.id, effect)
        heapq.heappush(self._timers, timer)
        self._timer_index.setdefault((session.id, effect.sendid), []).append(timer)

    def _next_due(self) -> float | None:
        while self._timers and not self._timers[0].alive:
            heapq.heappop(self._timers)
        return self._timers[0].due if self._timers else None

    def _fire_due(self) -> None:
        now = self.clock.now()
        while self._timers and self._timers[0].due <= now:
            timer = heapq.heappop(self._timers)
            if not timer.alive:
                continue
            key = (timer.sessionid, timer.effect.sendid)
            remaining = [t for t in self._timer_index.get(key, ()) if t is not timer]
            if remaining:
                self._timer_index[key] = remaining
            else:
                self._timer_index.pop(key, None)
            sender = self.sessions.get(timer.sessionid)
            if sender is not None and not sender.done:
                effect = timer.effect
                send_now(self._host, sender, effect.event, effect.target, cause=f"{sender.id}#timer",
                         sendid=effect.sendid)

    # -- invocations ---------------------------------------------------------------------------------

    def _unqueue(self, session: Session, drop: Callable[[Event], bool]) -> None:
        """Take the queued events ``drop`` selects off ``session``'s queue, and their turns in the global
        order (the n-th turn of a session in ``_ready`` is the n-th event of its queue)."""
        gone = {i for i, event in enumerate(session.queue) if drop(event)}
        if not gone:
            return
        session.queue = deque(e for i, e in enumerate(session.queue) if i not in gone)
        ready, turn = deque[str](), 0
        for sid in self._ready:
            if sid == session.id:
                turn += 1
                if turn - 1 in gone:
                    continue
            ready.append(sid)
        self._ready = ready

    def _unqueue_fired(self, session: Session, sendid: str) -> None:
        """A timer that fired but whose event is still queued is cancelled too: it never fires."""
        own = f"#_scxml_{session.id}"
        self._unqueue(session, lambda e: e.sendid == sendid and e.origin == own)

    def _invoke(self, parent: Session, effect: InvokeEffect, key: str) -> None:
        """Start a child machine or call a service (SCXML 6.4); failures come back as events. What an
        invoke names is decided as in the durable runtime (:func:`~interlock.runtime.interpret.classify`);
        services registered on the runner come before those the invoking chart brought with it."""
        services = {**parent.chart.services, **self.services}
        kind, name = "content", ""
        if effect.content is None:
            kind, name = classify(effect, services, self.machines.registered.__contains__)
        if kind == "service":
            self._deliver(parent.id, call_service(services[name], effect, name=name, machine=parent.chart.name,
                                                  instance=parent.id))
            return
        if kind == "unknown" and not is_scxml_type(effect.type):
            invoke_failed(self._host, parent, effect, key,
                          f"invoke {effect.invokeid!r} names {name!r}, which is no service registered on the "
                          "runner (runner.services) nor an SCXML type; register a service under that name or "
                          "use type 'scxml'")
            return
        try:
            chart, base_dir = self.machines.load(name if kind == "machine" else effect.src, effect.content,
                                                 parent.base_dir, files=parent.chart.datamodel != DOCUMENT_DATAMODEL)
        except Exception as exc:
            invoke_failed(self._host, parent, effect, key, f"cannot load the invoked machine: {exc}")
            return
        chain = self._chain(parent)  # the same chart object above it: the same machine (registered or cached)
        refused = refusal(chart.name, [s.chart.name for s in chain], self._children[0],
                          recursive=any(s.chart is chart for s in chain))
        if refused is not None:
            invoke_failed(self._host, parent, effect, key, refused)
            return
        child = Session(f"{parent.id}.{effect.invokeid}", chart, base_dir, parent=parent.id,
                        invokeid=effect.invokeid)
        self.sessions[child.id] = child
        self._live.add(child.id)
        parent.children[effect.invokeid] = child.id
        declared = {item.id for item in chart.root.data}
        self._children[0] += 1
        self._children[1] += 1
        try:  # SCXML 6.4.4: params and namelist values only initialize data the child declares (test 245)
            self._start(child, {k: v for k, v in effect.data.items() if k in declared})
        finally:
            self._children[1] -= 1

    def _chain(self, session: Session) -> list[Session]:
        """``session`` and the sessions above it, nearest first (a few beyond the depth limit at most)."""
        out = [session]
        parent = self.sessions.get(session.parent) if session.parent else None
        while parent is not None and len(out) <= MAX_INVOKE_DEPTH:
            out.append(parent)
            parent = self.sessions.get(parent.parent) if parent.parent else None
        return out

    def _finished(self, session: Session) -> None:
        """A session reached a top-level final state: drop its timers and children; an invoked one leaves
        its parent (which the interpreter then tells: ``done.invoke.<id>``)."""
        self._drop(session)
        parent = self.sessions.get(session.parent) if session.parent else None
        if parent is not None and session.invokeid is not None:
            parent.children.pop(session.invokeid, None)
            del self.sessions[session.id]

    def _stop(self, sessionid: str) -> None:
        session = self.sessions.get(sessionid)
        if session is None:
            return
        session.stopped = True  # from here on, what it sends is discarded (SCXML 6.4)
        if session.snapshot is not None and session.snapshot.status == "active":
            # a cancelled session still runs its exit handlers (SCXML 6.4); it reports no done event
            result = stop(session.chart, session.snapshot, now=self.clock.now(),
                          reachable=self._reachable(session))
            self._apply(session, None, result)
        self.sessions.pop(sessionid, None)
        self._drop(session)

    def _drop(self, session: Session) -> None:
        self._live.discard(session.id)
        session.queue.clear()
        for key in [k for k in self._timer_index if k[0] == session.id]:
            for timer in self._timer_index.pop(key):
                timer.alive = False
        for child in list(session.children.values()):
            self._stop(child)
        session.children.clear()
