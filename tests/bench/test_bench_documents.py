"""``python -m bench.documents`` runs (tiny sizes): each family builds, loads and prints three sizes."""

from __future__ import annotations

import pytest
from bench.documents import FAMILIES, main


def test_every_family_prints_three_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--scale", "0.01", "--repeats", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 * len(FAMILIES)
    assert all(line.split()[0] in " ".join(FAMILIES) for line in lines)
