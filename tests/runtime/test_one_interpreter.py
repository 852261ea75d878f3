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


def _effect_cases(path: Path) -> list[str]:
    """The effect classes a module's ``match`` statements have a case for."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.MatchClass) and isinstance(node.cls, ast.Name) and node.cls.id in EFFECTS:
            found.append(f"{node.cls.id} (line {node.lineno})")
    return found


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
