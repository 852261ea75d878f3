"""A trusted app module (``--app``) whose machine maps its webhook with Python callables."""

from __future__ import annotations

from typing import Any

from interlock import Interlock, machine


def _ticket(values: dict[str, Any]) -> str:
    return str(values["headers"]["x-ticket"]).lower()


def setup(app: Interlock) -> None:
    app.register(machine({
        "id": "ticket", "initial": "open", "states": {"open": {"on": {"CLOSE": "closed"}}, "closed": {}},
        "webhooks": {"close": {
            "verify": {"signature": "github", "secret": "hub"},
            "instance": _ticket, "event": "'CLOSE'", "create": True,
            "response": {"status": 201, "body": lambda v: {"closed": v["instance"]["state"] == ["ticket.closed"]}},
        }},
    }))
