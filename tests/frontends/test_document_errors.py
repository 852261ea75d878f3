"""Loading reports every problem of a document at once, each with its path and a hint."""

from __future__ import annotations

from pathlib import Path

import pytest

from interlock.core.step import start, step
from interlock.errors import DefinitionError, Problem
from interlock.frontends.loader import load_machine
from interlock.frontends.python import provide


def problems(text: str, **kwargs: object) -> dict[str, Problem]:
    with pytest.raises(DefinitionError) as caught:
        load_machine(text, **kwargs)  # type: ignore[arg-type]
    return {p.path: p for p in caught.value.problems}


BROKEN = """
id: shop
initial: browsing
intial: oops
context: {cart: []}
states:
  browsing:
    on:
      ADD:
        target: browsng
        actions: [addToCart, {assign: {cart: "cart +"}}]
      CHECKOUT: {target: paying, guard: canPay, taget: x}
  paying:
    invoke: {src: payments, onDone: done}
    entry: {type: notify, params: {to: ops}}
    after:
      soon: browsing
  done: {type: finale}
  tree:
    states:
      leaf: {}
  twin: {id: shop.done}
"""


def test_every_problem_is_reported_with_its_path_and_a_hint() -> None:
    found = problems(BROKEN)
    expected = {
        "intial": ("unknown key 'intial'", "did you mean 'initial'"),
        "states.browsing.on.ADD.target": ("unknown target 'browsng'", "did you mean 'browsing'"),
        "states.browsing.on.ADD.actions[1].assign.cart": ("bad expression 'cart +'", ""),
        "states.browsing.on.CHECKOUT.taget": ("unknown key 'taget'", "did you mean 'target'"),
        "states.paying.invoke.src": ("unknown service 'payments'", "defer_services=True"),
        "states.paying.after.soon": ("invalid delay 'soon'", "named delay"),
        "states.done.type": ("unknown state type 'finale'", "did you mean 'final'"),
        "states.tree": ("needs 'initial'", "add initial: leaf"),
        "states.twin": ("duplicate state id 'shop.done'", "already used at states.done"),
    }
    for path, (message, hint) in expected.items():
        assert path in found, f"no problem reported at {path}; got {sorted(found)}"
        assert message in found[path].message
        assert hint in found[path].hint
    assert set(found) == set(expected)


def test_the_error_message_lists_the_problems_and_the_source(tmp_path: Path) -> None:
    path = tmp_path / "shop.yaml"
    path.write_text(BROKEN)
    with pytest.raises(DefinitionError) as caught:
        load_machine(path)
    text = str(caught.value)
    assert text.startswith(f"9 problem(s) in {path}:")
    assert "states.browsing.on.ADD.target: unknown target 'browsng' (hint: did you mean 'browsing'" in text


UNPROVIDED = """
id: shop
initial: browsing
states:
  browsing:
    on:
      ADD: {actions: [addToCart]}
      CHECKOUT: {target: paying, guard: canPay}
  paying:
    entry: {type: notify, params: {to: ops}}
"""


def test_named_guards_and_actions_may_be_provided_later() -> None:
    chart = load_machine(UNPROVIDED, actions={"addTo": print})
    warned = {p.path: p for p in chart.warnings}
    assert warned["states.browsing.on.ADD.actions[0]"].message == "unknown action 'addToCart'"
    assert "did you mean 'addTo'" in warned["states.browsing.on.ADD.actions[0]"].hint
    assert "context.canPay" in warned["states.browsing.on.CHECKOUT.guard"].hint
    assert "states.paying.entry" in warned
    with pytest.raises(DefinitionError) as caught:
        start(chart)
    assert [p.path for p in caught.value.problems] == [
        "states.browsing.on.ADD.actions[0]", "states.browsing.on.CHECKOUT.guard", "states.paying.entry"]
    assert "interlock.provide(chart" in str(caught.value)

    seen: list[str] = []
    ready = provide(chart, actions={"addToCart": lambda c, e: seen.append("add"),
                                    "notify": lambda c, e, to: seen.append(to)},
                    guards={"canPay": lambda c, e: True})
    assert ready.unprovided == () and chart.unprovided  # the first chart is unchanged
    snapshot = start(ready).snapshot
    snapshot = step(ready, snapshot, "ADD").snapshot
    assert step(ready, snapshot, "CHECKOUT").snapshot.configuration == ("shop", "shop.paying")
    assert seen == ["add", "ops"]


def test_provide_checks_what_it_is_given() -> None:
    chart = load_machine(UNPROVIDED)
    with pytest.raises(TypeError, match=r"actions\['notify'\] must be callable"):
        provide(chart, actions={"notify": "print"})  # type: ignore[dict-item]
    scxml = load_machine('<scxml xmlns="http://www.w3.org/2005/07/scxml" version="1.0"><state id="a"/></scxml>',
                         format="scxml")
    with pytest.raises(TypeError, match="only those take implementations later"):
        provide(scxml, actions={})


def test_implementations_and_deferred_services_remove_those_problems() -> None:
    with pytest.raises(DefinitionError) as caught:
        load_machine(BROKEN, defer_services=True, actions={"addToCart": print, "notify": print},
                     guards={"canPay": lambda c, e: True}, delays={"soon": 100})
    paths = {p.path for p in caught.value.problems}
    assert not paths & {"states.paying.invoke.src", "states.browsing.on.ADD.actions[0]",
                        "states.browsing.on.CHECKOUT.guard", "states.paying.entry", "states.paying.after.soon"}


def test_ambiguous_state_keys_need_an_explicit_id() -> None:
    found = problems("""
initial: a
states:
  a: {initial: x, states: {x: {on: {GO: "#y"}}}}
  b: {initial: y, states: {y: {}}}
  c: {initial: y, states: {y: {}}}
""")
    problem = found["states.a.states.x.on.GO"]
    assert problem.message == "unknown target '#y'"
    assert problem.hint == "several states are called 'y': use one of '#machine.b.y', '#machine.c.y'"


@pytest.mark.parametrize(("text", "path", "message"), [
    ("initial: a\nstates: {a: {on: {GO: {target: [1]}}}}", "states.a.on.GO.target", "a target must be a state name"),
    ("initial: a\nstates: {a.b: {}}", "states.a.b", "invalid state key"),
    ("initial: a\nstates: {a: {id: 'x#y'}}", "states.a.id", "invalid state id"),
    ("initial: a\nstates: {a: {type: atomic, states: {b: {}}}}", "states.a.type", "an atomic state cannot have"),
    ("initial: a\nstates: {a: {initial: b}}", "states.a.initial", "only a compound state takes 'initial'"),
    ("initial: a\nstates: {a: {context: {x: 1}}}", "states.a.context", "context belongs to the machine"),
    ("initial: a\nstates: {a: {output: 1}}", "states.a.output", "only final states and the machine have 'output'"),
    ("initial: a\nstates: {a: {type: history, history: wide}}", "states.a.history", "history must be"),
    ("initial: a\nstates: {a: {entry: {assign: {x: 1}, bogus: 2}}}", "states.a.entry.bogus", "unknown key 'bogus'"),
    ("initial: a\nstates: {a: {entry: {send: {to: b}}}}", "states.a.entry.event", "an event must be a name"),
    ("initial: a\nstates: {a: {entry: [{cancel: 3}]}}", "states.a.entry[0]", "cancel needs the id"),
    ("initial: a\nstates: {a: {on: {GO: {guard: {and: []}}}}}", "states.a.on.GO.guard.and", "non-empty list"),
    ("initial: a\nstates: {a: {invoke: {src: s, input: 3}}}", "states.a.invoke.input", "input must be a mapping"),
    ("initial: a\nstates: {a: {on: [GO]}}", "states.a.on", "'on' must be a mapping"),
    ("initial: a\nstates: {a: 3}", "states.a", "a state must be a mapping"),
    ("initial: a\nstates: {a: {on: {GO: {guard: \"In('machine.b')\"}}}}", "states.a.on.GO.guard",
     "In('machine.b') names no state (at column 1) (hint: did you mean 'machine.a'"),
    ("initial: a\nstates: {a: {meta: [1, 2]}}", "states.a.meta", "meta must be a mapping, not list"),
    ("initial: a\nstates: {a: {meta: 5}}", "states.a.meta", "meta must be a mapping, not int"),
    ("initial: a\nstates: {a: {description: [1]}}", "states.a.description", "description must be a string, not list"),
    ("initial: a\nstates: {a: {tags: {x: 1}}}", "states.a.tags", "tags must be strings"),
    ("initial: a\nstates: {a: {tags: [1]}}", "states.a.tags", "tags must be strings"),
    ("initial: a\nstates: {a: {on: {GO: {target: a, meta: [1]}}}}", "states.a.on.GO.meta", "meta must be a mapping"),
    ("initial: a\nstates: {a: {on: {GO: {description: 3}}}}", "states.a.on.GO.description", "must be a string"),
    ("id: 5\ninitial: a\nstates: {a: {}}", "id", "the machine id must be a non-empty string, not 5"),
    ("initial: a\ncontext: {t: 2001-12-14}\nstates: {a: {}}", "context.t", "a date is not a JSON value"),
    ("initial: a\ncontext: {x: [{when: 2001-12-14 21:59:43}]}\nstates: {a: {}}", "context.x[0].when",
     "a datetime is not a JSON value, so a snapshot could not be stored (hint: quote it"),
])
def test_specific_problems(text: str, path: str, message: str) -> None:
    found = problems(text, defer_services=True)
    assert path in found, sorted(found)
    assert message in str(found[path])


def test_unreachable_states_are_warnings_on_the_chart() -> None:
    chart = load_machine("initial: a\nstates: {a: {}, island: {}}")
    assert [(w.path, w.severity) for w in chart.warnings] == [("states.island", "warning")]


def test_syntax_errors_point_at_the_line() -> None:
    found = problems("id: x\nstates:\n  a: {on: [}\n")
    ((where, problem),) = found.items()
    assert where.startswith("line 3")
    assert "invalid YAML" in problem.message
    found = problems('{"id": "x",\n "states": }', format="json")
    assert list(found) == ["line 2, column 12"]


def test_a_document_that_is_not_a_mapping() -> None:
    assert "must be a mapping" in problems("- a\n- b\n")[""].message


def test_yaml_alias_bombs_are_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, "
              f"*a{i - 1}, *a{i - 1}, *a{i - 1}]" for i in range(1, 9)]
    found = problems("\n".join(lines) + "\nid: bomb\n")
    ((where, problem),) = found.items()
    assert "expands to more than" in problem.message and where.startswith("a")  # where it was crossed


def test_yaml_merge_keys_are_counted_as_they_copy() -> None:
    """PyYAML copies what a merge key (<<) names into the merging mapping, and reads it again at each merge,
    before the expanded document is counted (where later keys have replaced the copies): 2,000 mappings
    merging five aliases of a 3,000-key mapping (107 KB) took 9 s of CPU and 180 MB before they were
    refused. Here 60 such mappings (180,000 values once merged) copy 900,000 entries."""
    lines = ["b: &b {" + ", ".join(f"k{i}: {i}" for i in range(3000)) + "}"]
    lines += [f"m{i}: {{<<: [*b, *b, *b, *b, *b]}}" for i in range(60)]
    found = problems("meta:\n" + "\n".join("  " + line for line in lines) + "\nid: m\ninitial: a\nstates: {a: {}}\n")
    ((where, problem),) = found.items()
    assert "merge keys (<<) copy into them, have more than 200,000 entries" in problem.message
    assert where.startswith("line ") and where != "line 2, column 6"  # a merging mapping, not the one merged
    assert "merge keys" in problem.hint
    chart = load_machine("meta: {base: &base {a: {}}}\nid: m\ninitial: a\nstates: {<<: *base, b: {}}\n")
    assert {"m.a", "m.b"} <= set(chart.states)  # a merge still loads


def test_a_missing_file_is_a_clear_problem(tmp_path: Path) -> None:
    found = problems(str(tmp_path / "nope.yaml"))
    ((where, problem),) = found.items()
    assert where.endswith("nope.yaml") and "cannot read the machine" in problem.message


def test_a_file_that_is_not_utf8_is_a_clear_problem(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("id: caf\xe9\n".encode("latin-1"))
    ((where, problem),) = problems(str(path)).items()
    assert (where, problem.message) == (str(path), "the file is not UTF-8 text (byte 7)")


def test_meta_tags_and_description_of_the_right_type_load() -> None:
    chart = load_machine("initial: a\nstates: {a: {meta: {x: 1}, tags: [t], description: hi, "
                         "on: {GO: {target: a, meta: {y: 2}, description: self}}}}")
    state = chart.states["machine.a"]
    assert (state.meta, state.tags, state.description) == ({"x": 1}, ("t",), "hi")


def test_an_event_name_that_yaml_read_as_null_is_a_problem_not_an_eventless_transition() -> None:
    with pytest.raises(DefinitionError, match="event name None is not a string"):
        load_machine("id: m\ninitial: a\nstates:\n  a:\n    on:\n      null: b\n  b: {}\n", format="yaml")
