"""``interlock serve`` as a user runs it: development mode refused off loopback, and a server that loads
machine files, says where its docs are, and stops on Ctrl-C; its access log, on or off; WebSocket
compression, off unless turned on."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from tests.server.support import ROOT, free_port, running

INTERLOCK = [str(Path(sys.executable).parent / "interlock")]  # the console script


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("INTERLOCK_")}


def test_development_mode_refuses_a_public_address() -> None:
    done = subprocess.run([*INTERLOCK, "serve", "--dev", "--host", "0.0.0.0"], capture_output=True,
                          text=True, env=_env(), timeout=60)
    assert done.returncode == 2
    assert "loopback" in done.stderr and "--dev" in done.stderr


def test_serve_loads_the_examples_prints_the_docs_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen([*INTERLOCK, "serve", "--dev", "--port", str(port), "--db",
                                f"sqlite:///{tmp_path / 'x.db'}", "--load", str(ROOT / "examples")],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env())
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert f"docs at http://127.0.0.1:{port}/docs" in first
        deadline = time.monotonic() + 60
        while True:
            try:
                machines = httpx.get(f"http://127.0.0.1:{port}/v1/machines").json()
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.05)
        names = {m["name"] for m in machines["items"]}
        assert {"checkout", "light", "order", "demo_order"} <= names
        docs = httpx.get(f"http://127.0.0.1:{port}/docs")
        assert docs.status_code == 200 and "/v1/machines/{machine}/instances" in docs.text
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=60)[0]
    assert process.returncode in (0, 130, -signal.SIGINT), output  # 130: the shell convention for Ctrl-C
    assert "interlock closed" in output


@pytest.mark.parametrize("setting", ["", "false"])
def test_the_access_log_has_a_line_per_request_unless_turned_off(setting: str, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    env = {"INTERLOCK_ACCESS_LOG": setting} if setting else {}
    with running(f"sqlite:///{tmp_path / 'a.db'}", log=log, env=env) as server:
        assert server.client.post("/v1/machines/door/instances", json={"name": "d1"}).status_code == 201
    lines = [line for line in log.read_text().splitlines() if "POST /v1/machines/door/instances" in line]
    assert len(lines) == (0 if setting == "false" else 1), log.read_text()[-2000:]


@pytest.mark.parametrize("setting", ["", "true"])
def test_live_websockets_are_compressed_only_when_turned_on(setting: str, tmp_path: Path) -> None:
    env = {"INTERLOCK_LIVE_COMPRESSION": setting} if setting else {}
    with running(f"sqlite:///{tmp_path / 'c.db'}", env=env) as server, connect(
            server.url.replace("http://", "ws://") + "/v1/subscribe") as ws:  # offers permessage-deflate
        ws.send(json.dumps({"subscribe": {"machine": "door"}}))
        assert "subscribed" in json.loads(ws.recv(timeout=30))
        extensions = [type(e).__name__ for e in ws.protocol.extensions]
    assert extensions == (["PerMessageDeflate"] if setting == "true" else [])
