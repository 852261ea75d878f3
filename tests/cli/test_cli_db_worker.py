"""``interlock db upgrade URL`` and the errors of ``interlock worker`` (the worker at work: see
tests/runtime/test_many_processes.py)."""

from __future__ import annotations

from pathlib import Path

import psycopg
from typer.testing import CliRunner

from interlock.cli.main import app
from interlock.storage.queries import migrations
from tests.postgres_support import fresh_database


def test_db_upgrade_migrates_a_postgresql_database_and_is_safe_to_run_again() -> None:
    with fresh_database() as url:
        for _ in range(2):
            result = CliRunner().invoke(app, ["db", "upgrade", url])
            assert result.exit_code == 0, result.output
            assert f"schema version {migrations('postgres')[-1][0]}" in result.output
        with psycopg.connect(url) as conn:
            assert conn.execute(b"SELECT to_regclass('instances')").fetchone() == ("instances",)


def test_db_upgrade_migrates_a_sqlite_file_and_says_what_is_wrong_with_a_bad_url(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["db", "upgrade", f"sqlite:///{tmp_path / 'x.db'}"])
    assert result.exit_code == 0 and f"schema version {migrations('sqlite')[-1][0]}" in result.output
    result = CliRunner().invoke(app, ["db", "upgrade", "mysql://nowhere"])
    assert result.exit_code == 1 and "unsupported store URL" in result.output


def test_worker_refuses_an_app_module_without_setup(tmp_path: Path) -> None:
    module = tmp_path / "empty_app.py"
    module.write_text("X = 1\n")
    result = CliRunner().invoke(app, ["worker", f"sqlite:///{tmp_path / 'w.db'}", "--app", str(module)])
    assert result.exit_code == 2
    assert "has no function setup(app)" in result.output
    result = CliRunner().invoke(app, ["worker", f"sqlite:///{tmp_path / 'w.db'}", "--app", "no_such_module_x"])
    assert result.exit_code == 2 and "No module named 'no_such_module_x'" in result.output
