"""Policies read back by introspection: a real Supabase migration on both engines, the schema fingerprint,
and the catalogs' absence."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Awaitable, Callable

import pytest

from backstack.app import prepare_database
from backstack.config import Settings
from backstack.db import migrate
from backstack.db.engine import Engine
from backstack.db.schema.model import Column, Schema, Table
from backstack.db.schema.policies import sqlite_policies

pytestmark = pytest.mark.anyio
ApplySql = Callable[..., Awaitable[Schema]]

# Supabase's user-management starter (supabase/supabase examples/user-management), with its todo-list
# example's table for the column types and defaults Supabase projects use.
SUPABASE_STARTER = """
-- Create a table for public profiles
create table profiles (
  id uuid references auth.users on delete cascade not null primary key,
  updated_at timestamp with time zone,
  username text unique,
  full_name text,
  avatar_url text,
  website text,

  constraint username_length check (char_length(username) >= 3)
);
-- Set up Row Level Security (RLS)
-- See https://supabase.com/docs/guides/database/postgres/row-level-security for more details.
alter table profiles
  enable row level security;

create policy "Public profiles are viewable by everyone." on profiles
  for select using (true);

create policy "Users can insert their own profile." on profiles
  for insert with check ((select auth.uid()) = id);

create policy "Users can update own profile." on profiles
  for update using ((select auth.uid()) = id);

create table public.todos (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null references auth.users default auth.uid(),
  task text check (char_length(task) > 3),
  is_complete boolean default false,
  tags text[] default '{}',
  meta jsonb default '{}'::jsonb,
  inserted_at timestamptz default now() not null
);
alter table public.todos enable row level security;
create policy "Individuals can create todos." on public.todos for
    insert with check ((select auth.uid()) = user_id);
create policy "Individuals can view their own todos. " on public.todos for
    select using ((select auth.uid()) = user_id);
create policy "Individuals can update their own todos." on public.todos for
    update using ((select auth.uid()) = user_id);
create policy "Individuals can delete their own todos." on public.todos for
    delete using ((select auth.uid()) = user_id);
grant select, insert, update, delete on public.todos to authenticated;
revoke all on public.todos from anon;
"""


async def test_supabase_starter_applies_unchanged_on_both_engines(engine: Engine, engine_settings: Settings) -> None:
    await prepare_database(engine)
    folder = engine_settings.project_dir / "migrations"
    folder.mkdir()
    (folder / "20240101000000_user_management_starter.sql").write_text(SUPABASE_STARTER)
    assert await migrate.apply_pending(engine, engine_settings.project_dir) == [
        "20240101000000_user_management_starter.sql"
    ]
    schema = await engine.schema()
    profiles, todos = schema.tables["profiles"], schema.tables["todos"]
    assert profiles.rls_enabled and todos.rls_enabled and not profiles.rls_forced
    assert [(p.name, p.command, p.roles, p.permissive) for p in profiles.policies] == [
        ("Public profiles are viewable by everyone.", "select", ("public",), True),
        ("Users can insert their own profile.", "insert", ("public",), True),
        ("Users can update own profile.", "update", ("public",), True),
    ]
    assert [(p.name, p.command) for p in todos.policies] == [
        ("Individuals can create todos.", "insert"),
        ("Individuals can delete their own todos.", "delete"),
        ("Individuals can update their own todos.", "update"),
        ("Individuals can view their own todos. ", "select"),
    ]
    for policy in todos.policies:
        expression = policy.check if policy.command == "insert" else policy.using
        assert expression is not None and "auth.uid()" in expression and "user_id" in expression
    kinds = {name: (c.type, c.kind) for name, c in todos.columns.items()}
    assert kinds == {
        "id": ("uuid", "uuid"),
        "user_id": ("uuid", "uuid"),
        "task": ("text", "text"),
        "is_complete": ("boolean", "bool"),
        "tags": ("text[]", "array"),
        "meta": ("jsonb", "json"),
        "inserted_at": ("timestamp with time zone", "timestamp"),
    }
    assert all(todos.columns[c].default for c in ("id", "user_id", "is_complete", "tags", "meta", "inserted_at"))
    assert [fk.ref_table for fk in profiles.foreign_keys] == ["auth.users"]
    if engine.dialect.is_sqlite:
        everything = frozenset({"select", "insert", "update", "delete"})
        assert todos.grants == {"anon": frozenset(), "authenticated": everything, "service_role": everything}
        assert profiles.grants is None


async def test_fingerprint_follows_policy_changes(engine: Engine, apply_sql: ApplySql) -> None:
    """Workers reload their schema when the fingerprint moves: every policy change must move it."""
    fingerprints = [(await apply_sql("create table t (id int primary key, owner text)")).fingerprint]
    for statement in (
        "alter table t enable row level security",
        "create policy p on t using (true)",
        "alter policy p on t using (owner = 'x')",
        "alter policy p on t rename to q",
        "drop policy q on t",
        "revoke insert on t from anon",
    ):
        fingerprints.append((await apply_sql(statement)).fingerprint)
    assert all(before != after for before, after in itertools.pairwise(fingerprints))


async def test_postgres_roles_come_back_by_name(engine: Engine, apply_sql: ApplySql) -> None:
    schema = await apply_sql("""
        create table t (id int primary key);
        create policy everyone on t using (true);
        create policy api on t to service_role, anon, authenticated, anon using (true);
    """)
    assert [(p.name, p.roles) for p in schema.tables["t"].policies] == [
        ("api", ("anon", "authenticated", "service_role")),
        ("everyone", ("public",)),
    ]


def test_sqlite_without_catalog_tables_leaves_tables_alone() -> None:
    conn = sqlite3.connect(":memory:")
    tables = {"t": Table("public", "t", {"id": Column("id", "integer", "int")})}
    assert sqlite_policies(conn, tables) is tables
    conn.execute(
        "create table _backstack_policies (tbl text, name text, command text, permissive int, "
        "roles text, using_expr text, check_expr text)"
    )
    conn.execute("""insert into _backstack_policies values ('gone', 'p', 'all', 1, '["public"]', 'true', null)""")
    assert sqlite_policies(conn, tables) is tables  # rows of tables that are not exposed change nothing
