"""Per-machine authorize rules in the durable runtime (docs/auth.md, "Machine rules"): a caller's send and
create are decided inside their write transaction against the state they meet; a queued event keeps its
caller and meets the rule when its turn comes; reads, lists and history follow the read rule; admins and
trusted code (no caller) are not restrained."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import yaml

from interlock.app import Interlock
from interlock.auth.principal import Principal
from interlock.errors import ConflictError, ForbiddenError
from interlock.frontends.document import load_document
from interlock.runtime.clock import VirtualClock
from tests.runtime.durable_support import open_app, store_url

EXPENSE = yaml.safe_load((Path(__file__).parents[2] / "examples" / "expense.yaml").read_text())


def user(sub: str, **claims: Any) -> Principal:
    return Principal("token", sub, frozenset({"read", "events:write", "instances:write"}),
                     MappingProxyType({"sub": sub, **claims}))


ALICE, BOB, MANAGER = user("alice"), user("bob"), user("mia", role="manager")
ADMIN = Principal("key", "key:admin", frozenset({"admin"}))


def expense_app(tmp_path: Path) -> Interlock:
    return open_app(tmp_path / "a.db", VirtualClock(100.0), load_document(EXPENSE))


class refused:
    """``with refused("rule.refused"):`` expects a ForbiddenError with that reason (as pytest.raises)."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> bool:
        assert isinstance(exc, ForbiddenError), f"expected a refusal ({self.reason}), got {exc!r}"
        assert exc.reason == self.reason, f"{exc.reason}: {exc}"
        return True


def test_a_send_is_decided_on_the_state_it_meets_and_a_refusal_writes_nothing(tmp_path: Path) -> None:
    with expense_app(tmp_path) as app:
        app.create("expense", "e1", input={"owner": "alice"}, caller=ALICE)
        with refused("rule.refused"):
            app.send("expense", "e1", {"type": "EDIT", "amount": 5}, caller=BOB)  # not the owner
        with refused("rule.refused"):
            app.send("expense", "e1", "SUBMIT", caller=ALICE)  # amount is still 0
        assert [e.outcome for e in app.history("expense", "e1").items] == ["started"]  # nothing recorded
        assert app.send("expense", "e1", {"type": "EDIT", "amount": 5}, caller=ALICE).outcome == "applied"
        assert app.send("expense", "e1", "SUBMIT", caller=ALICE).instance.state == ("expense.review",)
        with refused("rule.refused"):  # EDIT only in draft
            app.send("expense", "e1", {"type": "EDIT", "amount": 500}, caller=ALICE)
        with refused("rule.refused"):  # no approving one's own claim
            app.send("expense", "e1", "APPROVE", caller=user("alice", role="manager"))
        with refused("rule.missing"):  # REJECT has no rule: only admins and trusted code
            app.send("expense", "e1", "REJECT", caller=MANAGER)
        assert app.send("expense", "e1", "REJECT", caller=ADMIN).instance.state == ("expense.draft",)
        assert app.send("expense", "e1", "SUBMIT").outcome == "applied"  # trusted code: no caller
        assert app.send("expense", "e1", "APPROVE", caller=MANAGER).instance.status == "done"
        assert app.get("expense", "e1").context == {"owner": "alice", "amount": 5}


def test_a_queued_event_meets_the_rule_when_its_turn_comes(tmp_path: Path) -> None:
    with expense_app(tmp_path) as app:
        app.create("expense", "e1", input={"owner": "alice", "amount": 5})
        app.pause("expense", "e1")
        # both allowed now (draft), but once SUBMIT is applied the EDIT meets 'review' and is refused
        assert app.send("expense", "e1", "SUBMIT", caller=ALICE, idempotency_key="s").outcome == "queued"
        edit = app.send("expense", "e1", {"type": "EDIT", "amount": 900}, caller=ALICE, idempotency_key="e")
        assert edit.outcome == "queued"
        app.resume("expense", "e1")
        entries = app.history("expense", "e1").items
        assert [e.outcome for e in entries] == ["started", "applied", "refused"]
        assert entries[-1].error is not None and entries[-1].error.startswith("rule.refused: 'alice' may not send")
        instance = app.get("expense", "e1")
        assert (instance.state, instance.context["amount"], instance.queued) == (("expense.review",), 5, 0)
        with refused("rule.refused"):  # the retry of the refused request is answered the same way
            app.send("expense", "e1", {"type": "EDIT", "amount": 900}, caller=ALICE, idempotency_key="e")


def test_create_is_decided_on_the_instance_its_start_makes(tmp_path: Path) -> None:
    with expense_app(tmp_path) as app:
        with refused("rule.refused"):
            app.create("expense", "e1", input={"owner": "bob"}, caller=ALICE)
        with refused("rule.refused"):  # an API key's claims are its subject alone
            app.create("expense", "e2", input={"owner": "alice"}, caller=Principal("key", "key:svc", frozenset()))
        assert app.list("expense").items == ()  # nothing was written
        assert app.create("expense", "e1", input={"owner": "alice"}, caller=ALICE).step == 0


def test_reads_lists_and_history_follow_the_read_rule(tmp_path: Path) -> None:
    with expense_app(tmp_path) as app:
        for name, owner in (("a1", "alice"), ("a2", "alice"), ("b1", "bob")):
            app.create("expense", name, input={"owner": owner})
        assert app.get("expense", "a1", caller=ALICE).id == "a1"
        with refused("rule.refused"):
            app.get("expense", "b1", caller=ALICE)
        with refused("rule.refused"):
            app.history("expense", "b1", caller=ALICE)
        assert [i.id for i in app.list("expense", caller=ALICE).items] == ["a1", "a2"]
        page = app.list("expense", caller=BOB, limit=1)  # read on past alice's: bob's page is full
        assert ([i.id for i in page.items], page.next) == (["b1"], None)
        pages = [app.list("expense", caller=ALICE, limit=1, after=after) for after in ("", "a1", "a2")]
        # next names only what the caller may read; past a2, only b1 is left: an empty last page
        assert [([i.id for i in p.items], p.next) for p in pages] == [(["a1"], "a1"), (["a2"], "a2"), ([], None)]
        assert app.list("expense", caller=ALICE, state="expense.draft", after="a2").next is None
        assert len(app.list("expense", caller=MANAGER).items) == 3
        assert len(app.list("expense", caller=ADMIN).items) == 3



def costly_reads(tmp_path: Path, rule: str) -> Interlock:
    chart = load_document({"id": "doc", "initial": "a", "context": {"owner": ""}, "states": {"a": {}},
                           "authorize": {"read": rule}})
    return open_app(tmp_path / "a.db", VirtualClock(100.0), chart)


def test_the_read_rules_of_one_listing_share_one_work_budget(tmp_path: Path) -> None:
    # each rule spends about a quarter of a step's budget: a listing of 10,000 such instances was minutes of CPU
    rule = "len([str(x) for x in range(30000)]) > 0 and owner == claims.sub"
    with costly_reads(tmp_path, rule) as app:
        for i in range(12):
            app.create("doc", f"d{i:02}", input={"owner": "alice"})
        first = app.list("doc", caller=ALICE)
        assert 0 < len(first.items) < 12 and first.next == first.items[-1].id  # stopped on the budget
        seen, after = [i.id for i in first.items], first.next
        while after is not None:  # the next pages go on where it stopped: every instance, once
            page = app.list("doc", caller=ALICE, after=after)
            seen += [i.id for i in page.items]
            after = page.next
        assert seen == [f"d{i:02}" for i in range(12)]


def test_a_read_rule_over_a_whole_budget_refuses_and_the_listing_moves_on(tmp_path: Path) -> None:
    with costly_reads(tmp_path, "len([x for x in range(10**7)]) > 0") as app:
        for name in ("d1", "d2"):
            app.create("doc", name, input={"owner": "alice"})
        pages = [app.list("doc", caller=ALICE, after=after) for after in ("", "d1")]
        assert [([i.id for i in p.items], p.next) for p in pages] == [([], "d1"), ([], "d2")]
        with refused("rule.failed"):
            app.get("doc", "d1", caller=ALICE)

def test_control_has_its_own_rule(tmp_path: Path) -> None:
    with expense_app(tmp_path) as app:
        app.create("expense", "e1", input={"owner": "alice"})
        for action in (app.pause, app.cancel):
            with refused("rule.failed"):  # alice's token has no role claim: the rule fails, and refuses
                action("expense", "e1", caller=ALICE)
            with refused("rule.refused"):
                action("expense", "e1", caller=user("bob", role="clerk"))
        assert app.pause("expense", "e1", caller=MANAGER).paused
        assert app.resume("expense", "e1", caller=MANAGER).paused is False
        assert app.cancel("expense", "e1", caller=MANAGER).status == "cancelled"


def test_a_python_config_may_decide_with_callables(tmp_path: Path) -> None:
    from interlock.frontends.python import machine

    def owner_only(access: Any) -> bool:
        return bool(access.context.get("owner") == access.claims.get("sub") and access.In("expense.draft"))

    config = {**EXPENSE, "authorize": {"create": True, "read": True, "send": {"*": owner_only}}}
    with open_app(tmp_path / "p.db", VirtualClock(100.0), machine(config)) as app:
        app.create("expense", "e1", input={"owner": "alice", "amount": 1}, caller=BOB)
        with refused("rule.refused"):
            app.send("expense", "e1", "SUBMIT", caller=BOB)
        assert app.send("expense", "e1", "SUBMIT", caller=ALICE).outcome == "applied"
        with refused("rule.refused"):  # no longer in draft
            app.send("expense", "e1", "REJECT", caller=ALICE)


def test_a_restrained_callers_idempotency_keys_are_its_own(tmp_path: Path) -> None:
    with expense_app(tmp_path) as app:
        app.create("expense", "e1", input={"owner": "alice", "amount": 5})
        app.pause("expense", "e1")
        app.send("expense", "e1", "SUBMIT", caller=BOB, idempotency_key="submit-e1")  # queued, then refused
        app.resume("expense", "e1")
        assert [e.outcome for e in app.history("expense", "e1").items] == ["started", "refused"]
        mine = app.send("expense", "e1", "SUBMIT", caller=ALICE, idempotency_key="submit-e1")
        assert (mine.outcome, mine.duplicate) == ("applied", False)  # bob's use of the key is not hers
        assert app.send("expense", "e1", "SUBMIT", caller=ALICE, idempotency_key="submit-e1").duplicate


def test_a_restrained_callers_create_key_is_its_own(tmp_path: Path) -> None:
    with expense_app(tmp_path) as app:
        app.create("expense", "e1", input={"owner": "alice"}, caller=ALICE, idempotency_key="new-e1")
        app.send("expense", "e1", {"type": "EDIT", "amount": 5}, caller=ALICE)
        again = app.create("expense", "e1", input={"owner": "alice"}, caller=ALICE, idempotency_key="new-e1")
        assert (again.step, again.context["amount"]) == (1, 5)  # her retry: the instance as it is now
        for other in (BOB, None):  # bob's "new-e1" and trusted code's are other keys: a taken name
            # (the message names the key as its caller gave it, not as stored with the caller's sub)
            with pytest.raises(ConflictError, match=r"already exists \(not by a create with idempotency key "
                                                    r"'new-e1', so"):
                app.create("expense", "e1", input={"owner": "alice"}, caller=other, idempotency_key="new-e1")
        with pytest.raises(ConflictError, match=r"idempotency key 'new-e1' of expense/e1 was already used for "
                                                r"the create"):
            app.send("expense", "e1", "SUBMIT", caller=ALICE, idempotency_key="new-e1")
        assert len(app.history("expense", "e1").items) == 2


def test_a_process_without_the_version_does_not_decide(tmp_path: Path) -> None:
    from interlock.errors import NotFoundError

    with expense_app(tmp_path) as app:
        app.create("expense", "e1", input={"owner": "alice"})
        app.cancel("expense", "e1")
        with Interlock(store_url(tmp_path / 'a.db'), worker=False) as other:  # expense 1 not registered
            other.register(load_document({**EXPENSE, "version": "2"}))
            with pytest.raises(NotFoundError, match="has no version '1' registered in this process"):
                other.send("expense", "e1", "SUBMIT", caller=BOB)
        assert [e.outcome for e in app.history("expense", "e1").items] == ["started", "cancelled"]


def test_an_instance_holds_a_bounded_queue(tmp_path: Path) -> None:
    from interlock.errors import InstanceBusyError

    with open_app(tmp_path / "q.db", VirtualClock(100.0), load_document(EXPENSE), max_queued=2) as app:
        app.create("expense", "e1", input={"owner": "alice"})
        app.pause("expense", "e1")
        for amount in (1, 2):
            assert app.send("expense", "e1", {"type": "EDIT", "amount": amount}).outcome == "queued"
        with pytest.raises(InstanceBusyError, match=r"expense/e1 has 2 events waiting.*it is paused"):
            app.send("expense", "e1", {"type": "EDIT", "amount": 3}, caller=ALICE)
        app.resume("expense", "e1")
        assert app.get("expense", "e1").context["amount"] == 2  # the two queued, and nothing more
        assert app.send("expense", "e1", {"type": "EDIT", "amount": 3}).outcome == "applied"


def test_an_older_version_without_rules_is_no_way_around_the_newest_ones_from_python(tmp_path: Path) -> None:
    """As over HTTP: rules added in version 2, so bob may not create alice's claim at version 1 (no rules),
    where he would then approve it himself. Admins and trusted code may; a version with rules may be
    chosen."""
    bare = {k: v for k, v in EXPENSE.items() if k != "authorize"}
    ruled = {**EXPENSE, "version": "2"}
    with open_app(tmp_path / "a.db", VirtualClock(100.0), load_document(bare), load_document(ruled)) as app:
        with refused("rule.missing"):
            app.create("expense", "c1", input={"owner": "alice", "amount": 1000}, version="1", caller=BOB)
        with refused("rule.missing"):
            app.execute("expense", "c1", input={"owner": "alice"}, version="1", caller=BOB, timeout=0)
        assert not app.list("expense").items  # nothing was created
        assert app.create("expense", "c2", input={"owner": "bob"}, version="2", caller=BOB).version == "2"
        assert app.create("expense", "c3", version="1", caller=ADMIN).version == "1"
        assert app.create("expense", "c4", version="1").version == "1"
