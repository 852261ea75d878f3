"""A real server for the tests: ``tests/server/launch.py`` in a subprocess, on a free loopback port,
stopped (SIGTERM) after the test. Outside development mode its callers need API keys: ``server.key(...)``
creates one with ``interlock keys create`` on the server's database."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).parents[2]
DOOR = Path(__file__).parent / "machines" / "door.yaml"
READER = ("read",)
WRITER = ("read", "instances:write", "events:write", "machines:write")


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    """One server process; ``client`` talks to it."""

    def __init__(self, db: str, *, dev: bool = True, env: dict[str, str] | None = None,
                 log: Path | None = None) -> None:
        self.db = db
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        settings = {"INTERLOCK_DB": db, "INTERLOCK_PORT": str(self.port), "INTERLOCK_HOST": "127.0.0.1",
                    "INTERLOCK_DEV": "true" if dev else "false", "INTERLOCK_LOAD": str(DOOR),
                    "INTERLOCK_RATE": "0"}
        settings.update(env or {})
        full = {k: v for k, v in os.environ.items() if not k.startswith("INTERLOCK_")} | settings
        self.log = log
        out = open(log, "ab") if log else None  # noqa: SIM115 (the child has its own copy)
        try:
            self.process = subprocess.Popen([sys.executable, "-m", "tests.server.launch"], cwd=ROOT,
                                            env=full, stdout=out or subprocess.DEVNULL,
                                            stderr=subprocess.STDOUT)
        finally:
            if out is not None:
                out.close()
        self.client = httpx.Client(base_url=self.url, timeout=30)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited with {self.process.returncode}: {self.output()}")
            try:
                health = self.client.get("/v1/health")
            except httpx.TransportError:
                time.sleep(0.05)
                continue
            if health.status_code != 200:
                self.stop()
                raise RuntimeError(f"/v1/health answered {health.status_code}: {self.output()}")
            return
        self.stop()
        raise RuntimeError("the server did not answer within 60 s")

    def key(self, *scopes: str, label: str = "test") -> str:
        """A new API key with ``scopes`` (``"admin"`` alone: an admin key), from ``interlock keys create``."""
        from typer.testing import CliRunner

        from interlock.cli.main import app

        chosen = ["--admin"] if scopes == ("admin",) else [a for s in scopes for a in ("--scope", s)]
        result = CliRunner().invoke(app, ["keys", "create", "--db", self.db, "--label", label, *chosen])
        assert result.exit_code == 0, result.output
        key: str = result.stdout.strip().splitlines()[-1]
        return key

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log and self.log.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.client.close()
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()


@contextmanager
def running(db: str, **kwargs: object) -> Iterator[Server]:
    server = Server(db, **kwargs)  # type: ignore[arg-type]
    try:
        yield server
    finally:
        server.stop()
