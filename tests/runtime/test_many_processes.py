"""Many processes, one PostgreSQL database: three worker processes (``interlock worker``) and an embedded
app share timers, tasks and cross-instance sends while workers are SIGKILLed under load, over and over
(four times, a new worker started after each).

What must hold: no acknowledged event is lost, no step is applied twice, no timer fires twice, every task
result is applied once. Each is read back from the instances' histories and contexts.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from interlock.app import Interlock
from interlock.runtime.clock import SystemClock
from tests.postgres_support import fresh_database

SETUP = '''
from interlock import RetryPolicy, load_scxml

NS = 'xmlns="http://www.w3.org/2005/07/scxml" datamodel="python"'
FLOW = f"""<scxml {NS} name="flow" initial="main">
<datamodel><data id="me" expr="''"/><data id="ledger" expr="'L0'"/><data id="pings" expr="[]"/>
  <data id="charged" expr="None"/></datamodel>
<state id="main" initial="waiting">
  <transition event="PING"><assign location="pings" expr="pings + [_event.data['i']]"/></transition>
  <state id="waiting">
    <onentry><send event="GO" delay="300ms"/></onentry>
    <transition event="GO" target="charging"/>
  </state>
  <state id="charging">
    <invoke id="charge" src="service:charge"><param name="who" expr="me"/></invoke>
    <transition event="done.invoke.charge" target="notified">
      <assign location="charged" expr="_event.data"/>
      <send event="ENTRY" targetexpr="'instance:ledger/' + ledger"><param name="flow" expr="me"/></send>
    </transition>
  </state>
  <state id="notified"/>
</state>
</scxml>"""
LEDGER = f"""<scxml {NS} name="ledger" initial="open">
<datamodel><data id="entries" expr="[]"/></datamodel>
<state id="open">
  <transition event="ENTRY"><assign location="entries" expr="entries + [_event.data['flow']]"/></transition>
</state>
</scxml>"""


def charge(task):
    import time
    time.sleep(0.05)
    return {"charged": task.input["who"]}


def setup(app):
    app.register(load_scxml(FLOW))
    app.register(load_scxml(LEDGER))
    app.service("charge", charge, retry=RetryPolicy(attempts=10, lease=2.0, backoff=0.1))
'''
FLOWS = 40
LEDGERS = 3
KILL_AT = (8, 16, 24, 32)  # flows created when a worker is SIGKILLed (the oldest one each time)


def _start_worker(url: str, module: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", "from interlock.cli.main import app; app()", "worker", url, "--app",
         str(module), "--poll", "0.1", "--concurrency", "4"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # "interlock worker ... running": its machines are registered
    assert "running" in line, line
    return proc


def test_workers_killed_under_load_lose_nothing_and_do_nothing_twice(tmp_path: Path) -> None:
    module = tmp_path / "flows.py"
    module.write_text(SETUP)
    sys.path.insert(0, str(tmp_path))
    workers: list[subprocess.Popen[str]] = []
    try:
        import flows  # type: ignore[import-not-found]

        with fresh_database() as url, Interlock(url, clock=SystemClock(), worker=False) as app:
            flows.setup(app)  # the embedded app creates and sends; the worker processes do the rest
            try:
                workers = [_start_worker(url, module) for _ in range(3)]
                _run_load(app, url, module, workers)
            finally:
                _stop(workers)
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("flows", None)


def _run_load(app: Interlock, url: str, module: Path, workers: list[subprocess.Popen[str]]) -> None:
    for n in range(LEDGERS):
        app.create("ledger", f"L{n}")
    acknowledged: list[tuple[str, int]] = []
    pinging = threading.Thread(target=_ping, args=(app, acknowledged))
    for n in range(FLOWS):
        app.create("flow", f"f{n}", input={"me": f"f{n}", "ledger": f"L{n % LEDGERS}"})
        if n == 5:
            pinging.start()
        if n in KILL_AT:  # SIGKILL a worker in the middle of the load, start another
            victim = workers.pop(0)
            victim.send_signal(signal.SIGKILL)
            _reap(victim)
            workers.append(_start_worker(url, module))
    pinging.join()
    _wait_until_settled(app)
    _check(app, acknowledged)


def _stop(workers: list[subprocess.Popen[str]]) -> None:
    for proc in workers:
        proc.terminate()
    for proc in workers:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        _reap(proc)


def _reap(proc: subprocess.Popen[str]) -> None:
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def _ping(app: Interlock, acknowledged: list[tuple[str, int]]) -> None:
    for i in range(60):
        flow = f"f{i % 6}"
        app.send("flow", flow, {"type": "PING", "i": i}, idempotency_key=f"ping-{i}")
        acknowledged.append((flow, i))


def _wait_until_settled(app: Interlock) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        states = [app.get("flow", f"f{n}").state for n in range(FLOWS)]
        entries = sum(len(app.get("ledger", f"L{n}").context["entries"]) for n in range(LEDGERS))
        if all(s == ("notified",) for s in states) and entries >= FLOWS:
            return
        time.sleep(0.2)
    raise AssertionError(f"not settled: {Counter(states)}, {entries} ledger entries")


def _check(app: Interlock, acknowledged: list[tuple[str, int]]) -> None:
    for n in range(FLOWS):
        history = _all_history(app, "flow", f"f{n}")
        steps = [h.step for h in history]
        assert steps == list(range(len(steps)))  # every step once, none lost
        names = Counter(h.event["name"] for h in history if h.event is not None)
        assert names["GO"] == 1, f"f{n}: the timer fired {names['GO']} times"
        assert names["done.invoke.charge"] == 1, f"f{n}: the task result was applied {names['done.invoke.charge']} times"
        assert app.get("flow", f"f{n}").context["charged"] == {"charged": f"f{n}"}
    entries = Counter(e for n in range(LEDGERS) for e in app.get("ledger", f"L{n}").context["entries"])
    assert entries == Counter(f"f{n}" for n in range(FLOWS))  # each cross-instance send applied once
    for flow in {f for f, _ in acknowledged}:
        pings = app.get("flow", flow).context["pings"]
        assert sorted(pings) == sorted(i for f, i in acknowledged if f == flow)  # none lost, none twice
    feed, after = [], 0
    while page := app.changes(after=after, limit=500).items:
        feed += page
        after = page[-1].position
    assert len(feed) == len({(c.machine, c.id, c.step) for c in feed})  # the feed holds each step once
    assert [c.position for c in feed] == sorted(c.position for c in feed)


def _all_history(app: Interlock, machine: str, id: str) -> list:  # type: ignore[type-arg]
    out, after = [], -1
    while True:
        page = app.history(machine, id, after=after, limit=100)
        out += page.items
        if page.next is None:
            return out
        after = page.next
