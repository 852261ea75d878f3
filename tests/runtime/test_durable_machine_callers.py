"""Instances of uploaded machines as callers of other machines (docs/auth.md, "Machines as callers"): what an
uploaded machine's instance sends to another machine's instance, now or by a timer, meets the target's
send rule with the sending instance as the caller, and a child it invokes meets its machine's create
rule; its own children and its parent, trusted machines' instances and targets without rules are not
restrained. The charts are compiled as the server compiles an upload (server/uploads.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from interlock.app import Interlock
from interlock.core.chart import Chart
from interlock.frontends.document import load_document
from interlock.runtime.clock import VirtualClock
from interlock.server.uploads import compile_upload
from interlock.storage.store import DefinitionRow
from tests.runtime.durable_support import open_app

OWNER_ONLY = "owner == claims.sub"


def orders(pay_rule: str | bool | None, *, create: str | bool = OWNER_ONLY, version: str = "1") -> Chart:
    """The target: ``orders`` instances take PAY (only from their owner when ``pay_rule`` is the rule)."""
    doc: dict[str, Any] = {
        "id": "orders", "version": version, "initial": "open", "context": {"owner": None, "paid": False, "_vip": False},
        "states": {"open": {"on": {"PAY": {"target": "paid", "actions": {"assign": {"paid": "True"}}}}},
                   "paid": {}}}
    if pay_rule is not None:
        doc["authorize"] = {"create": create, "read": True, "send": {"PAY": pay_rule}}
    return load_document(doc)


SENDER = """
initial: idle
states:
  idle:
    "on":
      GO: {actions: {send: {event: {type: PAY}, to: "instance:orders/o1"}}}
      LATER: {actions: {send: {event: {type: PAY}, to: "instance:orders/o1", delay: 2s}}}
      BUY: buying
  buying:
    invoke:
      id: order
      src: machine:orders
      input: {owner: "'mallory'", _vip: "True"}
      onError: failed
  failed: {}
"""


def uploaded(name: str = "x", text: str = SENDER) -> Chart:
    return compile_upload(name, "1", "yaml", text)


def trusted(name: str = "x", text: str = SENDER) -> Chart:
    return load_document({"id": name, **yaml.safe_load(text)})


def app_with(tmp_path: Path, target: Chart, sender: Chart) -> Any:
    return open_app(tmp_path / "a.db", VirtualClock(100.0), target, sender)


def with_order(app: Interlock) -> None:
    app.create("orders", "o1", input={"owner": "alice"})
    app.create("x", "1")


def test_an_uploaded_machines_send_is_refused_by_the_targets_rule(tmp_path: Path) -> None:
    with app_with(tmp_path, orders(OWNER_ONLY), uploaded()) as app:
        with_order(app)
        app.send("x", "1", "GO")
        app.run_until_idle()
        order = app.get("orders", "o1")
        assert (order.state, order.context["paid"]) == (("orders.open",), False)
        last = app.history("orders", "o1").items[-1]
        assert (last.outcome, last.event and last.event["name"]) == ("refused", "PAY")
        assert last.error is not None and last.error.startswith("rule.refused: 'instance:x/1' may not send")


def test_an_uploaded_scxml_machines_send_by_session_id_is_refused_too(tmp_path: Path) -> None:
    text = ('<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0" datamodel="null" initial="idle">'
            '<state id="idle"><transition event="GO"><send event="PAY" target="#_scxml_orders/o1"/>'
            '</transition></state></scxml>')
    with app_with(tmp_path, orders(OWNER_ONLY), compile_upload("x", "1", "scxml", text)) as app:
        with_order(app)
        app.send("x", "1", "GO")
        app.run_until_idle()
        assert app.get("orders", "o1").state == ("orders.open",)
        assert app.history("orders", "o1").items[-1].outcome == "refused"


def test_a_rule_can_allow_an_uploaded_machine_by_name(tmp_path: Path) -> None:
    rule = "owner == claims.sub or (caller.kind == 'instance' and caller.machine == 'x')"
    with app_with(tmp_path, orders(rule), uploaded()) as app:
        with_order(app)
        app.send("x", "1", "GO")
        app.run_until_idle()
        assert app.get("orders", "o1").state == ("orders.paid",)
        assert app.history("orders", "o1").items[-1].outcome == "applied"


@pytest.mark.parametrize("target, sender", [(None, "uploaded"), (OWNER_ONLY, "trusted")],
                         ids=["target-without-rules", "trusted-sender"])
def test_targets_without_rules_and_trusted_senders_are_as_before(tmp_path: Path, target: str | None,
                                                                sender: str) -> None:
    with app_with(tmp_path, orders(target), uploaded() if sender == "uploaded" else trusted()) as app:
        with_order(app)
        app.send("x", "1", "GO")
        app.run_until_idle()
        assert app.get("orders", "o1").state == ("orders.paid",)


def test_a_delayed_send_carries_its_sender_as_the_caller_when_it_fires(tmp_path: Path) -> None:
    clock = VirtualClock(100.0)
    with open_app(tmp_path / "a.db", clock, orders(OWNER_ONLY), uploaded()) as app:
        with_order(app)
        app.send("x", "1", "LATER")
        clock.advance(3)
        app.run_until_idle()
        assert app.get("orders", "o1").state == ("orders.open",)
        assert app.history("orders", "o1").items[-1].outcome == "refused"


def test_a_delayed_send_fired_by_a_process_without_the_uploaded_machine_carries_its_caller(tmp_path: Path) -> None:
    """A worker that serves no uploaded machine fires their timers too: the store says the sender was
    uploaded (its definitions are kept there, as the server's catalog keeps them)."""
    clock = VirtualClock(100.0)
    with open_app(tmp_path / "a.db", clock, orders(OWNER_ONLY), uploaded()) as app:
        with app.runtime.store.write() as tx:
            tx.save_definition(DefinitionRow("x", "1", "yaml", SENDER, 100.0))
        with_order(app)
        app.send("x", "1", "LATER")
    with open_app(tmp_path / "a.db", clock, orders(OWNER_ONLY)) as worker:
        clock.advance(3)
        worker.run_until_idle()
        assert worker.get("orders", "o1").state == ("orders.open",)
        assert worker.history("orders", "o1").items[-1].outcome == "refused"


def test_an_invoke_refused_by_the_create_rule_fails_in_the_parent(tmp_path: Path) -> None:
    with app_with(tmp_path, orders(OWNER_ONLY), uploaded()) as app:
        app.create("x", "1")
        app.send("x", "1", "BUY")
        app.run_until_idle()
        assert app.get("x", "1").state == ("x.failed",)  # error.invoke.order
        assert app.list("orders").items == ()  # nothing created
        error = app.history("x", "1").items[-1].event
        assert error is not None and error["name"] == "error.invoke.order"
        assert "refused" in error["data"]["message"] and "instance:x/1" in error["data"]["message"]


def test_private_input_or_an_older_version_without_rules_is_refused_to_an_uploaded_invoke(tmp_path: Path) -> None:
    public = SENDER.replace(', _vip: "True"', "")
    newest = orders(True, create=True, version="2")  # its create rule allows any caller
    with app_with(tmp_path, orders(None), newest) as app:
        app.register(uploaded("x"))  # input with a private key, the newest version
        app.register(uploaded("y", public.replace("machine:orders", "machine:orders@1")))  # no rules at 1
        app.register(uploaded("z", public))  # allowed: the newest version, public input
        for sender in ("x", "y", "z"):
            app.create(sender, "1")
            app.send(sender, "1", "BUY")
        app.run_until_idle()
        assert [app.get(s, "1").state for s in ("x", "y")] == [("x.failed",), ("y.failed",)]
        assert [(o.id, o.version) for o in app.list("orders").items] == [("z/1/order", "2")]


def test_an_uploaded_machines_children_keep_their_rules_and_its_parent_is_trusted(tmp_path: Path) -> None:
    # anyone may create a claim, only a manager approve it: the machine that invoked one may not
    child = load_document({
        "id": "claim", "initial": "open",
        "authorize": {"create": True, "read": True,
                      "send": {"PING": "caller.machine == 'p'", "APPROVE": "claims.get('role') == 'manager'"}},
        "states": {"open": {"on": {"PING": {"actions": {"sendParent": {"type": "PONG"}}},
                                   "APPROVE": "approved"}},
                   "approved": {}}})
    parent = uploaded("p", """
initial: running
states:
  running:
    invoke: {id: claim, src: machine:claim}
    "on":
      GO: {actions: [{send: {event: APPROVE, to: claim}}, {send: {event: PING, to: claim}}]}
      PONG: done
  done: {}
""")
    with app_with(tmp_path, child, parent) as app:
        app.create("p", "1")  # the create rule allows the child
        app.send("p", "1", "GO")
        app.run_until_idle()
        assert app.get("claim", "p/1/claim").state == ("claim.open",)  # APPROVE refused, PING applied
        outcomes = [(e.outcome, e.event and e.event["name"]) for e in app.history("claim", "p/1/claim").items]
        assert outcomes == [("started", None), ("refused", "APPROVE"), ("applied", "PING"),
                            ("cancelled", None)]  # its parent left the state that invoked it
        assert app.get("p", "1").state == ("p.done",)  # the child's PONG to its parent: trusted


def test_an_uploaded_invoke_is_refused_an_old_version_without_rules_when_a_newer_one_is_not_loaded_here(
        tmp_path: Path) -> None:
    """Version 2 of ``orders``, with rules, was uploaded through another process; this one has only
    version 1 (no rules), its default here: an uploaded machine's invoke took it, and so left the rules
    the machine's newest version has, as no caller's create may. Not knowing the newest version's rules,
    the invoke is refused; once this process has loaded it, its create rule decides."""
    public = SENDER.replace(', _vip: "True"', "")
    text = "initial: open\nstates: {open: {}}\n"
    ruled = "authorize: {create: \"owner == claims.sub\", read: true}\n" + text
    with app_with(tmp_path, compile_upload("orders", "1", "yaml", text), uploaded("x", public)) as app:
        with app.runtime.store.write() as tx:
            tx.save_definition(DefinitionRow("orders", "1", "yaml", text, 100.0))
            tx.save_definition(DefinitionRow("orders", "2", "yaml", ruled, 200.0))  # by another process
        app.create("x", "1")
        app.send("x", "1", "BUY")
        app.run_until_idle()
        assert app.get("x", "1").state == ("x.failed",)
        assert app.list("orders").items == ()
        error = app.history("x", "1").items[-1].event
        assert error is not None and "'2'" in error["data"]["message"]
        app.register(compile_upload("orders", "2", "yaml", ruled))  # loaded here now: its rule decides
        app.create("x", "2")
        app.send("x", "2", "BUY")
        app.run_until_idle()
        assert app.get("x", "2").state == ("x.failed",)  # 'mallory' is not instance:x/2
        assert app.list("orders").items == ()


def test_an_uploaded_invoke_of_a_machine_without_rules_in_any_loaded_version_is_as_before(tmp_path: Path) -> None:
    public = SENDER.replace(', _vip: "True"', "")
    text = "initial: open\nstates: {open: {}}\n"
    with app_with(tmp_path, compile_upload("orders", "1", "yaml", text), uploaded("x", public)) as app:
        with app.runtime.store.write() as tx:
            tx.save_definition(DefinitionRow("orders", "1", "yaml", text, 100.0))
        app.create("x", "1")
        app.send("x", "1", "BUY")
        app.run_until_idle()
        assert [(o.id, o.version) for o in app.list("orders").items] == [("x/1/order", "1")]


DELAYED_FLOOD = """
initial: idle
states:
  idle:
    "on":
      FLOOD: {{actions: [{sends}]}}
      error.communication: overflowed
  overflowed: {{}}
"""


def test_an_uploaded_machines_delayed_requests_count_in_the_step_that_sent_them(tmp_path: Path) -> None:
    """150 delayed sends to another machine's instance in one step: 100 (MAX_REQUESTS_PER_STEP) are
    scheduled, fire and are refused there (one step each in its history); the rest are undeliverable in
    the sender at once. Before, each fired in a step of its own timer, counted alone: all 150 reached
    the target."""
    clock = VirtualClock(100.0)
    sends = ", ".join(['{send: {event: {type: PAY}, to: "instance:orders/o1", delay: 1s}}'] * 150)
    with open_app(tmp_path / "a.db", clock, orders(OWNER_ONLY), uploaded("x", DELAYED_FLOOD.format(sends=sends))) as app:
        with_order(app)
        app.send("x", "1", "FLOOD")
        assert app.get("x", "1").state == ("x.overflowed",)
        clock.advance(2)
        app.run_until_idle()
        history = app.history("orders", "o1", limit=500).items
        assert [e.outcome for e in history].count("refused") == 100
        assert app.get("orders", "o1").state == ("orders.open",)
