"""The per-process worker: fires due timers, applies waiting events, runs tasks under leases.

Polling alone is always correct (another process may have added work); a commit in this process that
creates a timer or task wakes the loop early so it need not wait for the next poll.
"""

from __future__ import annotations

import functools
import logging
import random
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from interlock.runtime import commands
from interlock.runtime.failures import FailureLog
from interlock.runtime.tasks import run_attempt
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

    # -- one round ----------------------------------------------------------------------------------

    def run_once(self, *, inline: bool) -> int:
        """Fire due timers, apply waiting events, claim and run tasks. Returns how much was done."""
        services = sorted(self.runtime.registry.services)
        with self._lock:
            free = self.concurrency - self._running if not inline else self.concurrency
        done: int
        tasks: list[TaskRow]
        done, tasks = self.runtime.writer.call(lambda unit: commands.round_of_work(
            unit, owner=self.owner, services=services, limit=max(0, free), timers=self.batch, rng=self.rng))
        for task in tasks:
            if inline:
                self._run_task(task)
            else:
                with self._lock:
                    self._running += 1
                assert self._pool is not None
                self._pool.submit(self._run_pooled, task)
        return done + len(tasks)

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
                return bool(writer.call(lambda unit: commands.heartbeat(unit, current, self.owner)))

            result = run_attempt(service, current, beat)
            _, follow = writer.call(functools.partial(
                commands.complete_and_claim, task=current, owner=self.owner, result=result, rng=self.rng,
                services=[] if self._stop.is_set() else services))  # closing: claim nothing more
            task = follow[0] if follow else None

    # -- background thread --------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is not None:
            return
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="interlock-task")
        self._thread = threading.Thread(target=self._loop, name="interlock-worker", daemon=True)
        self._thread.start()

    def wake(self, when: float | None) -> None:
        """A commit created work due at ``when``: re-plan the sleep."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
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
            if busy:
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
