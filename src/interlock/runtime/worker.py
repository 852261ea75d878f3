"""The per-process worker: fires due timers, applies waiting events, runs tasks under leases.

Polling alone is always correct (another process may have added work); a commit in this process that
creates a timer or task wakes the loop early so it need not wait for the next poll.
"""

from __future__ import annotations

import logging
import random
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from interlock.runtime import commands, writes
from interlock.runtime.failures import FailureLog
from interlock.runtime.tasks import run_attempt
from interlock.runtime.unit import Unit
from interlock.storage.store import TaskRow

if TYPE_CHECKING:
    from interlock.runtime.durable import DurableRuntime

log = logging.getLogger("interlock.worker")


class Worker:
    """Does the runtime's background work, inline (:meth:`run_once`) or on a thread (:meth:`start`)."""

    def __init__(self, runtime: DurableRuntime, *, concurrency: int = 8, poll: float = 1.0,
                 batch: int = 200, seed: int | None = None) -> None:
        self.runtime = runtime
        self.owner = f"worker-{uuid.uuid4().hex[:12]}"
        self.concurrency = concurrency
        self.poll = poll
        self.batch = batch
        self.rng = random.Random(seed)
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._running = 0
        self._lock = threading.Lock()
        self.round_failures = FailureLog(log, "worker round", base=poll)
        self.task_failures = FailureLog(log, "recording a task's attempt")
        # the last round hit a limit (its timer/event batch, or every free task thread): more work may
        # be waiting, so the loop runs again at once, and a task thread that frees up wakes it
        self._saturated = False
        # claims the writer made and has not handed over yet: stop() waits for them, so a task claimed
        # just before it is run (or its thread given back) rather than left leased until its lease expires
        self._claims = 0
        self._claims_settled = threading.Condition(self._lock)

    # -- one round ----------------------------------------------------------------------------------

    def run_once(self, *, inline: bool) -> int:
        """Fire due timers, apply waiting events, claim and run tasks. Returns how much was done."""
        services = sorted(self.runtime.registry.services)
        with self._lock:
            free = max(0, self.concurrency - self._running) if not inline else self.concurrency
            if not inline:  # reserved before the claim: the writer's claim_in sees these threads taken
                self._running += free
        done: int
        tasks: list[TaskRow]
        try:
            done, tasks = self.runtime.writer.call(writes.WorkRound(
                self.owner, tuple(services), free, self.batch, self.rng))
        except BaseException:
            if not inline:
                with self._lock:
                    self._running -= free
            raise
        if not inline:
            with self._lock:
                self._running -= free - len(tasks)  # each claimed task keeps its thread until it ends
        self._saturated = done >= self.batch or (bool(services) and len(tasks) >= free)
        for task in tasks:
            if inline:
                self._run_task(task)
            else:
                assert self._pool is not None
                self._pool.submit(self._run_pooled, task)
        return done + len(tasks)

    # -- tasks claimed by the writer, in the transaction that created them ----------------------------

    def claim_in(self, unit: Unit) -> list[TaskRow]:
        """Claim available tasks for the free threads (none unless running in the background)."""
        services = sorted(self.runtime.registry.services)
        with self._lock:
            if self._pool is None or self._stop.is_set() or not services:
                return []
            free = self.concurrency - self._running
            if free <= 0:
                return []
            tasks = commands.claim(unit, owner=self.owner, services=services, limit=free, rng=self.rng)
            if tasks:
                self._running += len(tasks)  # reserved now: the threads are theirs after the commit
                self._claims += 1
        return tasks

    def run_claimed(self, tasks: list[TaskRow]) -> None:
        try:
            for i, task in enumerate(tasks):
                pool = self._pool
                try:
                    if pool is None:
                        raise RuntimeError("the worker stopped")
                    pool.submit(self._run_pooled, task)
                except RuntimeError:  # cannot happen before stop() saw this claim settle; if it does,
                    self._give_back(tasks[i:])  # the lease expires and the task is claimed again
                    log.error("tasks claimed at close were not started: %s", [t.key for t in tasks[i:]])
                    return
        finally:
            self._settle()

    def release(self, tasks: list[TaskRow]) -> None:
        """The transaction that claimed ``tasks`` did not commit: nothing was claimed."""
        self._give_back(tasks)
        self._settle()

    def _give_back(self, tasks: list[TaskRow]) -> None:
        with self._lock:
            self._running -= len(tasks)

    def _settle(self) -> None:
        with self._lock:
            self._claims -= 1
            self._claims_settled.notify_all()

    def _run_pooled(self, task: TaskRow) -> None:
        try:
            self._run_task(task)
        except Exception as exc:  # the writer is closed, or the store failed: the lease will expire
            self.task_failures.failed(exc)
        else:
            self.task_failures.succeeded()
        finally:
            with self._lock:
                self._running -= 1
            if self._saturated:  # tasks may be waiting for a free thread
                self._wake.set()

    def _run_task(self, task: TaskRow | None) -> None:
        """Run an attempt and record it; the same transaction claims the next available task (often the
        next step of the same workflow), which this thread runs at once instead of waiting a round."""
        writer = self.runtime.writer
        services = sorted(self.runtime.registry.services)
        while task is not None:
            current = task
            service = self.runtime.registry.services[current.service]

            def beat(current: TaskRow = current) -> bool:
                if self._stop.is_set():  # closing: tell the service to stop (TaskLostError)
                    return False
                return bool(writer.call(writes.Heartbeat(current, self.owner)))

            result = run_attempt(service, current, beat)
            _, follow = writer.call(writes.RecordTask(
                current, self.owner, result, () if self._stop.is_set() else tuple(services),  # closing:
                self.rng))  # claim nothing more
            task = follow[0] if follow else None

    # -- background thread --------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="interlock-task")
        self._thread = threading.Thread(target=self._loop, name="interlock-worker", daemon=True)
        self._thread.start()

    def wake(self, when: float | None) -> None:
        """A commit created work due at ``when``: re-plan the sleep. A commit that created none
        (``when`` is None) is not a reason to wake: waking on every commit made the worker wake itself
        with its own empty rounds and spin (about 12,000 empty write transactions a second when idle)."""
        if when is not None:
            self._wake.set()

    def stop(self) -> None:
        self._stop.set()  # from here on the writer claims nothing for this worker
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        with self._lock:  # a claim committed just before: its tasks reach the pool before it shuts
            self._claims_settled.wait_for(lambda: self._claims == 0, timeout=60.0)
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def _loop(self) -> None:
        clock = self.runtime.clock
        failures = self.round_failures
        while not self._stop.is_set():
            self._wake.clear()
            try:
                busy = self.run_once(inline=False)
            except Exception as exc:  # the store failed (a full disk): back off, log once per kind
                self._stop.wait(failures.failed(exc))
                continue
            failures.succeeded()
            if busy and self._saturated:
                continue
            wait = self.poll
            try:
                nxt = self.runtime.next_wakeup()
            except Exception as exc:  # the store is unreachable (a database restart): back off, retry
                self._stop.wait(failures.failed(exc))
                continue
            if nxt is not None:
                wait = max(0.0, min(wait, nxt - clock.now()))
            if wait > 0:
                self._wake.wait(wait)
