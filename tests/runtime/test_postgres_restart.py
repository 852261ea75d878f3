"""PostgreSQL restarted under load: every process recovers by itself, and no acknowledged event is lost.

The test runs its own cluster (initdb and pg_ctl from /usr/lib/postgresql/15/bin, in a temporary folder,
on a free port; as the ``postgres`` user when the tests run as root, since initdb refuses root), so it
can stop the server without disturbing anything else.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from interlock.app import Interlock
from interlock.errors import InterlockError
from interlock.runtime.clock import SystemClock

BIN = Path("/usr/lib/postgresql/15/bin")
SETUP = '''
from interlock import load_scxml

NS = 'xmlns="http://www.w3.org/2005/07/scxml" datamodel="python"'
TICKER = f"""<scxml {NS} name="ticker" initial="run">
<datamodel><data id="got" expr="[]"/><data id="ticks" expr="0"/></datamodel>
<state id="run">
  <onentry><send event="TICK" delay="200ms"/></onentry>
  <transition event="TICK" cond="ticks &lt; 9" target="run"><assign location="ticks" expr="ticks + 1"/></transition>
  <transition event="TICK" target="end"><assign location="ticks" expr="ticks + 1"/></transition>
  <transition event="NOTE" type="internal"><assign location="got" expr="got + [_event.data['i']]"/></transition>
</state>
<state id="end">
  <transition event="NOTE"><assign location="got" expr="got + [_event.data['i']]"/></transition>
</state>
</scxml>"""


def setup(app):
    app.register(load_scxml(TICKER))
'''


def _as_postgres(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def cluster() -> Iterator[tuple[Path, int]]:
    if not (BIN / "initdb").exists():
        if os.environ.get("CI"):
            pytest.fail(f"{BIN}/initdb is missing; CI is set, so the restart test must run")
        pytest.skip(f"PostgreSQL 15 server binaries are not installed in {BIN}")
    folder = Path(tempfile.mkdtemp(prefix="interlock-pg-"))
    data = folder / "data"
    port = _free_port()
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    subprocess.run(_as_postgres([str(BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]),
                   check=True, capture_output=True)
    try:
        _pg_ctl(data, port, "start")
        yield data, port
    finally:
        subprocess.run(_as_postgres([str(BIN / "pg_ctl"), "-D", str(data), "stop", "-m", "immediate", "-w"]),
                       capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)


def _pg_ctl(data: Path, port: int, action: str, *extra: str) -> None:
    subprocess.run(_as_postgres([str(BIN / "pg_ctl"), "-D", str(data), "-l", str(data / "log.txt"), "-w",
                                 "-o", f"-p {port} -k {data} -c listen_addresses=127.0.0.1", action,
                                 *extra]), check=True, capture_output=True)


def test_postgres_restarted_under_load_every_process_recovers(cluster: tuple[Path, int],
                                                             tmp_path: Path) -> None:
    data, port = cluster
    server = f"postgresql://postgres@127.0.0.1:{port}"
    with psycopg.connect(f"{server}/postgres", autocommit=True) as conn:
        conn.execute(b"CREATE DATABASE interlock")
    url = f"{server}/interlock"
    module = tmp_path / "ticker_app.py"
    module.write_text(SETUP)
    worker = subprocess.Popen(
        [sys.executable, "-c", "from interlock.cli.main import app; app()", "worker", url, "--app",
         str(module), "--poll", "0.1"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert worker.stdout is not None and "running" in worker.stdout.readline()
        namespace: dict[str, object] = {}
        exec(compile(SETUP, str(module), "exec"), namespace)
        with Interlock(url, clock=SystemClock(), poll=0.1) as app:
            namespace["setup"](app)  # type: ignore[operator]
            for n in range(5):
                app.create("ticker", f"t{n}")
            acknowledged: list[tuple[str, int]] = []
            stop = threading.Event()
            sender = threading.Thread(target=_send_notes, args=(app, acknowledged, stop))
            sender.start()
            time.sleep(0.5)
            _pg_ctl(data, port, "restart", "-m", "immediate")  # a crash and a restart, under load
            time.sleep(1.0)
            stop.set()
            sender.join()
            _wait_for(lambda: all(app.get("ticker", f"t{n}").state == ("end",) for n in range(5)))
            for n in range(5):
                instance = app.get("ticker", f"t{n}")
                assert instance.context["ticks"] == 10  # every timer fired once, none lost in the crash
                mine = sorted(i for t, i in acknowledged if t == f"t{n}")
                assert sorted(set(instance.context["got"]) & set(mine)) == mine  # acknowledged: applied
                assert len(instance.context["got"]) == len(set(instance.context["got"]))  # never twice
            assert len(acknowledged) > 10
            after = app.send("ticker", "t0", {"type": "NOTE", "i": -1})  # the app works after the restart
            assert after.outcome == "applied"
        assert worker.poll() is None  # the worker process survived the restart and is still running
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
        if worker.stdout is not None:
            worker.stdout.close()


def _send_notes(app: Interlock, acknowledged: list[tuple[str, int]], stop: threading.Event) -> None:
    i = 0
    while not stop.is_set():
        target = f"t{i % 5}"
        try:
            app.send("ticker", target, {"type": "NOTE", "i": i}, idempotency_key=f"note-{i}")
            acknowledged.append((target, i))
        except InterlockError:
            time.sleep(0.05)  # the server is down: not acknowledged, and the key makes a retry safe
        i += 1


def _wait_for(condition: object, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if condition():  # type: ignore[operator]
                return
        except InterlockError:
            pass
        time.sleep(0.2)
    raise AssertionError("the processes did not recover within a minute")
