"""The one writer of a process: commands queue up and commit together (group commit).

SQLite has one writer at a time, so threads of a process do not fight for the lock: they hand their
command to this thread, which runs whatever is waiting in one transaction, commits once, then answers
every caller. Under load this turns many fsyncs into one without weakening anything: no caller hears
back before its commit.

Commands first run without savepoints (the fast path). If one fails, the transaction rolls back and
the batch runs again with a savepoint per command and per queued event, so a failure stays the failing
command's (or event's) own. A lone command that fails is simply answered with its error. A command that
lost a race for a row (another writer held it) is no failure of its own: the batch runs again fast
without it, and it waits for the next batch.

The writer keeps instance rows and parsed snapshots between transactions (:class:`RowCache`), so a
step of a hot instance reads nothing; see unit.py for when the cache is dropped. Before running a batch
it reads the rows its commands name (``instance_key``: writes.py) that it does not hold, all in one
statement (``WriteTx.lock_instances``; on PostgreSQL one ``FOR UPDATE SKIP LOCKED``); a command whose row
another writer holds waits for the next batch instead of failing this one. The tasks whose results the
batch records (``task_lease``) are held the same way (``WriteTx.lock_tasks``), so removing each costs no
statement of its own.

Tasks a batch creates are claimed for this process's worker in the same transaction, when it has free
threads (:class:`TaskClaimer`), and handed to it after the commit: a workflow's first step then costs no
worker round (a transaction of its own) and no hop through the worker's thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Protocol, TypeVar

from interlock.errors import StorageError
from interlock.runtime.clock import Clock
from interlock.runtime.endings import Endings
from interlock.runtime.registry import Registry
from interlock.runtime.unit import Isolate, RowCache, Unit
from interlock.runtime.watchdog import DEFAULT_STEP_TIME_LIMIT, Watchdog
from interlock.storage.store import StaleRowError, Store, TaskRow, TransactionLost, WriteTx

T = TypeVar("T")
Command = Callable[[Unit], Any]


class _Reply:
    """How a thread waiting in :meth:`Writer.call` hears back: a lock the writer releases once the value
    or error is set. A concurrent ``Future`` (a condition, its waiter lock, a callback list) cost about 7 us
    more CPU per call between the two threads and 12 us more until the caller ran again (measured: a
    hand-off through a queue and back, 5,000 times); every workflow step makes such a call."""

    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = threading.Lock()
        self.done.acquire()
        self.value: Any = None
        self.error: BaseException | None = None


Sink = _Reply | Future[Any] | tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]"]
Answer = tuple[Sink, Any, BaseException | None]
_STOP = object()
STALE_RETRIES = 20  # a transaction that keeps losing races to other writers is answered with the conflict
STALE_PATIENCE = 30.0  # seconds a command may keep losing the race for a row before it is answered so
LOSER_RERUNS = 3  # fast reruns of a batch without the commands that lost a race, before savepoints


class TaskClaimer(Protocol):
    """The worker, as the writer sees it: claims tasks in a transaction, runs them after the commit."""

    def claim_in(self, unit: Unit) -> list[TaskRow]:
        """Claim up to the free threads' worth of available tasks (reserving the threads)."""

    def run_claimed(self, tasks: list[TaskRow]) -> None:
        """Run tasks claimed by :meth:`claim_in` once their transaction has committed."""

    def release(self, tasks: list[TaskRow]) -> None:
        """Give back the threads reserved for tasks whose transaction did not commit."""


class Writer:
    """Runs write commands ``fn(unit) -> result`` on a dedicated thread, batching them per commit."""

    def __init__(self, store: Store, registry: Registry, clock: Clock, *, max_batch: int = 512,
                 on_commit: Callable[[float | None], None] | None = None,
                 claimer: TaskClaimer | None = None, endings: Endings | None = None,
                 step_time_limit: float | None = DEFAULT_STEP_TIME_LIMIT) -> None:
        self.store = store
        self.claimer = claimer
        self._claimed: list[TaskRow] = []  # claimed in the transaction being run, not yet committed
        self.registry = registry
        self.clock = clock
        self.max_batch = max_batch
        self.on_commit = on_commit
        self.cache = RowCache()
        self.endings = endings  # who waits for an instance to end (Interlock.wait), woken after commits
        self._ended: set[tuple[str, str]] = set()  # instances the transaction being run ended
        self.watchdog = Watchdog(step_time_limit)  # aborts a step that runs too long (watchdog.py)
        self._data_version: int | None = None
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._ident: int | None = None  # the writer thread's id, once it runs
        self._lock = threading.Lock()
        self._closed = False
        self._tries: dict[Sink, float] = {}  # caller -> when its command first lost a race for a row

    def submit(self, fn: Command) -> Future[Any]:
        """Queue a command; the future resolves after the transaction that ran it has committed."""
        future: Future[Any] = Future()
        self._put(fn, future)
        return future

    def submit_async(self, fn: Command) -> asyncio.Future[Any]:
        """:meth:`submit` for the running event loop: the answers of one commit reach a loop in one
        callback (one wake-up of the loop per batch, not one per command)."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._put(fn, (loop, future))
        return future

    def call(self, fn: Command, timeout: float | None = None) -> Any:
        """Run a command and wait for its result (``TimeoutError`` after ``timeout`` seconds)."""
        reply = _Reply()
        self._put(fn, reply)
        if not reply.done.acquire(timeout=-1 if timeout is None else max(timeout, 0.0)):
            raise TimeoutError(f"no answer from the writer within {timeout} s")
        error = reply.error
        if error is None:
            return reply.value
        try:
            raise error
        finally:  # the error's traceback holds this frame: no cycle back to the error (as Future.result)
            del error, reply

    def refuse_inside_a_step(self) -> None:
        """``StorageError`` when called on the writer thread: a guard or action calling the app would
        wait for (or read around) the very step it runs in."""
        if threading.get_ident() == self._ident:  # a thread id compare: every call and read asks
            raise StorageError(
                "an Interlock call was made from inside a step (a guard or action of a chart): it would "
                "wait for the very step it runs in. Send events from the chart (<send>, or an action's "
                "send) or call the app from a service, which runs as a task after the commit")

    def close(self) -> None:
        """Run what is queued, then stop; a command submitted after this raises ``StorageError``."""
        with self._lock:  # after this block no command can join the queue behind _STOP
            self._closed = True
            thread = self._thread
            if thread is not None:
                self._queue.put(_STOP)
        if thread is not None:
            thread.join()
        self.watchdog.close()

    def _put(self, fn: Command, sink: Sink) -> None:
        self.refuse_inside_a_step()
        with self._lock:  # checked and queued together: never behind a _STOP, never unanswered
            if self._closed:
                raise StorageError("this Interlock app is closed; open a new one")
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="interlock-writer", daemon=True)
                self._thread.start()
                self._ident = self._thread.ident
            self._queue.put((fn, sink))

    def _loop(self) -> None:
        try:
            self._serve()
        finally:  # a later thread may get the same id: it is not the writer
            self._ident = None

    def _serve(self) -> None:
        deferred: list[tuple[Command, Sink]] = []  # lost a race for a row: they run in the next batch
        while True:
            first = self._next(wait=not deferred)
            stop = first is _STOP
            batch = [*deferred, *([first] if first is not None and not stop else [])]
            pending = self._queue
            # empty() rather than catching queue.Empty: this thread is the only consumer, so what it
            # sees waiting is there to take, and a batch that drains the queue raises nothing
            while len(batch) < self.max_batch and not stop and not pending.empty():
                item = pending.get_nowait()
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            deferred = self._run(batch) if batch else []
            while stop and deferred:
                deferred = self._run(deferred)
            if stop:
                return

    def _next(self, *, wait: bool) -> Any:
        """The next queued item; without ``wait``, None after a moment (commands are waiting to be
        retried, and the transaction that holds their rows needs that moment to commit)."""
        if wait:
            return self._queue.get()
        try:
            return self._queue.get(timeout=0.002)
        except queue.Empty:
            return None

    def _run(self, batch: list[tuple[Command, Sink]]) -> list[tuple[Command, Sink]]:
        """Run a batch; return the commands to run again because another writer changed or held a row
        they read (:class:`StaleRowError`: nothing of theirs was kept). A whole transaction that lost a
        race runs again at once (up to STALE_RETRIES times); a command that keeps losing for
        STALE_PATIENCE seconds is answered with the error."""
        for _ in range(STALE_RETRIES):
            try:
                retry = self._run_once(batch)
            except StaleRowError:
                self.cache.clear()
                continue
            if not retry:
                return []
            again = []
            now = time.monotonic()
            for item, exc in retry:
                since = self._tries.setdefault(item[1], now)
                if now - since > STALE_PATIENCE:
                    self._reply([(item[1], None, exc)])
                else:
                    again.append(item)
            return again
        try:
            self._reply([(item[1], None, exc) for item, exc in self._run_once(batch)])
        except StaleRowError as exc:
            self._reply([(sink, None, exc) for _, sink in batch])
        return []

    def _reply(self, answers: list[Answer]) -> None:
        """Answer callers, forgetting when their commands first lost a race."""
        if self._tries:
            for sink, _, _ in answers:
                self._tries.pop(sink, None)
        _answer(answers)

    def _run_once(self, batch: list[tuple[Command, Sink]]) -> list[tuple[tuple[Command, Sink], StaleRowError]]:
        retry: list[tuple[tuple[Command, Sink], StaleRowError]] = []
        try:
            try:
                answers, new_work = self._attempt(batch, isolate=False, retry=retry)
            except _Failed as failed:
                self._unclaim()
                self.cache.clear()  # rows were changed in place by the rolled-back attempt
                cause = failed.__cause__
                if len(batch) == 1 and not isinstance(cause, Isolate | StaleRowError):
                    answers, new_work = [(batch[0][1], None, cause)], None
                elif isinstance(cause, StaleRowError) and failed.index >= 0:
                    answers, new_work = self._without_losers(batch, failed, retry)
                else:  # a failure must stay its command's own: savepoints
                    answers, new_work = self._attempt(batch, isolate=True, retry=retry)
        except StaleRowError:
            self._unclaim()
            raise
        except BaseException as exc:  # the commit itself failed: nobody's command happened
            self._unclaim()
            self.cache.clear()
            error = exc.error if isinstance(exc, TransactionLost) else exc
            self._reply([(sink, None, error) for _, sink in batch])
            return []
        claimed, self._claimed = self._claimed, []
        if claimed:  # before answering: a caller that closes the app next finds them running
            assert self.claimer is not None
            self.claimer.run_claimed(claimed)
        self._reply(answers)
        if self._ended:
            if self.endings is not None:
                self.endings.ended(self._ended, self.cache.rows)
            self._ended.clear()
        if self.on_commit is not None:
            self.on_commit(new_work)
        return retry

    def _without_losers(self, batch: list[tuple[Command, Sink]], failed: _Failed,
                        retry: list[tuple[tuple[Command, Sink], StaleRowError]]) -> tuple[list[Answer], float | None]:
        """A command lost a race for a row its step read (another writer held it: NOWAIT): run the batch
        again without savepoints and without it (it waits for the next batch), up to LOSER_RERUNS times;
        after that, or on any other failure, the batch runs isolated."""
        losers: list[tuple[tuple[Command, Sink], StaleRowError]] = []
        answers: list[Answer] = []
        new_work: float | None = None
        for _ in range(LOSER_RERUNS):
            assert isinstance(failed.__cause__, StaleRowError)
            losers.append((batch[failed.index], failed.__cause__))
            batch = batch[:failed.index] + batch[failed.index + 1:]
            if not batch:
                break
            try:
                answers, new_work = self._attempt(batch, isolate=False, retry=retry)
                break
            except _Failed as again:
                self._unclaim()
                self.cache.clear()
                if not (isinstance(again.__cause__, StaleRowError) and again.index >= 0):
                    answers, new_work = self._attempt(batch, isolate=True, retry=retry)
                    break
                failed = again
        else:
            answers, new_work = self._attempt(batch, isolate=True, retry=retry)
        retry.extend(losers)
        return answers, new_work

    def _unclaim(self) -> None:
        if self._claimed:
            assert self.claimer is not None
            self.claimer.release(self._claimed)
            self._claimed = []

    def _claim(self, unit: Unit, fresh: set[str]) -> float | None:
        """Claim tasks for this process's worker before the commit; when it should still look."""
        assert self.claimer is not None
        unit.new_tasks = fresh  # claim() takes the keys it claims out of it
        try:
            self._claimed = self.claimer.claim_in(unit)
        except Exception as exc:  # run the batch again isolated, where nothing is claimed
            cause = Isolate("claiming the batch's tasks failed")
            cause.__cause__ = exc
            raise _Failed from cause
        return unit.work_due()

    def _attempt(self, batch: list[tuple[Command, Sink]], *, isolate: bool,
                 retry: list[tuple[tuple[Command, Sink], StaleRowError]]) -> tuple[list[Answer], float | None]:
        answers: list[Answer] = []
        new_work: float | None = None
        fresh: set[str] = set()  # tasks created by the batch and not claimed yet
        cache = self.cache
        retry.clear()
        ended = self._ended
        ended.clear()  # what an attempt that did not commit noted
        with self.store.write() as tx:
            if tx.data_version != self._data_version:  # another connection wrote: rows may be stale
                cache.clear()
                self._data_version = tx.data_version
            cache.trim()
            now = self.clock.now()
            held = _read_rows(tx, batch, cache)
            for index, (fn, sink) in enumerate(batch):
                if held and (key := getattr(fn, "instance_key", None)) in held:
                    retry.append(((fn, sink), StaleRowError(f"another writer held instance {key[0]}/{key[1]}")))
                    continue
                unit = Unit(tx, self.registry, now, cache=cache, isolate=isolate, watchdog=self.watchdog,
                            ended=ended)
                if isolate:
                    try:
                        with tx.savepoint():
                            value = fn(unit)
                    except StaleRowError as exc:  # another writer has a row it needs: next batch
                        cache.clear()
                        retry.append(((fn, sink), exc))
                        continue
                    except Exception as exc:
                        cache.clear()
                        answers.append((sink, None, exc))
                        continue
                else:
                    try:
                        value = fn(unit)
                    except Exception as exc:
                        raise _Failed(index) from exc
                answers.append((sink, value, None))
                if unit.new_work is not None:
                    new_work = unit.new_work if new_work is None else min(new_work, unit.new_work)
                if unit.new_tasks:
                    fresh |= unit.new_tasks
            if fresh and self.claimer is not None and not isolate:
                fresh_work = self._claim(Unit(tx, self.registry, now, cache=cache, isolate=False,
                                              watchdog=self.watchdog), fresh)
            else:
                fresh_work = now if fresh else None
            if fresh_work is not None:
                new_work = fresh_work if new_work is None else min(new_work, fresh_work)
            _flush(tx, isolate)
        return answers, new_work


def _flush(tx: WriteTx, isolate: bool) -> None:
    """Write the rows the batch's commands left waiting in the transaction. One the database refuses
    belongs to one command, not to all: the batch runs again isolated, where each command's savepoint
    writes its own rows (a lost race is retried as before; a lost transaction fails the batch)."""
    try:
        tx.flush()
    except (StaleRowError, TransactionLost):
        raise
    except Exception as exc:
        if isolate:
            raise
        raise _Failed from exc


def _read_rows(tx: WriteTx, batch: list[tuple[Command, Sink]], cache: RowCache) -> set[tuple[str, str]]:
    """Read the rows of the instances the batch's commands name (``instance_key``) and that are not
    cached, in one statement (PostgreSQL: one round trip, and the locks, for the whole batch instead of
    one per command); the keys of rows another writer holds, whose commands wait for the next batch.
    The tasks whose attempts' results the batch records (``task_lease``) are held in the same go."""
    wanted: dict[tuple[str, str], None] = {}
    leases = []
    for fn, _ in batch:
        key = getattr(fn, "instance_key", None)
        if key is not None and key not in cache.rows:
            wanted[key] = None
        lease = getattr(fn, "task_lease", None)
        if lease is not None:
            leases.append(lease)
    if not wanted:
        if leases:
            tx.lock_tasks(leases)
        return set()
    locked = tx.lock_instances(list(wanted), leases)
    for row in locked.rows:
        cache.rows[(row.machine, row.id)] = row
    return set(locked.held)


def _answer(answers: list[Answer]) -> None:
    """Resolve every caller's future; asyncio callers get one callback per event loop."""
    loops: dict[asyncio.AbstractEventLoop, list[Answer]] = {}
    for answer in answers:
        sink, value, error = answer
        if isinstance(sink, _Reply):
            sink.value, sink.error = value, error
            sink.done.release()
        elif isinstance(sink, Future):
            if error is not None:
                sink.set_exception(error)
            else:
                sink.set_result(value)
        else:
            loops.setdefault(sink[0], []).append(answer)
    for loop, items in loops.items():
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            loop.call_soon_threadsafe(_resolve, items)


def _resolve(items: list[Answer]) -> None:
    for sink, value, error in items:
        future = sink[1]  # type: ignore[index]
        if future.done():  # cancelled (a timeout) while the command ran
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(value)


class _Failed(Exception):
    """A command failed in the fast path (``index`` in its batch; -1: no one command): roll back, then
    answer it alone, run the batch again without it (it lost a race), or run the batch isolated."""

    def __init__(self, index: int = -1) -> None:
        super().__init__(index)
        self.index = index
