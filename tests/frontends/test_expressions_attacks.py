"""Each class of attack on the expression language's work limits, through compiled expressions and real steps.

One budget per step for all expression work; charges that match the real work whatever the operands'
types (an Event is a tuple subclass); size growth checked before a result is built; no colliding keys;
no backtracking regular expression on a computed delay. See docs/limits.md.
"""

from __future__ import annotations

import ast
import tracemalloc
from typing import Any

import pytest

from interlock.core.chart import Chart
from interlock.core.datamodel import STEP_WORK_LIMIT, Scope
from interlock.core.events import Event
from interlock.core.execute import parse_delay
from interlock.core.step import start, step
from interlock.errors import StepLimitError
from interlock.frontends.document import load_document as load_machine
from interlock.frontends.expressions import EvaluationError, ExpressionError, compile_expression
from interlock.frontends.expressions_compiler import nodes


def evaluate(source: str, context: dict[str, Any] | None = None, data: Any = None) -> Any:
    scope = Scope(context if context is not None else {"n": 3, "s": "abc"}, set(), {}, "", "", 0.0)
    scope.event = Event("E", {"x": 1} if data is None else data)
    return compile_expression(source)(scope)


# --- subclasses: an Event is a tuple, and must not pass as one -------------------------------------------


@pytest.mark.parametrize(("source", "message"), [
    ("event * 10**8", "cannot multiply a Event and a int"),
    ("10**8 * event", "cannot multiply a int and a Event"),
    ("event + event", "cannot add a Event and a Event"),
    ("() + event", "cannot add a tuple and a Event"),
    ("event - event", "cannot apply - to a Event"),
    ("event[0:10**8]", "cannot index a Event"),
    ("-event", "cannot apply unary -"),
    ("(event,) * 10**6", "repeated sequence would have 1,000,000 elements"),
    ("'x'.startswith(event)", "startswith\\(\\) takes a string, not a Event"),
])
def test_an_event_is_not_a_tuple_to_operators(source: str, message: str) -> None:
    with pytest.raises(EvaluationError, match=message):
        evaluate(source)


# --- In(<computed>) ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "message"), [
    ("In([[0] * 100000] * 1000)", "In\\(\\) takes a state id string, not a list"),
    ("In(event)", "In\\(\\) takes a state id string, not a Event"),
    ("In('a' * 100000)", "state id of 100,000 characters"),
])
def test_a_computed_state_id_is_a_short_string_never_turned_into_text(source: str, message: str) -> None:
    with pytest.raises(EvaluationError, match=message):
        evaluate(source)


def test_a_computed_state_id_still_works() -> None:
    chart = load_machine({"id": "m", "initial": "a", "context": {"which": "m.a"},
                          "states": {"a": {"on": {"GO": {"guard": "In(which)", "target": "b"}}}, "b": {}}})
    result = step(chart, start(chart).snapshot, "GO")
    assert result.snapshot.configuration == ("m", "m.b")


# --- str methods charged by len(s) x len(arg), size growth checked first --------------------------------


@pytest.mark.parametrize(("source", "message"), [
    ("('a' * 100000).strip('b' * 99999)", "too much work"),
    ("('a' * 100000).startswith((*(['a' * 50000] * 10000),))", "too much work"),
    ("('a' * 99999 + 'b').find('a' * 99 + 'b')", "too much work"),
    ("('a' * 99999).count('a' * 99)", "too much work"),
    ("('a' * 100000).replace('a' * 99, 'b')", "too much work"),
    ("('a' * 100000).split('a' * 99)", "too much work"),
    ("'a' * 100000 in 'a' * 100000", "too much work"),
    ("('ß' * 40000).upper()", "result of upper\\(\\) would have 120,000 elements"),
    ("('ﬃ' * 34000).upper()", "result of upper\\(\\) would have 102,000 elements"),
    ("('x' * 1000).replace('', 'y' * 100)", "replaced text would have"),
])
def test_string_methods_are_charged_by_their_real_work(source: str, message: str) -> None:
    with pytest.raises(EvaluationError, match=message):
        evaluate(source)


@pytest.mark.parametrize(("source", "expected"), [
    ("'  a b  '.strip()", "a b"),
    ("'xxaxx'.strip('x')", "a"),
    ("'order-42'.startswith(('order', 'cart'))", True),
    ("'straße'.upper()", "STRASSE"),
    ("'a,b,c'.split(',')", ["a", "b", "c"]),
    ("'abcabc'.count('bc')", 2),
    ("'abc'.find('c')", 2),
])
def test_string_methods_still_do_their_job(source: str, expected: Any) -> None:
    assert evaluate(source) == expected


# --- hash flooding ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("source", "message"), [
    ("{i * (2**61 - 1) for i in range(5000)}", "whole numbers of at most 61 bits"),
    ("{i * (2**61 - 1): 0 for i in range(5000)}", "whole numbers of at most 61 bits"),
    ("{i + 0.5 for i in range(10)}", "whole numbers of at most 61 bits"),
    ("{2.0 ** 80: 1}", "whole numbers of at most 61 bits"),
    ("{**{}, (2**61 - 1) * 3: 1}", "whole numbers of at most 61 bits"),
    ("{[1]: 2}", "must be strings or numbers"),
])
def test_set_and_mapping_keys_cannot_be_made_to_collide(source: str, message: str) -> None:
    with pytest.raises(EvaluationError, match=message):
        evaluate(source)


def test_ordinary_keys_are_fine() -> None:
    assert evaluate("{-1: 'a', -2: 'b', 2.0: 'c', 'k': None, None: 1}") == {-1: "a", -2: "b", 2: "c", "k": None,
                                                                           None: 1}
    assert evaluate("len({i for i in range(50000)})") == 50000


# --- every operation charged, loops charged by their body before they start ------------------------------


@pytest.mark.parametrize("source", [
    "[s == t for i in range(5000)]",  # comparing two long strings is work too
    "[s < t for i in range(5000)]",
    "[(i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i, i) for i in range(60000)]",
    "[big // 3 for i in range(100000)]",  # big-integer division is quadratic in its size
    "[str(big) for i in range(1000)]",
    "[int(digits) for i in range(1000)]",
    "[x for x in range(10**6) if False]",
])
def test_loops_pay_for_what_their_body_does(source: str) -> None:
    context = {"s": "a" * 100000, "t": "a" * 100000, "big": 2**8000, "digits": "9" * 2400}
    with pytest.raises(EvaluationError, match="too much work"):
        evaluate(source, context)



# --- big numbers: arithmetic past a machine word is charged by its size, in loops too ---------------------


def a_budget_of(body: str) -> str:
    """A comprehension of ``body`` over as many items as one step's budget pays for up front."""
    return f"[{body} for x in range({STEP_WORK_LIMIT // nodes(ast.parse(f'[{body} for x in y]', mode='eval')) - 50})]"


def test_products_of_big_numbers_are_charged_in_a_loop() -> None:
    # operands under 4,096 bits multiplied inline, uncharged: 1.2 s of CPU on one step's budget
    source = a_budget_of(" and ".join(["a * a > 0"] * 30))
    with pytest.raises(EvaluationError, match="too much work"):
        evaluate(source, {"a": 2**4095 + 1})


@pytest.mark.parametrize("item", ["big + x", "big - x", "x - big", "-big", "~big", "abs(nbig)"])
def test_big_numbers_a_loop_keeps_are_charged_as_they_are_built(item: str) -> None:
    # each item kept 1 KB numbers, charged only once the whole list was built: 180-260 MB on one budget
    tracemalloc.start()
    try:
        with pytest.raises(EvaluationError, match="too much work"):
            evaluate(a_budget_of("(" + ", ".join([item] * 60) + ")"), {"big": 2**8000, "nbig": -(2**8000)})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000


def spent(source: str, context: dict[str, Any]) -> float:
    """The work units one evaluation of ``source`` charged."""
    scope = Scope(context, set(), {}, "", "", 0.0)
    compile_expression(source)(scope)
    return STEP_WORK_LIMIT - scope.left


@pytest.mark.parametrize(("source", "at_least"), [
    ("(-1) ** b", 1000),  # a step per bit of an 8,000-bit exponent: 70 us, was charged nothing (4.8 s a budget)
    ("3 ** 5000", 10000),  # squarings up to a 7,925-bit result: 16 us, was charged one unit
    ("round(f, -100)", 100),  # a float rounded through its digits: 10 us (0.6 s a budget)
    ("f'{t:.999e}'", 999),  # 999 digits of 5e-324: 44 us, charged 125 units for its text (0.35 s a budget)
    ("f'{t:.>20.999f}'", 999),  # the precision, not the fill character
    ("str(fs)", 10000),  # 5,000 floats written out: 3 ms, charged 5,016 units for the list (0.6 s a budget)
])
def test_powers_rounding_and_float_digits_are_charged_by_their_work(source: str, at_least: int) -> None:
    floats = [0.1 * i + 1e-7 for i in range(5000)]
    assert spent(source, {"b": 2**8000, "f": 1e300, "t": 5e-324, "fs": floats}) >= at_least


def test_arithmetic_in_loops_still_computes() -> None:
    assert evaluate("[x + 1 - 2 * x for x in range(4)]") == [1, 0, -1, -2]
    assert evaluate("[2**70 + x - 1 for x in range(2)]") == [2**70 - 1, 2**70]
    assert evaluate("[-x * 3**50 for x in [2**40]]") == [-(2**40) * 3**50]
    assert evaluate("abs(-(2**100)) + n") == 2**100 + 3
    assert evaluate("[2 ** 10, (-2) ** 3, 3 ** -1, (-1) ** (2**100), 0 ** 0, round(1.2345, 2)]") == [
        1024, -8, 1 / 3, 1, 1, 1.23]

# --- computed delays: a linear parser with a length limit ----------------------------------------------


@pytest.mark.parametrize("text", ["1" * 20000 + "x", "1" * 100000 + "x", " " * 50000 + "1x"])
def test_a_long_computed_delay_is_refused_by_length(text: str) -> None:
    with pytest.raises(ValueError, match="characters long; a duration is at most 64"):
        parse_delay(text)


@pytest.mark.parametrize(("value", "expected"), [
    ("2s", 2000), (" 1.5 m ", 90000), (".5s", 500), ("150ms", 150), ("3", 3), ("1d", 86_400_000), (250, 250),
])
def test_durations_still_parse(value: Any, expected: int) -> None:
    assert parse_delay(value) == expected


@pytest.mark.parametrize("value", ["1.", "s", "1 x", "1..2s", "-1s", "\u0661s", [1], "inf", float("nan")])
def test_bad_durations_are_refused(value: Any) -> None:
    with pytest.raises(ValueError, match="invalid delay"):
        parse_delay(value)


def test_a_computed_delay_that_would_backtrack_becomes_error_execution() -> None:
    chart = load_machine({
        "id": "m", "initial": "a", "context": {"errors": []},
        "states": {"a": {"on": {
            "GO": {"actions": {"send": {"event": "LATER", "delay": "'1' * 20000 + 'x'"}}},
            "error.execution": {"actions": {"assign": {"errors": "errors + [event.data.message]"}}}}}}})
    result = step(chart, start(chart).snapshot, "GO")
    assert result.effects == ()
    assert ["characters long" in m for m in result.snapshot.context["errors"]] == [True]


# --- one budget per step ------------------------------------------------------------------------------------


LOOP = {
    "id": "loop", "initial": "a", "context": {"n": 0, "xs": list(range(2000))},
    "states": {
        "idle": {},
        "a": {"always": [{"guard": "n < 10**9 and len([x for x in xs if x >= 0]) > 0", "target": "b",
                          "actions": {"assign": {"n": "n + 1"}}}]},
        "b": {"always": [{"guard": "len([x for x in xs if x >= 0]) > 0", "target": "a"}]},
    },
    "on": {"STOP": ".idle"},
}


def test_an_eventless_loop_of_cheap_evaluations_stops_on_the_step_budget() -> None:
    chart = load_machine(LOOP)
    with pytest.raises(StepLimitError, match=f"more than {STEP_WORK_LIMIT:,} units of work"):
        start(chart)


def test_the_budget_is_per_step_not_per_evaluation_nor_per_instance() -> None:
    doc = {"id": "m", "initial": "a", "context": {"xs": list(range(20000)), "n": 0},
           "states": {"a": {"on": {"GO": {"actions": [
               {"assign": {"n": "n + len([x for x in xs if x >= 0])"}} for _ in range(6)]}}}}}
    chart = load_machine(doc)
    snap = start(chart).snapshot
    with pytest.raises(StepLimitError, match="units of work"):
        step(chart, snap, "GO")  # six evaluations, each well under the limit, together over it
    doc["states"]["a"]["on"]["GO"]["actions"] = doc["states"]["a"]["on"]["GO"]["actions"][:2]  # type: ignore[index]
    chart = load_machine(doc)
    snap = start(chart).snapshot
    for _ in range(5):  # each step starts with a whole budget
        snap = step(chart, snap, "GO").snapshot
    assert snap.context["n"] == 5 * 2 * 20000


def test_measuring_what_a_loop_stores_is_charged_to_the_step() -> None:
    big = [list(range(i, i + 900)) for i in range(300)]  # 270,000 elements in 300 distinct lists
    # the big value comes as instance input: a document that holds it is over the loader's size limit
    chart = load_machine({"id": "m", "initial": "a", "context": {"big": [], "n": 0, "wrapped": None},
                          "states": {"a": {"on": {"GO": "b"}}, "b": {"always": [{
                              "guard": "n < 10**9", "target": "a2",
                              "actions": {"assign": {"wrapped": "[big]", "n": "n + 1"}}}]},
                                     "a2": {"always": "b"}}})
    snap = start(chart, data={"big": big}).snapshot
    with pytest.raises(StepLimitError, match="units of work"):
        step(chart, snap, "GO")  # each assignment re-measures 270,000 elements: some 15 of them spend the budget


def test_measuring_many_small_containers_is_charged_by_container() -> None:
    # measuring costs about a microsecond of Python per container: charged a unit (comparing) or a quarter
    # (storing) each, 100,000 empty lists compared or re-stored in a loop ran 1-5 s of CPU on one budget
    empties = [[] for _ in range(70_000)]
    with pytest.raises(EvaluationError, match="too much work"):
        evaluate("xs == ys", {"xs": empties, "ys": [[] for _ in range(70_000)]})
    chart = load_machine({"id": "m", "initial": "a", "context": {"big": [], "wrapped": None},
                          "states": {"a": {"on": {"GO": {"actions": {"assign": {"wrapped": "[big]"}}}}}}})
    with pytest.raises(StepLimitError, match="units of work"):
        step(chart, start(chart, data={"big": empties}).snapshot, "GO")  # one assignment: 70,000 containers
    assert evaluate("xs == ys", {"xs": empties[:1000], "ys": [[]] * 1000}) is True


@pytest.mark.parametrize("first", ["['x' * 10000] * 2", "[{'x' * 10000: 1}] * 2"])
def test_text_counts_by_its_length_in_what_an_assignment_stores(first: str) -> None:
    # a string (or a key) counted one element whatever its length, and a list of up to 100,000 plain items was
    # not measured at all: 8,192 references to one 10,000-character string were stored (82 MB of JSON; with
    # 100,000 characters and 65,536 references, 6.5 GB, built when the snapshot was written out)
    chart = load_machine({"id": "m", "initial": "a", "context": {"xs": []}, "states": {"a": {"on": {"GO": {
        "actions": [{"assign": {"xs": first}}, *({"assign": {"xs": "xs + xs"}} for _ in range(12))]}}}}})
    result = step(chart, start(chart).snapshot, "GO")
    assert len(result.snapshot.context["xs"]) == 512  # 1,024 references would count 1,282,048 elements
    assert any("over 1,000,000 elements written out" in e["message"] for e in result.errors)


@pytest.mark.parametrize("value", ["s", "[s, s]"])
def test_plain_text_an_assignment_stores_is_charged_to_the_step(value: str) -> None:
    # a string or a short list of strings is stored without measuring it; uncharged, 1,000 keys assigned one
    # 100,000-character string each made the snapshot's JSON 100 MB (a document may assign tens of thousands)
    chart = load_machine({"id": "m", "initial": "a", "context": {"s": ""}, "states": {"a": {"on": {"GO": {
        "actions": [{"assign": {"s": "'x' * 100000"}}, {"assign": {f"k{i}": value for i in range(1000)}}]}}}}})
    with pytest.raises(StepLimitError, match="units of work"):
        step(chart, start(chart).snapshot, "GO")
    few = load_machine({"id": "m", "initial": "a", "context": {"s": ""}, "states": {"a": {"on": {"GO": {
        "actions": [{"assign": {"s": "'x' * 100000"}}, {"assign": {f"k{i}": value for i in range(10)}}]}}}}})
    assert len(step(few, start(few).snapshot, "GO").snapshot.context) == 11


def test_a_long_string_appended_inline_is_charged_its_text() -> None:
    # x + [y] appends inline to a short list the same code stored (not measured again); uncharged, an
    # eventless loop appending one 100,000-character string to 20 lists wrote a 120 MB snapshot, and the
    # budget allowed some 14,000 such appends (1.4 GB)
    def looping(size: int) -> Chart:
        return load_machine({"id": "m", "initial": "a", "context": {"s": "", **{f"l{i}": [] for i in range(20)}},
                             "states": {"a": {"on": {"GO": {"target": "b", "actions": [
                                 {"assign": {"s": f"'x' * {size}"}}]}}},
                                 "b": {"always": [{"guard": "len(l0) < 60", "target": "b", "actions": [
                                     {"assign": {f"l{i}": f"l{i} + [s]" for i in range(20)}}]}]}}})

    with pytest.raises(StepLimitError, match="units of work"):
        step(looping(100000), start(looping(100000)).snapshot, "GO")
    short = looping(200)  # short strings append as before
    assert len(step(short, start(short).snapshot, "GO").snapshot.context["l19"]) == 60


@pytest.mark.parametrize("action", [
    {"send": {"event": {"type": "X", "s": "s"}, "delay": 1000}},
    {"send": {"event": {"type": "X", "s": "s"}, "delay": 1000, "to": "#_parent"}},
    {"type": "log", "label": "l", "expr": "s"},
])
def test_a_long_string_that_leaves_the_step_is_charged_its_text(action: dict[str, Any]) -> None:
    """A value that leaves the step is written out as JSON (a send's event in the outbox): a container was
    charged its text, but a string was not, and an eventless loop sending one 90,000-character string
    made 50,000 sends of it (4.5 GB written out) before the microstep limit stopped the step."""
    def looping(size: int, rounds: int) -> Chart:
        return load_machine({"id": "m", "initial": "i", "context": {"s": "x" * size, "n": 0}, "states": {
            "i": {"on": {"GO": "a"}},
            "a": {"entry": action, "always": {"guard": f"n < {rounds}", "target": "a", "reenter": True,
                                               "actions": {"assign": {"n": "n + 1"}}}}}})

    with pytest.raises(StepLimitError, match="units of work"):
        step(looping(90_000, 2_000), start(looping(90_000, 2_000)).snapshot, "GO")
    short = looping(100, 2_000)  # 2,000 short strings leave as before
    assert step(short, start(short).snapshot, "GO").snapshot.context["n"] == 2_000


def test_re_storing_the_same_value_is_not_measured_again() -> None:
    big = [list(range(i, i + 900)) for i in range(1000)]  # measured, five stores would be 1.1 M units
    chart = load_machine({"id": "m", "initial": "a", "context": {"big": [], "n": 0}, "states": {"a": {"on": {
        "GO": {"actions": [{"assign": {"big": "big", "n": "n + 1"}} for _ in range(5)]}}}}})
    snap = step(chart, start(chart, data={"big": big}).snapshot, "GO").snapshot
    assert snap.context["n"] == 5 and snap.context["big"] == big


def test_an_eventless_guard_that_fails_every_time_stops_on_the_budget() -> None:
    chart = load_machine({"id": "m", "initial": "a", "states": {"a": {"always": [
        {"guard": "missing > 0", "target": "b"}]}, "b": {}}})
    with pytest.raises(StepLimitError, match="units of work"):
        start(chart)  # each failure costs 100 units: some 10,000 failures, not 100,000 microsteps


def test_error_messages_do_not_copy_long_keys() -> None:
    long_key = "k" * 100000
    with pytest.raises(EvaluationError) as caught:
        evaluate("d[key]", {"d": {long_key + "x": 1}, "key": long_key})
    assert len(str(caught.value)) < 700
    assert "no key 'kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk'..." in str(caught.value)


def test_a_delay_longer_than_a_storable_number_is_refused() -> None:
    with pytest.raises(ValueError, match="the longest delay is"):
        parse_delay(1e300)


def test_copying_a_big_mapping_for_a_dotted_assignment_is_charged() -> None:
    wide = {f"k{i}": i for i in range(200_000)}
    chart = load_machine({"id": "m", "initial": "a", "context": {"wide": {}},
                          "states": {"a": {"on": {"GO": "b"}}, "b": {"always": [{
                              "target": "a2", "actions": {"assign": {"wide.x": "1", "wide.y": "2"}}}]},
                                     "a2": {"always": "b"}}})
    with pytest.raises(StepLimitError, match="units of work"):
        step(chart, start(chart, data={"wide": wide}).snapshot, "GO")  # each copy costs 200,000: a few


def test_data_that_leaves_the_step_is_charged_by_its_size() -> None:
    chart = load_machine({"id": "m", "initial": "a", "context": {"big": list(range(100_000))},
                          "states": {"a": {"on": {"GO": {"actions": [
                              {"send": {"event": "X", "to": "#_parent", "data": "{'b': big}"}}
                              for _ in range(20)]}}}}})
    with pytest.raises(StepLimitError, match="units of work"):
        step(chart, start(chart).snapshot, "GO")  # 20 sends of 100,000 elements each: over the budget
    small = load_machine({"id": "m", "initial": "a", "context": {"n": 1}, "states": {"a": {"on": {"GO": {
        "actions": {"send": {"event": {"type": "X", "n": "n", "list": "[n, n]"}, "to": "#_parent"}}}}}}})
    (effect,) = step(small, start(small).snapshot, "GO").effects
    assert effect.event.data == {"n": 1, "list": [1, 1]}  # type: ignore[attr-defined]


def test_sorting_long_items_pays_for_every_comparison() -> None:
    rows = [[*range(3000), i] for i in range(300)]  # 900,000 elements: equal until their last one
    with pytest.raises(EvaluationError, match="too much work"):
        evaluate("sorted(rows)", {"rows": rows})
    assert evaluate("sorted(xs, reverse=True)", {"xs": [3, 1, 2]}) == [3, 2, 1]
    assert evaluate("sorted(['b', 'a'])", {}) == ["a", "b"]


def test_case_changes_of_long_ascii_text_are_fine_and_powers_stay_real() -> None:
    assert evaluate("len(('a' * 90000).upper())") == 90000
    with pytest.raises(EvaluationError, match="not a real number"):
        evaluate("(-8) ** 0.5")


# --- the compiled code stays linear in the source ----------------------------------------------------------


def test_arithmetic_nested_in_a_comprehension_iterable_compiles_to_code_linear_in_its_source() -> None:
    # no temporaries are allowed there: pasting each operand again made the code 3x larger per level
    source = "[x for x in range(" + "(" * 12 + "n" + " + n)" * 12 + ")]"
    expr = compile_expression(source)
    assert len(expr.fn.__code__.co_code) < 4_000  # was tens of megabytes of generated source
    assert evaluate(source, {"n": 1}) == list(range(13))


def test_a_chained_comparison_in_a_comprehension_iterable_is_refused_with_the_way_out() -> None:
    with pytest.raises(ExpressionError, match="write the links joined by 'and'"):
        compile_expression("[x for x in range(1 if 1 < n + 1 < 3 else 2)]")
    assert evaluate("[x for x in range(1 if 1 < n < 5 else 2)]") == [0]  # a name in the middle is fine


def test_an_integer_over_the_limit_inside_a_container_is_not_stored() -> None:
    chart = load_machine({"id": "m", "initial": "a", "context": {"xs": [], "ys": []},
                          "states": {"a": {"on": {"GO": {"actions": {"assign": {"ys": "[xs[0] + xs[0]]"}}}}}}})
    result = step(chart, start(chart, data={"xs": [2**9000]}).snapshot, "GO")
    assert result.snapshot.context["ys"] == []
    assert any("integer of 9,002 bits" in e["message"] for e in result.errors)


@pytest.mark.parametrize(("appended", "message"), [
    ("context", "contains the context itself"),
    ("[context]", "contains the context itself"),
    ("big[0]", "integer of 9,001 bits"),
    ("big", "integer of 9,001 bits"),
])
def test_what_the_inline_append_adds_is_still_checked_before_it_is_stored(appended: str, message: str) -> None:
    # items + [y] on a short list is built inline and its result tested for plain scalars inline; anything
    # else must still take the full check of what an assignment stores
    chart = load_machine({"id": "m", "initial": "a", "context": {"items": ["a"], "big": []},
                          "states": {"a": {"on": {"GO": {"actions": {"assign": {
                              "items": f"items + [{appended}]", "n": "1"}}}}}}})
    result = step(chart, start(chart, data={"big": [2**9000]}).snapshot, "GO")
    assert result.snapshot.context["items"] == ["a"] and "n" not in result.snapshot.context
    assert any(message in e["message"] for e in result.errors)
