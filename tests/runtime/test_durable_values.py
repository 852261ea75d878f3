"""Values cross into the store exactly: what a chart sees is what a restart reads back.

JSON has no NaN, infinities or integers beyond 64 bits, and turns tuples into lists and keys into
strings. Values from outside (event data, inputs, task results) are converted or refused at the
boundary; values a step produces are checked before its commit, so a step that makes one fails alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from interlock import machine
from interlock.errors import EventRejectedError, StorageError
from interlock.runtime.clock import VirtualClock
from interlock.runtime.retry import RetryPolicy
from interlock.runtime.tasks import Task
from tests.runtime.durable_support import open_app, order_chart, payment_chart


def test_event_data_and_input_are_kept_as_the_store_gives_them_back(tmp_path: Path) -> None:
    db = tmp_path / "v.db"
    with open_app(db, VirtualClock(), order_chart()) as app:
        app.create("order", "o1", input={"n": 1, "tags": ("a", "b")})
        assert app.get("order", "o1").context["tags"] == ["a", "b"]
        app.send("order", "o1", {"type": "NOTE", "i": (1, {2: "two"})})
        warm = app.get("order", "o1").context
        assert warm["seen"] == [[1, {"2": "two"}]]
    with open_app(db, VirtualClock(), order_chart()) as app:  # a new process reads the same
        assert app.get("order", "o1").context == warm


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 2**64])
def test_input_that_json_cannot_hold_exactly_is_refused(tmp_path: Path, bad: object) -> None:
    with open_app(tmp_path / "i.db", VirtualClock(), order_chart()) as app:
        with pytest.raises(EventRejectedError, match="input is not JSON"):
            app.create("order", "o1", input={"n": [bad]})
        assert app.list("order").items == ()


def _maker(value_of: object) -> object:
    return machine({"id": "maker", "initial": "on", "context": {"v": 0}, "states": {"on": {"on": {
        "MAKE": {"actions": lambda context, event: {"v": value_of}},
        "OK": {"actions": lambda context, event: {"v": 1}},
        "MORE": {"actions": lambda context, event: {"v": context["v"] + [3]}}}}}})


@pytest.mark.parametrize(("value", "message"), [
    (float("nan"), "nan is not a JSON number"),
    ({"deep": [float("-inf")]}, "-inf is not a JSON number"),
    (2**70, "does not fit in 64 bits"),
])
def test_a_step_that_makes_a_value_json_cannot_hold_fails_and_changes_nothing(
        tmp_path: Path, value: object, message: str) -> None:
    db = tmp_path / "m.db"
    with open_app(db, VirtualClock(), _maker(value)) as app:  # type: ignore[arg-type]
        app.create("maker", "m1")
        with pytest.raises(StorageError, match=f"step 1 of maker/m1 produced a value that cannot be stored.*"
                                               f"{message}"):
            app.send("maker", "m1", "MAKE")
        assert app.send("maker", "m1", "OK").instance.context == {"v": 1}  # the instance goes on
        assert [h.outcome for h in app.history("maker", "m1").items] == ["started", "applied"]
    with open_app(db, VirtualClock(), _maker(value)) as app:  # type: ignore[arg-type]
        assert app.get("maker", "m1").context == {"v": 1}


def test_a_tuple_a_step_makes_is_cached_as_the_list_a_restart_reads(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    with open_app(db, VirtualClock(), _maker((1, 2))) as app:  # type: ignore[arg-type]
        app.create("maker", "m1")
        app.send("maker", "m1", "MAKE")
        assert app.get("maker", "m1").context == {"v": [1, 2]}
        # the next step starts from what is stored, not from the tuple the action returned
        # (a tuple + a list would raise in the action)
        assert app.send("maker", "m1", "MORE").instance.context == {"v": [1, 2, 3]}


@pytest.mark.parametrize(("result", "message"), [
    ({"x": float("nan")}, "nan is not a JSON number"),
    ({"x": 2**64}, "does not fit in 64 bits"),
    ({"x": {1, 2}}, "set is not JSON serializable"),
])
def test_a_task_result_json_cannot_hold_is_a_failed_attempt(tmp_path: Path, result: object,
                                                            message: str) -> None:
    with open_app(tmp_path / "r.db", VirtualClock(), payment_chart()) as app:
        app.service("charge", lambda task: result, retry=RetryPolicy(attempts=1))
        app.create("payment", "p1")
        app.run_until_idle()
        inst = app.get("payment", "p1")
        assert inst.state == ("failed",)
        assert "returned a value that is not JSON" in inst.context["error"]["message"]
        assert message in inst.context["error"]["message"]


def test_a_task_result_is_what_the_chart_sees_and_the_store_keeps(tmp_path: Path) -> None:
    def charge(task: Task) -> object:
        return {"ids": (1, 2), 3: "three"}

    db = tmp_path / "k.db"
    with open_app(db, VirtualClock(), payment_chart()) as app:
        app.service("charge", charge)
        app.create("payment", "p1")
        app.run_until_idle()
        warm = app.get("payment", "p1").context["result"]
        assert warm == {"ids": [1, 2], "3": "three"}
    with open_app(db, VirtualClock(), payment_chart()) as app:
        assert app.get("payment", "p1").context["result"] == warm


def test_an_input_too_large_for_a_snapshot_is_refused_at_create(tmp_path: Path) -> None:
    with open_app(tmp_path / "big.db", VirtualClock(), order_chart()) as app:
        with pytest.raises(StorageError, match="step 0 of order/o1 would store a snapshot of"):
            app.create("order", "o1", input={"blob": "x" * (5 * 1024 * 1024)})
        assert app.list("order").items == ()


KEEPER = """
<datamodel><data id="result" expr="None"/><data id="why" expr="None"/></datamodel>
<state id="paying">
  <invoke id="pay" src="service:charge"/>
  <transition event="done.invoke.pay" target="paid"><assign location="result" expr="_event.data"/></transition>
  <transition event="error.execution" target="stuck"><assign location="why" expr="_event.data"/></transition>
</state>
<state id="paid"/><state id="stuck"/>
"""


def test_a_task_result_whose_step_fails_tells_the_chart_with_error_execution(tmp_path: Path) -> None:
    from tests.runtime.durable_support import scxml

    with open_app(tmp_path / "s.db", VirtualClock(), scxml(KEEPER, name="keeper", initial="paying")) as app:
        app.service("charge", lambda task: "x" * (5 * 1024 * 1024))  # too large for the snapshot
        app.create("keeper", "k1")
        app.run_until_idle()
        inst = app.get("keeper", "k1")
        assert inst.state == ("stuck",)
        assert inst.context["why"]["event"] == "done.invoke.pay"
        assert [(e.outcome, e.event["name"]) for e in app.history("keeper", "k1").items[1:]] == [
            ("failed", "done.invoke.pay"), ("applied", "error.execution")]


SENDER = """
<datamodel><data id="got" expr="None"/><data id="is_list" expr="None"/></datamodel>
<state id="s">
  <transition event="GO"><send event="GOT"><param name="v" expr="(1, 2)"/></send></transition>
  <transition event="GOT">
    <assign location="got" expr="_event.data['v']"/>
    <assign location="is_list" expr="isinstance(_event.data['v'], list)"/>
  </transition>
  <transition event="LOG"><log label="odd" expr="float('nan')"/><log label="obj" expr="object()"/></transition>
</state>
"""


def test_an_event_applied_in_the_transaction_that_sent_it_is_the_one_a_restart_reads(tmp_path: Path) -> None:
    from tests.runtime.durable_support import scxml

    with open_app(tmp_path / "e.db", VirtualClock(), scxml(SENDER, name="sender", initial="s")) as app:
        app.create("sender", "x")
        context = app.send("sender", "x", "GO").instance.context
        assert (context["got"], context["is_list"]) == ([1, 2], True)


def test_a_log_value_that_cannot_be_stored_is_kept_as_its_repr(tmp_path: Path) -> None:
    from tests.runtime.durable_support import scxml

    with open_app(tmp_path / "l.db", VirtualClock(), scxml(SENDER, name="sender", initial="s")) as app:
        app.create("sender", "x")
        assert app.send("sender", "x", "LOG").outcome == "applied"
        [entry] = app.history("sender", "x", after=0).items
        assert [(e["label"], e["value"][:18]) for e in entry.effects] == [("odd", "nan"),
                                                                          ("obj", "<object object at ")]


@pytest.mark.parametrize("how", ["", 'target="instance:nobody/x"', 'target="http://example.invalid/x"',
                                 'delay="1s"'])
def test_a_sent_event_that_cannot_be_stored_fails_the_step_with_its_name(tmp_path: Path, how: str) -> None:
    from tests.runtime.durable_support import scxml

    chart = scxml(f"""<state id="s"><transition event="BAD">
      <send event="GOT" {how}><param name="v" expr="{{1, 2}}"/></send></transition></state>""",
                  name="sender", initial="s")
    with open_app(tmp_path / "b.db", VirtualClock(), chart) as app:
        app.create("sender", "x")
        with pytest.raises(StorageError, match="step 1 of sender/x produced a value that cannot be stored"):
            app.send("sender", "x", "BAD")
        assert app.get("sender", "x").step == 0


def _cyclic() -> list[object]:
    value: list[object] = [1]
    value.append({"again": value})
    return value


@pytest.mark.timeout(60)  # a hang guard: these used to spin forever in the value check
def test_cyclic_event_data_is_refused_at_once(tmp_path: Path) -> None:
    with open_app(tmp_path / "c.db", VirtualClock(), order_chart()) as app:
        app.create("order", "o1")
        with pytest.raises(EventRejectedError, match="contains itself"):
            app.send("order", "o1", {"type": "NOTE", "i": _cyclic()})
        with pytest.raises(EventRejectedError, match="contains itself"):
            app.create("order", "o2", input={"n": _cyclic()})
        assert [h.outcome for h in app.history("order", "o1").items] == ["started"]


@pytest.mark.timeout(60)
def test_an_action_that_makes_a_cyclic_value_fails_its_step_alone(tmp_path: Path) -> None:
    with open_app(tmp_path / "a.db", VirtualClock(), _maker(_cyclic())) as app:  # type: ignore[arg-type]
        app.create("maker", "m1")
        with pytest.raises(StorageError, match=r"step 1 of maker/m1 produced a value that cannot be "
                                               r"stored.*contains itself"):
            app.send("maker", "m1", "MAKE")
        assert app.send("maker", "m1", "OK").instance.context == {"v": 1}


@pytest.mark.timeout(60)
def test_a_cyclic_task_result_is_a_failed_attempt(tmp_path: Path) -> None:
    with open_app(tmp_path / "t.db", VirtualClock(), payment_chart()) as app:
        app.service("charge", lambda task: _cyclic(), retry=RetryPolicy(attempts=1))
        app.create("payment", "p1")
        app.run_until_idle()
        inst = app.get("payment", "p1")
        assert inst.state == ("failed",)
        assert "returned a value that is not JSON" in inst.context["error"]["message"]
        assert "contains itself" in inst.context["error"]["message"]


@pytest.mark.timeout(60)
def test_a_value_sharing_one_list_exponentially_often_is_refused_not_expanded(tmp_path: Path) -> None:
    shared: list[object] = [0]
    for _ in range(60):  # 60 levels, each holding the level below twice: 2**60 paths
        shared = [shared, shared]
    with open_app(tmp_path / "d.db", VirtualClock(), order_chart()) as app:
        app.create("order", "o1")
        with pytest.raises(EventRejectedError, match="more than 4,000,000 items"):
            app.send("order", "o1", {"type": "NOTE", "i": shared})


SNAPSHOT_AT_SEND = """
<datamodel><data id="items" expr="[1]"/><data id="got" expr="None"/></datamodel>
<state id="s">
  <transition event="GO">
    <send event="GOT"><param name="items" expr="items"/></send>
    <send event="MINE" target="#_internal"><param name="items" expr="items"/></send>
    <script>items.append(2)</script>
  </transition>
  <transition event="MINE"><assign location="got" expr="list(_event.data['items'])"/></transition>
  <transition event="GOT"/>
</state>
"""


def test_event_data_is_taken_when_the_send_runs_not_when_the_step_ends(tmp_path: Path) -> None:
    from tests.runtime.durable_support import scxml

    db = tmp_path / "s.db"
    chart = scxml(SNAPSHOT_AT_SEND, name="sender", initial="s")
    with open_app(db, VirtualClock(), chart) as app:
        app.create("sender", "x")
        assert app.send("sender", "x", "GO").instance.context == {"items": [1, 2], "got": [1]}
        go, got = app.history("sender", "x").items[1:3]
        assert [e["event"]["data"] for e in go.effects if e["kind"] == "send"] == [{"items": [1]}]
        assert got.event is not None and got.event["data"] == {"items": [1]}
