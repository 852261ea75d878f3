"""The durable benchmarks' Interlock side runs end to end on tiny sizes (no timing is checked here;
DBOS, an optional extra, is left to ``make bench``)."""

from __future__ import annotations

from pathlib import Path

from bench import durable
from bench import durable_workflow as workflow_side


def test_the_workflow_harness_finishes_every_level_and_the_open_loop(tmp_path: Path) -> None:
    out = workflow_side.run(tmp_path / "w.db", levels=(1, 4), seconds=0.2, open_count=10, round_no=0)
    assert set(out) == {"1", "4", "open"}
    assert all(cell["rate"] > 0 for cell in out.values())


def test_the_events_benchmark_drives_the_switch_and_the_realistic_counter(tmp_path: Path) -> None:
    size = {"instances": 10, "senders": 4, "seconds": 0.2}
    lines = durable.bench_events(tmp_path, size)
    assert [line.split()[1] for line in lines] == ["switch", "switch", "counter", "counter"]


def test_the_workflow_table_marks_each_target_met_or_below() -> None:
    ours = {"1": [300.0, 310.0], "32": [900.0, 1000.0], "open": [800.0, 800.0]}
    theirs = {("sqlite-wal", "1"): [100.0, 100.0], ("sqlite-wal", "32"): [100.0, 110.0],
              ("sqlite-wal", "open"): [50.0, 50.0]}
    lines = durable._workflow_lines(ours, theirs, {"sqlite-wal": "journal_mode=wal, synchronous=FULL"},
                                    (1, 32), 1.0, {"workflows": 10, "dbos_workflows": 5})
    rows = {line.split()[1]: line for line in lines[3:]}
    assert "3.0x vs sqlite-wal (target >= 3x: MET)" in rows["1"]
    assert "(target >= 10x: BELOW)" in rows["32"]
    assert "16.0x vs sqlite-wal" in rows["open"] and "target" not in rows["open"]
