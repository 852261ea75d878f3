"""Live updates from a real server: WebSocket subscriptions and server-sent events, with changes made
over HTTP and by another process's Interlock on the same database."""

from __future__ import annotations

import contextlib
import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from websockets.client import ClientProtocol
from websockets.exceptions import ConnectionClosed
from websockets.frames import Close, Frame, Opcode
from websockets.protocol import State
from websockets.sync.client import ClientConnection, connect
from websockets.uri import parse_uri

from interlock import Interlock, load_machine
from tests.server.support import DOOR, Server


@contextmanager
def subscribed(server: Server, message: dict[str, Any], **options: Any) -> Iterator[ClientConnection]:
    with connect(server.url.replace("http://", "ws://") + "/v1/subscribe", open_timeout=30,
                 **options) as ws:
        ws.send(json.dumps(message))
        ack = json.loads(ws.recv(timeout=30))
        assert "subscribed" in ack, ack
        yield ws


def changes(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    return [json.loads(ws.recv(timeout=30)) for _ in range(count)]


def steps(received: list[dict[str, Any]]) -> list[tuple[str, int, str]]:
    return [(c["id"], c["step"], c["outcome"]) for c in received]


@contextmanager
def embedded(server: Server) -> Iterator[Interlock]:
    """Another process's view of the database: its own Interlock, not the server's."""
    with Interlock(server.db, worker=False) as app:
        app.register(load_machine(DOOR))
        yield app


def test_changes_over_http_and_from_another_interlock_arrive_in_order(server: Server) -> None:
    c = server.client
    with subscribed(server, {"subscribe": {"machine": "door"}}) as ws:
        assert c.post("/v1/machines/door/instances", json={"name": "d1"}).status_code == 201
        assert c.post("/v1/machines/door/instances/d1/events", json={"type": "OPEN"}).status_code == 200
        with embedded(server) as other:
            other.send("door", "d1", "CLOSE")
            other.create("door", "d2")
        assert c.post("/v1/machines/door/instances/d2/events", json={"type": "OPEN"}).status_code == 200
        received = changes(ws, 5)
    assert steps(received) == [("d1", 0, "started"), ("d1", 1, "applied"), ("d1", 2, "applied"),
                               ("d2", 0, "started"), ("d2", 1, "applied")]
    positions = [r["position"] for r in received]
    assert positions == sorted(positions) and len(set(positions)) == 5
    last = received[-1]["instance"]
    assert last["id"] == "d2" and last["state"] == ["door.open"] and last["context"]["opened"] == 1
    assert all(r["machine"] == "door" for r in received)


def test_a_subscription_to_some_instances_gets_only_theirs(server: Server) -> None:
    c = server.client
    with subscribed(server, {"subscribe": {"machine": "door", "instances": ["b"]}}) as ws:
        for name in ("a", "b"):
            assert c.post("/v1/machines/door/instances", json={"name": name}).status_code == 201
            c.post(f"/v1/machines/door/instances/{name}/events", json={"type": "OPEN"})
        assert steps(changes(ws, 2)) == [("b", 0, "started"), ("b", 1, "applied")]


def test_a_subscriber_resumes_after_a_reconnect_without_gap_or_duplicate(server: Server) -> None:
    c = server.client
    with subscribed(server, {"subscribe": {"machine": "door"}, "after": 0}) as ws:
        c.post("/v1/machines/door/instances", json={"name": "d1"})
        c.post("/v1/machines/door/instances/d1/events", json={"type": "OPEN"})
        first = changes(ws, 2)
    with embedded(server) as other:  # committed while nobody listens
        other.send("door", "d1", "CLOSE")
        other.send("door", "d1", "OPEN")
    with subscribed(server, {"subscribe": {"machine": "door"}, "after": first[-1]["position"]}) as ws:
        c.post("/v1/machines/door/instances/d1/events", json={"type": "LOCK"})
        again = changes(ws, 3)
    assert steps(first) == [("d1", 0, "started"), ("d1", 1, "applied")]
    assert steps(again) == [("d1", 2, "applied"), ("d1", 3, "applied"), ("d1", 4, "applied")]
    assert again[-1]["instance"]["status"] == "done"


def test_a_subscriber_too_slow_for_its_changes_is_dropped_with_where_to_resume(store_url: str,
                                                                               tmp_path: Any) -> None:
    from tests.server.support import running

    env = {"INTERLOCK_LIVE_QUEUE_SIZE": "2"}
    with running(store_url, env=env, log=tmp_path / "server.log") as server:
        server.client.post("/v1/machines/door/instances", json={"name": "d1",
                                                               "input": {"padding": "x" * 200_000}})
        # a client that truly reads nothing once subscribed (a raw socket with a small receive buffer:
        # a WebSocket library would go on reading in the background); its socket fills, then the
        # server's, then the subscriber's queue of 2; changes go on until the server reports it dropped
        with silent_subscriber(server, {"subscribe": {"machine": "door"}}) as (sock, protocol):
            assert live_subscribers(server) == 1
            with embedded(server) as other:
                for _ in range(1000):
                    other.send("door", "d1", "OPEN")
                    other.send("door", "d1", "CLOSE")
                    if live_subscribers(server) == 0:
                        break
                else:
                    pytest.fail("1,000 changes of 200 kB each waited for a client that reads none, and "
                                "the server still serves it")
            close = read_to_close(sock, protocol)
        assert close is not None and close.code == 1013
        assert close.reason.startswith("subscriber.too_slow; resume with after=")
        # the server goes on serving others
        assert server.client.get("/v1/machines/door/instances/d1").status_code == 200


@contextmanager
def silent_subscriber(server: Server, message: dict[str, Any]) -> Iterator[tuple[socket.socket,
                                                                                  ClientProtocol]]:
    """A subscription over a socket this test reads only when it says so (the handshake, the ack)."""
    protocol = ClientProtocol(parse_uri(server.url.replace("http://", "ws://") + "/v1/subscribe"),
                              max_size=None)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16_384)  # before connect: the window
        sock.settimeout(30)
        sock.connect(("127.0.0.1", server.port))
        protocol.send_request(protocol.connect())
        sock.sendall(b"".join(protocol.data_to_send()))
        events = received(sock, protocol)
        response = next(events)
        assert protocol.state is State.OPEN, response
        protocol.send_text(json.dumps(message).encode())
        sock.sendall(b"".join(protocol.data_to_send()))
        ack = next(events)
        assert isinstance(ack, Frame)
        assert b"subscribed" in ack.data, ack
        yield sock, protocol


def received(sock: socket.socket, protocol: ClientProtocol) -> Iterator[object]:
    """What the server sent, read from the socket as needed: the handshake response, then frames."""
    while True:
        events = protocol.events_received()
        yield from events
        if protocol.state is State.CLOSED and not events:
            return
        data = sock.recv(65_536)
        if data:
            protocol.receive_data(data)
        else:
            protocol.receive_eof()


def read_to_close(sock: socket.socket, protocol: ClientProtocol) -> Close | None:
    """Read on (changes sent before the drop) until the server's close frame; None if none came."""
    for event in received(sock, protocol):
        if isinstance(event, Frame) and event.opcode is Opcode.CLOSE:
            return Close.parse(event.data)
    return None


def live_subscribers(server: Server) -> int:
    count: int = server.client.get("/v1/health").json()["live_subscribers"]
    return count


def test_a_bad_subscribe_message_is_refused_with_the_error_format(server: Server) -> None:
    with connect(server.url.replace("http://", "ws://") + "/v1/subscribe") as ws:
        ws.send(json.dumps({"subscribe": {"machine": "door"}, "after": -1}))
        error = json.loads(ws.recv(timeout=30))["error"]
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=30)
    assert error["code"] == "request.malformed" and "after" in error["message"]
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


def test_subscribing_needs_the_read_scope(sqlite_url: str, tmp_path: Any) -> None:
    from tests.server.support import READER, WRITER, bearer, running

    with running(sqlite_url, dev=False, log=tmp_path / "server.log") as server:
        url = server.url.replace("http://", "ws://") + "/v1/subscribe"
        with connect(url) as ws:
            ws.send(json.dumps({"subscribe": {"machine": "door"}}))
            assert json.loads(ws.recv(timeout=30))["error"]["code"] == "auth.credentials.missing"
        with connect(url, additional_headers=bearer(server.key(*READER))) as ws:
            ws.send(json.dumps({"subscribe": {"machine": "door"}}))
            assert "subscribed" in json.loads(ws.recv(timeout=30))
            writer = bearer(server.key(*WRITER))
            server.client.post("/v1/machines/door/instances", json={"name": "d1"}, headers=writer)
            change = json.loads(ws.recv(timeout=30))
        assert change["id"] == "d1" and change["instance"]["context"] == {"opened": 0}  # public part



RULE_APP = """
import os
from interlock import Interlock, machine


def _read(access):
    with open(os.environ["RULE_LOG"], "a") as log:  # each time the rule is asked
        log.write(access.name + "\\n")
    return True


def setup(app: Interlock) -> None:
    app.register(machine({"id": "doc", "initial": "a", "states": {"a": {}}, "authorize": {"read": _read}}))
"""


def test_a_callers_subscriptions_ask_the_read_rule_once_per_change(sqlite_url: str, tmp_path: Any) -> None:
    # asked once per subscription, a rule spending a whole work budget cost 1,000 budgets per change to one
    # caller holding 1,000 subscriptions, on the server's event loop
    from tests.server.support import READER, bearer, running

    (tmp_path / "rule_app.py").write_text(RULE_APP)
    log = tmp_path / "rule.log"
    with running(sqlite_url, dev=False, log=tmp_path / "server.log",
                 env={"INTERLOCK_APP": str(tmp_path / "rule_app.py"), "RULE_LOG": str(log)}) as server:
        url = server.url.replace("http://", "ws://") + "/v1/subscribe"
        reader = bearer(server.key(*READER))
        with contextlib.ExitStack() as stack:
            sockets = [stack.enter_context(connect(url, additional_headers=reader)) for _ in range(5)]
            for ws in sockets:
                ws.send(json.dumps({"subscribe": {"machine": "doc"}}))
                assert "subscribed" in json.loads(ws.recv(timeout=30))
            made = server.client.post("/v1/machines/doc/instances", json={"name": "d1"},
                                      headers=bearer(server.key("admin")))
            assert made.status_code == 201, made.text
            assert [json.loads(ws.recv(timeout=30))["id"] for ws in sockets] == ["d1"] * 5
        assert log.read_text().split() == ["d1"]  # one caller, one change: asked once

def read_events(lines: Iterator[str], count: int) -> list[dict[str, Any]]:
    """``count`` server-sent events (keep-alive comments skipped) as ``{"event", "id", "data"}``."""
    out: list[dict[str, Any]] = []
    event: dict[str, Any] = {}
    for line in lines:
        if not line:
            if event:
                out.append(event)
                event = {}
                if len(out) == count:
                    return out
            continue
        field, _, value = line.partition(": ")
        if field in ("event", "id"):
            event[field] = value
        elif field == "data":
            event["data"] = json.loads(value)
    raise AssertionError(f"the stream ended after {len(out)} events")


def test_an_instance_streams_its_changes_and_resumes_from_last_event_id(server: Server) -> None:
    c = server.client
    c.post("/v1/machines/door/instances", json={"name": "d1"})
    c.post("/v1/machines/door/instances", json={"name": "other"})
    url = "/v1/machines/door/instances/d1/stream"
    with c.stream("GET", url) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        [now] = read_events(lines, 1)
        c.post("/v1/machines/door/instances/other/events", json={"type": "OPEN"})
        c.post("/v1/machines/door/instances/d1/events", json={"type": "OPEN"})
        [opened] = read_events(lines, 1)
    assert now["event"] == "instance" and now["data"]["state"] == ["door.closed"]
    assert opened["event"] == "change" and opened["data"]["step"] == 1
    assert int(opened["id"]) == opened["data"]["position"] > int(now["id"])
    with embedded(server) as other:
        other.send("door", "d1", "CLOSE")
    with c.stream("GET", url, headers={"Last-Event-ID": opened["id"]}) as response:
        [closed] = read_events(response.iter_lines(), 1)
    assert closed["event"] == "change" and closed["data"]["step"] == 2
    assert closed["data"]["instance"]["state"] == ["door.closed"]


def test_a_stream_of_an_unknown_instance_is_404_and_a_bad_last_event_id_400(server: Server) -> None:
    response = server.client.get("/v1/machines/door/instances/nope/stream")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found.instance"
    server.client.post("/v1/machines/door/instances", json={"name": "d1"})
    bad = server.client.get("/v1/machines/door/instances/d1/stream", headers={"Last-Event-ID": "x"})
    assert bad.status_code == 400 and "Last-Event-ID" in bad.json()["error"]["message"]
    # a superscript two is a digit to str.isdigit but not to int(): 400 "invalid literal for int()" before
    odd = server.client.get("/v1/machines/door/instances/d1/stream", headers={"Last-Event-ID": b"\xb2"})
    assert odd.status_code == 400 and "Last-Event-ID" in odd.json()["error"]["message"], odd.text


def test_a_process_with_its_most_subscribers_refuses_more(sqlite_url: str, tmp_path: Any) -> None:
    from tests.server.support import running

    with running(sqlite_url, env={"INTERLOCK_LIVE_MAX_SUBSCRIBERS": "1"},
                 log=tmp_path / "server.log") as server:
        server.client.post("/v1/machines/door/instances", json={"name": "d1"})
        with subscribed(server, {"subscribe": {"machine": "door"}}):
            with connect(server.url.replace("http://", "ws://") + "/v1/subscribe") as ws:
                ws.send(json.dumps({"subscribe": {"machine": "door"}}))
                with pytest.raises(ConnectionClosed) as closed:
                    ws.recv(timeout=30)
            stream = server.client.get("/v1/machines/door/instances/d1/stream")
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
        assert closed.value.rcvd.reason == "subscribers.full"
        assert stream.status_code == 503 and stream.json()["error"]["code"] == "subscribers.full"


def test_one_caller_cannot_take_every_subscribers_place(sqlite_url: str, tmp_path: Any) -> None:
    """One read key could open live_max_subscribers subscriptions (at the rate limit, 1,000 in about 20 s)
    and every other caller of the process was then refused (subscribers.full). A caller has at most
    live_max_per_caller now; one it closes gives its place back; other callers are not concerned."""
    from tests.server.support import READER, bearer, running

    with running(sqlite_url, dev=False, log=tmp_path / "server.log",
                 env={"INTERLOCK_LIVE_MAX_PER_CALLER": "2"}) as server:
        admin, greedy, other = bearer(server.key("admin")), bearer(server.key(*READER)), bearer(server.key(*READER))
        assert server.client.post("/v1/machines/door/instances", json={"name": "d1"}, headers=admin).status_code == 201
        url = server.url.replace("http://", "ws://") + "/v1/subscribe"
        message = json.dumps({"subscribe": {"machine": "door"}})
        with connect(url, additional_headers=greedy) as first, connect(url, additional_headers=greedy) as second:
            for ws in (first, second):
                ws.send(message)
                assert "subscribed" in json.loads(ws.recv(timeout=30))
            with connect(url, additional_headers=greedy) as third:
                third.send(message)
                with pytest.raises(ConnectionClosed) as closed:
                    third.recv(timeout=30)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1013
            assert closed.value.rcvd.reason == "subscribers.caller_full"
            stream = server.client.get("/v1/machines/door/instances/d1/stream", headers=greedy)
            assert stream.status_code == 429 and stream.json()["error"]["code"] == "subscribers.caller_full"
            with connect(url, additional_headers=other) as theirs:
                theirs.send(message)
                assert "subscribed" in json.loads(theirs.recv(timeout=30))
            first.close()
            assert _subscribes(url, greedy, message)  # its place came back


def _subscribes(url: str, headers: dict[str, str], message: str) -> bool:
    """Whether a subscription is accepted, asked again while the server has not yet seen a closed one
    leave (it counts it off then)."""
    import time

    for _ in range(100):
        with connect(url, additional_headers=headers) as ws:
            ws.send(message)
            try:
                return "subscribed" in json.loads(ws.recv(timeout=30))
            except ConnectionClosed as exc:
                if exc.rcvd is None or exc.rcvd.reason != "subscribers.caller_full":
                    raise
        time.sleep(0.05)
    return False


def test_a_reader_gets_the_changes_of_a_version_another_process_uploaded(sqlite_url: str, tmp_path: Any) -> None:
    from tests.server.support import READER, bearer, running
    from tests.server.test_machines import TOGGLE, TOGGLE_CHANGED, YAML

    with running(sqlite_url, dev=False, log=tmp_path / "a.log") as first, \
            running(sqlite_url, dev=False, log=tmp_path / "b.log") as second:
        admin = bearer(first.key("admin"))
        assert first.client.put("/v1/machines/toggle/versions/1", content=TOGGLE,
                                headers={**YAML, **admin}).status_code == 201
        with connect(first.url.replace("http://", "ws://") + "/v1/subscribe",
                     additional_headers=bearer(first.key(*READER))) as ws:
            ws.send(json.dumps({"subscribe": {"machine": "toggle"}}))
            assert "subscribed" in json.loads(ws.recv(timeout=30))
            # version 2 exists only in the second process (and the database) when its change arrives
            assert second.client.put("/v1/machines/toggle/versions/2", content=TOGGLE_CHANGED,
                                     headers={**YAML, **admin}).status_code == 201
            created = second.client.post("/v1/machines/toggle/instances", json={"name": "t2", "version": "2"},
                                         headers=admin)
            assert created.status_code == 201, created.text
            change = json.loads(ws.recv(timeout=30))
        assert (change["id"], change["step"], change["instance"]["version"]) == ("t2", 0, "2")


def test_a_revoked_key_or_an_expired_token_gets_no_more_changes(sqlite_url: str, tmp_path: Any) -> None:
    """A subscriber's credentials are verified again while it is subscribed: a key revoked (within
    key_cache_seconds) or a token past its ``exp`` ended neither its WebSocket nor its stream, which went
    on receiving every change for as long as the connection lasted."""
    import time

    import httpx
    import jwt

    from tests.server.support import READER, bearer, running

    secret = "a-live-secret-long-enough-for-any-hmac-" * 2
    with running(sqlite_url, dev=False, log=tmp_path / "server.log",
                 env={"INTERLOCK_JWT_SECRET": secret, "INTERLOCK_KEY_CACHE_SECONDS": "1"}) as server:
        admin = bearer(server.key("admin"))
        reader = server.key(*READER)
        assert server.client.post("/v1/machines/door/instances", json={"name": "d1"}, headers=admin).status_code == 201
        # accepted now (the leeway allows 30 s of clock difference), expired once the leeway has passed
        expiring = jwt.encode({"sub": "eve", "exp": int(time.time()) - 27}, secret, algorithm="HS256")
        url = server.url.replace("http://", "ws://") + "/v1/subscribe"
        with connect(url, additional_headers=bearer(reader)) as by_key, \
                connect(url, additional_headers=bearer(expiring)) as by_token, \
                httpx.Client(base_url=server.url, timeout=30) as sse, \
                sse.stream("GET", "/v1/machines/door/instances/d1/stream", headers=bearer(reader)) as stream:
            for ws in (by_key, by_token):
                ws.send(json.dumps({"subscribe": {"machine": "door"}}))
                assert "subscribed" in json.loads(ws.recv(timeout=30))
            lines = stream.iter_lines()
            assert read_events(lines, 1)[0]["event"] == "instance"
            revoked = server.client.delete(f"/v1/keys/{reader.split('_')[1]}", headers=admin)
            assert revoked.status_code == 200, revoked.text
            time.sleep(max(0.0, int(time.time()) + 4 - time.time()))  # the leeway and the key's cache time passed
            sent = server.client.post("/v1/machines/door/instances/d1/events", json={"type": "OPEN"}, headers=admin)
            assert sent.status_code == 200, sent.text
            for ws, reason in ((by_key, "auth.key.revoked"), (by_token, "auth.token.expired")):
                assert json.loads(ws.recv(timeout=30))["error"]["code"] == reason
                with pytest.raises(ConnectionClosed) as closed:
                    ws.recv(timeout=30)
                assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
            [dropped] = read_events(lines, 1)
            assert dropped["event"] == "dropped" and dropped["data"]["reason"].startswith("auth.key.revoked")
            assert dropped["id"] == str(dropped["data"]["after"])  # where to resume: this change is not lost


def test_a_catch_up_read_scans_a_bounded_number_of_pages(tmp_path: Any) -> None:
    """A subscriber resuming from 0 to a quiet instance read the whole feed in one call on a worker
    thread (seconds on millions of changes; a thread is not cancelled, so it went on after the client
    left). A read scans at most catch_up_pages pages; the subscriber reads on, and misses nothing."""
    from interlock.server.feed import Feed

    with Interlock(f"sqlite:///{tmp_path / 'feed.db'}", worker=False) as app:
        app.register(load_machine(DOOR))
        app.create("door", "busy")
        for _ in range(15):
            app.send("door", "busy", "OPEN")
            app.send("door", "busy", "CLOSE")
        app.create("door", "quiet")
        head = app.last_position()
        feed = Feed(app, page=5, catch_up_pages=2)
        want = lambda c: c.id == "quiet"  # noqa: E731
        assert feed.read_page(0, head, want) == ([], 10)  # two pages of five, then it answers
        after, found = 10, []
        while after < head and not found:
            found, after = feed.read_page(after, head, want)
        assert [(u.change.id, u.change.step) for u in found] == [("quiet", 0)] and after == head
