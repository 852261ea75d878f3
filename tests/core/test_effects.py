"""Effects are plain JSON data: every kind survives a trip through JSON text unchanged."""

from __future__ import annotations

import json

import pytest

from interlock.core.effects import (
    CancelEffect,
    CancelInvokeEffect,
    DoneEffect,
    ForwardEffect,
    InvokeEffect,
    LogEffect,
    SendEffect,
    effect_from_json,
)
from interlock.core.events import Event

EFFECTS = [
    SendEffect("send.1", Event("tick", {"n": 1}, "external", "send.1", "#_scxml_s"), None, None, 1500),
    SendEffect("s", Event("ping"), "instance:order/42", "http://www.w3.org/TR/scxml/#SCXMLEventProcessor"),
    CancelEffect("send.1"),
    InvokeEffect("pay", "paying", "service", "charge", None, {"amount": 12}, True),
    CancelInvokeEffect("pay"),
    ForwardEffect("kid", Event("GO", [1, 2])),
    LogEffect("label", {"x": [1, "two"]}),
    DoneEffect({"total": 5}),
]


@pytest.mark.parametrize("effect", EFFECTS, ids=lambda e: e.kind)
def test_effect_round_trips_through_json_text(effect: object) -> None:
    data = effect.to_json()  # type: ignore[attr-defined]
    assert effect_from_json(json.loads(json.dumps(data))) == effect


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown effect kind 'teleport'"):
        effect_from_json({"kind": "teleport"})
