"""The blocking client against a real server: every route it covers, results typed, errors mapped."""

from __future__ import annotations

import time

import pytest

from interlock import (
    ConflictError,
    EventRejectedError,
    HistoryEntry,
    Instance,
    NotFoundError,
    SendResult,
)
from interlock.client import Client, RemoteInstance, RequestError, UnreachableError
from interlock.errors import ForbiddenError, UnauthenticatedError
from tests.server.support import READER, WRITER, Server, free_port


def test_create_send_read_and_history(server: Server) -> None:
    with Client(server.url) as client:
        created = client.create("door", "d1", input={"opened": 2})
        assert isinstance(created, RemoteInstance) and isinstance(created, Instance)
        assert (created.id, created.state, created.tags, created.done) == ("d1", ("door.closed",), ("shut",), False)
        sent = client.send("door", "d1", "OPEN")
        assert isinstance(sent, SendResult)
        assert (sent.outcome, sent.step, sent.duplicate) == ("applied", 1, False)
        assert sent.instance.state == ("door.open",) and sent.instance.context["opened"] == 3
        assert client.send("door", "d1", {"type": "LOCK"}).instance.done  # type: ignore[attr-defined]
        got = client.get("door", "d1")
        assert (got.status, got.step, got.output) == ("done", 2, None)
        page = client.history("door", "d1")
        assert all(isinstance(e, HistoryEntry) for e in page)
        assert [(e.step, e.outcome, (e.event or {}).get("name")) for e in page] == [
            (0, "started", None), (1, "applied", "OPEN"), (2, "applied", "LOCK")]
        assert [e.step for e in client.history("door", "d1", after=0, limit=1)] == [1]


def test_event_data_reaches_the_chart(server: Server) -> None:
    with Client(server.url) as client:
        client.create("payment", "o-1")
        result = client.send("payment", "o-1", "PAID", {"amount": 30})
        assert result.instance.state == ("payment.paid",) and result.instance.context["amount"] == 30


def test_an_idempotency_key_applies_an_event_once(server: Server) -> None:
    with Client(server.url) as client:
        client.create("door", "d1")
        first = client.send("door", "d1", "OPEN", idempotency_key="k-1")
        again = client.send("door", "d1", "OPEN", idempotency_key="k-1")
        assert (first.duplicate, again.duplicate, again.step) == (False, True, first.step)
        assert client.get("door", "d1").context["opened"] == 1


def test_instances_page_after_page(server: Server) -> None:
    with Client(server.url) as client:
        for i in range(5):
            client.create("door", f"d{i}")
        client.send("door", "d3", "OPEN")
        page = client.list("door", limit=2)
        assert len(page) == 2 and page.next is not None
        assert sorted(i.id for i in client.instances("door", page_size=2)) == [f"d{i}" for i in range(5)]
        assert [i.id for i in client.instances("door", state="door.open")] == ["d3"]
        assert [i.id for i in client.list("door", tag="shut", limit=1000)] == ["d0", "d1", "d2", "d4"]


def test_pause_resume_and_cancel(server: Server) -> None:
    with Client(server.url) as client:
        client.create("door", "d1")
        assert client.pause("door", "d1").paused
        queued = client.send("door", "d1", "OPEN")
        assert (queued.outcome, queued.instance.queued) == ("queued", 1)
        resumed = client.resume("door", "d1")
        assert not resumed.paused and resumed.state == ("door.open",)
        assert client.cancel("door", "d1").status == "cancelled"


def test_send_nowait_returns_before_the_step_and_the_step_happens(server: Server) -> None:
    with Client(server.url) as client:
        client.create("door", "d1")
        assert client.send_nowait("door", "d1", "OPEN") is None
        deadline = time.monotonic() + 30
        while client.get("door", "d1").step == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert client.get("door", "d1").state == ("door.open",)


def test_errors_are_the_embedded_apis(server: Server) -> None:
    with Client(server.url) as client:
        with pytest.raises(NotFoundError) as missing:
            client.get("door", "nope")
        assert (missing.value.status, missing.value.code) == (404, "not_found.instance")  # type: ignore[attr-defined]
        with pytest.raises(NotFoundError):
            client.create("nomachine", "x")
        client.create("door", "d1")
        with pytest.raises(ConflictError):
            client.create("door", "d1")
        with pytest.raises(EventRejectedError, match="reserved"):
            client.send("door", "d1", "done.invoke.x")
        with pytest.raises(RequestError) as bad:
            client.list("door", limit=0)
        assert (bad.value.status, bad.value.code) == (400, "request.malformed")


def test_names_are_escaped_in_urls(server: Server) -> None:
    with Client(server.url) as client:
        client.create("door", "a b?c#d%20")
        assert client.get("door", "a b?c#d%20").id == "a b?c#d%20"
        # a '/' is not routable (the server matches on the decoded path): refused before any request
        with pytest.raises(ValueError, match="cannot hold '/'"):
            client.get("door", "a/b")


def test_credentials_and_scopes(keyed: Server) -> None:
    with Client(keyed.url) as anonymous, pytest.raises(UnauthenticatedError) as info:
        anonymous.get("door", "d1")
    assert info.value.reason == "credentials.missing"
    with Client(keyed.url, key=keyed.key(*WRITER)) as writer:
        writer.create("door", "d1")
    with Client(keyed.url, key=keyed.key(*READER)) as reader:
        assert reader.get("door", "d1").state == ("door.closed",)
        with pytest.raises(ForbiddenError) as refused:
            reader.send("door", "d1", "OPEN")
        assert refused.value.reason == "scope.missing"
        assert "_secret" not in reader.get("door", "d1").context  # private keys are the admin's
    with Client(keyed.url, key="nope") as wrong, pytest.raises(UnauthenticatedError):
        wrong.get("door", "d1")


def test_no_server_is_unreachable_after_the_retries() -> None:
    with Client(f"http://127.0.0.1:{free_port()}", retries=1) as client, \
            pytest.raises(UnreachableError, match="is the server running"):
        client.get("door", "d1")


def test_bad_arguments_are_refused_before_sending() -> None:
    with pytest.raises(ValueError, match=r"key= .* or token="):
        Client("http://127.0.0.1:1", key="a", token="b")
    with pytest.raises(ValueError, match="http:// or https://"):
        Client("127.0.0.1:8000")
    with pytest.raises(ValueError, match="retries"):
        Client("http://127.0.0.1:1", retries=-1)
    with Client("http://127.0.0.1:1") as client:
        with pytest.raises(ValueError, match="non-empty string"):
            client.get("door", "")
        with pytest.raises(ValueError, match="'type'"):
            client.send("door", "d1", {"data": 1})


def test_execute_creates_waits_and_a_retry_with_its_key_waits_for_the_same_instance(server: Server) -> None:
    import threading

    with Client(server.url) as client:
        with pytest.raises(TimeoutError, match="door/d1 has not ended"):
            client.execute("door", "d1", input={"opened": 7}, timeout=0.3, idempotency_key="run-d1")
        got: list[RemoteInstance] = []
        again = threading.Thread(target=lambda: got.append(
            client.execute("door", "d1", input={"opened": 7}, timeout=20, idempotency_key="run-d1")))
        again.start()  # the caller retries: the same instance, not a taken name
        client.send("door", "d1", "OPEN")
        client.send("door", "d1", "LOCK")
        again.join(25)
        assert [(i.status, i.step, i.context["opened"]) for i in got] == [("done", 2, 8)]
        assert client.execute("door", "d1", idempotency_key="run-d1").step == 2  # ended: at once
        with pytest.raises(ConflictError):  # another key (here a made-up one): a taken name
            client.execute("door", "d1", timeout=1)


def test_wait_long_polls_until_the_instance_ends(server: Server) -> None:
    import threading

    with Client(server.url) as client:
        client.create("door", "d1")
        with pytest.raises(TimeoutError, match=r"door/d1 has not ended after 0.3 s \(state \['door.closed'\]\)"):
            client.wait("door", "d1", timeout=0.3)
        got: list[RemoteInstance] = []
        waiter = threading.Thread(target=lambda: got.append(client.wait("door", "d1", timeout=20)))
        waiter.start()
        client.send("door", "d1", "OPEN")
        client.send("door", "d1", "LOCK")
        waiter.join(25)
        assert [(i.status, i.state, i.done) for i in got] == [("done", ("door.locked",), True)]
        assert client.wait("door", "d1").step == 2  # ended: at once
        with pytest.raises(NotFoundError):
            client.wait("door", "nope", timeout=1)
