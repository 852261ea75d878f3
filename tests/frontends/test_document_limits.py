"""Untrusted documents load in bounded, linear work: every limit is a DefinitionError with a path, never a
RecursionError or a hang (docs/limits.md, "Documents"). Sizes sit near the limits, so these tests show
the work is done; how long it takes is measured in bench/, not asserted here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from interlock.errors import DefinitionError, Problem
from interlock.frontends import expressions
from interlock.frontends.document import load_document
from interlock.frontends.document_limits import (
    MAX_DOCUMENT_CHARS,
    MAX_DOCUMENT_DEPTH,
    MAX_GENERATED_CODE,
    MAX_HINTED_PROBLEMS,
    MAX_ID_CHARS,
    MAX_KEY_CHARS,
    MAX_STATE_DEPTH,
    MAX_STATES,
    MAX_TARGETS,
    MAX_TRANSITIONS,
)
from interlock.frontends.loader import load_machine
from interlock.frontends.scxml import load_scxml


def problems(source: Any, **kwargs: Any) -> list[Problem]:
    with pytest.raises(DefinitionError) as caught:
        if isinstance(source, str):
            load_machine(source, **kwargs)
        else:
            load_document(source, **kwargs)
    return list(caught.value.problems)


def nested_states(depth: int) -> str:
    """JSON of a machine whose states nest ``depth`` levels below the root."""
    return ('{"id": "m", "initial": "s", "states": {"s": ' + '{"initial": "s", "states": {"s": ' * (depth - 1)
            + "{}" + "}}" * (depth - 1) + "}}")


# -- nesting: the documents -------------------------------------------------------------------

def test_yaml_nested_900_levels_is_a_definition_error_with_its_line() -> None:
    text = "id: m\ninitial: a\nstates: {a: {}}\nmeta: " + "[" * 900 + "]" * 900
    (problem,) = problems(text)
    assert f"nests deeper than {MAX_DOCUMENT_DEPTH} levels" in problem.message
    assert problem.path == f"line 4, column {len('meta: ') + MAX_DOCUMENT_DEPTH}"


def test_json_nested_100000_levels_is_a_definition_error_with_its_line() -> None:
    text = '{"id": "m", "initial": "a", "states": {"a": {}},\n"meta": ' + "[" * 100_000 + "]" * 100_000 + "}"
    (problem,) = problems(text)
    assert f"nests deeper than {MAX_DOCUMENT_DEPTH} levels" in problem.message
    assert problem.path.startswith("line 2, column ")


def test_600_nested_states_are_a_definition_error_not_a_recursion_error() -> None:
    (problem,) = problems(nested_states(600))
    assert "nests deeper than" in problem.message


def test_states_deeper_than_the_limit_are_refused_at_their_path() -> None:
    assert load_machine(nested_states(MAX_STATE_DEPTH)).states  # at the limit: loads
    found = problems(nested_states(MAX_STATE_DEPTH + 1))
    deep = [p for p in found if "states nest deeper than" in p.message]
    assert len(deep) == 1 and deep[0].path == "states.s" + ".states.s" * (MAX_STATE_DEPTH - 1) + ".states"


def test_a_deep_python_mapping_is_refused_with_its_path() -> None:
    doc: dict[str, Any] = {"id": "m", "initial": "a", "states": {"a": {}}}
    inner: dict[str, Any] = {}
    doc["meta"] = inner
    for _ in range(5000):  # built without recursion; the loader must not recurse either
        inner["x"] = {}
        inner = inner["x"]
    (problem,) = problems(doc)
    assert "nests deeper than" in problem.message and problem.path.startswith("meta.x.x.x")


@pytest.mark.parametrize("source", ["id: m\ninitial: a\nstates: {a: {}}\nmeta: &x [*x]", "cyclic dict"])
def test_a_value_that_contains_itself_is_refused(source: str) -> None:
    if source == "cyclic dict":
        doc: dict[str, Any] = {"id": "m", "initial": "a", "states": {"a": {}}, "meta": {}}
        doc["meta"]["self"] = doc
        found = problems(doc)
    else:
        found = problems(source)
    assert len(found) == 1 and "contains itself" in found[0].message


# -- size and counts -----------------------------------------------------------------------------------

def test_a_document_over_the_size_limit_is_refused_before_parsing() -> None:
    text = "id: m\ninitial: a\nstates: {a: {}}\ndescription: '" + "x" * MAX_DOCUMENT_CHARS + "'"
    (problem,) = problems(text)
    assert f"the limit is {MAX_DOCUMENT_CHARS:,}" in problem.message


def test_more_states_than_the_limit_are_refused() -> None:
    states = {f"s{i}": {} for i in range(MAX_STATES)}  # with the root: one over
    (problem,) = problems(json.dumps({"id": "m", "initial": "s0", "states": states}))
    assert f"{MAX_STATES + 1:,} states; the limit is {MAX_STATES:,}" in problem.message
    del states["s1"]
    assert len(load_machine(json.dumps({"id": "m", "initial": "s0", "states": states})).states) == MAX_STATES


def test_more_transitions_than_the_limit_are_refused() -> None:
    per_state = 100
    count = MAX_TRANSITIONS // per_state + 1
    states = {f"s{i}": {"on": {f"E{j}": f"s{i}" for j in range(per_state)}} for i in range(count)}
    (problem,) = problems(json.dumps({"id": "m", "initial": "s0", "states": states}))
    assert f"{count * per_state:,} transitions; the limit is {MAX_TRANSITIONS:,}" in problem.message


def _guarded(count: int, *, distinct: bool) -> dict[str, Any]:
    """A machine of ``count`` states, each with a guard and an assignment (distinct in every state, or
    the same everywhere)."""
    states = {}
    for i in range(count):
        k = i if distinct else 7
        states[f"s{i}"] = {"on": {"GO": {"target": f"s{(i + 1) % count}", "guard": f"count < {k} and event.by > {k}",
                                         "actions": {"assign": {"count": f"count + {k}"}}}}}
    return {"id": "big", "initial": "s0", "context": {"count": 0}, "states": states}


def test_a_document_whose_distinct_expressions_compile_to_too_much_python_is_refused() -> None:
    """Compiling is what a document's load costs per distinct expression (about a millisecond of CPU
    each): a 1 MB document of distinct guards took some 15 s to load, holding the interpreter lock of a
    server that took it from a caller. It stops at the limit now, with one problem."""
    found = problems(_guarded(4000, distinct=True))
    assert len(found) == 1 and found[0].path == ""
    assert f"more than {MAX_GENERATED_CODE:,} characters of Python" in found[0].message
    assert "invoke each other" in found[0].hint
    # the same guard and assignment in every state are counted once: as many states load
    assert len(load_document(_guarded(2500, distinct=False)).states) == 2501  # distinct: over the limit


def _long_guard(spaces: str = " ", *, variant: int = 0) -> str:
    """A guard whose code is far over SHARED_CODE_CHARS (about 60 KB of Python). ``spaces`` change its text
    only; ``variant`` (bits) reads some event data as ``_event.n`` instead of ``event.n``: another tree, the
    same code."""
    names = [f"_event.n{i}" if variant >> i & 1 else f"event.n{i}" for i in range(40)]
    return "(" * 38 + f"{spaces}+{spaces}".join(names) + ")" * 38 + " > 0"


def test_a_trusted_document_over_the_code_budget_loads_when_asked() -> None:
    """The app's own documents meet the budget by default too (load_machine is how an app takes text from
    its users as well); a trusted document larger than that says so with ``code_limit=None``."""
    text = json.dumps(_guarded(2000, distinct=True))
    with pytest.raises(DefinitionError, match="characters of Python"):
        load_machine(text)
    assert len(load_machine(text, code_limit=None).states) == 2001


def test_an_expression_repeated_in_a_document_is_generated_and_compiled_once() -> None:
    """Counted once, a repeated expression was compiled again at every place (code over SHARED_CODE_CHARS is
    not kept, and the same code written with other spaces was another entry of the shared cache): a 267 KB
    document repeating one 60 KB-of-code guard 1,000 times took 22 s of CPU to load, counted 60 KB."""
    guards = [_long_guard(" " * (1 + i % 3)) for i in range(6)]
    doc = {"id": "m", "initial": "a", "states": {"a": {"on": {f"E{i}": {"guard": g, "target": "a"}
                                                             for i, g in enumerate(guards)}}}}
    chart = load_document(doc)
    codes = {id(t.cond.fn.__code__) for t in chart.transitions if t.cond is not None}  # equal code objects compare equal
    assert len(codes) == 1  # one code object: compiled once, whatever the spacing
    messages = {t.cond.source for t in chart.transitions if t.cond is not None}
    assert messages == set(guards)  # each place keeps its own text for its errors


def test_distinct_expressions_of_the_same_code_are_each_counted() -> None:
    """Another tree (``_event.n`` for ``event.n``) generating the same code is generated again: counted each time,
    so a document cannot make 2**40 variants of one long guard that all count once."""
    doc = {"id": "m", "initial": "a", "states": {"a": {"on": {f"E{i}": {"guard": _long_guard(variant=i), "target": "a"}
                                                             for i in range(1, 200)}}}}
    (problem,) = problems(doc)
    assert f"more than {MAX_GENERATED_CODE:,} characters of Python" in problem.message


def test_a_repeated_expression_compiles_once_however_many_distinct_ones_come_between() -> None:
    """A repeat is counted as the same code, so it must not cost a compile: the cache of generated code
    keeps 512, and a document cycling through 600 distinct guards compiled each of them again on every
    round, uncounted (800 guards in 8,000 states: 15 s of CPU for a document within the limit)."""
    count, distinct = 1200, 600
    states = {f"s{i}": {"on": {"GO": {"target": f"s{(i + 1) % count}",
                                      "guard": f"count < {i % distinct} and event.by > {i % distinct}"}}}
              for i in range(count)}
    expressions._shared.cache_clear()
    chart = load_document({"id": "cycle", "initial": "s0", "context": {"count": 0}, "states": states})
    assert len(chart.states) == count + 1
    assert expressions._shared.cache_info().misses == distinct


def _repeating(count: int) -> dict[str, Any]:
    """A machine of ``count`` states, each with the same 40-item assignment."""
    assign = {f"v{j}": f"count + {j} * event.by" for j in range(40)}
    states = {f"s{i}": {"on": {"GO": {"target": f"s{(i + 1) % count}", "actions": {"assign": assign}}}}
              for i in range(count)}
    return {"id": "long", "initial": "s0", "context": {"count": 0, **dict.fromkeys(assign, 0)}, "states": states}


def test_a_long_expression_repeated_in_many_states_is_generated_once() -> None:
    """A long piece of code (a 40-item assignment) repeated in every state was generated and compiled again
    for each (750 such states, a 1 MB document: 39 s of CPU to load): it is looked up by its text now."""
    chart = load_document(_repeating(300))
    codes = {id(t.actions[0].expr.fn.__code__) for t in chart.transitions if t.actions}
    assert len(chart.states) == 301 and len(codes) == 1  # one code object for the 300 places


def test_a_transition_with_more_targets_than_the_limit_is_refused() -> None:
    regions = {f"r{i}": {"initial": "a", "states": {"a": {}, "b": {}}} for i in range(MAX_TARGETS + 1)}
    targets = [f"#m.p.r{i}.b" for i in range(MAX_TARGETS + 1)]
    doc = {"id": "m", "initial": "x", "states": {"p": {"type": "parallel", "states": regions},
                                                 "x": {"on": {"GO": {"target": targets[:MAX_TARGETS]}},
                                                       "always": {"target": targets}}}}
    (problem,) = problems(json.dumps(doc))
    assert problem.path == "states.x.always.target" and f"the limit is {MAX_TARGETS}" in problem.message


# -- hints and #id targets stay linear ----------------------------------------------------------------

def test_2000_unknown_targets_are_all_reported_and_only_the_first_get_hints() -> None:
    n = 2000  # the 140 KB document: each hint compared the target with every state
    states = {f"state{i}": {"on": {"GO": f"#machine.stat{i}", "BACK": f"stat{i}"}} for i in range(n)}
    found = problems(json.dumps({"initial": "state0", "states": states}))
    assert len(found) == 2 * n
    hinted = [p for p in found if p.hint]
    assert len(hinted) == MAX_HINTED_PROBLEMS
    assert "did you mean" in found[0].hint and not found[-1].hint


def test_16000_id_targets_load() -> None:
    n = 16_000  # the valid 550 KB document: each "#id" searched every state for a declared id
    states = {f"s{i}": {"on": {"NEXT": f"#s{(i + 1) % n}", "BACK": f"#m.s{(i - 1) % n}"}} for i in range(n)}
    chart = load_machine(json.dumps({"id": "m", "initial": "s0", "states": states}))
    assert len(chart.transitions) == 2 * n
    assert chart.states["m.s5"].transitions[0].targets[0].id == "m.s6"


def test_a_declared_id_still_hides_a_state_key_of_the_same_name() -> None:
    doc = {"id": "m", "initial": "a", "states": {"a": {"on": {"GO": "#b"}}, "x": {"states": {"b": {}}, "initial": "b"},
                                                 "c": {"id": "b2"}}}
    assert load_machine(json.dumps(doc)).states["m.a"].transitions[0].targets[0].id == "m.x.b"
    doc["states"]["c"]["id"] = "b"  # type: ignore[index]
    assert load_machine(json.dumps(doc)).states["m.a"].transitions[0].targets[0].id == "b"


# -- SCXML only when asked for, and files only inside a trusted folder -----------------------------------

SCXML = "<scxml xmlns='http://www.w3.org/2005/07/scxml' name='light' initial='a'><state id='a'/></scxml>"


def test_text_that_looks_like_scxml_is_not_loaded_as_scxml_unless_asked() -> None:
    (problem,) = problems("  \n" + SCXML)
    assert "is SCXML, which is loaded only when asked for" in problem.message and "format='scxml'" in problem.hint
    assert load_machine(SCXML, format="scxml").name == "light"


@pytest.mark.parametrize("name", ["upload.txt", "upload.scxml", "upload.xml"])
def test_a_file_is_loaded_as_scxml_only_when_asked(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text(SCXML)
    sources = [path] if name.endswith(".txt") else [path, str(path)]  # (a "....txt" string is YAML text)
    for source in sources:  # a file's suffix is not consent: it may come from whoever uploaded it
        with pytest.raises(DefinitionError, match="is SCXML, which is loaded only when asked for"):
            load_machine(source)
    assert load_machine(path, format="scxml").name == "light"


@pytest.mark.parametrize("ref", ["file:secret.txt", "../secret.txt", "SECRET"])
def test_scxml_reads_data_files_only_inside_an_explicit_trusted_folder(tmp_path: Path, ref: str) -> None:
    trusted = tmp_path / "trusted"
    trusted.mkdir()
    (tmp_path / "secret.txt").write_text("'outside'")
    (trusted / "secret.txt").write_text("'inside'")
    ref = ref.replace("SECRET", str(tmp_path / "secret.txt"))  # an absolute path outside the folder
    doc = f"<scxml><datamodel><data id='v' src='{ref}'/></datamodel><state id='a'/></scxml>"
    with pytest.raises(DefinitionError, match="no trusted folder"):
        load_scxml(doc)  # no base_dir: no file at all
    if ref == "file:secret.txt":
        assert load_scxml(doc, base_dir=trusted).root.data[0].expr(None) == "inside"  # type: ignore[misc, arg-type]
    else:
        with pytest.raises(DefinitionError, match="outside the trusted folder"):
            load_scxml(doc, base_dir=trusted)


def test_scxml_scripts_need_the_trusted_folder_too(tmp_path: Path) -> None:
    (tmp_path / "lib.py").write_text("import os\n")
    doc = "<scxml><script src='lib.py'/><state id='a'/></scxml>"
    with pytest.raises(DefinitionError, match="no trusted folder"):
        load_machine(doc, format="scxml")
    assert load_machine(doc, format="scxml", base_dir=tmp_path).root.id


def test_many_transitions_with_many_deep_targets_load_and_bad_sets_are_still_found() -> None:
    def region(i: int) -> dict[str, Any]:
        inner: dict[str, Any] = {"id": f"r{i}z"}
        for _ in range(MAX_STATE_DEPTH - 4):
            inner = {"initial": "c", "states": {"c": inner}}
        return inner

    regions = {f"r{i}": region(i) for i in range(MAX_TARGETS)}
    targets = [f"#r{i}z" for i in range(MAX_TARGETS)]  # pairwise checks were quadratic, each O(depth²)
    events = {f"E{k}": {"target": targets} for k in range(2000)}
    doc = {"id": "m", "initial": "x", "states": {"p": {"type": "parallel", "states": regions}, "x": {"on": events}}}
    assert len(load_machine(json.dumps(doc)).transitions) == 2000
    # two targets in one region, not neighbours in the list: still refused
    split = {"id": "m", "initial": "x", "states": {
        "p": {"type": "parallel", "states": {"r0": {"initial": "a", "states": {"a": {}, "b": {}}},
                                              "r1": {"initial": "c", "states": {"c": {}}}}},
        "x": {"on": {"GO": {"target": ["#m.p.r0.a", "#m.p.r1.c", "#m.p.r0.b"]}}}}}
    (problem,) = problems(json.dumps(split))
    assert problem.message == "targets 'm.p.r0.a' and 'm.p.r0.b' cannot be active together"


def test_bad_in_calls_among_many_states_are_reported_with_few_hints() -> None:
    n, bad = 16_000, 300  # each In() hint compared the name with every state: 300 took 11 s
    states = {f"s{i}": {"on": {"GO": {"target": f"s{i}", "guard": f"In('m.zz{i}')"}}} if i < bad else {}
              for i in range(n)}
    found = problems(json.dumps({"id": "m", "initial": "s0", "states": states}))
    assert len(found) == bad and all("names no state" in p.message for p in found)
    assert 0 < sum("did you mean" in p.hint for p in found) <= MAX_HINTED_PROBLEMS
    assert "did you mean 'm.s0'" in found[0].hint


def test_long_keys_and_ids_are_refused_before_they_multiply() -> None:
    # a key is copied into the id and path of everything below it: 20,000 children of a 1 MB key
    # would have made 20 GB of ids
    long_key = "k" * (MAX_KEY_CHARS + 1)
    (problem,) = problems(json.dumps({"id": "m", "initial": "a", "states": {"a": {}, long_key: {}}}))
    assert problem.path.startswith("states.kkkk") and f"the limit is {MAX_KEY_CHARS}" in problem.message
    key = "k" * MAX_KEY_CHARS  # each key is allowed; three of them make an id past the limit
    doc = {"id": "m", "initial": key, "states": {key: {"initial": key, "states": {key: {
        "initial": key, "states": {key: {}}}}}}}
    found = problems(json.dumps(doc))
    assert any(f"the limit is {MAX_ID_CHARS}" in p.message for p in found)
    found = problems(json.dumps({"id": "m" * (MAX_ID_CHARS + 1), "initial": "a", "states": {"a": {}}}))
    assert [p.path for p in found if "state id is" in p.message] == ["id", "states.a"]


def test_many_unknown_keys_are_all_reported_and_only_the_first_get_a_search() -> None:
    states = {f"s{i}": {"onn": None, "entyr": None} for i in range(3000)}
    found = problems(json.dumps({"id": "m", "initial": "s0", "states": states}))
    assert len(found) == 6000 and all("unknown key" in p.message for p in found)
    assert found[0].hint.startswith("did you mean 'on'")
    assert sum("did you mean" in p.hint for p in found) == MAX_HINTED_PROBLEMS
    assert found[-1].hint == "see the known keys"


@pytest.mark.parametrize("text", [
    "id: m\ninitial: a\nstates: {a: {}}\ncontext: {x: " + "1" * 5000 + "}",
    '{"id": "m", "initial": "a", "states": {"a": {}}, "context": {"x": ' + "1" * 5000 + "}}",
    "id: m\ninitial: a\nstates: {a: {}}\ncontext: {x: 2001-13-45}",
])
def test_values_that_parse_but_cannot_be_built_are_definition_errors(text: str) -> None:
    (problem,) = problems(text)
    assert problem.message.startswith("invalid ") and "value: " in problem.message
    assert "sys.set_int_max_str_digits" not in problem.message
