"""Crash test: a driver process is killed with SIGKILL at random points, many times; after each restart
the history must show that no event was lost or applied twice, no timer fired twice or went missing,
every task reported exactly once, and every instance reached the state its events imply.

The driver is this module run as a script: ``python -m tests.runtime.test_crash drive <db>``.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from interlock.app import Interlock
from interlock.errors import ConflictError
from interlock.runtime.retry import RetryPolicy
from interlock.runtime.tasks import Task
from tests.runtime.durable_support import scxml

INSTANCES = 10
EVENTS = 100  # INC events per instance; every 5th starts a timer, every 10th is followed by a JOB
KILLS = 10
ROOT = Path(__file__).parents[2]

COUNTER = """
<datamodel><data id="count" expr="0"/><data id="ticks" expr="0"/><data id="jobs" expr="0"/>
  <data id="errors" expr="0"/></datamodel>
<state id="run" initial="idle">
  <transition event="INC">
    <assign location="count" expr="count + 1"/>
    <if cond="_event.data['i'] % 5 == 0"><send event="TICK" delay="30ms"/></if>
  </transition>
  <transition event="TICK"><assign location="ticks" expr="ticks + 1"/></transition>
  <state id="idle"><transition event="JOB" target="working"/></state>
  <state id="working">
    <invoke id="job" src="service:flaky"><param name="n" expr="count"/></invoke>
    <transition event="done.invoke.job" target="idle"><assign location="jobs" expr="jobs + 1"/></transition>
    <transition event="error.invoke.job" target="idle"><assign location="errors" expr="errors + 1"/></transition>
  </state>
</state>
"""


def counter_chart():  # type: ignore[no-untyped-def]
    return scxml(COUNTER, name="counter", initial="run")


def flaky(task: Task) -> int:
    """Job n: n % 3 == 0 fails once then succeeds, n % 3 == 1 always fails, otherwise succeeds."""
    n = task.input["n"]
    if n % 3 == 1 or (n % 3 == 0 and task.attempt == 1):
        raise RuntimeError(f"job {n} failed on attempt {task.attempt}")
    return n


def open_driver_app(db: Path) -> Interlock:
    app = Interlock(f"sqlite:///{db}", poll=0.02)
    app.register(counter_chart())
    app.service("flaky", flaky, retry=RetryPolicy(attempts=2, backoff=0.01, jitter=0.0, lease=0.5))
    return app


def drive(db: Path) -> None:
    """Send every event (again: idempotency keys make repeats no-ops), then wait until all settled."""
    app = open_driver_app(db)
    ids = [f"c{i}" for i in range(INSTANCES)]
    for id in ids:
        with contextlib.suppress(ConflictError):  # created by an earlier run
            app.create("counter", id)
    for k in range(EVENTS):
        for id in ids:
            app.send("counter", id, {"type": "INC", "i": k}, idempotency_key=f"{id}-inc-{k}")
        if k % 10 == 9:
            for id in ids:
                app.send("counter", id, "JOB", idempotency_key=f"{id}-job-{k}")
            _wait(app, ids, lambda inst: inst.state == ("idle",))
        print(f"round {k}", flush=True)
    # ">=": if a timer fired twice, stop waiting and let the history check say so
    _wait(app, ids, lambda inst: inst.context["ticks"] >= EVENTS // 5 and inst.queued == 0)
    print("DONE", flush=True)
    app.close()


def _wait(app: Interlock, ids: list[str], ready) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + 60
    while not all(ready(app.get("counter", id)) for id in ids):
        if time.monotonic() > deadline:
            sys.exit("the instances never settled: " + ", ".join(repr(app.get("counter", i)) for i in ids))
        time.sleep(0.01)


def _run_driver(db: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "tests.runtime.test_crash", "drive", str(db)],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigkill_at_random_points_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    rng = random.Random(int(os.environ.get("CRASH_SEED", "7")))
    # Kill points are chosen by progress (a round the driver reports), plus a random delay, so every
    # run is killed mid-way whatever the speed of the machine.
    for target in sorted(rng.sample(range(3, EVENTS - 3), KILLS)):
        proc = _run_driver(db)
        assert proc.stdout is not None
        while (line := proc.stdout.readline()) and line.strip() != f"round {target}":
            pass
        assert line, f"the driver stopped before round {target}: {proc.communicate()[1][-3000:]}"
        time.sleep(rng.uniform(0, 0.05))
        proc.send_signal(signal.SIGKILL)
        proc.communicate()
        assert proc.returncode == -signal.SIGKILL
    proc = _run_driver(db)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and "DONE" in out, err[-3000:]
    check_history(db)


def check_history(db: Path) -> None:
    app = Interlock(f"sqlite:///{db}", worker=False)
    app.register(counter_chart())
    try:
        for n in range(INSTANCES):
            _check_instance(app, f"c{n}")
    finally:
        app.close()


def _check_instance(app: Interlock, id: str) -> None:
    entries = []
    page = app.history("counter", id, limit=500)
    entries += page.items
    while page.next is not None:
        page = app.history("counter", id, after=page.next, limit=500)
        entries += page.items
    assert [e.step for e in entries] == list(range(len(entries))), "history has gaps"
    applied = [e for e in entries if e.outcome in ("applied", "ignored")]
    assert all(e.outcome != "failed" for e in entries)
    incs = [e.event["data"]["i"] for e in applied if e.event["name"] == "INC"]
    assert incs == list(range(EVENTS)), f"{id}: INC events lost, duplicated or reordered: {incs}"
    ticks = [e for e in applied if e.event["name"] == "TICK"]
    assert len(ticks) == EVENTS // 5, f"{id}: {len(ticks)} timers fired, expected {EVENTS // 5}"
    assert len({e.cause for e in ticks}) == len(ticks), f"{id}: a timer fired twice"
    results = [e for e in applied if e.event["name"] in ("done.invoke.job", "error.invoke.job")]
    assert len(results) == EVENTS // 10 and len({e.cause for e in results}) == len(results)
    jobs = [10 * (j + 1) for j in range(EVENTS // 10)]  # count when each JOB arrived
    inst = app.get("counter", id)
    expected = {"count": EVENTS, "ticks": EVENTS // 5, "jobs": sum(1 for n in jobs if n % 3 != 1),
                "errors": sum(1 for n in jobs if n % 3 == 1)}
    assert inst.context == expected
    assert (inst.state, inst.queued) == (("idle",), 0)


if __name__ == "__main__" and sys.argv[1:2] == ["drive"]:
    drive(Path(sys.argv[2]))
