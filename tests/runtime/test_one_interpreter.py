"""One effect interpreter (issue #9): only runtime/interpret.py decides what an effect does. A runtime is
a host of it (runtime/dispatch.py, runtime/memory.py); a second ``match`` over effect classes would be a
second interpreter, free to disagree with the first."""

from __future__ import annotations

import ast
from pathlib import Path

import interlock
from interlock.core import effects

EFFECTS = {name for name in dir(effects) if name.endswith("Effect") and name != "Effect"}
SOURCE = Path(interlock.__file__).parent


# functions that look at effects without carrying them out, with the reason
NOT_INTERPRETERS = {("runtime/dispatch.py", "_json"): "writes effects as JSON for the history"}


def _effect_cases(path: Path) -> list[str]:
    """The effect classes a module decides on: ``case SendEffect():`` or ``case effects.SendEffect():``,
    and ``isinstance(x, SendEffect)`` (also with a tuple of classes), outside NOT_INTERPRETERS."""
    tree = ast.parse(path.read_text())
    where = str(path.relative_to(SOURCE)) if path.is_relative_to(SOURCE) else path.name
    skipped = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and (where, n.name) in NOT_INTERPRETERS]
    found = []
    for node in ast.walk(tree):
        if any(f.lineno <= getattr(node, "lineno", 0) <= (f.end_lineno or f.lineno) for f in skipped):
            continue
        if isinstance(node, ast.MatchClass):
            named = _effect_name(node.cls)
            if named:
                found.append(f"{named} (line {node.lineno})")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "isinstance" \
                and len(node.args) == 2:
            classes = node.args[1].elts if isinstance(node.args[1], ast.Tuple) else [node.args[1]]
            found += [f"{named} (line {node.lineno})" for named in map(_effect_name, classes) if named]
    return found


def _effect_name(node: ast.expr) -> str:
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return name if name in EFFECTS else ""


def test_the_check_sees_every_way_of_deciding_on_an_effect(tmp_path: Path) -> None:
    sample = tmp_path / "second.py"
    sample.write_text("def run(e):\n    match e:\n        case effects.SendEffect():\n            pass\n"
                      "    if isinstance(e, (LogEffect, int)):\n        pass\n")
    assert sorted(_effect_cases(sample)) == ["LogEffect (line 5)", "SendEffect (line 3)"]


def test_the_interpreter_handles_every_effect() -> None:
    assert sorted(c.split()[0] for c in _effect_cases(SOURCE / "runtime" / "interpret.py")) == sorted(EFFECTS)


def test_no_other_module_matches_on_effects() -> None:
    offenders = {}
    for path in sorted(SOURCE.rglob("*.py")):
        if path == SOURCE / "runtime" / "interpret.py" or path.parent.name == "core":
            continue
        cases = _effect_cases(path)
        if cases:
            offenders[str(path.relative_to(SOURCE))] = cases
    assert offenders == {}, (
        f"effects are carried out in runtime/interpret.py only; these modules match on them: {offenders}. "
        "Add what the runtime must keep to the Host protocol there instead")
