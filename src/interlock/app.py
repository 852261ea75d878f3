"""The embedded API: machines as durable instances in a store (SQLite or PostgreSQL), moved by events.

    app = Interlock("sqlite:///orders.db")
    app.register(order_machine)
    app.create("order", "order-42", input={"total": 10})
    result = app.send("order", "order-42", {"type": "ACCEPT"}, idempotency_key="req-1")
    result.instance.state          # ('accepted',)

``AsyncInterlock`` (``app.aio``) offers the same calls as coroutines. docs/runtime.md is the contract.
"""

from __future__ import annotations

import asyncio
import difflib
import time
from collections.abc import Awaitable, Callable
from typing import Any

from interlock.auth.policy import Access, Refusal, caller_of
from interlock.auth.principal import Principal
from interlock.core.chart import Chart
from interlock.core.datamodel import Budget
from interlock.core.events import Event
from interlock.core.execute import BASICHTTP_PROCESSOR
from interlock.errors import EventRejectedError, ForbiddenError, NotFoundError
from interlock.runtime import writes
from interlock.runtime.apply import stored_key
from interlock.runtime.arguments import (
    check_id,
    check_limit,
    check_step,
    check_text,
    check_timeout,
    unencodable,
)
from interlock.runtime.basichttp import HTTPSends
from interlock.runtime.clock import Clock
from interlock.runtime.durable import DurableRuntime
from interlock.runtime.endings import Signal, Waiter
from interlock.runtime.model import (
    HistoryEntry,
    Instance,
    Page,
    SendResult,
    entry_of,
    instance_from,
    instance_of,
)
from interlock.runtime.retry import RetryPolicy
from interlock.runtime.watchdog import DEFAULT_STEP_TIME_LIMIT
from interlock.storage.codec import NotStorable, encode_exact
from interlock.storage.store import Change

MAX_EVENT_BYTES = 256 * 1024
MAX_QUEUED = 10_000  # events a caller's send may queue behind (Interlock(max_queued=...))
# done./error. are raised by the engine; xstate.after.<state>.#<n> are the timers a document's `after`
# schedules (frontends/document_transitions.py): a client sending one would fire the timeout early
RESERVED_PREFIXES = ("done.", "error.", "xstate.after.")
RESERVED_NAMES = frozenset(("done", "error"))  # a transition on "error" takes every error.* event
MAX_EVENT_NAME = 256  # characters
DEFAULT_HTTP_SENDS = HTTPSends()
STATUSES = ("active", "done", "cancelled")  # "failed" is a step's outcome, never an instance's status
WAIT_SLICE = 60.0  # seconds a waiter sleeps at most before it looks at its deadline again
MAX_LIST_SCAN = 10_000  # instances one listing by a caller the read rule restrains reads at most
Command = writes.Create | writes.Send | writes.Pause | writes.Resume | writes.Cancel


class Interlock:
    """Durable instances of registered machines in one store.

    - ``clock``: a :class:`~interlock.runtime.clock.VirtualClock` in tests; wall time otherwise.
    - ``worker``: run timers and tasks on a background thread (default: yes, unless the clock is
      virtual; then call :meth:`run_until_idle` to do due work deterministically).
    - ``synchronous``: SQLite's durability setting, ``FULL`` by default (see docs/runtime.md).
    - ``max_event_bytes``: larger events are rejected.
    - ``max_queued``: a send to an instance with this many events waiting (paused, or busy) raises
      :class:`~interlock.errors.InstanceBusyError` instead of queueing (None: no limit).
    - ``step_time_limit``: seconds one step may run before it is aborted and its event refused with
      :class:`~interlock.errors.StepLimitError` (``None``: no limit; see docs/limits.md).
    - ``http_sends``: where a chart's Basic HTTP sends (SCXML C.2) may POST
      (:class:`~interlock.runtime.basichttp.HTTPSends`; default: loopback hosts only; None: nowhere).
    """

    def __init__(self, url: str = "sqlite:///interlock.db", *, clock: Clock | None = None,
                 worker: bool | None = None, synchronous: str = "FULL",
                 max_event_bytes: int = MAX_EVENT_BYTES, concurrency: int = 8, poll: float = 1.0,
                 seed: int | None = None, step_time_limit: float | None = DEFAULT_STEP_TIME_LIMIT,
                 http_sends: HTTPSends | None = DEFAULT_HTTP_SENDS, max_queued: int | None = MAX_QUEUED) -> None:
        self.runtime = DurableRuntime(url, clock=clock, synchronous=synchronous, concurrency=concurrency,
                                      poll=poll, seed=seed, step_time_limit=step_time_limit)
        self.runtime.registry.send_http(http_sends)
        self.max_event_bytes = max_event_bytes
        self.max_queued = self.runtime.registry.max_queued = max_queued
        self._background = worker if worker is not None else not self.runtime.clock.virtual
        self._started = False
        self._named_events: dict[str, Event] = {}

    def receive_http_events(self, location: str | None) -> None:
        """Tell charts where a server receives their Basic HTTP events (SCXML C.2): ``location`` plus
        ``<machine>/<id>`` is ``_ioprocessors['basichttp']['location']`` (the server sets it; None: no
        server, and charts see no 'basichttp' entry)."""
        if location is not None and not location.startswith(("http://", "https://")):
            raise ValueError(f"a Basic HTTP location is an http(s) URL, not {location!r}")
        self.runtime.registry.receive_http(location)

    # -- definitions --------------------------------------------------------------------------------

    def register(self, chart: Chart) -> Chart:
        """Make a machine (a compiled chart) runnable; new instances use its newest registered version.

        :class:`ConflictError` if this (name, version) was registered (here or by another process on the
        database) with another definition: anything of a document or SCXML, but Python callables only by
        name (their code cannot be compared; give the chart a new version when it changes)."""
        return self.runtime.register(chart)

    def service(self, name: str, fn: Callable[..., Any] | None = None, *,
                retry: RetryPolicy | None = None) -> Any:
        """Register a task service ``fn(task) -> JSON result`` (sync or async); usable as a decorator."""
        policy = retry or RetryPolicy()

        def add(func: Callable[..., Any]) -> Callable[..., Any]:
            self.runtime.registry.add_service(name, func, policy)
            return func

        return add(fn) if fn is not None else add

    # -- writes -------------------------------------------------------------------------------------

    # ``caller``: who asks, for machines with authorize rules (docs/auth.md, "Machine rules"); None (the
    # default) is trusted code, which no rule restrains, as is an admin principal. A refusal raises
    # ForbiddenError with its reason (rule.refused, rule.missing, rule.failed).

    def create(self, machine: str, instance_id: str, *, input: dict[str, Any] | None = None,
               version: str | None = None, timeout: float | None = None,
               caller: Principal | None = None, idempotency_key: str | None = None) -> Instance:
        """Start an instance named by the caller; :class:`ConflictError` if the name is taken. With an
        ``idempotency_key``, a create of a name the same key created (a retry after a lost answer) returns
        that instance as it is now and changes nothing."""
        return self._instance(self._write(self._create(machine, instance_id, input, version, caller,
                                                       idempotency_key), timeout))

    def send(self, machine: str, instance_id: str, event: Event | str | dict[str, Any], *,
             idempotency_key: str | None = None, reject_unhandled: bool = False,
             timeout: float | None = None, caller: Principal | None = None) -> SendResult:
        """Apply an event and return once the instance has settled (see :class:`SendResult`). A caller's
        event queued behind others meets the machine's send rule when its turn comes."""
        return self._result(self._write(self._send(machine, instance_id, event, idempotency_key,
                                                   reject_unhandled, caller), timeout))

    def pause(self, machine: str, instance_id: str, *, caller: Principal | None = None) -> Instance:
        """Stop applying events; they (and fired timers, task results) queue until :meth:`resume`."""
        return self._instance(self._write(self._simple(writes.Pause, machine, instance_id, caller), None))

    def resume(self, machine: str, instance_id: str, *, caller: Principal | None = None) -> Instance:
        """Apply what queued while paused, in arrival order, then carry on."""
        return self._instance(self._write(self._simple(writes.Resume, machine, instance_id, caller), None))

    def cancel(self, machine: str, instance_id: str, *, caller: Principal | None = None) -> Instance:
        """Stop an instance for good, with its timers, tasks and child instances."""
        return self._instance(self._write(self._simple(writes.Cancel, machine, instance_id, caller), None))

    # -- reads --------------------------------------------------------------------------------------

    def get(self, machine: str, instance_id: str, *, caller: Principal | None = None) -> Instance:
        _check_names(machine, instance_id)
        with self.runtime.read() as tx:
            row = tx.get_instance(machine, instance_id)
        if row is None:
            raise self._missing(machine, instance_id)
        instance = instance_of(row, self.runtime.leaves(row))
        self.check_read(instance, caller)
        return instance

    def wait(self, machine: str, instance_id: str, *, timeout: float | None = None,
             caller: Principal | None = None) -> Instance:
        """Block until the instance has ended (status ``done``, with its ``output``, or ``cancelled``) and
        return it as it ended; at once if it has. ``TimeoutError`` after ``timeout`` seconds (None: no
        limit; an instance that stops in a state that is not final never ends); :class:`NotFoundError`
        if there is no such instance, :class:`ForbiddenError` if the read rule refuses ``caller``.

        The commit of this app that ends the instance wakes its waiters with the row it committed; an
        end committed by another app or process on the database is found within the app's ``poll``
        seconds (one reader for all waiters). Closing the app wakes its waiters with ``StorageError``.
        Not from inside a step (it would wait for itself)."""
        _check_names(machine, instance_id)
        return self._until_ended(machine, instance_id, timeout, caller,
                                 lambda: self.get(machine, instance_id, caller=caller))

    def execute(self, machine: str, instance_id: str, *, input: dict[str, Any] | None = None,
                version: str | None = None, timeout: float | None = None,
                caller: Principal | None = None, idempotency_key: str | None = None) -> Instance:
        """:meth:`create` an instance, then :meth:`wait` up to ``timeout`` seconds for its end (a
        workflow run to its result, as Step Functions' StartSyncExecution or Temporal's
        ``execute_workflow``). Cheaper than the two calls: the instance is watched before it is created,
        so no read is needed to learn whether it ended before the wait began. ``TimeoutError`` leaves the
        instance running (``wait`` for it again); a name that is taken is :class:`ConflictError`, but for
        a retry with the ``idempotency_key`` that created it, which waits for that instance."""
        _check_names(machine, instance_id)
        return self._until_ended(machine, instance_id, timeout, caller, lambda: self._instance(self._write(
            self._create(machine, instance_id, input, version, caller, idempotency_key, named=True), None)))

    def _until_ended(self, machine: str, instance_id: str, timeout: float | None,
                     caller: Principal | None, first: Callable[[], Instance]) -> Instance:
        """Watch the instance, learn where it stands from ``first()``, then wait for its end."""
        check_timeout(timeout)
        key = (machine, instance_id)
        waiter = Waiter()
        event = waiter.event
        assert isinstance(event, Signal)
        endings = self.runtime.endings
        endings.watch(key, waiter)  # before the first look: an end committed after it wakes us
        try:
            instance = first()
            self.check_read(instance, caller)  # execute's first look is its create's answer
            deadline = None if timeout is None else time.monotonic() + timeout
            while instance.status == "active":
                if event.wait(_time_left(instance, timeout, deadline)):  # taken: the next wait blocks
                    instance = self._ended(waiter, caller) or self.get(machine, instance_id, caller=caller)
            return instance
        finally:
            endings.unwatch(key, waiter)

    def _ended(self, waiter: Waiter, caller: Principal | None) -> Instance | None:
        """The instance as the commit that ended it left it; None if the wake brought no row (closing, or
        an end a rolled-back savepoint undid): then read it."""
        captured = waiter.take()
        if captured is None:
            return None
        instance = instance_from(captured, self.runtime.leaves_of(captured.machine, captured.version,
                                                                  captured.snapshot["configuration"]))
        self.check_read(instance, caller)
        return instance

    def history(self, machine: str, instance_id: str, *, after: int = -1,
                limit: int = 100, caller: Principal | None = None) -> Page[HistoryEntry]:
        """Steps after step number ``after``, oldest first (step 0 is the start). A ``caller`` needs the
        machine's read rule to allow the instance as it is now."""
        _check_names(machine, instance_id)
        check_step("after", after)
        check_limit(limit)
        with self.runtime.read() as tx:
            row = tx.get_instance(machine, instance_id)
            if row is None:
                raise self._missing(machine, instance_id)
            # one more than asked: is there a next page?
            rows = tx.history_page(machine, instance_id, after=after, limit=limit + 1)
        if caller_of(caller) is not None:  # a caller rules may restrain: the instance as it is now
            self.check_read(instance_of(row, self.runtime.leaves(row)), caller)
        items = tuple(entry_of(r) for r in rows[:limit])
        return Page(items, items[-1].step if len(rows) > limit else None)

    def check_read(self, instance: Instance, caller: Principal | None) -> None:
        """:class:`ForbiddenError` unless the read rule of ``instance``'s machine version lets ``caller``
        read it as it is (no rule restrains trusted code or admins)."""
        refusal = self.read_refusal(instance, caller)
        if refusal is not None:
            raise refusal.error()

    def read_refusal(self, instance: Instance, caller: Principal | None, *,
                     work: Budget | None = None) -> Refusal | None:
        """Why the read rule refuses ``caller`` ``instance`` (None: it may read it). ``work``: the expression
        budget the rules of this request share (else the rule has a whole one)."""
        who = caller_of(caller)
        if who is None:
            return None
        policy = self.runtime.registry.chart(instance.machine, instance.version).policy
        if policy is None:
            return None
        access = Access("read", who, instance.id, instance.configuration, instance.state, instance.context,
                        now=self.runtime.clock.now(), work=work)
        result: Refusal | None = policy.decide(access, instance.machine)
        return result

    def list(self, machine: str, *, state: str | None = None, tag: str | None = None,
             status: str | None = None, after: str = "", limit: int = 100,
             caller: Principal | None = None) -> Page[Instance]:
        """Instances of a machine, by id; filter by an active ``state``, a ``tag`` or a ``status``. With a
        ``caller`` the machine's read rule restrains, a page holds only instances it may read: the listing
        reads on past the others (at most :data:`MAX_LIST_SCAN` instances per call) and ``next`` is the last
        one it returned, so it never names an instance the caller may not read (except when a page stops at
        that limit, or when the read rules of the listing spend their shared expression work budget: then it
        continues after the last instance read)."""
        check_text("machine", machine)
        check_text("after", after, empty=True)
        check_limit(limit)
        for name, value in (("state", state), ("tag", tag), ("status", status)):
            if value is not None:
                check_text(name, value)
        if state is not None and tag is not None:
            raise ValueError("list() filters by state or by tag, not both")
        if status == "failed":
            raise ValueError("no instance has status 'failed': a step that fails leaves its instance active "
                             "(its history entry has outcome 'failed'); list by 'active', 'done' or "
                             "'cancelled'")
        if status is not None and status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {status!r}")
        if state is not None:
            self._check_state(machine, state)
        if caller_of(caller) is not None and any(c.policy for c in self.runtime.registry.charts(machine)):
            return self._readable(machine, state, tag, status, after, limit, caller)
        with self.runtime.read() as tx:
            rows = tx.list_instances(machine, state=state, tag=tag, status=status, after=after,
                                     limit=limit + 1)  # one more: is there a next page?
        items = tuple(instance_of(r, self.runtime.leaves(r)) for r in rows[:limit])
        return Page(items, items[-1].id if len(rows) > limit else None)

    def _readable(self, machine: str, state: str | None, tag: str | None, status: str | None, after: str,
                  limit: int, caller: Principal | None) -> Page[Instance]:
        """A page of the instances ``caller`` may read (see :meth:`list`). An instance of a version this
        process has not loaded is left out: its rule cannot be asked here.

        The read rules of one listing share one expression work budget, as the expressions of one step do
        (a rule that spends a whole budget on each of 10,000 instances would hold a CPU for minutes): when it
        runs out the page stops, and ``next`` continues at the instance whose rule ran out of it."""
        items: list[Instance] = []
        scanned = 0
        work = Budget()
        with self.runtime.read() as tx:
            while True:
                rows = tx.list_instances(machine, state=state, tag=tag, status=status, after=after,
                                         limit=limit + 1)
                for row in rows:
                    if len(items) == limit:  # a full page, and more rows: the next page starts here
                        return Page(tuple(items), items[-1].id)
                    scanned += 1
                    instance = instance_of(row, self.runtime.leaves(row))
                    try:
                        readable = self.read_refusal(instance, caller, work=work) is None
                    except NotFoundError:
                        readable = False
                    if work.left < 0 and scanned > 1:  # out of budget: this instance is asked again next page
                        return Page(tuple(items), after)
                    if readable:
                        items.append(instance)
                    after = row.id
                    if scanned >= MAX_LIST_SCAN or work.left < 0:  # (the first rule alone spent a whole budget)
                        return Page(tuple(items), after)
                if len(rows) <= limit:  # the end of the listing
                    return Page(tuple(items), None)

    def changes(self, *, after: int = 0, limit: int = 100) -> Page[Change]:
        """The change feed: steps committed after position ``after`` (0: from the start), in commit order,
        across all instances. ``page.next`` is the last position read (``after`` when nothing is new):
        pass it back to follow the feed; positions never go back and a reader never skips a step."""
        check_step("after", after)
        check_limit(limit)
        self.runtime.read()  # refuses a closed app, and a call from inside a step
        items = tuple(self.runtime.store.changes(after=after, limit=limit))
        return Page(items, items[-1].position if items else after)

    def last_position(self) -> int:
        """The change feed's head: the position of the last committed step (0 before the first). A
        follower that wants only what comes next starts from here: ``changes(after=app.last_position())``."""
        self.runtime.read()  # refuses a closed app, and a call from inside a step
        return self.runtime.store.last_position()

    def wait_for_changes(self, *, after: int, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for a step committed after position ``after`` (by any process);
        True if there is one. PostgreSQL wakes waiters with LISTEN/NOTIFY, and a lost notification only
        delays the answer to the next poll; SQLite polls."""
        deadline = time.monotonic() + timeout
        while True:
            if self.changes(after=after, limit=1).items:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.runtime.store.wait_for_changes(min(left, 1.0))

    # -- running ------------------------------------------------------------------------------------

    def run_until_idle(self) -> int:
        """Do every due piece of work now, in this thread: timers, queued events, tasks (tests)."""
        return self.runtime.run_until_idle()

    def start(self) -> None:
        """Start the background worker: done by the first write unless ``worker=False``. A process that
        only runs work already in the database (a dedicated worker) calls it once its machines and
        services are registered: a worker started earlier would fire timers whose steps invoke what is
        not registered yet."""
        self._started = True
        self.runtime.worker.start()

    def close(self) -> None:
        self.runtime.close()

    def __enter__(self) -> Interlock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def aio(self) -> AsyncInterlock:
        return AsyncInterlock(self)

    # -- commands, shared by the sync and async flavours -------------------------------------------

    def _write(self, fn: Command, timeout: float | None) -> Any:
        if self._background and not self._started:
            self.start()
        return self.runtime.writer.call(fn, timeout)

    def _instance(self, written: writes.Written | writes.Sent) -> Instance:
        """What the caller gets back was captured in the writer; it becomes an :class:`Instance` in the
        caller's own thread, which keeps that work off the one writer thread."""
        if written.refusal is not None:
            raise written.refusal.error()
        captured = written.instance
        assert captured is not None
        return instance_from(captured, self.runtime.leaves_of(captured.machine, captured.version,
                                                              captured.snapshot["configuration"]))

    def _result(self, sent: writes.Sent) -> SendResult:
        return SendResult(sent.outcome, sent.step, sent.duplicate, self._instance(sent))  # type: ignore[arg-type]

    def _create(self, machine: str, instance_id: str, input: dict[str, Any] | None,
                version: str | None, caller: Principal | None = None, key: str | None = None, *,
                named: bool = False) -> Command:
        """``named``: the names were checked already (:meth:`execute` checks them before it watches)."""
        if not named:
            _check_names(machine, instance_id)
        if version is not None:
            check_text("version", version)
        self.runtime.registry.chart(machine, version)  # unknown machine: fail before queueing
        if input is not None and not isinstance(input, dict):
            raise TypeError(f"input must be a dict (the initial context values), not {type(input).__name__}")
        if input is not None:
            input = self._check_json(input, "input")
        who = caller_of(caller)
        if who is not None and input:
            _check_public_input(input, who)
        return writes.Create(machine, instance_id, input, version, who, self._own_key(key, who))

    def _send(self, machine: str, instance_id: str, event: Any, key: str | None,
              reject: bool, caller: Principal | None = None) -> Command:
        _check_names(machine, instance_id)
        ev = self._event(event)
        who = caller_of(caller)
        return writes.Send(machine, instance_id, ev, self._own_key(key, who), reject, who, self.max_queued)

    @staticmethod
    def _own_key(key: str | None, who: dict[str, Any] | None) -> str | None:
        """An idempotency key as stored: a restrained caller's keys are its own, so another caller reusing
        one neither learns the outcome of that request nor blocks it (docs/auth.md, "Machine rules")."""
        if key is None:
            return None
        check_id("idempotency_key", key, printable=False)
        return stored_key(None if who is None else who["sub"], key)

    def _simple(self, kind: type[writes.Pause | writes.Resume | writes.Cancel], machine: str,
                instance_id: str, caller: Principal | None = None) -> Command:
        _check_names(machine, instance_id)
        return kind(machine, instance_id, caller_of(caller))

    def _event(self, value: Any) -> Event:
        """Validate a caller's event; only its name and data are taken (origin fields are the runtime's),
        and for an event that arrived over HTTP (origintype the Basic HTTP processor) its ``raw`` text."""
        if isinstance(value, str):
            # An event given by name alone is the same immutable value every time: validated once.
            known = self._named_events.get(value)
            if known is not None:
                return known
            name, data = value, None
        elif isinstance(value, Event):
            name, data = value.name, value.data
        elif isinstance(value, dict):
            if "name" in value and "type" in value:
                raise EventRejectedError(f"an event has a 'type' or a 'name', not both (got {value['type']!r} "
                                         f"and {value['name']!r})")
            if "name" in value:
                name, data = value["name"], value.get("data")
            elif "type" in value:
                name = value["type"]
                data = {k: v for k, v in value.items() if k != "type"} or None
            else:
                raise EventRejectedError(f"an event needs a 'type' (or 'name'), got keys {sorted(value)}")
        else:
            raise EventRejectedError(f"an event is a name, a dict with 'type', or an Event, not "
                                     f"{type(value).__name__}")
        # spaces inside a name are allowed: XState-shaped charts name events like "leave home" (an SCXML
        # chart reads a space as a list of descriptors, so such an event never matches there)
        if (not isinstance(name, str) or not name or len(name) > MAX_EVENT_NAME or name != name.strip()
                or any(c.isspace() and c != " " for c in name)):
            shown = repr(name) if not isinstance(name, str) or len(name) <= 80 else (
                f"{name[:80]!r}... ({len(name)} characters)")
            raise EventRejectedError(f"event name must be a non-empty string of at most {MAX_EVENT_NAME} "
                                     "characters without surrounding whitespace and with no whitespace but "
                                     f"spaces, not {shown}")
        bad = unencodable(name)
        if bad is not None:
            raise EventRejectedError(f"event name {name!r} has a lone surrogate ({name[bad]!r} at index "
                                     f"{bad}), which is not text UTF-8 can store; fix the name's source")
        if name.startswith(RESERVED_PREFIXES) or name in RESERVED_NAMES:
            raise EventRejectedError(f"event names starting with {', '.join(RESERVED_PREFIXES)} (and "
                                     "'done' and 'error' themselves) are reserved for the runtime "
                                     f"({name!r}: completion, error and 'after' timer events are raised "
                                     "by the engine); choose another name")
        event = Event(name, self._check_json(data, f"event {name!r} data", limit=True))
        if isinstance(value, Event) and value.origintype == BASICHTTP_PROCESSOR:
            raw = value.raw if isinstance(value.raw, str) else None
            if raw is not None and len(raw) > self.max_event_bytes:
                raise EventRejectedError(f"event {name!r} arrived as {len(raw):,} characters, more than the "
                                         f"limit of {self.max_event_bytes:,}; send a smaller message")
            event = event._replace(origintype=BASICHTTP_PROCESSOR, raw=raw)
        if isinstance(value, str):
            if len(self._named_events) >= 1024:  # names come from clients: keep the memo bounded
                self._named_events.clear()
            self._named_events[value] = event
        return event

    def _check_json(self, value: Any, what: str, *, limit: bool = False) -> Any:
        """``value`` as the store will give it back (tuples become lists, keys strings); refuses what is
        not JSON, NaN, infinities, integers beyond 64 bits and, with ``limit``, oversized values."""
        try:
            value, text = encode_exact(value)
        except NotStorable as exc:
            raise EventRejectedError(f"{what} is not JSON ({exc}); send only dicts, lists, strings, "
                                     "numbers, booleans and None") from exc
        size = len(text.encode()) if limit else 0
        if size > self.max_event_bytes:
            raise EventRejectedError(f"{what} is {size} bytes, more than the limit of {self.max_event_bytes}; "
                                     "store large payloads elsewhere and send a reference")
        return value

    def _check_state(self, machine: str, state: str) -> None:
        """A state that no registered version of ``machine`` has is a typo, not an empty result."""
        known = self.runtime.registry.state_ids(machine)
        if not known or state in known:  # a machine this process does not run: nothing to check against
            return
        close = [s for s in sorted(known) if s.endswith(f".{state}")] or difflib.get_close_matches(
            state, sorted(known), n=3)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(f"machine {machine!r} has no state {state!r} (states are full ids, as in "
                         f"Instance.state){hint}")

    def _missing(self, machine: str, instance_id: str) -> NotFoundError:
        if not self.runtime.registry.has_chart(machine):
            return NotFoundError(f"no instance {instance_id!r} of machine {machine!r}, and no machine "
                                 f"{machine!r} is registered in this process")
        return NotFoundError(f"no instance {instance_id!r} of machine {machine!r}")


class AsyncInterlock:
    """The asyncio flavour of :class:`Interlock`: the same calls, awaited; same store, same writer."""

    def __init__(self, app: Interlock) -> None:
        self.app = app

    async def _write(self, fn: Command, timeout: float | None) -> Any:
        app = self.app
        if app._background and not app._started:
            app.start()
        future = app.runtime.writer.submit_async(fn)
        if timeout is None:
            return await future
        # what asyncio.wait_for does, without its second future and the extra turn of the loop that
        # hands the answer over from one to the other (measured: docs/benchmarks.md, "Server")
        timer = future.get_loop().call_later(timeout, _expire, future)
        try:
            return await future
        finally:
            timer.cancel()

    async def create(self, machine: str, instance_id: str, *, input: dict[str, Any] | None = None,
                     version: str | None = None, timeout: float | None = None,
                     caller: Principal | None = None, idempotency_key: str | None = None) -> Instance:
        return self.app._instance(await self._write(self.app._create(machine, instance_id, input, version,
                                                                     caller, idempotency_key), timeout))

    async def send(self, machine: str, instance_id: str, event: Event | str | dict[str, Any], *,
                   idempotency_key: str | None = None, reject_unhandled: bool = False,
                   timeout: float | None = None, caller: Principal | None = None) -> SendResult:
        cmd = self.app._send(machine, instance_id, event, idempotency_key, reject_unhandled, caller)
        return self.app._result(await self._write(cmd, timeout))

    async def pause(self, machine: str, instance_id: str, *, caller: Principal | None = None) -> Instance:
        return self.app._instance(await self._write(
            self.app._simple(writes.Pause, machine, instance_id, caller), None))

    async def resume(self, machine: str, instance_id: str, *, caller: Principal | None = None) -> Instance:
        return self.app._instance(await self._write(
            self.app._simple(writes.Resume, machine, instance_id, caller), None))

    async def cancel(self, machine: str, instance_id: str, *, caller: Principal | None = None) -> Instance:
        return self.app._instance(await self._write(
            self.app._simple(writes.Cancel, machine, instance_id, caller), None))

    async def get(self, machine: str, instance_id: str, *, caller: Principal | None = None) -> Instance:
        return await asyncio.to_thread(self.app.get, machine, instance_id, caller=caller)

    async def wait(self, machine: str, instance_id: str, *, timeout: float | None = None,
                   caller: Principal | None = None) -> Instance:
        """:meth:`Interlock.wait`, without holding a thread while it waits."""
        _check_names(machine, instance_id)
        return await self._until_ended(machine, instance_id, timeout, caller,
                                       lambda: self.get(machine, instance_id, caller=caller))

    async def execute(self, machine: str, instance_id: str, *, input: dict[str, Any] | None = None,
                      version: str | None = None, timeout: float | None = None,
                      caller: Principal | None = None, idempotency_key: str | None = None) -> Instance:
        """:meth:`Interlock.execute`: create an instance and wait for its end."""
        _check_names(machine, instance_id)
        return await self._until_ended(machine, instance_id, timeout, caller, lambda: self.create(
            machine, instance_id, input=input, version=version, caller=caller, idempotency_key=idempotency_key))

    async def _until_ended(self, machine: str, instance_id: str, timeout: float | None,
                           caller: Principal | None, first: Callable[[], Awaitable[Instance]]) -> Instance:
        app = self.app
        check_timeout(timeout)
        loop = asyncio.get_running_loop()
        key = (machine, instance_id)
        waiter = Waiter(loop)
        event = waiter.event
        assert isinstance(event, asyncio.Event)
        endings = app.runtime.endings
        endings.watch(key, waiter)
        try:
            instance = await first()
            app.check_read(instance, caller)  # execute's first look is its create's answer
            deadline = None if timeout is None else time.monotonic() + timeout
            while instance.status == "active":
                left = _time_left(instance, timeout, deadline)  # raises once the deadline has passed
                try:
                    await asyncio.wait_for(event.wait(), left)
                except TimeoutError:
                    continue
                event.clear()
                instance = app._ended(waiter, caller) or await self.get(machine, instance_id, caller=caller)
            return instance
        finally:
            endings.unwatch(key, waiter)

    async def history(self, machine: str, instance_id: str, *, after: int = -1,
                      limit: int = 100, caller: Principal | None = None) -> Page[HistoryEntry]:
        return await asyncio.to_thread(self.app.history, machine, instance_id, after=after, limit=limit,
                                       caller=caller)

    async def changes(self, *, after: int = 0, limit: int = 100) -> Page[Change]:
        return await asyncio.to_thread(self.app.changes, after=after, limit=limit)

    async def list(self, machine: str, *, state: str | None = None, tag: str | None = None,
                   status: str | None = None, after: str = "", limit: int = 100,
                   caller: Principal | None = None) -> Page[Instance]:
        return await asyncio.to_thread(self.app.list, machine, state=state, tag=tag, status=status,
                                       after=after, limit=limit, caller=caller)


def _expire(future: asyncio.Future[Any]) -> None:
    """A write's caller stops waiting: ``TimeoutError``, as from ``asyncio.wait_for`` (the writer skips
    answering a future that is done)."""
    if not future.done():
        future.set_exception(TimeoutError())


def _time_left(instance: Instance, timeout: float | None, deadline: float | None) -> float:
    """Seconds a waiter sleeps before it looks again (at most WAIT_SLICE); ``TimeoutError`` once its
    ``deadline`` (``time.monotonic()``) has passed."""
    left = WAIT_SLICE if deadline is None else min(WAIT_SLICE, deadline - time.monotonic())
    if left <= 0:
        raise TimeoutError(f"instance {instance.machine}/{instance.id} has not ended after {timeout} s (state "
                           f"{list(instance.state)}); it runs on")
    return left


def _check_public_input(input: dict[str, Any], who: dict[str, Any]) -> None:
    """A caller who is not admin gives public context only: keys starting with ``_`` are the machine's
    own, hidden from such callers and set by its steps (or by admins), so a caller cannot preset what a
    machine keeps for itself (``_approved``, a ``_pin`` it checks against)."""
    private = sorted(key for key in input if key.startswith("_"))
    if private:
        shown = ", ".join(repr(key) for key in private[:5]) + (", ..." if len(private) > 5 else "")
        raise ForbiddenError(f"{who['sub']!r} may not set private context keys in 'input' ({shown}): keys "
                             "starting with '_' are the machine's own, set by its steps or by admins; give "
                             "the value under a public name (or in an event the machine assigns)",
                             reason="input.private")


def _check_names(machine: str, instance_id: str) -> None:
    check_text("machine", machine)
    check_id("instance id", instance_id)
