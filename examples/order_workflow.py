"""The order workflow of order_workflow.yaml, run in memory with Python services and a virtual clock.

    python examples/order_workflow.py
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from interlock import MemoryRunner, Task, load_machine

calls = {"courier": 0}


def charge_card(task: Task) -> dict[str, Any]:
    """A payment service: takes the invoke's input, returns the receipt (done.invoke.payment)."""
    amount = task.input["amount"]
    if amount > 1000:
        raise ValueError("amount over the card limit")  # -> error.invoke.payment
    return {"receipt": f"r-{amount}"}


def book_courier(task: Task) -> dict[str, Any]:
    """Fails on the first attempt, to show the retry after a minute."""
    calls["courier"] += 1
    if calls["courier"] == 1:
        raise ConnectionError("courier API unavailable")
    return {"tracking": "TRK-42"}


def main() -> dict[str, Any]:
    chart = load_machine(Path(__file__).with_name("order_workflow.yaml"),
                         services={"charge_card": charge_card, "book_courier": book_courier})
    runner = MemoryRunner()  # the chart brings its services
    session = runner.start(chart)
    runner.send(session.id, {"type": "CONFIRM", "total": 120})
    runner.run_until_idle()  # the virtual clock jumps to each due timer: the courier retry after 1m
    print(session.configuration[-1], session.context)
    print("output:", session.output)
    return {"done": session.done, "output": session.output, "context": session.context}


if __name__ == "__main__":
    main()
