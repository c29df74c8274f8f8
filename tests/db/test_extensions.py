"""A migration written for Supabase that relies on the `extensions` schema (uuid-ossp, pgcrypto) runs on
both engines: PostgreSQL gets the schema and the extensions at engine start, on the search path, as a
Supabase project has them; SQLite translates the functions (issue 18, section 5)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from backstack.config import Settings
from backstack.db import migrate
from backstack.db.engine import Engine

pytestmark = [pytest.mark.anyio, pytest.mark.pg_template("empty")]  # what an engine start sets up

SUPABASE_MIGRATION = """
create extension if not exists "uuid-ossp" with schema extensions;
create table messages (
  id uuid primary key default uuid_generate_v4(),
  other uuid not null default uuid_generate_v4(),
  body text not null
);
insert into messages (body) values ('hello'), ('world');
"""


def write(project: Path, name: str, sql: str) -> None:
    path = migrate.new_migration(project, name)
    path.write_text(path.read_text() + sql)


async def test_uuid_generate_v4_migration(engine: Engine, engine_settings: Settings) -> None:
    write(engine_settings.project_dir, "messages", SUPABASE_MIGRATION)
    assert await migrate.apply_pending(engine, engine_settings.project_dir) == ["0001_messages.sql"]
    rows = await engine.fetch_all("select id, other, body from messages order by body")
    assert [r[2] for r in rows] == ["hello", "world"]
    ids = {str(uuid.UUID(str(value))) for r in rows for value in r[:2]}
    assert len(ids) == 4 and all(uuid.UUID(i).version == 4 for i in ids)


@pytest.mark.postgres
@pytest.mark.parametrize("engine_settings", ["postgres"], indirect=True)
async def test_postgres_has_supabase_extensions(engine: Engine) -> None:
    """Schema `extensions` holds uuid-ossp and pgcrypto, is on the search path and usable by the API roles."""
    rows = await engine.fetch_all(
        "select e.extname, n.nspname from pg_extension e join pg_namespace n"
        " on n.oid = e.extnamespace where e.extname in ('uuid-ossp', 'pgcrypto')"
        " order by 1"
    )
    assert [tuple(r) for r in rows] == [("pgcrypto", "extensions"), ("uuid-ossp", "extensions")]
    assert "extensions" in str(await engine.fetch_one("show search_path"))
    row = await engine.fetch_one("select length(gen_random_bytes(8)), crypt('pw', gen_salt('bf')) like '$2a$%'")
    assert tuple(row or ()) == (8, True)
    qualified = await engine.fetch_one("select extensions.uuid_generate_v4() is not null")
    assert tuple(qualified or ()) == (True,)
    granted = await engine.fetch_all(
        "select r from unnest(array['anon', 'authenticated', 'service_role']) r"
        " where has_schema_privilege(r, 'extensions', 'usage')"
    )
    assert [r[0] for r in granted] == ["anon", "authenticated", "service_role"]


QUALIFIED_MIGRATION = """
create table notes (
  id uuid primary key default extensions.uuid_generate_v4(),
  token uuid not null default extensions.gen_random_uuid(),
  at timestamptz not null default pg_catalog.now(),
  body text not null
);
create function fresh_id() returns uuid language sql as $$ select extensions.uuid_generate_v4() $$;
create function fresh_token() returns uuid language sql as $$ select extensions.gen_random_uuid() $$;
insert into notes (body) values ('hello');
"""


async def test_schema_qualified_functions_migration(engine: Engine, engine_settings: Settings) -> None:
    """Supabase migrations write `extensions.uuid_generate_v4()`: defaults and SQL function bodies."""
    write(engine_settings.project_dir, "notes", QUALIFIED_MIGRATION)
    assert await migrate.apply_pending(engine, engine_settings.project_dir) == ["0001_notes.sql"]
    async with engine.transaction() as conn:
        await conn.execute("insert into notes (body) values ('world')")
    rows = await engine.fetch_all("select id, token, at, body from notes order by body")
    assert [r[3] for r in rows] == ["hello", "world"]
    ids = {str(uuid.UUID(str(value))) for r in rows for value in r[:2]}
    assert len(ids) == 4 and all(uuid.UUID(i).version == 4 for i in ids)
    assert all(r[2] is not None for r in rows)


async def test_schema_qualified_functions_through_rpc(engine_settings: Settings) -> None:
    from tests.rest.http_api import http_settings, running_api

    async with running_api(http_settings(engine_settings), QUALIFIED_MIGRATION) as api:
        for name in ("fresh_id", "fresh_token"):
            response = await api.request("POST", f"rpc/{name}", body={})
            assert response.status_code == 200, response.text
            assert uuid.UUID(response.json()).version == 4
