"""init, keys, migrate and db reset end to end, through the real command line (typer's runner)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from backstack.cli.main import app
from backstack.config import Settings, load_settings
from backstack.core import json
from backstack.core.keys import project_keys
from backstack.db.engine import connect

runner = CliRunner()


def invoke(*args: str, database_url: str | None = None, input: str | None = None) -> Any:
    """Run `backstack ARGS` with DATABASE_URL set to `database_url` (SQLite when None)."""
    env = {"DATABASE_URL": database_url or "", "BACKSTACK_DATABASE_URL": None, "BACKSTACK_JWT_SECRET": None}
    return runner.invoke(app, list(args), env=env, input=input)


def ok(*args: str, **kwargs: Any) -> str:
    result = invoke(*args, **kwargs)
    assert result.exit_code == 0, f"backstack {' '.join(args)}:\n{result.output}"
    return str(result.output)


def fetch(project: Path, database_url: str | None, sql: str) -> list[tuple[Any, ...]]:
    async def body() -> list[tuple[Any, ...]]:
        engine = connect(load_settings(project, database_url=database_url))
        await engine.start()
        try:
            return await engine.fetch_all(sql)
        finally:
            await engine.close()

    return asyncio.run(body())


def secret_of(project: Path) -> str:
    match = re.search(r'^jwt_secret = "([^"]+)"$', (project / "backstack.toml").read_text(), re.M)
    assert match is not None
    return match[1]


# ---------------------------------------------------------------- init


def test_init_writes_a_project(tmp_path: Path) -> None:
    project = tmp_path / "app"
    ok("init", str(project))
    for name in ("backstack.toml", "seed.sql", ".gitignore", "migrations", "functions"):
        assert (project / name).exists(), name
    assert ".backstack/" in (project / ".gitignore").read_text()
    assert len(secret_of(project)) == 64
    settings = load_settings(project)
    assert settings.jwt_secret == secret_of(project) and settings.api_keys_issued_at > 0


def test_init_is_idempotent_and_never_overwrites(tmp_path: Path) -> None:
    project = tmp_path / "app"
    ok("init", str(project))
    secret = secret_of(project)
    (project / "seed.sql").write_text("-- mine\n")
    (project / ".gitignore").unlink()
    output = ok("init", str(project))
    assert secret_of(project) == secret
    assert (project / "seed.sql").read_text() == "-- mine\n"
    assert (project / ".gitignore").exists()  # what was missing is written again
    assert "kept" in output and "created" in output


def test_init_example_adds_the_todos_migration(tmp_path: Path) -> None:
    ok("init", str(tmp_path / "app"), "--example", "todos")
    assert (tmp_path / "app" / "migrations" / "0001_todos.sql").read_text().startswith("-- Example schema")
    assert "enable row level security" in (tmp_path / "app" / "migrations" / "0002_policies.sql").read_text()
    bad = invoke("init", str(tmp_path / "other"), "--example", "nope")
    assert bad.exit_code == 1 and "unknown example" in bad.output


def test_init_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    result = invoke("init", str(tmp_path / "file"))
    assert result.exit_code == 1 and "not a folder" in result.output


# ---------------------------------------------------------------- keys


def test_keys_json_is_deterministic_and_matches_the_secret(tmp_path: Path) -> None:
    ok("init", str(tmp_path))
    first = json.loads(ok("keys", "--dir", str(tmp_path), "--json"))
    second = json.loads(ok("keys", "--dir", str(tmp_path), "--json"))
    assert first == second and set(first) == {"anon", "service_role"}
    settings = load_settings(tmp_path)
    assert first == project_keys(settings.jwt_secret, issued_at=settings.api_keys_issued_at).as_dict()
    plain = ok("keys", "--dir", str(tmp_path))
    assert first["anon"] in plain and first["service_role"] in plain


def test_commands_outside_a_project_say_what_to_do(tmp_path: Path) -> None:
    for args in (["keys"], ["migrate", "up"], ["migrate", "status"], ["db", "reset", "--yes"], ["serve"]):
        result = invoke(*args, "--dir", str(tmp_path / "missing"))
        assert result.exit_code == 1, args
        assert "backstack init" in result.output, args


def test_unreachable_database_says_what_to_do(tmp_path: Path) -> None:
    ok("init", str(tmp_path))
    result = invoke("migrate", "up", "--dir", str(tmp_path), database_url="postgresql://postgres@127.0.0.1:1/x")
    assert result.exit_code == 1
    assert "cannot open the database" in result.output and "DATABASE_URL" in result.output


# ---------------------------------------------------------------- migrate and db reset, on both engines


def test_migrate_new_up_status(engine_settings: Settings) -> None:
    project, url = engine_settings.project_dir, engine_settings.database_url
    ok("init", str(project))
    assert "No migrations yet" in ok("migrate", "status", "--dir", str(project), database_url=url)
    path_line = ok("migrate", "new", "create_notes", "--dir", str(project))
    migration = project / "migrations" / "0001_create_notes.sql"
    assert migration.name in path_line.replace("\n", "")
    migration.write_text(migration.read_text() + "create table notes (id bigint primary key, body text);\n")
    assert "pending" in ok("migrate", "status", "--dir", str(project), database_url=url)
    assert "Applied 1 migration" in ok("migrate", "up", "--dir", str(project), database_url=url)
    assert "up to date" in ok("migrate", "up", "--dir", str(project), database_url=url)
    status = ok("migrate", "status", "--dir", str(project), database_url=url)
    assert "0001_create_notes.sql" in status and "applied" in status and "pending" not in status
    assert fetch(project, url, "select count(*) from notes") == [(0,)]
    bad = invoke("migrate", "new", "no spaces", "--dir", str(project))
    assert bad.exit_code == 1 and "invalid migration name" in bad.output


def test_db_reset_drops_reapplies_and_seeds(engine_settings: Settings) -> None:
    project, url = engine_settings.project_dir, engine_settings.database_url
    ok("init", str(project), "--example", "todos")
    (project / "seed.sql").write_text("insert into todos (title) values ('from seed');\n")
    ok("migrate", "up", "--dir", str(project), database_url=url)
    assert fetch(project, url, "select count(*) from todos") == [(4,)]
    ok("migrate", "new", "scratch", "--dir", str(project))
    (project / "migrations" / "0003_scratch.sql").write_text("create table scratch (id int primary key);\n")
    ok("migrate", "up", "--dir", str(project), database_url=url)
    asyncio.run(_insert(project, url, "insert into todos (title) values ('added later')"))

    refused = invoke("db", "reset", "--dir", str(project), database_url=url, input="n\n")
    assert refused.exit_code == 1 and "Nothing changed" in refused.output
    assert fetch(project, url, "select count(*) from todos") == [(5,)]

    output = ok("db", "reset", "--dir", str(project), database_url=url, input="y\n")
    assert "loaded seed.sql" in output
    titles = [row[0] for row in fetch(project, url, "select title from todos order by id")]
    assert titles[-1] == "from seed" and "added later" not in titles and len(titles) == 5
    assert fetch(project, url, "select count(*) from scratch") == [(0,)]
    ok("db", "reset", "--dir", str(project), "--yes", database_url=url)


async def _insert(project: Path, url: str | None, sql: str) -> None:
    engine = connect(load_settings(project, database_url=url))
    await engine.start()
    try:
        async with engine.transaction() as conn:
            await conn.execute(sql)
    finally:
        await engine.close()


@pytest.mark.parametrize("args", [["--help"], ["migrate", "--help"], ["db", "--help"], ["serve", "--help"]])
def test_help(args: list[str]) -> None:
    assert "Usage" in ok(*args)
