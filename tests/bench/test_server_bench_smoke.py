"""The server benchmark runs end to end in its quick mode against Interlock only (no peers, no npm): a
real ``interlock serve`` process, each load generator, the check of what was recorded against what was
sent, and the live fan-out."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from bench.server_load import Outcome, Tally, check_counts

from bench import server, server_live, server_wrk


def test_the_quick_server_bench_drives_checks_and_fans_out(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLOCK_BENCH_LIVE_CLIENT", "python")  # the Node.js one installs ws with npm
    assert server.main(["--quick", "--seconds", "0.2", "--dir", str(tmp_path), "--generator", "aiohttp"]) == 0
    out = capsys.readouterr().out
    assert "load from an aiohttp client" in out
    assert "check:" in out and "none recorded twice, none answered and lost" in out
    assert "server    interlock       1 in flight" in out and "server    interlock       4 in flight" in out
    assert "(Python websockets, one process)" in out
    assert "commit -> receipt" in out and ", 0 missing" in out


def test_the_node_subscribers_time_every_change(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INTERLOCK_BENCH_LIVE_CLIENT", raising=False)
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("the Node.js subscribers need node and npm (the bench's fallback is the Python client)")
    assert server_live.node_client(), "npm could not install ws into bench/.cache/live"
    size = {"subscribers": 5, "changes": 4}
    lines = server_live.run(tmp_path, size)
    assert "(Node.js ws, one process)" in lines[0]
    assert "20 receipts, 0 missing" in lines[1]


def test_wrk_drives_the_server_and_counts_what_it_sent(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not server_wrk.available():
        if os.environ.get("CI"):
            pytest.fail("wrk is not installed (Debian's package wrk; .ci/run installs it)")
        pytest.skip("wrk is not installed (Debian's package wrk; make bench installs it)")
    assert server.main(["--quick", "--only", "events", "--seconds", "1", "--dir", str(tmp_path),
                        "--generator", "wrk"]) == 0
    out = capsys.readouterr().out
    assert "load from wrk" in out
    assert "none recorded twice, none answered and lost" in out
    sent = int(out.split("check: ")[1].split(" events sent")[0].replace(",", ""))
    assert sent > 10


def test_the_check_finds_an_event_applied_twice_or_lost() -> None:
    def sent(**tallies: tuple[int, int]) -> Outcome:
        return Outcome(1, 1.0, 1, 0.001, 0.001, tallies={k: Tally(*v) for k, v in tallies.items()}, unanswered=1)

    outcomes = [sent(c0=(3, 6), c1=(2, 2))]
    assert check_counts(outcomes, {"c0": Tally(3, 6), "c1": Tally(2, 2)}) == []
    assert check_counts(outcomes, {"c0": Tally(3, 6), "c1": Tally(1, 1)}) == []  # one in flight at the end
    assert check_counts(outcomes, {"c0": Tally(4, 7), "c1": Tally(2, 2)})  # applied twice
    assert check_counts(outcomes, {"c0": Tally(3, 5), "c1": Tally(2, 2)})  # all applied, wrong sum
    assert check_counts(outcomes, {"c0": Tally(2, 4), "c1": Tally(1, 1)})  # two missing, one unanswered


def test_the_report_marks_the_targets_met_or_below() -> None:
    def outcome(clients: int, rate: float, latency: float) -> Outcome:
        return Outcome(clients, 1.0, int(rate), latency, latency)

    results = {"interlock": {64: [outcome(64, 6000, 0.010)]}, "restate": {64: [outcome(64, 1000, 0.05)]},
               "dbos": {64: [outcome(64, 1000, 0.05)]}}
    lines = server.report(results, (64,))
    assert any("target >= 5,000/s and p99 < 25 ms: MET" in line for line in lines)
    assert any("interlock / restate" in line and "6.0x" in line and "MET" in line for line in lines)
    assert any("interlock / dbos" in line and "6.0x" in line and "BELOW" in line for line in lines)
