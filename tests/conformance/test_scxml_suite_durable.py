"""The W3C SCXML conformance suite run on the durable runtime (conformance/durable.py): one pytest case
per test document, against ``scxml_durable_expected_failures.toml`` (strict both ways). The in-memory
runner's own run is test_scxml_suite.py; its list is unchanged."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from interlock.conformance.scxml import run_case
from tests.conformance.test_scxml_suite import BUDGET, CASES, HERE, SUITE, _missing_suite

EXPECTED = tomllib.loads((HERE / "scxml_durable_expected_failures.toml").read_text())["expected_failures"]


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_scxml_document_on_the_durable_runtime(path: Path) -> None:
    result = run_case(path, budget=BUDGET, runtime="durable")
    reason = EXPECTED.get(path.stem)
    if reason is None:
        assert result.result == "pass", f"{path.stem} ({result.group}): {result.result}: {result.detail}"
    else:
        assert result.result != "pass", (
            f"{path.stem} now passes on the durable runtime; remove it from "
            f"scxml_durable_expected_failures.toml (it said: {reason})")


def test_every_durable_expected_failure_names_a_test_in_the_suite() -> None:
    if not CASES:
        _missing_suite()
    stale = sorted(set(EXPECTED) - {p.stem for p in CASES})
    assert not stale, f"scxml_durable_expected_failures.toml lists tests that are not in {SUITE}: {stale}"
