"""A traffic light with the Python API: guards and actions are plain functions.

    python examples/traffic_light.py
"""

from __future__ import annotations

from typing import Any

from interlock.core.events import Event
from interlock.core.step import start, step
from interlock.frontends.python import machine


def rush_hour(context: dict[str, Any], event: Event) -> bool:
    return bool(context["cars_waiting"] > 10)


def count_cycle(context: dict[str, Any], event: Event) -> dict[str, Any]:
    return {"cycles": context["cycles"] + 1}  # a returned mapping is merged into the context


def green_time(context: dict[str, Any], event: Event) -> int:
    return 60_000 if context["cars_waiting"] > 10 else 30_000


light = machine(
    {
        "id": "light",
        "initial": "green",
        "context": {"cycles": 0, "cars_waiting": 0},
        "states": {
            # in rush hour green ignores the manual TIMER and waits for its (longer) delay
            "green": {"after": {"green_time": "yellow"},
                      "on": {"TIMER": {"target": "yellow", "guard": {"not": "rush_hour"}}}},
            "yellow": {"after": {"3s": "red"}, "on": {"TIMER": "red"}},
            "red": {
                "entry": "count_cycle",
                "on": {
                    "TIMER": "green",
                    "CARS": {"actions": {"assign": {"cars_waiting": lambda c, e: e.data["count"]}}},
                },
            },
        },
    },
    guards={"rush_hour": rush_hour},
    actions={"count_cycle": count_cycle},
    delays={"green_time": green_time},
)


def main() -> dict[str, Any]:
    result = start(light)
    for event in ["TIMER", "TIMER", Event("CARS", {"count": 12}), "TIMER", "TIMER", "TIMER"]:
        result = step(light, result.snapshot, event)
        name = event if isinstance(event, str) else event.name
        print(f"{name:6} -> {result.snapshot.configuration[-1]:13} {result.snapshot.context}")
    return result.snapshot.context


if __name__ == "__main__":
    main()
