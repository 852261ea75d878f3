"""The commands that talk to a server, run as a user would (typer's runner) against a real server:
tables by default, JSON with --json, and the documented exit codes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from interlock.cli.main import app
from interlock.client import Client
from tests.server.support import DOOR, Server, free_port, running


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    where = tmp_path_factory.mktemp("remote")
    with running(f"sqlite:///{where / 'cli.db'}", log=where / "server.log", env={"INTERLOCK_LOAD": str(DOOR)}) as found:
        with Client(found.url) as client:
            client.create("door", "front")
            client.create("door", "back")
            client.send("door", "back", "OPEN")
        yield found


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    where = tmp_path_factory.mktemp("keyed")
    with running(f"sqlite:///{where / 'cli.db'}", dev=False, log=where / "server.log",
                 env={"INTERLOCK_LOAD": str(DOOR)}) as found:
        yield found


def run(server: Server | str, *args: str, env: dict[str, str] | None = None) -> Result:
    url = server if isinstance(server, str) else server.url
    return CliRunner().invoke(app, [*args, "--url", url], env=env)


def test_machines_and_versions(server: Server) -> None:
    listed = run(server, "machines")
    assert listed.exit_code == 0, listed.output
    assert "door" in listed.output
    data = json.loads(run(server, "machines", "--json").output)
    assert data == [{"name": "door", "versions": ["1"], "latest": "1"}]
    versions = json.loads(run(server, "versions", "door", "--json").output)
    assert versions[0]["version"] == "1" and versions[0]["source"] == "app"


def test_instances_with_filters(server: Server) -> None:
    table = run(server, "instances", "door")
    assert table.exit_code == 0 and "front" in table.output and "back" in table.output
    found = json.loads(run(server, "instances", "door", "--state", "door.open", "--json").output)
    assert [i["id"] for i in found] == ["back"]
    assert [i["id"] for i in json.loads(run(server, "instances", "door", "--limit", "1", "--json").output)] == ["back"]


def test_send_show_and_history(server: Server, tmp_path: Path) -> None:
    assert run(server, "send", "door", "front", "OPEN").exit_code == 0
    sent = run(server, "send", "door", "front", "CLOSE", "--json", "--idempotency-key", "k1")
    result = json.loads(sent.output)
    assert result["outcome"] == "applied" and result["instance"]["state"] == ["door.closed"]
    again = json.loads(run(server, "send", "door", "front", "CLOSE", "--json", "--idempotency-key", "k1").output)
    assert again["duplicate"] is True
    shown = run(server, "show", "door", "front")
    assert "door.closed" in shown.output and '"opened": 1' in shown.output
    history = json.loads(run(server, "history", "door", "front", "--json").output)
    assert [(h["step"], (h["event"] or {}).get("name")) for h in history] == [(0, None), (1, "OPEN"), (2, "CLOSE")]
    assert "CLOSE" in run(server, "history", "door", "front").output


def test_event_data_is_a_json_object(server: Server) -> None:
    bad = run(server, "send", "door", "front", "OPEN", "{not json")
    assert bad.exit_code == 1 and "not JSON" in bad.output
    assert run(server, "send", "door", "front", "OPEN", "[1]").exit_code == 1


@pytest.mark.parametrize(("args", "code", "text"), [
    (("show", "door", "nope"), 3, "not_found.instance"),
    (("versions", "nomachine"), 3, "not_found.machine"),
    (("send", "door", "front", "done.x"), 4, "event.rejected"),
    (("history", "door", "front", "--limit", "0"), 2, ""),  # the command line itself (click)
])
def test_exit_codes(server: Server, args: tuple[str, ...], code: int, text: str) -> None:
    result = run(server, *args)
    assert result.exit_code == code, result.output
    assert text in result.output


def test_arguments_the_client_refuses_are_exit_1(server: Server) -> None:
    result = run(server, "show", "door", "")
    assert result.exit_code == 1 and "non-empty string" in result.output
    for command in ("tail", "machines"):  # --url itself is wrong: the command line
        wrong = run("ftp://127.0.0.1:1", command, "door") if command == "tail" else run("ftp://x", command)
        assert wrong.exit_code == 2 and "http://" in wrong.output


def test_send_without_waiting(server: Server) -> None:
    with Client(server.url) as client:
        client.create("door", "side")
    result = run(server, "send", "door", "side", "OPEN", "--no-wait", "--json")
    assert result.exit_code == 0 and json.loads(result.output) == {"accepted": True}
    assert "queued CLOSE for door/side" in run(server, "send", "door", "side", "CLOSE", "--no-wait").output


def test_a_server_that_is_not_there_is_exit_6() -> None:
    result = run(f"http://127.0.0.1:{free_port()}", "machines")
    assert result.exit_code == 6 and "is the server running" in result.output


def test_keys_come_from_the_option_or_the_environment(keyed: Server) -> None:
    reader = keyed.key("read")
    refused = run(keyed, "machines")
    assert refused.exit_code == 5 and "auth.credentials.missing" in refused.output and "--key" in refused.output
    assert run(keyed, "machines", "--key", reader).exit_code == 0
    assert run(keyed, "machines", env={"INTERLOCK_KEY": reader}).exit_code == 0
    forbidden = run(keyed, "send", "door", "x", "OPEN", "--key", reader)
    assert forbidden.exit_code == 5 and "auth.scope.missing" in forbidden.output


def test_the_url_comes_from_the_environment(server: Server) -> None:
    result = CliRunner().invoke(app, ["machines", "--json"], env={"INTERLOCK_URL": server.url})
    assert result.exit_code == 0 and json.loads(result.output)[0]["name"] == "door"


def test_tail_prints_changes_from_a_position(server: Server) -> None:
    result = run(server, "tail", "door", "--after", "0", "--count", "2", "--json")
    assert result.exit_code == 0, result.output
    changes = [json.loads(line) for line in result.output.splitlines()]
    assert [(c["id"], c["step"], c["outcome"]) for c in changes] == [("front", 0, "started"), ("back", 0, "started")]
    one = run(server, "tail", "door", "back", "--after", "0", "--count", "2")
    assert one.exit_code == 0 and "door/back step 1 applied" in one.output and "front" not in one.output


def test_tail_of_a_refused_subscription_exits_5(keyed: Server) -> None:
    result = run(keyed, "tail", "door", "--after", "0", "--count", "1")
    assert result.exit_code == 5 and "auth.credentials.missing" in result.output


def test_wait_shows_the_instance_once_it_has_ended_or_exits_7(server: Server) -> None:
    with Client(server.url) as client:
        client.create("door", "cellar")
        late = run(server, "wait", "door", "cellar", "--timeout", "0.2")
        assert late.exit_code == 7, late.output
        assert "door/cellar has not ended after 0.2 s" in late.output and "interlock show door cellar" in late.output
        client.send("door", "cellar", "OPEN")
        client.send("door", "cellar", "LOCK")
    ended = run(server, "wait", "door", "cellar", "--json")
    assert ended.exit_code == 0, ended.output
    assert (json.loads(ended.output)["status"], json.loads(ended.output)["state"]) == ("done", ["door.locked"])
    assert "door.locked" in run(server, "wait", "door", "cellar").output
    assert run(server, "wait", "door", "nope", "--timeout", "1").exit_code == 3
