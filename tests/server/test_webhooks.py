"""Webhook ingress on a real server: signed requests become events; unsigned, wrongly signed and stale ones
are refused before anything happens; the response is the hook's mapping of the result."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server.support import DOOR, READER, WRITER, Server, bearer, running

PAYMENT = DOOR.parent / "payment.yaml"
SECRETS = {"INTERLOCK_WEBHOOK_SECRET_PAYMENTS": "whsec_test", "INTERLOCK_WEBHOOK_SECRET_HUB": "hub-secret"}


@pytest.fixture
def hooks(tmp_path: Path) -> Iterator[Server]:
    with running(f"sqlite:///{tmp_path / 'hooks.db'}", dev=False, log=tmp_path / "server.log",
                 env={"INTERLOCK_LOAD": f"{DOOR},{PAYMENT}", **SECRETS}) as found:
        yield found


def stripe_event(order: str, kind: str = "payment_intent.succeeded", amount: int = 4200) -> bytes:
    return json.dumps({"id": f"evt_{order}_{kind}", "type": kind,
                       "data": {"object": {"amount": amount, "metadata": {"order": order}}}}).encode()


def stripe_headers(body: bytes, *, at: float | None = None, secret: str = "whsec_test") -> dict[str, str]:
    t = int(at if at is not None else time.time())
    digest = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return {"Stripe-Signature": f"t={t},v1={digest}", "Content-Type": "application/json"}


def github_headers(body: bytes, secret: str = "hub-secret") -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


def admin_get(server: Server, path: str) -> Any:
    return server.client.get(path, headers=bearer(server.key("admin"))).json()


def create_order(server: Server, name: str) -> None:
    made = server.client.post("/v1/machines/payment/instances", json={"name": name},
                              headers=bearer(server.key("admin")))
    assert made.status_code == 201, made.text


def test_a_signed_stripe_event_is_delivered_and_the_answer_mapped(hooks: Server) -> None:
    create_order(hooks, "o-1")
    body = stripe_event("o-1")
    answer = hooks.client.post("/v1/hooks/payment/stripe", content=body, headers=stripe_headers(body))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"order": "o-1", "state": ["payment.paid"], "paid": True}
    instance = admin_get(hooks, "/v1/machines/payment/instances/o-1")
    assert instance["state"] == ["payment.paid"] and instance["context"]["amount"] == 4200
    history = admin_get(hooks, "/v1/machines/payment/instances/o-1/history")["items"]
    assert history[-1]["event"] == {"name": "PAID", "data": {"amount": 4200}}
    assert history[-1]["idempotency_key"] == "evt_o-1_payment_intent.succeeded"


def test_a_redelivered_event_is_applied_once(hooks: Server) -> None:
    create_order(hooks, "o-1")
    body = stripe_event("o-1")
    first = hooks.client.post("/v1/hooks/payment/stripe", content=body, headers=stripe_headers(body))
    again = hooks.client.post("/v1/hooks/payment/stripe", content=body, headers=stripe_headers(body))
    assert first.status_code == again.status_code == 200
    assert admin_get(hooks, "/v1/machines/payment/instances/o-1")["step"] == 1


def test_an_idempotency_key_with_a_nul_is_malformed_on_every_store(hooks: Server) -> None:
    """A hook's idempotency key comes from the sender's body: one holding NUL was stored on SQLite and a 503
    storage.failed on PostgreSQL (its text cannot hold it); it is refused alike now, and nothing changes."""
    create_order(hooks, "o-1")
    body = json.dumps({"id": "evt\u0000x", "type": "payment_intent.succeeded",
                       "data": {"object": {"amount": 1, "metadata": {"order": "o-1"}}}}).encode()
    answer = hooks.client.post("/v1/hooks/payment/stripe", content=body, headers=stripe_headers(body))
    assert answer.status_code == 400 and "NUL" in answer.json()["error"]["message"], answer.text
    assert admin_get(hooks, "/v1/machines/payment/instances/o-1")["step"] == 0


def test_the_response_status_follows_the_outcome(hooks: Server) -> None:
    create_order(hooks, "o-2")
    body = stripe_event("o-2", kind="charge.refunded")  # REFUNDED: not accepted while open
    answer = hooks.client.post("/v1/hooks/payment/stripe", content=body, headers=stripe_headers(body))
    assert answer.status_code == 202 and answer.json()["paid"] is False


@pytest.mark.parametrize(("headers", "reason"), [
    ({}, "auth.signature.missing"),
    ({"Stripe-Signature": "v1=abc"}, "auth.signature.malformed"),
    ({"Stripe-Signature": b"t=\xb2,v1=abc"}, "auth.signature.malformed"),  # '²' (2) is a digit to isdigit
    ("wrong secret", "auth.signature.invalid"),
    ("ten minutes old", "auth.signature.expired"),
    ("another body", "auth.signature.invalid"),
])
def test_unverified_requests_are_refused_and_change_nothing(hooks: Server, headers: Any, reason: str) -> None:
    create_order(hooks, "o-1")
    body = stripe_event("o-1")
    if headers == "wrong secret":
        headers = stripe_headers(body, secret="whsec_guess")
    elif headers == "ten minutes old":
        headers = stripe_headers(body, at=time.time() - 600)
    elif headers == "another body":
        headers = stripe_headers(stripe_event("o-1", amount=1))
    answer = hooks.client.post("/v1/hooks/payment/stripe", content=body, headers=headers)
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"]["code"] == reason
    assert admin_get(hooks, "/v1/machines/payment/instances/o-1")["step"] == 0


def test_a_github_hook_creates_its_instance_and_answers_by_default(hooks: Server) -> None:
    body = json.dumps({"zen": "Keep it simple.", "repository": {"name": "widgets"}}).encode()
    delivery = {**github_headers(body), "X-GitHub-Delivery": "72d3162e"}
    answer = hooks.client.post("/v1/hooks/payment/github", content=body, headers=delivery)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"outcome": "applied", "step": 1, "duplicate": False, "state": ["payment.open"]}
    replayed = hooks.client.post("/v1/hooks/payment/github", content=body, headers=delivery)
    assert replayed.json() == {"outcome": "applied", "step": 1, "duplicate": True, "state": ["payment.open"]}
    # the signature covers the body only: a replay under another (unsigned) delivery id is the same delivery
    renamed = hooks.client.post("/v1/hooks/payment/github", content=body,
                                headers={**delivery, "X-GitHub-Delivery": "replayed-1"})
    assert renamed.json() == {"outcome": "applied", "step": 1, "duplicate": True, "state": ["payment.open"]}
    wrong = hooks.client.post("/v1/hooks/payment/github", content=body, headers=github_headers(body, "guess"))
    assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "auth.signature.invalid"
    assert admin_get(hooks, "/v1/machines/payment/instances/widgets")["step"] == 1


def test_a_key_verified_hook_needs_the_events_write_scope(hooks: Server) -> None:
    create_order(hooks, "o-3")
    url = "/v1/hooks/payment/internal?order=o-3"
    body = {"kind": "PAID", "amount": 7}
    assert hooks.client.post(url, json=body).json()["error"]["code"] == "auth.credentials.missing"
    refused = hooks.client.post(url, json=body, headers=bearer(hooks.key(*READER)))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "auth.scope.missing"
    accepted = hooks.client.post(url, json=body, headers=bearer(hooks.key(*WRITER)))
    assert accepted.status_code == 200 and accepted.json()["state"] == ["payment.paid"]
    # without data:, the JSON body is the event's data
    assert admin_get(hooks, "/v1/machines/payment/instances/o-3")["context"]["amount"] == 7


def test_a_key_verified_hook_that_creates_needs_the_instances_write_scope_too(hooks: Server) -> None:
    """``create: true`` starts instances, which POST .../instances allows only with instances:write: a key
    with events:write alone (a sender of events) may not create through the hook either."""
    sender = bearer(hooks.key("events:write"))
    refused = hooks.client.post("/v1/hooks/payment/enrol?order=o-new", headers=sender)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "auth.scope.missing", refused.text
    assert "instances:write" in refused.json()["error"]["message"]
    missing = hooks.client.get("/v1/machines/payment/instances/o-new", headers=bearer(hooks.key("admin")))
    assert missing.status_code == 404  # nothing was created
    created = hooks.client.post("/v1/hooks/payment/enrol?order=o-new", headers=bearer(hooks.key(*WRITER)))
    assert created.status_code == 200 and created.json()["state"] == ["payment.open"], created.text


def test_a_form_body_is_read_as_its_fields(hooks: Server) -> None:
    create_order(hooks, "o-4")
    answer = hooks.client.post("/v1/hooks/payment/internal?order=o-4", content=b"kind=PAID&amount=3",
                               headers={**bearer(hooks.key(*WRITER)),
                                        "Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["state"] == ["payment.paid"]
    assert admin_get(hooks, "/v1/machines/payment/instances/o-4")["context"]["amount"] == "3"


def test_requests_the_mapping_cannot_read_are_422_with_the_path(hooks: Server) -> None:
    body = json.dumps({"type": "payment_intent.succeeded", "data": {}}).encode()
    answer = hooks.client.post("/v1/hooks/payment/stripe", content=body, headers=stripe_headers(body))
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "webhook.unmapped" and error["details"][0]["path"] == "webhooks.stripe.instance"



def test_the_expressions_of_one_request_share_one_work_budget(tmp_path: Path) -> None:
    # data: may map any number of expressions; with a budget each, this request ran all 40 (a document may
    # hold thousands: minutes of CPU for one request, on the server's event loop)
    costly = {f"k{i}": "len([str(x) for x in range(30000)])" for i in range(40)}
    machine = tmp_path / "costly.yaml"
    machine.write_text(json.dumps({"id": "costly", "initial": "a", "states": {"a": {"on": {"GO": {}}}},
                                   "webhooks": {"in": {"verify": "key", "instance": "query.id", "create": True,
                                                       "event": "'GO'", "data": costly}}}))
    with running(f"sqlite:///{tmp_path / 'costly.db'}", dev=False, log=tmp_path / "server.log",
                 env={"INTERLOCK_LOAD": str(machine)}) as server:
        answer = server.client.post("/v1/hooks/costly/in?id=c1", json={}, headers=bearer(server.key(*WRITER)))
        assert answer.status_code == 422, answer.text
        error = answer.json()["error"]
        assert error["code"] == "webhook.unmapped" and "too much work" in error["message"]
        assert error["details"][0]["path"] == "webhooks.in.data"

def test_unknown_hooks_and_machines_are_404(hooks: Server) -> None:
    missing = hooks.client.post("/v1/hooks/payment/nope", content=b"{}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found.webhook"
    assert "stripe" not in missing.json()["error"]["message"]  # asked without credentials: not which it declares
    unknown = hooks.client.post("/v1/hooks/nomachine/stripe", content=b"{}")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found.machine"
    assert "/v1/hooks/{machine}/{hook}" in hooks.client.get("/openapi.json").json()["paths"]


def test_a_hook_whose_secret_the_server_lacks_refuses_everything(tmp_path: Path) -> None:
    with running(f"sqlite:///{tmp_path / 'bare.db'}", dev=False, log=tmp_path / "server.log",
                 env={"INTERLOCK_LOAD": f"{PAYMENT}"}) as bare:
        body = stripe_event("o-1")
        answer = bare.client.post("/v1/hooks/payment/stripe", content=body, headers=stripe_headers(body))
        assert answer.status_code == 503
        assert answer.json()["error"]["code"] == "webhook.unconfigured"
        assert "INTERLOCK_WEBHOOK_SECRET_PAYMENTS" in answer.json()["error"]["message"]


def test_a_trusted_python_machine_maps_with_callables(tmp_path: Path) -> None:
    app = DOOR.parent / "hooks_app.py"
    with running(f"sqlite:///{tmp_path / 'app.db'}", dev=False, log=tmp_path / "server.log",
                 env={"INTERLOCK_APP": str(app), **SECRETS}) as served:
        body = b"{}"
        answer = served.client.post("/v1/hooks/ticket/close", content=body,
                                    headers={**github_headers(body), "X-Ticket": "T-9"})
        assert answer.status_code == 201, answer.text
        assert answer.json() == {"closed": True}
        assert admin_get(served, "/v1/machines/ticket/instances/t-9")["state"] == ["ticket.closed"]
