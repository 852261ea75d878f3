"""One W3C SCXML test document run on the durable runtime: a SQLite file in a temporary folder, a
virtual clock, the same commands and effect dispatch as production (runtime/writes.py, dispatch.py).

The suite runs here as well as on the in-memory runner (conformance/scxml.py, ``runtime="durable"``),
so the two runtimes are held to the same tests; what the durable runtime cannot do yet is listed in
tests/conformance/scxml_durable_expected_failures.toml.

The durable runtime never reads files: a child machine is one the application registered. So, as an
application would, this harness registers each SCXML helper document a test invokes with
``src="file:NAME"`` (in the test's folder, which the suite trusts) as a machine named by that src.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import time
from pathlib import Path

from interlock.app import Interlock
from interlock.conformance.loopback import loopback_server
from interlock.core.chart import Chart, build_chart
from interlock.frontends.scxml import parse_scxml
from interlock.frontends.scxml_content import trusted_path
from interlock.runtime.clock import VirtualClock

MAX_ROUNDS = 1000  # timer jumps of one test (the suite's longest waits are a few delayed sends)


def run_durable(chart: Chart, name: str, budget: float, folder_of: Path, *,
                http: bool = False) -> tuple[bool, bool, str]:
    """``(passed, settled, detail)``: run ``chart`` (a test document in folder ``folder_of``) as instance
    ``name`` until nothing is left to do; with ``http``, served on a loopback port meanwhile
    (conformance/loopback.py) so its Basic HTTP sends reach it."""
    clock = VirtualClock()
    deadline = time.monotonic() + budget
    quiet = logging.getLogger("interlock")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # a test's deliberate errors are its business, not the log's
    try:
        with tempfile.TemporaryDirectory(prefix="interlock-w3c-") as folder, \
                Interlock(f"sqlite:///{Path(folder) / 'test.db'}", clock=clock, synchronous="OFF") as app, \
                loopback_server(app) if http else contextlib.nullcontext():
            for helper in helpers(chart, folder_of):
                app.register(helper)
            app.register(chart)
            app.create(chart.name, name, timeout=budget)
            settled = _run(app, clock, deadline)
            inst = app.get(chart.name, name)
    finally:
        quiet.setLevel(level)
    final = chart.states.get("pass")
    passed = (inst.status == "done" and final is not None and final.parent is chart.root
              and "pass" in inst.state)
    return passed, settled, f"{inst.status} in {list(inst.state)}"


def helpers(chart: Chart, folder: Path) -> list[Chart]:
    """The SCXML documents ``chart`` invokes by ``src="file:..."``, each built under that src as its name."""
    out = []
    for state in chart.walk():
        for spec in state.invokes:
            src = spec.src or ""
            if src.startswith("file:") and src.endswith(".scxml"):
                document = parse_scxml(trusted_path(src, folder).read_text(encoding="utf-8"))
                document.name = src
                out.append(build_chart(document))
    return out


def _run(app: Interlock, clock: VirtualClock, deadline: float) -> bool:
    for _ in range(MAX_ROUNDS):
        app.run_until_idle()
        due = app.runtime.next_wakeup()
        if due is None:
            return True
        if time.monotonic() > deadline:
            return False
        clock.sleep_until(due)
    return False
