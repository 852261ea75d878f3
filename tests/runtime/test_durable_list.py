"""list() with a state (or tag) and a status: the status is part of the query, so pages are full while
more matches follow, and walking the pages returns every match once, whatever the page size."""

from __future__ import annotations

from pathlib import Path

import pytest

from interlock.app import Interlock
from interlock.runtime.clock import VirtualClock
from tests.runtime.durable_support import open_app, tagged_chart

IDS = [f"o{i:02d}" for i in range(23)]


def walk(app: Interlock, limit: int, **filters: str) -> list[str]:
    """Every page of a listing; a page that is not the last is full."""
    found: list[str] = []
    after = ""
    for _ in range(len(IDS) + 2):
        page = app.list("order", after=after, limit=limit, **filters)
        found += [i.id for i in page]
        if page.next is None:
            assert len(page) <= limit
            return found
        assert len(page) == limit and page.next == page.items[-1].id
        after = page.next
    raise AssertionError("the pages do not end")


@pytest.fixture
def app(tmp_path: Path):
    """23 orders: the first three and every third one after are cancelled while placed, every fourth
    is accepted (open and billable), o05 is accepted then cancelled, o10 ships (done)."""
    with open_app(tmp_path / "list.db", VirtualClock(), tagged_chart()) as app:
        for id in IDS:
            app.create("order", id)
        for n, id in enumerate(IDS):
            if n % 4 == 1 or id == "o05" or id == "o10":
                app.send("order", id, "ACCEPT")
        app.send("order", "o10", "SHIP")
        for n, id in enumerate(IDS):
            if (n < 3 or n % 3 == 0 or id == "o05") and id != "o10":
                app.cancel("order", id)
        yield app


def expected(app: Interlock, state: str | None = None, tag: str | None = None,
             status: str | None = None) -> list[str]:
    every = [app.get("order", id) for id in IDS]
    return [i.id for i in every if (state is None or state in i.configuration)
            and (tag is None or tag in _tags(i.configuration))
            and (status is None or i.status == status)]


def _tags(configuration: tuple[str, ...]) -> set[str]:
    return {"open"} if "placed" in configuration else {"open", "billable"} if "accepted" in configuration else set()


def test_a_page_holds_matches_even_when_the_first_rows_of_the_state_do_not_match(app: Interlock) -> None:
    page = app.list("order", state="placed", status="active", limit=2)
    assert [i.id for i in page] == ["o04", "o07"] and page.next == "o07"
    assert all(i.status == "active" and i.state == ("placed",) for i in page)


@pytest.mark.parametrize("filters", [
    {"state": "placed", "status": "active"},
    {"state": "placed", "status": "cancelled"},
    {"state": "accepted", "status": "active"},
    {"state": "accepted", "status": "cancelled"},
    {"state": "shipped", "status": "done"},
    {"state": "placed", "status": "done"},
    {"tag": "open", "status": "active"},
    {"tag": "billable", "status": "cancelled"},
    {"state": "placed"},
    {"status": "active"},
    {},
])
def test_walking_the_pages_returns_every_match_once_with_any_page_size(app: Interlock,
                                                                      filters: dict[str, str]) -> None:
    want = expected(app, **filters)
    assert want or filters in ({"state": "placed", "status": "done"}, {"state": "shipped", "status": "done"})
    for limit in range(1, len(IDS) + 2):
        assert walk(app, limit, **filters) == want, limit


def test_the_fixture_covers_each_case(app: Interlock) -> None:
    assert len(expected(app, state="placed", status="active")) >= 5
    assert "o05" in expected(app, state="accepted", status="cancelled")
    assert expected(app, state="shipped", status="done") == ["o10"]
