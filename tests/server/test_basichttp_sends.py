"""The SCXML Basic HTTP Event I/O Processor's sending side (SCXML C.2): a chart's ``<send>`` to an
http(s) URL is POSTed by the runtime's task machinery, within the process's HTTPSends policy."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import parse_qsl

from interlock import Interlock, load_scxml
from interlock.conformance.loopback import loopback_server
from interlock.core.events import Event
from interlock.runtime.basichttp import HTTPSends, request_of
from interlock.runtime.clock import VirtualClock

CHART = """<scxml xmlns="http://www.w3.org/2005/07/scxml" name="pinger" initial="s0" datamodel="python">
  <state id="s0">
    <onentry>
      <send event="ping" target="{target}" type="http://www.w3.org/TR/scxml/#BasicHTTPEventProcessor">
        <param name="n" expr="1"/>
      </send>
    </onentry>
    <transition event="ping" cond="_event.data['n'] == '1' and 'POST ' in _event.raw" target="pass"/>
    <transition event="error.communication" target="failed"/>
  </state>
  <final id="pass"/>
  <final id="failed"/>
</scxml>"""
SELF = "{_ioprocessors}"


def pinger(tmp_path: Path, target: str) -> object:
    path = tmp_path / "pinger.scxml"
    text = CHART.replace('target="{target}"', 'targetexpr="_ioprocessors[\'basichttp\'][\'location\']"'
                         if target == SELF else f'target="{target}"')
    path.write_text(text, encoding="utf-8")
    return load_scxml(path)


def run(tmp_path: Path, target: str, **options: object) -> tuple[list[str], dict[str, object] | None]:
    """Start a pinger, do its work; its state, and the error.communication it got (if any)."""
    with Interlock(f"sqlite:///{tmp_path / 'sends.db'}", clock=VirtualClock(), **options) as app:  # type: ignore[arg-type]
        app.register(pinger(tmp_path, target))  # type: ignore[arg-type]
        with loopback_server(app):
            app.create("pinger", "p1")
            app.run_until_idle()
        state = list(app.get("pinger", "p1").state)
        events = [e.event for e in app.history("pinger", "p1").items if e.event]
    errors = [e for e in events if e["name"] == "error.communication"]
    return state, errors[0]["data"] if errors else None


def test_a_send_to_its_own_location_is_posted_and_comes_back_as_an_event(tmp_path: Path) -> None:
    assert run(tmp_path, SELF) == (["pass"], None)


def test_a_host_the_policy_does_not_allow_is_error_communication_without_a_request(tmp_path: Path) -> None:
    state, error = run(tmp_path, "http://example.com/hook")
    assert state == ["failed"] and error is not None
    assert "host 'example.com' is not one this process sends to" in str(error["message"])
    assert error["target"] == "http://example.com/hook" and error["event"] == "ping"


def test_a_target_that_does_not_answer_is_error_communication_after_its_attempts(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nobody listens there
    state, error = run(tmp_path, f"http://127.0.0.1:{port}/hook", http_sends=HTTPSends(attempts=1))
    assert state == ["failed"] and error is not None and "after 1 attempt" in str(error["message"])


def test_a_process_without_http_sends_refuses_them(tmp_path: Path) -> None:
    state, error = run(tmp_path, SELF, http_sends=None)
    assert state == ["failed"] and error is not None
    assert "this process sends no HTTP events" in str(error["message"])


def test_the_request_carries_the_name_as_scxmleventname_and_data_as_fields_or_body() -> None:
    url, body, kind = request_of(Event("go", {"n": 1, "who": "ann", "list": [1]}), "http://h/x")
    assert url == "http://h/x" and kind == "application/x-www-form-urlencoded"
    assert parse_qsl(body.decode()) == [("_scxmleventname", "go"), ("n", "1"), ("who", "ann"),
                                        ("list", "[1]")]
    assert request_of(Event("HTTP.POST", None), "http://h/x")[1] == b""  # the receiver's default name
    url, body, kind = request_of(Event("go", "some content"), "http://h/x?a=1")
    assert (url, body, kind) == ("http://h/x?a=1&_scxmleventname=go", b"some content",
                                 "text/plain; charset=utf-8")
    assert request_of(Event("go", [1, 2]), "http://h/x")[1:] == (b"[1, 2]", "application/json")


def test_the_policy_refuses_other_schemes_credentials_and_hosts_it_does_not_name() -> None:
    policy = HTTPSends(allow=("api.example.com", "*.hooks.example.org"))
    assert policy.refusal("https://api.example.com/x") is None
    assert policy.refusal("https://a.hooks.example.org/x") is None
    assert "not one this process sends to" in str(policy.refusal("http://127.0.0.1/x"))
    assert "not an http(s) URL" in str(policy.refusal("file:///etc/passwd"))
    assert "credentials" in str(policy.refusal("https://u:p@api.example.com/x"))
    assert HTTPSends(allow=()).refusal("http://localhost/x") is not None


def test_the_server_setting_names_the_hosts_and_an_empty_list_sends_none(tmp_path: Path) -> None:
    from interlock.server.config import load_config

    env = {"INTERLOCK_HTTP_SENDS_ALLOW": "api.example.com, *.hooks.example.org"}
    policy = load_config({}, env).http_sends()
    assert policy is not None and policy.allow == ("api.example.com", "*.hooks.example.org")
    assert load_config({}, {}).http_sends() == HTTPSends()  # loopback only
    config = tmp_path / "server.toml"
    config.write_text("[server]\nhttp_sends_allow = []\n", encoding="utf-8")
    assert load_config({}, {}, file=config).http_sends() is None


def test_a_documents_send_to_a_url_posts_nothing(tmp_path: Path) -> None:
    """Only a send of the Basic HTTP type is posted: a YAML document (which an API client may upload)
    naming a URL reaches no one and gets error.communication."""
    from interlock import load_document

    with Interlock(f"sqlite:///{tmp_path / 'doc.db'}", clock=VirtualClock()) as app:
        app.register(load_document({"id": "sink", "initial": "idle", "states": {
            "idle": {"on": {"PING": "pinged"}}, "pinged": {}}}))
        with loopback_server(app) as url:
            app.register(load_document({"id": "poster", "initial": "a", "states": {"a": {
                "entry": [{"send": {"event": "PING", "to": f"{url}/v1/basichttp/sink/s1"}}],
                "on": {"error.communication": "refused"}}, "refused": {}}}))
            app.create("sink", "s1")
            app.create("poster", "p1")
            app.run_until_idle()
        assert app.get("poster", "p1").state == ("poster.refused",)
        assert app.get("sink", "s1").state == ("sink.idle",)
