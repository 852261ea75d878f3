"""The one writer of a process: commands queue up and commit together (group commit).

SQLite has one writer at a time, so threads of a process do not fight for the lock: they hand their
command to this thread, which runs whatever is waiting in one transaction, each command in its own
savepoint (a failing command rolls back alone), commits once, then answers every caller. Under load this
turns many fsyncs into one without weakening anything: no caller hears back before its commit.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from interlock.errors import StorageError
from interlock.runtime.clock import Clock
from interlock.runtime.registry import Registry
from interlock.runtime.unit import Unit
from interlock.storage.store import Store

T = TypeVar("T")
Command = Callable[[Unit], Any]
_STOP = object()


class Writer:
    """Runs write commands ``fn(unit) -> result`` on a dedicated thread, batching them per commit."""

    def __init__(self, store: Store, registry: Registry, clock: Clock, *, max_batch: int = 512,
                 on_commit: Callable[[float | None], None] | None = None) -> None:
        self.store = store
        self.registry = registry
        self.clock = clock
        self.max_batch = max_batch
        self.on_commit = on_commit
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Command) -> Future[Any]:
        """Queue a command; the future resolves after the transaction that ran it has committed."""
        if self._closed:
            raise StorageError("this Interlock app is closed; open a new one")
        self._ensure_thread()
        future: Future[Any] = Future()
        self._queue.put((fn, future))
        return future

    def call(self, fn: Command, timeout: float | None = None) -> Any:
        """Run a command and wait for its result (``TimeoutError`` after ``timeout`` seconds)."""
        return self.submit(fn).result(timeout)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is not None:
            self._queue.put(_STOP)
            thread.join()

    def _ensure_thread(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._loop, name="interlock-writer", daemon=True)
                    self._thread.start()

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            batch = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                batch.append(item)
            self._run(batch)
            if stop:
                return

    def _run(self, batch: list[tuple[Command, Future[Any]]]) -> None:
        # Fast path: no savepoints. If a command fails, the transaction rolls back and the batch runs
        # again with a savepoint per command, so the failure stays the failing command's own.
        try:
            try:
                results, new_work = self._attempt(batch, isolate=False)
            except _Rollback as lone:
                results, new_work = [(batch[0][1], None, lone.__cause__)], None
            except _CommandFailed:
                results, new_work = self._attempt(batch, isolate=True)
        except BaseException as exc:  # the commit itself failed: nobody's command happened
            for _, future in batch:
                future.set_exception(exc)
            return
        for future, value, error in results:
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(value)
        if self.on_commit is not None:
            self.on_commit(new_work)

    def _attempt(self, batch: list[tuple[Command, Future[Any]]], *, isolate: bool) -> tuple[
            list[tuple[Future[Any], Any, BaseException | None]], float | None]:
        results: list[tuple[Future[Any], Any, BaseException | None]] = []
        new_work: float | None = None
        with self.store.write() as tx:
            now = self.clock.now()
            for fn, future in batch:
                unit = Unit(tx, self.registry, now)
                try:
                    if isolate:
                        with tx.savepoint():
                            value = fn(unit)
                    else:
                        value = fn(unit)
                except Exception as exc:
                    if not isolate:
                        if len(batch) == 1:
                            raise _Rollback from exc
                        raise _CommandFailed from exc
                    results.append((future, None, exc))
                    continue
                results.append((future, value, None))
                if unit.new_work is not None:
                    new_work = unit.new_work if new_work is None else min(new_work, unit.new_work)
        return results, new_work


class _CommandFailed(Exception):
    """A command failed in the fast path: run the batch again, isolated."""


class _Rollback(Exception):
    """A lone command failed: roll back; its error is its answer."""
