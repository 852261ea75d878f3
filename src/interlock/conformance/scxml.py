"""The W3C SCXML conformance suite (IRP tests, Python datamodel) run on the in-memory runner (or, with
``runtime="durable"``, on the durable runtime: conformance/durable.py).

Each ``testNNN.scxml`` runs on its own runner with a virtual clock (delays cost no time) and a wall-clock
budget. It passes when the top-level machine ends in its ``<final id="pass">``. Files whose name contains
``sub`` and ``*.txt`` files are helpers loaded by the tests, not tests.

>>> results = run_suite([Path("conformance/scxml")], quiet=True)   # doctest: +SKIP
"""

from __future__ import annotations

import json
import re
import signal
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO

from interlock.conformance.durable import run_durable
from interlock.errors import DefinitionError
from interlock.frontends.scxml import load_scxml
from interlock.runtime.memory import MemoryRunner

Result = Literal["pass", "fail", "error", "timeout"]
Runtime = Literal["memory", "durable"]
DEFAULT_BUDGET = 5.0


@dataclass(frozen=True, slots=True)
class CaseResult:
    """The outcome of one test document."""

    test: str
    group: str
    result: Result
    detail: str
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {"test": self.test, "group": self.group, "result": self.result, "detail": self.detail}


def discover(paths: Iterable[Path]) -> list[Path]:
    """Test documents under ``paths`` (files or folders), sorted by test number then name."""
    found: set[Path] = set()
    for path in paths:
        if path.is_dir():
            found.update(p for p in path.rglob("*.scxml") if is_test(p))
        elif path.is_file():
            found.add(path)
        else:
            raise FileNotFoundError(f"no such test file or folder: {path}")
    return sorted(found, key=_sort_key)


def is_test(path: Path) -> bool:
    return path.suffix == ".scxml" and "sub" not in path.stem


def group_of(path: Path) -> str:
    """``optional`` for documents under an ``optional`` folder, else ``mandatory``."""
    return "optional" if "optional" in path.parts else "mandatory"


def _sort_key(path: Path) -> tuple[int, str]:
    match = re.search(r"(\d+)", path.stem)
    return (int(match.group(1)) if match else sys.maxsize, path.stem)


def run_case(path: Path, *, budget: float = DEFAULT_BUDGET, runtime: Runtime = "memory") -> CaseResult:
    """Run one document on the in-memory runner or the durable runtime (conformance/durable.py); never
    raises for a problem in the document or the engine."""
    began = time.monotonic()
    name, group = path.stem, group_of(path)

    def outcome(result: Result, detail: str) -> CaseResult:
        return CaseResult(name, group, result, detail, time.monotonic() - began)

    try:
        # the suite's documents name data, scripts and child documents beside them: their folder is trusted
        chart = load_scxml(path, strict=False, base_dir=path.parent)
    except DefinitionError as error:
        return outcome("error", f"the document was rejected: {error}")
    if runtime == "durable":
        try:
            http = "basichttp" in path.read_text(encoding="utf-8", errors="replace").lower()
            passed, settled, detail = run_durable(chart, name, budget, path.parent, http=http)
        except Exception as error:
            return outcome("error", f"{type(error).__name__}: {error}")
        if passed:
            return outcome("pass", "")
        return outcome("fail" if settled else "timeout", detail)
    runner = MemoryRunner(strict=False, trusted_base=path.parent)
    try:
        with _hard_limit(budget + 1.0):
            session = runner.start(chart, sessionid=name)
            settled = runner.run_until_idle(wall_timeout=budget)
    except _HardTimeout:
        return outcome("timeout", f"a step ran longer than {budget + 1.0:.0f} s")
    except Exception as error:  # an engine or runner failure is a result, not a crash of the suite
        return outcome("error", f"{type(error).__name__}: {error}")
    config = [s for s in session.configuration if s != chart.root.id]
    if not session.done:
        if not settled:
            return outcome("timeout", f"not finished within {budget:g} s; active: {config}")
        return outcome("fail", f"stopped without finishing; active: {config}")
    final = chart.states.get("pass")
    if final is not None and final.parent is chart.root and "pass" in session.configuration:
        return outcome("pass", "")
    return outcome("fail", f"ended in {config}")


def run_suite(paths: Iterable[Path], *, budget: float = DEFAULT_BUDGET, out: TextIO | None = None,
              quiet: bool = False, runtime: Runtime = "memory") -> list[CaseResult]:
    """Run every test under ``paths``, printing one JSON line per test and a summary line.

    ``out`` defaults to the current ``sys.stdout``; ``quiet`` prints nothing.
    """
    if quiet:
        out = None
    elif out is None:
        out = sys.stdout
    results = []
    for path in discover(paths):
        result = run_case(path, budget=budget, runtime=runtime)
        results.append(result)
        if out is not None:
            print(json.dumps(result.to_json()), file=out, flush=True)
    if out is not None:
        print(summary(results), file=out)
    return results


def summary(results: list[CaseResult]) -> str:
    passed = sum(r.result == "pass" for r in results)
    return f"{passed} passed, {len(results) - passed} failed"


class _HardTimeout(BaseException):
    """Raised by SIGALRM inside a step that never returns (an endless loop in a script)."""


@contextmanager
def _hard_limit(seconds: float) -> Iterator[None]:
    """Interrupt a runaway step after ``seconds``; only possible on the main thread of a POSIX process."""
    usable = hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def expire(_signum: int, _frame: object) -> None:
        raise _HardTimeout

    previous = signal.signal(signal.SIGALRM, expire)
    began = time.monotonic()
    # keep any alarm already set (pytest-timeout uses one): restore what is left of it afterwards
    outer, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer > 0:
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - began), 0.001))
