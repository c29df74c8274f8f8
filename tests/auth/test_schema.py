"""The auth tables: created idempotently and versioned, referenceable from user tables, hidden from the data API."""

from __future__ import annotations

import httpx
import pytest

from backstack.auth import ensure_schema
from backstack.auth.store.schema import MFA_VERSION, SCHEMA_VERSION, VERSIONS, applied_versions
from backstack.auth.store.schema.engines import _BY_ENGINE
from backstack.db.engine import Engine
from tests.auth.conftest import sign_up
from tests.conftest import ApplySql

pytestmark = pytest.mark.anyio

TABLES = (
    "users", "identities", "sessions", "refresh_tokens", "mfa_amr_claims", "schema_migrations", "mfa_factors",
    "mfa_challenges",
)  # fmt: skip


def test_every_engine_has_every_step() -> None:
    for name, scripts in _BY_ENGINE.items():
        assert set(scripts.steps) == set(VERSIONS), name
        for version in VERSIONS:
            assert f"'{version}'" in scripts.steps[version], (name, version)  # each step records itself


async def test_ensure_schema_is_idempotent_and_versioned(engine: Engine) -> None:
    await ensure_schema(engine)
    await ensure_schema(engine)
    assert {SCHEMA_VERSION, MFA_VERSION} <= await applied_versions(engine)
    for table in TABLES:
        name = f"_auth_{table}" if engine.dialect.is_sqlite else f"auth.{table}"
        assert await engine.fetch_one(f"select count(*) from {name}") is not None


async def test_supabase_column_names(engine: Engine) -> None:
    await ensure_schema(engine)
    expected = {
        "id", "aud", "role", "email", "encrypted_password", "email_confirmed_at", "phone", "raw_app_meta_data",
        "raw_user_meta_data", "created_at", "updated_at", "last_sign_in_at", "is_anonymous", "banned_until",
        "confirmed_at", "is_sso_user", "deleted_at", "instance_id",
    }  # fmt: skip
    if engine.dialect.is_sqlite:
        rows = await engine.fetch_all("select name from pragma_table_xinfo('_auth_users')")
    else:
        rows = await engine.fetch_all(
            "select column_name from information_schema.columns where table_schema = 'auth' and table_name = 'users'"
        )
    assert expected <= {row[0] for row in rows}


async def test_user_tables_can_reference_auth_users(
    auth: httpx.AsyncClient, engine: Engine, apply_sql: ApplySql
) -> None:
    # PostgreSQL-dialect DDL, as a migration holds it (translated to `_auth_users` on SQLite).
    schema = await apply_sql(
        "create table profiles (id uuid primary key references auth.users(id) on delete cascade, name text)"
    )
    assert "profiles" in schema.tables
    user_id = (await sign_up(auth, "profile@example.com")).json()["user"]["id"]
    async with engine.transaction() as conn:
        await conn.execute(
            "insert into profiles (id, name) values (?, 'P')"
            if engine.dialect.is_sqlite
            else "insert into profiles (id, name) values ($1, 'P')",
            (user_id,),
        )
    users = "_auth_users" if engine.dialect.is_sqlite else "auth.users"
    async with engine.transaction() as conn:
        await conn.execute(f"delete from {users} where email = 'profile@example.com'")
    assert await engine.fetch_all("select * from profiles") == []


async def test_auth_tables_are_not_exposed(engine: Engine) -> None:
    await ensure_schema(engine)
    schema = await engine.reload_schema()
    assert not [name for name in schema.tables if "auth" in name or name == "users"], list(schema.tables)
