"""``interlock keys create|list|revoke --db URL`` on a real SQLite file."""

from __future__ import annotations

import asyncio
from pathlib import Path

from typer.testing import CliRunner

from interlock.auth.keys import ApiKeys
from interlock.cli.keys import PAGE
from interlock.cli.main import app
from interlock.errors import UnauthenticatedError
from interlock.storage import open_store
from interlock.storage.store import KeyRow


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_create_prints_the_key_last_list_shows_it_and_revoke_ends_it(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'keys.db'}"
    code, out, err = _run("keys", "create", "--admin", "--label", "first admin", "--db", db)
    assert code == 0 and "not shown again" in err
    key = out.strip().splitlines()[-1]
    key_id = key.split("_")[1]
    store = open_store(db)
    try:
        assert asyncio.run(ApiKeys(store).verify(key)).admin
        code, out, _ = _run("keys", "list", "--db", db)
        assert code == 0 and key_id in out and "first admin" in out and "admin" in out and key not in out
        code, out, _ = _run("keys", "revoke", key_id, "--db", db)
        assert code == 0 and "revoked" in out
        try:
            asyncio.run(ApiKeys(store).verify(key))
            raise AssertionError("a revoked key verified")
        except UnauthenticatedError as exc:
            assert exc.reason == "key.revoked"
    finally:
        store.close()


def test_scopes_are_checked_and_mistakes_say_how_to_fix_them(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'keys.db'}"
    code, out, _ = _run("keys", "create", "--scope", "read", "--scope", "events:write", "--db", db)
    assert code == 0 and out.strip().splitlines()[-1].startswith("ilk_")
    code, _, err = _run("keys", "create", "--scope", "everything", "--db", db)
    assert code == 1 and "unknown scope(s) 'everything'" in err
    code, _, err = _run("keys", "create", "--db", db)
    assert code == 2 and "--admin" in err
    code, _, err = _run("keys", "create", "--admin", "--scope", "read", "--db", db)
    assert code == 2
    code, _, err = _run("keys", "revoke", "nope", "--db", db)
    assert code == 1 and "no API key 'nope'" in err


def test_list_shows_every_key_across_pages_oldest_first(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'keys.db'}"
    count = 2 * PAGE + 1  # three reads of the store: two full pages and one more key
    store = open_store(db)
    try:
        with store.write() as tx:
            for n in range(count):
                tx.insert_key(KeyRow(f"{n:012x}", "ab" * 32, ("read",), f"key {n}", 1000.0 + n))
    finally:
        store.close()
    code, out, _ = _run("keys", "list", "--db", db)
    lines = out.strip().splitlines()
    assert code == 0 and [line.split()[0] for line in lines] == [f"{n:012x}" for n in range(count)]


def test_list_and_revoke_on_a_database_that_is_not_there_say_so(tmp_path: Path) -> None:
    """A mistyped --db made a new empty database (and its folders) for `keys list`, which then said there
    were no keys, exit 0; `keys revoke` said the key did not exist. Both name the missing database now,
    and leave nothing behind; `keys create` still makes a new database (a deployment's first admin key)."""
    missing = tmp_path / "typo" / "keys.db"
    for args in (("keys", "list"), ("keys", "revoke", "0123456789ab")):
        code, _, err = _run(*args, "--db", f"sqlite:///{missing}")
        assert code == 1 and "no database at" in err, err
    assert not missing.parent.exists()
    code, _, _ = _run("keys", "create", "--admin", "--db", f"sqlite:///{tmp_path / 'new.db'}")
    assert code == 0
