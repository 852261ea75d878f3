"""The ``authorize:`` section of a document: every problem reported with its path, rules compiled into the
safe language with the names a rule reads (docs/auth.md, "Machine rules")."""

from __future__ import annotations

from typing import Any

import pytest

from interlock.auth.policy import Access
from interlock.core.events import Event
from interlock.errors import DefinitionError
from interlock.frontends.document import load_document
from interlock.runtime.fingerprint import changed_parts, fingerprint

BASE: dict[str, Any] = {
    "id": "door", "initial": "closed", "context": {"owner": None},
    "states": {"closed": {"on": {"OPEN": "open"}}, "open": {"on": {"CLOSE": "closed", "lock.now": "closed"}}},
}


def door(authorize: Any) -> Any:
    return load_document({**BASE, "authorize": authorize})


def problems(authorize: Any) -> list[tuple[str, str]]:
    with pytest.raises(DefinitionError) as caught:
        door(authorize)
    return [(p.path, p.message + " | " + p.hint) for p in caught.value.problems]


def test_every_problem_is_reported_with_its_path() -> None:
    found = problems({"craete": True, "read": 3, "send": {"OPNE": True, "CLOSE": "owner ==", "*": "In('shut')"}})
    paths = [path for path, _ in found]
    assert paths == ["authorize.craete", "authorize.read", "authorize.send.CLOSE", "authorize.send.*"], found
    assert "did you mean 'create'" in found[0][1]
    assert "In('shut') names no state" in found[3][1]


def test_a_send_rule_for_an_event_no_transition_takes_is_a_typo() -> None:
    found = problems({"send": {"OPNE": True, "lock.now": True}})  # lock.now is taken
    assert found == [("authorize.send.OPNE", "no transition takes event 'OPNE' | did you mean 'OPEN'?")], found


def test_a_send_rule_may_cover_the_events_under_a_prefix() -> None:
    chart = door({"send": {"lock.*": "claims.sub == 'keeper'", "OPEN": True, "*": False}})
    caller = {"kind": "token", "sub": "ann", "claims": {"sub": "ann"}}

    def rule_of(event: str) -> str:
        refusal = chart.policy.decide(Access("send", caller, "d1", ("door",), (), {}, Event(event)), "door")
        return "allowed" if refusal is None else refusal.message.split("the rule ")[1].split(" ")[0]

    assert (rule_of("OPEN"), rule_of("lock.now"), rule_of("lock.now.late"), rule_of("CLOSE")) == (
        "allowed", "authorize.send.lock.*", "authorize.send.lock.*", "authorize.send.*")
    assert problems({"send": {"unlock.*": True}})[0][0] == "authorize.send.unlock.*"


def test_a_section_that_is_not_a_mapping_is_refused() -> None:
    assert problems(["read"])[0][0] == "authorize"


def test_rules_read_claims_caller_name_state_context_and_the_event() -> None:
    chart = door({"send": {"OPEN": "owner == claims.sub and name.startswith('d') and state == ['door.closed'] "
                                    "and caller.kind == 'token' and operation == 'send' and event.why == 'air'",
                           "*": "In('door.open')"}})
    caller = {"kind": "token", "sub": "ann", "claims": {"sub": "ann"}}

    def decide(event: Event, configuration: tuple[str, ...], owner: str = "ann") -> Any:
        access = Access("send", caller, "d1", configuration, configuration[1:], {"owner": owner}, event)
        return chart.policy.decide(access, "door")

    closed, opened = ("door", "door.closed"), ("door", "door.open")
    assert decide(Event("OPEN", {"why": "air"}), closed) is None
    assert decide(Event("OPEN", {"why": "air"}), closed, owner="bo").reason == "rule.refused"
    assert decide(Event("OPEN", {"why": "air"}), opened).reason == "rule.refused"
    assert decide(Event("OPEN", {}), closed).reason == "rule.failed"  # no event.why: refused, never allowed
    assert decide(Event("CLOSE"), opened) is None and decide(Event("CLOSE"), closed).reason == "rule.refused"
    refusal = decide(Event("OPEN", {"why": "air"}), opened)
    assert refusal.message.startswith("'ann' may not send event 'OPEN' to door/d1: the rule authorize.send.OPEN (")
    assert "door.open" not in refusal.message and refusal.detail == "in state ['door.open']"  # for the history


def test_only_true_allows_and_a_rule_may_read_the_time() -> None:
    chart = door({"read": "claims.get('team')", "send": {"*": "now() < context.get('until', 0)"}})
    caller = {"kind": "token", "sub": "ann", "claims": {"sub": "ann", "team": "blue"}}
    read = Access("read", caller, "d1", ("door",), (), {})
    refusal = chart.policy.decide(read, "door")
    assert refusal.reason == "rule.failed" and "gave str, not true or false" in refusal.message
    send = Access("send", caller, "d1", ("door",), (), {"until": 1000.0}, Event("OPEN"), now=999.0)
    assert chart.policy.decide(send, "door") is None
    assert chart.policy.decide(Access(**{**_fields(send), "now": 1001.0}), "door").reason == "rule.refused"


def _fields(access: Access) -> dict[str, Any]:
    return {name: getattr(access, name) for name in Access.__dataclass_fields__}


def test_an_empty_section_is_a_problem_not_no_rules() -> None:
    assert problems(None)[0][0] == "authorize" and problems({})[0][0] == "authorize"


def test_an_expression_rule_has_its_own_work_budget() -> None:
    chart = door({"read": "len(str([name] * 100000 * 100000)) > 0"})
    access = Access("read", {"kind": "token", "sub": "x"}, "d1", ("door", "door.closed"), ("door.closed",), {})
    refusal = chart.policy.decide(access, "door")
    assert refusal is not None and refusal.reason == "rule.failed"


def test_a_changed_rule_is_a_changed_definition() -> None:
    before, after = door({"read": "owner == claims.sub"}), door({"read": "true"})
    assert changed_parts(fingerprint(before), fingerprint(after)) == ["authorize"]
    assert changed_parts(fingerprint(load_document(BASE)), fingerprint(before)) == ["authorize"]
