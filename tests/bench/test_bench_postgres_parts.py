"""bench/postgres.py's workflow, scale and statements parts run end to end on tiny sizes against the real
server; their tables say MET or BELOW. No timing is checked (DBOS, an optional extra, is left to
``make bench``)."""

from __future__ import annotations

import psycopg

from bench import postgres_cpu, postgres_scale, postgres_statements, postgres_workflow
from interlock.app import Interlock
from tests.postgres_support import SERVER, fresh_database, require_postgres


def test_the_workflow_harness_runs_interlock_over_a_postgresql_url() -> None:
    require_postgres()
    rates = postgres_workflow.interlock_round(SERVER, (1, 4), 0.3, 0)
    assert set(rates) == {"1", "4"} and all(rate > 0 for rate in rates.values())


def test_the_workflow_table_gives_the_ratio_against_ten_times_dbos() -> None:
    lines = postgres_workflow.workflow_lines({"1": [1000.0, 1200.0], "8": [500.0]}, {"1": [100.0], "8": [100.0]},
                                             (1, 8), 1.0, 2)
    assert lines[2].endswith("11.0x MET") and lines[3].endswith("5.0x BELOW")


def test_the_bulk_clone_makes_instances_that_take_events() -> None:
    with fresh_database() as url:
        postgres_scale.populate(url, 50)
        with Interlock(url, worker=False) as app:
            from bench import durable_machines as machines

            app.register(machines.switch())
            assert app.send("switch", "s49", "FLIP").outcome == "applied"
            assert app.get("switch", "s49").configuration[-1] == "on"
            assert len(app.list("switch", state="off", limit=100).items) == 50  # 49 clones and t
            assert app.last_position() == 52  # t's start, 50 cloned starts, the FLIP: no gap
        with psycopg.connect(url) as conn:
            assert conn.execute(b"SELECT COUNT(*) FROM instances").fetchone() == (51,)


def test_the_scale_table_compares_the_medians() -> None:
    require_postgres()
    lines = postgres_scale.bench_scale(SERVER, small=5, large=20, sends=5, rounds=1)
    assert "flat: within 1.5x" in lines[-1] and lines[-1].split()[-1].rstrip(")") in {"MET", "BELOW"}


def test_statements_are_counted_per_event() -> None:
    with fresh_database() as url:
        tally = postgres_statements.per_event(url, 10)
    assert tally.round_trips >= 10 * 3  # at least BEGIN, a write and COMMIT per lone event
    # BEGIN and COMMIT go through libpq directly (postgres_tx.command) and are counted by their text
    assert (tally.by_text["BEGIN"], tally.by_text["COMMIT"]) == (10, 10)


def test_a_task_result_for_an_idle_instance_is_applied_without_the_inbox() -> None:
    with fresh_database() as url:
        tally = postgres_statements.per_workflow(url, 3)
    inbox = [text for text in tally.by_text if "inbox" in text]
    assert inbox == [], inbox  # each step's result went straight to its instance: no insert, no delete
    # the steps were written (history with them: one write_rows statement per transaction holds every kind)
    assert any(text.startswith("WITH new_instances") for text in tally.by_text)


def test_cpu_per_workflow_is_read_for_both_sides() -> None:
    require_postgres()
    got = postgres_cpu.one_run(SERVER, 2, 0.3, statements=True)
    assert got["workflows"] > 0 and got["interlock_ms"] > 0 and got["postgres_ms"] >= 0
    assert got["inserted"] > 0  # the database's own counts, per workflow
