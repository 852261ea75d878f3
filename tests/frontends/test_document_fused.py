"""A transition's document guard and assignment compiled into one function (``compile_fused``).

The fused function must give what the two separate functions give: the guard's value or error, the
assignment's value or error, and the same work charged to the step's budget, on any context and event.
The step must take the precomputed assignment only where nothing runs between the guard and the
assignment (a targetless transition on the step's light path), and run the assignment as usual elsewhere.
"""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from interlock.core.chart import Chart
from interlock.core.content import Update
from interlock.core.datamodel import WORK_UNITS
from interlock.core.events import Event
from interlock.core.run import Run, config_of
from interlock.core.step import start, step
from interlock.frontends.document_stored import merged_check
from interlock.frontends.expressions import compile_expression, compile_fused, compile_record
from interlock.frontends.loader import load_machine

# (guard, assignment) pairs: the benchmark shapes, and others for the paths of the generated code (a guard
# returning a non-boolean, floats and big ints, lists, strings, containers shared many times, In())
PAIRS: list[tuple[str, list[tuple[str, str]]]] = [
    ("event.price > 0 and count < max_items",
     [("items", "items + [event.sku]"), ("total", "total + event.price * event.qty"), ("count", "count + 1")]),
    ("count < limit and event.by > 0", [("count", "count + event.by"), ("n", "n + 1")]),
    ("event.amount >= total", [("amount", "event.amount")]),
    ("count", [("count", "count - 1"), ("total", "total * 2")]),
    ("len(items) < 5 and event.sku != 'z'", [("items", "[event.sku] + items"), ("last", "event.sku")]),
    ("total > count", [("total", "total * total"), ("items", "items * 3")]),
    ("n < 3 or In('m.b')", [("n", "n + 1"), ("label", "'n=' + str(n)")]),
    ("count > 0", [("items", "[count] * count"), ("total", "0")]),
    ("event.price", [("total", "total // event.price"), ("count", "[]")]),
]
STATES = ["m", "m.a", "m.b"]
SHARED = [[], ["a"], ["a", "b", 3], list(range(70)), [1.5, None, True], [[1], [2]]]  # reused across cases


def _value(rng: random.Random) -> Any:
    kind = rng.randrange(20)
    if kind < 12:  # mostly small ints, so that the guards hold and the assignments run
        return rng.choice([0, 1, 2, 3, -1, 7, 10, 250, 10**9, 2**30 - 1, 2**30, -(2**30)])
    kind -= 7
    return [lambda: 2**rng.choice([4000, 4095, 4096, 8191, 8192, 9000]) * rng.choice([1, -1]),
            lambda: rng.choice([0.5, -2.0, math.inf, 1e308]), lambda: rng.choice([True, False]),
            lambda: rng.choice(["", "a", "z", "sku"]), lambda: None, lambda: rng.choice(SHARED),
            lambda: [rng.choice(["a", 1, None]) for _ in range(rng.randrange(4))],
            lambda: {"k": 1}][kind - 5]()


def _context(rng: random.Random) -> dict[str, Any]:
    keys = ["items", "total", "count", "max_items", "limit", "n", "amount"]
    return {key: _value(rng) for key in keys if rng.random() < 0.93}


def _data(rng: random.Random) -> Any:
    roll = rng.random()
    if roll < 0.05:
        return None
    if roll < 0.08:
        return ["not", "a", "mapping"]
    keys = ["price", "qty", "sku", "by", "amount"]
    return {key: _value(rng) for key in keys if rng.random() < 0.9}


def _outcome(call: Any) -> tuple[tuple[Any, ...], bool]:
    """What ``call()`` gave (its value with its types, or its error's type and message), and its truth."""
    try:
        value = call()
    except Exception as exc:
        return ("error", type(exc).__name__, str(exc)), False
    return ("value", _typed(value)), bool(value)


def _typed(value: Any) -> Any:
    """A value with the type of every part: 1 and True and 1.0 are not the same result."""
    if type(value) is dict:
        return {k: _typed(v) for k, v in value.items()}
    if type(value) is list:
        return [_typed(v) for v in value]
    return (type(value).__name__, repr(value) if type(value) is float else value)  # nan == nan as text


def _chart() -> Chart:
    return load_machine("id: m\ninitial: a\nstates: {a: {}, b: {}}\n", format="yaml")


def _run(chart: Chart, context: dict[str, Any], event: Event, left: float, *, light: bool) -> Run:
    """A real run as the step makes it: light (``begin_light``, the step's light path) or whole."""
    snapshot = start(chart).snapshot._replace(context=context)
    config = config_of(chart, snapshot.configuration)
    run = object.__new__(Run).begin_light(chart, snapshot, config, 0.0, None, event)
    if not light:
        run.begin_rest()
    run.left = left
    return run


@pytest.mark.parametrize("pair", range(len(PAIRS)))
def test_the_fused_function_gives_charges_and_raises_what_the_two_functions_do(pair: int) -> None:
    source, items = PAIRS[pair]
    record = "{" + ", ".join(f"{k}: {v}" for k, v in items) + "}"
    guard = compile_expression(source, states=STATES)
    update = compile_record(items, states=STATES, check=merged_check(record))
    fused = compile_fused(guard, update, items, states=STATES, check=merged_check(record))
    assert fused is not None and fused.source == source
    chart = _chart()
    rng = random.Random(7_000 + pair)
    held = 0
    for _ in range(3_000):
        context, event = _context(rng), Event("E", _data(rng))
        # a budget that runs out before, inside or after either part, or never
        left = rng.choice([WORK_UNITS, float(rng.randrange(0, 260)), 5.0, 0.0, -1.0])
        for light in (True, False):
            before = {k: v for k, v in context.items()}
            apart = _run(chart, context, event, left, light=light)
            expected_guard, holds = _outcome(lambda: guard.fn(apart))  # noqa: B023  # called at once
            expected_update = _outcome(lambda: update.fn(apart))[0] if light and holds else None  # noqa: B023
            together = _run(chart, context, event, left, light=light)
            assert _outcome(lambda: fused.fn(together))[0] == expected_guard, (source, context, event)  # noqa: B023
            if expected_update is None:
                assert not hasattr(together, "ready")  # nothing computed ahead: the assignment runs later
            else:
                held += 1
                ready = together.ready
                got = (("error", type(ready).__name__, str(ready)) if isinstance(ready, Exception)
                       else ("value", _typed(ready)))
                assert got == expected_update, (source, context, event)
            assert together.left == apart.left, (source, context, event, left)
            assert together.context is context and context == before  # the context itself is never changed
    assert held > 80, held  # the guard held on a light run often enough to compare the assignments


def test_a_guard_that_may_return_a_shared_container_is_not_fused() -> None:
    items = [("n", "n + 1")]
    guard = compile_expression("[n] * 3")
    update = compile_record(items, check=merged_check("{n: n + 1}"))
    assert compile_fused(guard, update, items, check=merged_check("{n: n + 1}")) is None


DOCUMENT = """
id: shop
initial: cart
context: {items: [], total: 0, count: 0, max_items: 4, amount: 0, n: 0}
states:
  cart:
    on:
      ADD:
        guard: event.price > 0 and count < max_items
        actions: {assign: {items: "items + [event.sku]", total: "total + event.price * event.qty", count: "count + 1"}}
      NOTE:
        guard: n < 1000
        actions: [{assign: {n: "n + 1"}}, {raise: NOTED}]
      NOTED: {guard: "n > 0", actions: {assign: {total: "total + 0"}}}
      CHECKOUT: {target: checkout, guard: total > 0}
  checkout:
    on:
      PAY: {target: paid, guard: event.amount >= total, actions: {assign: {amount: event.amount}}}
  paid:
    on:
      RESET: {target: cart, actions: {assign: {items: "[]", total: "0", count: "0"}}}
"""


def _updates(chart: Chart) -> dict[str, bool]:
    return {f"{state.id}:{t.events[0]}": a.ready for state in chart.states.values() for t in state.transitions
            for a in t.actions if type(a) is Update}


def test_only_a_targetless_transition_whose_only_content_is_one_assignment_is_fused() -> None:
    chart = load_machine(DOCUMENT, format="yaml")
    assert _updates(chart) == {"shop.cart:ADD": True, "shop.cart:NOTE": False, "shop.cart:NOTED": True,
                               "shop.checkout:PAY": False, "shop.paid:RESET": False}


def _events(rng: random.Random) -> list[Event]:
    names = ["ADD"] * 6 + ["NOTE", "NOTED", "CHECKOUT", "PAY", "RESET"]
    return [Event(rng.choice(names), _data(rng) if rng.random() < 0.95 else {"price": 1, "qty": 1})
            for _ in range(400)]


@pytest.mark.parametrize("seed", range(6))
def test_steps_on_the_light_path_agree_with_steps_that_run_the_assignment_apart(seed: int) -> None:
    """The same events, once as they come (the light path: the fused guard computes the assignment) and
    once with a send id (a whole run: the guard alone, then the assignment's own function with the
    transition's content), from the same snapshots: the same snapshots, transitions and errors."""
    chart = load_machine(DOCUMENT, format="yaml")
    rng = random.Random(seed)
    snapshot = start(chart).snapshot
    if seed % 2:  # some contexts of the wrong types, and lists past the inline path's length
        snapshot = snapshot._replace(context={**snapshot.context, **_context(rng)})
    errors = 0
    for event in _events(rng):
        light = step(chart, snapshot, event)
        whole = step(chart, snapshot, event._replace(sendid="not-a-timer"))
        assert _typed(light.snapshot.context) == _typed(whole.snapshot.context), event
        assert light.snapshot.configuration == whole.snapshot.configuration
        assert light.transitions == whole.transitions
        assert light.errors == whole.errors, event
        assert light.effects == whole.effects
        errors += len(light.errors)
        snapshot = light.snapshot
    assert errors > 10  # the guards and the assignments failed often enough to compare their errors


def test_an_assignment_error_is_the_transitions_not_the_guards() -> None:
    chart = load_machine(DOCUMENT, format="yaml")
    snapshot = start(chart).snapshot
    result = step(chart, snapshot, Event("ADD", {"price": 3, "qty": 2}))  # no sku: the guard holds
    assert [t.events for t in result.transitions] == [("ADD",)]
    assert result.errors == ({"event": "error.execution", "error": "EvaluationError",
                              "message": "'items + [event.sku]': the event 'ADD' has no field or data key 'sku'"},)
    assert result.snapshot.context == snapshot.context  # the assignment failed as a whole
    result = step(chart, snapshot, Event("ADD", {"price": "3", "qty": 2, "sku": "a"}))
    assert result.transitions == ()
    assert [(e["error"], "guard" in e) for e in result.errors] == [("EvaluationError", True)]


def test_a_failing_assignment_leaves_no_step_alive_for_the_collector() -> None:
    """The exception a fused assignment keeps for the step holds no frame: with the cyclic collector off,
    nothing of 200 failing steps stays alive (a kept traceback held the step's run, and the step's frame
    held the exception)."""
    import gc

    chart = load_machine("id: m\ninitial: a\ncontext: {n: 0}\nstates:\n  a:\n    on:\n"
                         "      E: {guard: 'n < 5', actions: {assign: {n: 'n + event.x'}}}\n", format="yaml")
    snapshot = start(chart).snapshot
    gc.collect()
    gc.disable()
    try:
        for _ in range(200):
            result = step(chart, snapshot, Event("E", {}))  # no x: the guard holds, the assignment fails
        assert [e["error"] for e in result.errors] == ["EvaluationError"]
        assert [o for o in gc.get_objects() if type(o) is Run] == []
    finally:
        gc.enable()


def test_a_large_guard_and_assignment_are_left_apart() -> None:
    """Fusing compiles the assignment twice more: only pairs of at most FUSE_MAX_PARTS parts are fused,
    so a document of large ones costs no more to load than before."""
    from interlock.frontends.expressions import FUSE_MAX_PARTS

    wide = "len([" + ", ".join(["n"] * FUSE_MAX_PARTS) + "]) - " + str(FUSE_MAX_PARTS)
    chart = load_machine("id: m\ninitial: a\ncontext: {n: 0}\nstates:\n  a:\n    on:\n"
                         f"      SMALL: {{guard: 'n < 5', actions: {{assign: {{n: 'n + 1'}}}}}}\n"
                         f"      LARGE: {{guard: 'n < 5', actions: {{assign: {{n: '{wide}'}}}}}}\n", format="yaml")
    assert _updates(chart) == {"m.a:SMALL": True, "m.a:LARGE": False}
    assert step(chart, start(chart).snapshot, Event("LARGE", {})).snapshot.context == {"n": 0}
