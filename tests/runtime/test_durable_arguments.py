"""Bad arguments to the embedded API get an error that names them, before anything reaches the store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from interlock import Interlock
from interlock.errors import EventRejectedError
from interlock.runtime.clock import VirtualClock
from tests.runtime.durable_support import open_app, order_chart

LONE = "\ud800"
CALLS: dict[str, tuple[Callable[[Interlock], Any], type[Exception], str]] = {
    "event name": (lambda app: app.send("order", "o1", f"NOTE{LONE}"), EventRejectedError,
                   "event name .* has a lone surrogate"),
    "event type": (lambda app: app.send("order", "o1", {"type": f"N{LONE}"}), EventRejectedError,
                   "event name .* has a lone surrogate"),
    "instance id": (lambda app: app.create("order", f"o{LONE}"), ValueError, "instance id .* lone surrogate"),
    "machine": (lambda app: app.get(f"order{LONE}", "o1"), ValueError, "machine .* lone surrogate"),
    "key": (lambda app: app.send("order", "o1", "NOTE", idempotency_key=LONE), ValueError,
            "idempotency_key .* lone surrogate"),
    "version": (lambda app: app.create("order", "o2", version=LONE), ValueError, "version .* lone surrogate"),
    "tag": (lambda app: app.list("order", tag=LONE), ValueError, "tag .* lone surrogate"),
    "list after": (lambda app: app.list("order", after=LONE), ValueError, "after .* lone surrogate"),
    "list after type": (lambda app: app.list("order", after=10**30), TypeError, "after must be a string"),
    "pause": (lambda app: app.pause("order", LONE), ValueError, "instance id .* lone surrogate"),
    "history huge": (lambda app: app.history("order", "o1", after=10**30), ValueError,
                     "after must be a step number from -1 to 9223372036854775807"),
    "history below": (lambda app: app.history("order", "o1", after=-2), ValueError, "after must be a step"),
    "history type": (lambda app: app.history("order", "o1", after="3"), TypeError, "after must be an int"),
    "limit type": (lambda app: app.history("order", "o1", limit=2.5), TypeError, "limit must be an int"),
    "id type": (lambda app: app.get("order", 5), TypeError, "instance id must be a string"),
}


@pytest.mark.parametrize("name", CALLS)
def test_a_bad_argument_is_named_and_changes_nothing(tmp_path: Path, name: str) -> None:
    call, error, message = CALLS[name]
    with open_app(tmp_path / "a.db", VirtualClock(), order_chart()) as app:
        app.create("order", "o1")
        with pytest.raises(error, match=message):
            call(app)
        assert app.history("order", "o1").items[-1].step == 0
        assert [i.id for i in app.list("order").items] == ["o1"]
