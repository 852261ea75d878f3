"""A step is told before it runs which other sessions it can reach (core/reach.py); it never asks."""

from __future__ import annotations

import inspect

from interlock.core.content import Raise, Send
from interlock.core.effects import SendEffect
from interlock.core.reach import Reach
from interlock.core.step import start, step, stop

from .charts import chart, on, state


def _sender(target: str):
    # sends to target, then raises "after": error.communication (internal) must come first (W3C 496)
    return chart(state("m", state("a", transitions=[
        on("GO", actions=(Send(event="ping", target=target), Raise(event="after"))),
        on("error.communication", "failed"), on("after", "sent")]), state("failed"), state("sent")))


def _go(target: str, reach: Reach | None):
    c = _sender(target)
    return step(c, start(c).snapshot, "GO", reachable=reach)


def test_an_invocation_the_runtime_did_not_list_is_unreachable_at_once() -> None:
    result = _go("#_job", Reach(frozenset({"other"})))
    assert result.snapshot.configuration == ("m", "failed")
    assert result.effects == ()


def test_a_listed_invocation_gets_the_event_as_an_effect() -> None:
    result = _go("#_job", Reach(frozenset({"job"})))
    assert result.snapshot.configuration == ("m", "sent")
    [effect] = result.effects
    assert isinstance(effect, SendEffect) and effect.target == "#_job"


def test_a_session_id_is_checked_only_when_the_runtime_lists_sessions() -> None:
    assert _go("#_scxml_x", Reach(sessions={"y"})).snapshot.configuration == ("m", "failed")
    assert _go("#_scxml_x", Reach(sessions={"x"})).snapshot.configuration == ("m", "sent")
    unlisted = _go("#_scxml_x", Reach(sessions=None))  # the runtime answers after the step
    assert unlisted.snapshot.configuration == ("m", "sent")
    assert [e.target for e in unlisted.effects] == ["#_scxml_x"]


def test_without_a_reach_nothing_is_checked() -> None:
    assert _go("#_job", None).snapshot.configuration == ("m", "sent")


def test_no_entry_point_of_the_core_takes_a_callback() -> None:
    for fn in (start, step, stop):
        for name, parameter in inspect.signature(fn).parameters.items():
            assert "Callable" not in str(parameter.annotation), (fn.__name__, name)
