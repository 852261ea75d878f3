"""The server benchmark runs end to end in its quick mode against Interlock only (no peers, no npm): a
real ``interlock serve`` process, the load generator, the step check and the live fan-out."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.server_load import Outcome

from bench import server


def test_the_quick_server_bench_drives_checks_and_fans_out(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert server.main(["--quick", "--seconds", "0.2", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "check:" in out and "each recorded exactly once" in out
    assert "server    interlock       1 in flight" in out and "server    interlock       4 in flight" in out
    assert "commit -> receipt" in out and ", 0 missing" in out


def test_the_report_marks_the_targets_met_or_below() -> None:
    def outcome(clients: int, rate: float, latency: float) -> Outcome:
        return Outcome(clients, 1.0, latencies=[latency] * int(rate))

    results = {"interlock": {64: [outcome(64, 6000, 0.010)]}, "restate": {64: [outcome(64, 1000, 0.05)]},
               "dbos": {64: [outcome(64, 1000, 0.05)]}}
    lines = server.report(results, (64,))
    assert any("target >= 5,000/s and p99 < 25 ms: MET" in line for line in lines)
    assert any("interlock / restate" in line and "6.0x" in line and "MET" in line for line in lines)
    assert any("interlock / dbos" in line and "6.0x" in line and "BELOW" in line for line in lines)
