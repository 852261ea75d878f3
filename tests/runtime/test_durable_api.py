"""The embedded API over a real SQLite file: create, send, idempotency, errors, pause, queries."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from interlock.app import Interlock
from interlock.errors import (
    ConflictError,
    DefinitionError,
    EventRejectedError,
    NotFoundError,
    StorageError,
)
from interlock.frontends.loader import load_machine
from interlock.runtime.clock import VirtualClock
from tests.runtime.durable_support import open_app, order_chart, store_url, tagged_chart


@pytest.fixture
def app(tmp_path: Path):
    with open_app(tmp_path / "app.db", VirtualClock(100.0), order_chart()) as app:
        app.create("order", "o1", input={"n": 5})
        yield app


def test_create_starts_the_instance_and_records_step_zero(app: Interlock) -> None:
    inst = app.get("order", "o1")
    assert (inst.status, inst.state, inst.step, inst.context["n"]) == ("active", ("placed",), 0, 5)
    [start] = app.history("order", "o1").items
    assert (start.step, start.outcome, start.target) == (0, "started", ("order", "placed"))
    assert start.context_change == {"set": {"n": 5, "seen": []}}


def test_a_taken_name_is_a_conflict(app: Interlock) -> None:
    with pytest.raises(ConflictError, match="already exists"):
        app.create("order", "o1")


def test_a_create_retried_with_its_idempotency_key_returns_the_instance_it_made(app: Interlock) -> None:
    made = app.create("order", "o2", input={"n": 1}, idempotency_key="mk-1")
    app.send("order", "o2", "ACCEPT")
    again = app.create("order", "o2", input={"n": 1}, idempotency_key="mk-1")  # the answer was lost
    assert (again.state, again.step, again.context["n"]) == (("accepted",), 1, 2)  # as it is now
    assert [e.outcome for e in app.history("order", "o2").items] == ["started", "applied"]  # nothing more
    assert made.step == 0
    for key in (None, "mk-2"):  # without the key, or with another: another request for a taken name
        with pytest.raises(ConflictError, match=r"already exists" + ("" if key is None else r".*no retry")):
            app.create("order", "o2", idempotency_key=key)
    with pytest.raises(ConflictError, match="already exists"):  # o1 was created without a key
        app.create("order", "o1", idempotency_key="mk-1")


def test_a_create_key_and_a_send_key_of_an_instance_are_not_taken_for_each_other(app: Interlock) -> None:
    app.create("order", "o2", idempotency_key="k")
    with pytest.raises(ConflictError, match="already used for the create"):
        app.send("order", "o2", "ACCEPT", idempotency_key="k")
    app.send("order", "o2", "ACCEPT", idempotency_key="s")
    with pytest.raises(ConflictError, match=r"already exists.*no retry"):
        app.create("order", "o2", idempotency_key="s")
    assert app.get("order", "o2").step == 1


def test_execute_retried_with_its_idempotency_key_waits_for_the_instance_it_made(app: Interlock) -> None:
    app.create("order", "o2", idempotency_key="run-1")
    app.send("order", "o2", "ACCEPT")
    app.send("order", "o2", "SHIP")
    ended = app.execute("order", "o2", idempotency_key="run-1", timeout=5)
    assert (ended.status, ended.step, ended.output) == ("done", 2, {"n": 1})
    with pytest.raises(ConflictError, match="already exists"):
        app.execute("order", "o2", timeout=5)



def test_unknown_machine_and_instance_are_not_found(app: Interlock) -> None:
    with pytest.raises(NotFoundError, match="unknown machine 'nope'"):
        app.create("nope", "x")
    with pytest.raises(NotFoundError, match="no instance 'ghost'"):
        app.send("order", "ghost", "ACCEPT")
    with pytest.raises(NotFoundError, match=r"no machine 'ordr' is registered in this process \(a typo\?\)"):
        app.send("ordr", "o1", "ACCEPT")
    with pytest.raises(NotFoundError, match="no instance 'ghost'"):
        app.get("order", "ghost")


def test_send_applies_one_step_and_records_it(app: Interlock) -> None:
    result = app.send("order", "o1", {"type": "ACCEPT"})
    assert (result.outcome, result.step, result.duplicate) == ("applied", 1, False)
    assert result.instance.state == ("accepted",)
    entry = app.history("order", "o1", after=0).items[0]
    assert entry.event == {"name": "ACCEPT"}
    assert (entry.source, entry.target) == (("order", "placed"), ("order", "accepted"))
    assert entry.context_change == {"set": {"n": 6}}
    assert [e["kind"] for e in entry.effects] == ["send"]  # the delayed EXPIRE


def test_idempotency_key_returns_the_recorded_result_and_changes_nothing(app: Interlock) -> None:
    first = app.send("order", "o1", "ACCEPT", idempotency_key="req-1")
    again = app.send("order", "o1", "ACCEPT", idempotency_key="req-1")
    assert (again.outcome, again.step, again.duplicate) == ("applied", first.step, True)
    assert app.get("order", "o1").context["n"] == 6
    assert len(app.history("order", "o1").items) == 2


def test_an_unaccepted_event_is_recorded_as_ignored(app: Interlock) -> None:
    result = app.send("order", "o1", "SHIP")
    assert (result.outcome, result.step, result.instance.state) == ("ignored", 1, ("placed",))
    assert app.history("order", "o1", after=0).items[0].outcome == "ignored"


def test_reject_unhandled_refuses_the_event_and_records_nothing(app: Interlock) -> None:
    with pytest.raises(EventRejectedError, match="'SHIP' is not accepted"):
        app.send("order", "o1", "SHIP", reject_unhandled=True)
    assert app.get("order", "o1").step == 0


@pytest.mark.parametrize(("event", "message"), [
    ({"data": 1}, "needs a 'type'"),
    (42, "not int"),
    ("", "non-empty"),
    (" leading", "without surrounding whitespace"),
    ("trailing ", "without surrounding whitespace"),
    ("tab\tname", "no whitespace but spaces"),
    ("line\nbreak", "no whitespace but spaces"),
    ("E" * 257, r"at most 256 characters.*'\.\.\. \(257 characters\)"),
    ({"type": "A", "name": "B"}, "not both"),
    ({"type": "X", "n": float("nan")}, "not a JSON number"),
    ({"type": "X", "n": [float("-inf")]}, "not a JSON number"),
    ({"type": "X", "n": 2**64}, "does not fit in 64 bits"),
    ("done.invoke.x", "reserved"),
    ("error.execution", "reserved"),
    ("error", "'done' and 'error' themselves"),
    ("done", "reserved for the runtime"),
    ("xstate.after.order.placed.#0", "'xstate.after.order.placed.#0': completion, error and 'after' timer"),
    ({"type": "xstate.after.order.#1"}, "reserved for the runtime"),
    ({"type": "X", "blob": {1, 2}}, "not JSON"),
    ({"type": "X", "blob": "x" * 2000}, "more than the limit"),
])
def test_malformed_and_oversized_events_are_rejected(tmp_path: Path, event: object, message: str) -> None:
    with open_app(tmp_path / "a.db", VirtualClock(), order_chart(), max_event_bytes=1000) as app:
        app.create("order", "o1")
        for _ in range(2):  # events by name are validated once and memoized: a bad one never is
            with pytest.raises(EventRejectedError, match=message):
                app.send("order", "o1", event)  # type: ignore[arg-type]


def test_a_client_cannot_fire_an_after_timer_early(tmp_path: Path) -> None:
    light = load_machine(Path(__file__).parents[2] / "examples" / "traffic_light.yaml")
    clock = VirtualClock(0.0)
    with open_app(tmp_path / "t.db", clock, light) as app:
        app.create("light", "l1")
        with pytest.raises(EventRejectedError, match="reserved for the runtime"):
            app.send("light", "l1", "xstate.after.light.green.#0")
        assert app.get("light", "l1").state == ("light.green",)
        clock.advance(30.0)
        app.run_until_idle()
        assert app.get("light", "l1").state == ("light.amber",)  # the real timer still fires


def test_a_context_that_is_not_json_fails_the_send_and_changes_nothing(app: Interlock) -> None:
    with pytest.raises(StorageError, match="not JSON"):
        app.send("order", "o1", "BREAK")
    assert app.get("order", "o1").step == 0


def test_a_step_that_would_store_a_huge_snapshot_fails_and_changes_nothing(tmp_path: Path) -> None:
    from interlock import machine

    grower = machine({"id": "grower", "initial": "on", "context": {"blob": ""}, "states": {"on": {"on": {
        "GROW": {"actions": lambda context, event: {"blob": context["blob"] + "x" * 3_000_000}}}}}})
    with open_app(tmp_path / "g.db", VirtualClock(), grower) as app:
        app.create("grower", "g1")
        assert app.send("grower", "g1", "GROW").outcome == "applied"
        with pytest.raises(StorageError, match="more than the limit"):
            app.send("grower", "g1", "GROW")
        assert len(app.get("grower", "g1").context["blob"]) == 3_000_000


def test_an_internal_send_is_applied_before_send_returns(app: Interlock) -> None:
    result = app.send("order", "o1", "CHAIN")
    assert result.instance.context["seen"] == ["chained"]
    assert [h.outcome for h in app.history("order", "o1").items] == ["started", "applied", "applied"]


def test_a_returned_instance_is_the_callers_own_copy(app: Interlock) -> None:
    """The instance comes back after the commit, built on the caller's side from the writer's values:
    changing it, or later steps of the instance, must not change what the caller (or the store) holds."""
    first = app.send("order", "o1", {"type": "NOTE", "i": 1}).instance
    first.context["seen"].append("mine")
    first.context["n"] = -1
    second = app.send("order", "o1", {"type": "NOTE", "i": 2}).instance
    assert (second.context["n"], second.context["seen"]) == (5, [1, 2])
    assert (first.step, first.context["seen"]) == (1, [1, "mine"])
    assert app.get("order", "o1").context == {"n": 5, "seen": [1, 2]}
    assert app.history("order", "o1", after=1).items[0].context_change == {"set": {"seen": [1, 2]}}


def test_paused_instance_queues_events_and_resume_applies_them_in_order(app: Interlock) -> None:
    app.pause("order", "o1")
    for i in range(3):
        queued = app.send("order", "o1", {"type": "NOTE", "i": i}, idempotency_key=f"k{i}")
        assert (queued.outcome, queued.step) == ("queued", None)
    assert app.send("order", "o1", {"type": "NOTE", "i": 0}, idempotency_key="k0").duplicate
    assert app.get("order", "o1").queued == 3
    inst = app.resume("order", "o1")
    assert (inst.context["seen"], inst.queued, inst.paused) == ([0, 1, 2], 0, False)
    assert app.send("order", "o1", {"type": "NOTE", "i": 1}, idempotency_key="k1").duplicate


def test_an_idempotency_key_reused_for_another_event_is_a_conflict(app: Interlock) -> None:
    app.send("order", "o1", {"type": "NOTE", "i": 1}, idempotency_key="k")
    for other, differs in (({"type": "NOTE", "i": 2}, "with other data than this 'NOTE'"),
                           ("ACCEPT", "not for this 'ACCEPT'"), ({"type": "NOTE"}, "with other data")):
        with pytest.raises(ConflictError, match=f"'k' of order/o1 was already used for event 'NOTE', {differs}"):
            app.send("order", "o1", other, idempotency_key="k")
    assert app.send("order", "o1", {"type": "NOTE", "i": 1}, idempotency_key="k").duplicate
    app.pause("order", "o1")
    app.send("order", "o1", "ACCEPT", idempotency_key="q")
    with pytest.raises(ConflictError, match="already used for event 'ACCEPT'"):
        app.send("order", "o1", {"type": "NOTE", "i": 3}, idempotency_key="q")
    assert app.get("order", "o1").context["seen"] == [1]


def test_history_is_paginated(app: Interlock) -> None:
    for i in range(7):
        app.send("order", "o1", {"type": "NOTE", "i": i})
    page = app.history("order", "o1", limit=3)
    steps = [e.step for e in page]
    while page.next is not None:
        page = app.history("order", "o1", after=page.next, limit=3)
        steps += [e.step for e in page]
    assert steps == list(range(8))


@pytest.mark.parametrize("limit", [2, 4, 8])  # pages that end exactly full: no empty page after them
def test_the_last_page_has_no_next_even_when_it_is_full(app: Interlock, limit: int) -> None:
    for i in range(7):
        app.send("order", "o1", {"type": "NOTE", "i": i})
    calls, page = 1, app.history("order", "o1", limit=limit)
    while page.next is not None:
        calls, page = calls + 1, app.history("order", "o1", after=page.next, limit=limit)
        assert page.items, "a page announced by next must not be empty"
    assert calls == 8 // limit
    for i in range(2, 5):
        app.create("order", f"o{i}")
    assert app.list("order", limit=4).next is None
    assert app.list("order", limit=2).next == "o2"
    assert app.list("order", after="o2", limit=2).next is None


def test_list_by_state_tag_and_status_uses_pages(tmp_path: Path) -> None:
    with open_app(tmp_path / "l.db", VirtualClock(), tagged_chart()) as app:
        for i in range(5):
            app.create("order", f"o{i}")
        for i in (1, 3):
            app.send("order", f"o{i}", "ACCEPT")
        app.send("order", "o3", "SHIP")
        assert [i.id for i in app.list("order", state="placed")] == ["o0", "o2", "o4"]
        assert [i.id for i in app.list("order", tag="open")] == ["o0", "o1", "o2", "o4"]
        assert [i.id for i in app.list("order", tag="billable")] == ["o1"]
        assert [i.id for i in app.list("order", status="done")] == ["o3"]
        first = app.list("order", limit=2)
        assert ([i.id for i in first], first.next) == (["o0", "o1"], "o1")
        assert [i.id for i in app.list("order", after=first.next, limit=2)] == ["o2", "o3"]


def test_reaching_a_final_state_marks_the_instance_done(app: Interlock) -> None:
    app.send("order", "o1", "ACCEPT")
    inst = app.send("order", "o1", "SHIP").instance
    assert (inst.status, inst.output) == ("done", {"n": 6})
    assert app.send("order", "o1", "ACCEPT").outcome == "ignored"


def test_state_survives_closing_and_reopening(tmp_path: Path) -> None:
    with open_app(tmp_path / "p.db", VirtualClock(), order_chart()) as app:
        app.create("order", "o1")
        app.send("order", "o1", "ACCEPT", idempotency_key="once")
    with open_app(tmp_path / "p.db", VirtualClock(), order_chart()) as app:
        assert app.get("order", "o1").state == ("accepted",)
        assert app.send("order", "o1", "ACCEPT", idempotency_key="once").duplicate


def test_instances_keep_their_version(tmp_path: Path) -> None:
    with open_app(tmp_path / "v.db", VirtualClock(), order_chart("1")) as app:
        app.create("order", "old")
        app.register(order_chart("2"))
        app.create("order", "new")
        assert (app.get("order", "old").version, app.get("order", "new").version) == ("1", "2")
    with open_app(tmp_path / "v.db", VirtualClock(), order_chart("2")) as app:
        with pytest.raises(NotFoundError, match="no version '1'"):
            app.send("order", "old", "ACCEPT")
        assert app.send("order", "new", "ACCEPT").applied


def test_cancel_stops_the_instance(app: Interlock) -> None:
    app.cancel("order", "o1")
    assert app.get("order", "o1").status == "cancelled"
    assert app.send("order", "o1", "ACCEPT").outcome == "ignored"
    with pytest.raises(ConflictError, match="already cancelled"):
        app.cancel("order", "o1")


def test_the_asyncio_flavour(tmp_path: Path) -> None:
    async def main(app: Interlock) -> tuple[str, ...]:
        aio = app.aio
        await aio.create("order", "a1")
        results = await asyncio.gather(*(aio.send("order", "a1", {"type": "NOTE", "i": i}) for i in range(20)))
        assert sorted(r.step for r in results) == list(range(1, 21))
        await aio.send("order", "a1", "ACCEPT")
        assert (await aio.history("order", "a1", limit=5)).next == 4
        assert [i.id for i in await aio.list("order", state="accepted")] == ["a1"]
        return (await aio.get("order", "a1")).state

    with open_app(tmp_path / "aio.db", VirtualClock(), order_chart()) as app:
        assert asyncio.run(main(app)) == ("accepted",)


def test_an_event_name_with_a_space_reaches_an_xstate_shaped_chart(tmp_path: Path) -> None:
    chart = load_machine('{"id": "home", "initial": "in", "states": {'
                         '"in": {"on": {"leave home": "out"}}, "out": {}}}')
    with open_app(tmp_path / "space.db", VirtualClock(), chart) as app:
        app.create("home", "h1")
        app.send("home", "h1", "leave")  # names match exactly: not a prefix of "leave home"
        assert app.get("home", "h1").state == ("home.in",)
        app.send("home", "h1", "leave home")
        assert app.get("home", "h1").state == ("home.out",)


def test_bad_ids_and_urls_get_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="unsupported store URL"):
        Interlock("mysql://x")
    with pytest.raises(StorageError, match=r"cannot connect to PostgreSQL at postgresql://nobody@127\.0\.0\.1:1/x"):
        Interlock("postgresql://nobody:secret@127.0.0.1:1/x")
    with open_app(tmp_path / "b.db", VirtualClock(), order_chart()) as app:
        with pytest.raises(ValueError, match="instance id"):
            app.create("order", "")
        with pytest.raises(TypeError, match="input must be a dict"):
            app.create("order", "x", input=[1])  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["a/b", "a#b", " padded"])
def test_a_machine_name_that_cannot_be_addressed_is_refused(tmp_path: Path, name: str) -> None:
    from interlock import machine

    chart = machine({"id": name, "initial": "s", "states": {"s": {}}})
    with open_app(tmp_path / "n.db", VirtualClock(), order_chart()) as app, \
            pytest.raises(DefinitionError, match=r"cannot be registered.*without '/', '#'"):
        app.register(chart)


def test_a_closed_app_refuses_reads_and_writes(tmp_path: Path) -> None:
    with open_app(tmp_path / "c.db", VirtualClock(), order_chart()) as app:
        app.create("order", "o1")
    for call in (lambda: app.get("order", "o1"), lambda: app.list("order"),
                 lambda: app.history("order", "o1"), lambda: app.send("order", "o1", "ACCEPT")):
        with pytest.raises(StorageError, match="closed"):
            call()


def test_idempotent_data_is_compared_as_stored(app: Interlock) -> None:
    app.send("order", "o1", {"type": "NOTE", "i": 1}, idempotency_key="k")
    for other in (True, 1.0):  # equal to 1 in Python, not in JSON
        with pytest.raises(ConflictError, match="with other data"):
            app.send("order", "o1", {"type": "NOTE", "i": other}, idempotency_key="k")
    assert app.send("order", "o1", {"type": "NOTE", "i": 1}, idempotency_key="k").duplicate
    # a retry whose keys come in another order (another client, a re-serialising proxy) is the same
    app.send("order", "o1", {"name": "NOTE", "data": {"i": {"a": 1, "b": [{"x": 1, "y": 2}]}, "j": 2}},
             idempotency_key="r")
    again = app.send("order", "o1", {"name": "NOTE", "data": {"j": 2, "i": {"b": [{"y": 2, "x": 1}], "a": 1}}},
                     idempotency_key="r")
    assert again.duplicate


def test_a_chart_that_calls_the_app_from_a_step_gets_a_clear_error_not_a_deadlock(tmp_path: Path) -> None:
    from interlock import machine

    calls: list[str] = []

    def reenter(context: dict[str, object], event: object) -> dict[str, object]:
        for call in (lambda: holder[0].send("loop", "l1", "PING"), lambda: holder[0].get("loop", "l1"),
                     lambda: holder[0].close()):
            try:
                call()
            except StorageError as exc:
                calls.append(str(exc))
        return {}

    chart = machine({"id": "loop", "initial": "s", "states": {"s": {"on": {"GO": {"actions": reenter}}}}})
    with open_app(tmp_path / "r.db", VirtualClock(), chart) as app:
        holder = [app]
        app.create("loop", "l1")
        assert app.send("loop", "l1", "GO").outcome == "applied"
        assert len(calls) == 3 and all("made from inside a step" in c for c in calls)
        assert app.get("loop", "l1").step == 1  # the app goes on


def test_a_chart_changed_under_the_same_version_is_refused_at_register(tmp_path: Path) -> None:
    from interlock import machine

    def flow(states: dict[str, object], version: str = "1") -> object:
        chart = machine({"id": "flow", "initial": "a", "states": states})
        chart.version = version  # type: ignore[attr-defined]
        return chart

    first = {"a": {"on": {"GO": "b"}}, "b": {}}
    db = tmp_path / "v.db"
    with open_app(db, VirtualClock(), flow(first)) as app:  # type: ignore[arg-type]
        app.create("flow", "f1")
        app.send("flow", "f1", "GO")
    changed = {"a": {"on": {"GO": "c"}}, "c": {}}  # b is gone: f1 sits in it
    with Interlock(store_url(db), clock=VirtualClock()) as app:
        with pytest.raises(ConflictError, match="'flow' version '1' was registered in this database with "
                                                "other states or transitions"):
            app.register(flow(changed))  # type: ignore[arg-type]
        app.register(flow(first))  # the same definition again: a restart
        app.register(flow(changed, "2"))  # a new version: new instances get it, f1 keeps version 1
        assert app.create("flow", "f2").version == "2"
        assert (app.get("flow", "f1").version, app.get("flow", "f1").state) == ("1", ("flow.b",))


def test_listing_by_a_state_or_status_that_does_not_exist_is_an_error_not_an_empty_page(app: Interlock) -> None:
    from interlock import machine

    with pytest.raises(ValueError, match=r"has no state 'acceptd' .*did you mean 'accepted'"):
        app.list("order", state="acceptd")
    with pytest.raises(ValueError, match="status must be one of active, done, cancelled, not 'paid'"):
        app.list("order", status="paid")
    with pytest.raises(ValueError, match="no instance has status 'failed': a step that fails leaves its "
                                         "instance active"):
        app.list("order", status="failed")
    app.send("order", "o1", "ACCEPT")
    assert [i.id for i in app.list("order", state="accepted").items] == ["o1"]
    app.register(machine({"id": "flow", "initial": "a", "states": {"a": {}, "b": {}}}))
    with pytest.raises(ValueError, match=r"has no state 'b' \(states are full ids.*did you mean 'flow.b'"):
        app.list("flow", state="b")  # the document front ends name states by their path
