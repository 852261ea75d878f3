"""The ``webhooks:`` section of a machine document: compiled with the machine, every problem with its path."""

from __future__ import annotations

from typing import Any

import pytest

from interlock import DefinitionError, load_document, machine

ORDER: dict[str, Any] = {
    "id": "order", "initial": "open",
    "states": {"open": {"on": {"PAID": "paid"}}, "paid": {}},
}


def order(**webhooks: Any) -> dict[str, Any]:
    return {**ORDER, "webhooks": webhooks}


def problems(doc: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(DefinitionError) as info:
        load_document(doc)
    return {p.path: p.message for p in info.value.problems}


def test_a_hook_is_compiled_and_evaluates_over_the_request() -> None:
    chart = load_document(order(payment={
        "verify": {"signature": "stripe", "secret": "payments", "tolerance": 60},
        "instance": "body.data.order",
        "event": "'PAID' if body.type == 'payment.ok' else 'FAILED'",
        "data": {"amount": "body.data.amount", "via": "headers['user-agent']"},
        "idempotency_key": "body.id",
        "response": {"status": "200 if outcome == 'applied' else 202", "body": {"state": "instance.state"}},
    }))
    hook = chart.webhooks["payment"]
    request = {"body": {"id": "evt_1", "type": "payment.ok", "data": {"order": "o-1", "amount": 30}},
               "headers": {"user-agent": "stripe"}}
    assert (hook.verify.style, hook.verify.secret, hook.verify.tolerance) == ("stripe", "payments", 60)
    assert hook.instance(request) == "o-1"
    assert hook.event(request) == "PAID"
    assert hook.event({**request, "body": {**request["body"], "type": "other"}}) == "FAILED"
    assert hook.data(request) == {"amount": 30, "via": "stripe"}
    assert hook.idempotency_key(request) == "evt_1"
    answer = {"outcome": "queued", "instance": {"state": ["open"]}}
    assert hook.status(answer) == 202
    assert hook.body(answer) == {"state": ["open"]}


def test_a_machine_without_webhooks_has_none() -> None:
    assert load_document(ORDER).webhooks == {}


def test_verify_key_and_defaults() -> None:
    hook = load_document(order(ping={"verify": "key", "instance": "query.name", "event": "'PING'"})).webhooks["ping"]
    assert hook.verify.style == "key"
    assert (hook.data, hook.status, hook.body, hook.create) == (None, None, None, False)


def test_every_problem_is_reported_with_its_path() -> None:
    found = problems(order(**{
        "bad name!": {"verify": "key", "instance": "1", "event": "'A'"},
        "nosig": {"instance": "body.a", "event": "'A'"},
        "style": {"verify": {"signature": "gitlab", "secret": "s"}, "instance": "body.a", "event": "'A'"},
        "secret": {"verify": {"signature": "github", "secret": "not a name"}, "instance": "body.a", "event": "'A'"},
        "syntax": {"verify": "key", "instance": "body.", "event": "__import__('os')", "colour": 1},
        "missing": {"verify": "key"},
        "response": {"verify": "key", "instance": "body.a", "event": "'A'", "response": {"code": 1}},
    }))
    assert "webhooks.bad name!" in found
    assert found["webhooks.nosig.verify"] == "every webhook says how its caller is verified"
    assert "gitlab" in found["webhooks.style.verify.signature"]
    assert "server secret" in found["webhooks.secret.verify.secret"]
    assert "invalid syntax" in found["webhooks.syntax.instance"]
    assert "webhooks.syntax.event" in found  # no way out of the expression language
    assert "unknown key 'colour'" in found["webhooks.syntax.colour"]
    assert set(found) >= {"webhooks.missing.instance", "webhooks.missing.event", "webhooks.response.response.code"}


def test_a_secret_value_in_the_document_is_refused() -> None:
    # only a name: the value is the server's
    found = problems(order(gh={"verify": {"signature": "github", "secret": "sha256=abc/def"},
                               "instance": "body.a", "event": "'A'"}))
    assert "webhooks.gh.verify.secret" in found


def test_tolerance_is_bounded_and_only_for_stripe() -> None:
    found = problems(order(
        a={"verify": {"signature": "stripe", "secret": "s", "tolerance": 86400}, "instance": "body.a", "event": "'A'"},
        b={"verify": {"signature": "github", "secret": "s", "tolerance": 10}, "instance": "body.a", "event": "'A'"},
    ))
    assert "3600" in found["webhooks.a.verify.tolerance"]
    assert "no tolerance" in found["webhooks.b.verify.tolerance"]


def test_the_section_must_be_a_mapping() -> None:
    assert "mapping" in problems({**ORDER, "webhooks": ["a"]})["webhooks"]


def test_python_configs_may_map_with_callables() -> None:
    chart = machine({**ORDER, "webhooks": {"pay": {
        "verify": "key", "instance": lambda r: r["body"]["order"].lower(), "event": "'PAID'",
        "response": {"body": lambda r: {"ok": r["outcome"] == "applied"}}}}})
    hook = chart.webhooks["pay"]
    assert hook.instance({"body": {"order": "O-1"}}) == "o-1"
    assert hook.body({"outcome": "applied"}) == {"ok": True}
