"""Supabase's API roles on PostgreSQL: `anon`, `authenticated`, `service_role` and their grants.

Why: on Supabase every data API request runs under one of three roles (PostgREST switches to the
role named in the JWT), and row-level security is PostgreSQL's own: policies are written `TO anon`,
`TO authenticated`, and `service_role` is the only API role that bypasses them (BYPASSRLS). For a
migration written for Supabase to mean the same here, the roles must exist and requests must run as
them (`db/postgres/engine.py` switches role per transaction once a role exists). Running requests as the
connecting user instead would silently bypass every policy, since a table's owner is exempt from RLS.

What `ensure_api_roles` does at engine start, safe to run from many processes at once:

- Cluster-wide (roles belong to the cluster, not to a database): create the three roles when missing,
  NOLOGIN NOINHERIT as Supabase, `service_role` with BYPASSRLS. Engines of other databases (parallel
  workers, parallel test runs) may create them at the same moment: the losing `CREATE ROLE` raises
  duplicate_object or unique_violation, which is caught in the same statement. A role that already
  exists is left as its owner made it.
- Make sure the connecting user may `SET ROLE` to each (a superuser may; otherwise the role is granted
  to `current_user`, racing the same way).
- Per database, once per (schema, role) and recorded in `_backstack.api_grants`: `USAGE` on the
  exposed schemas, all privileges on their existing tables, sequences and functions, and default
  privileges so tables created later by migrations (run as the connecting user) are granted too:
  Supabase's defaults, where public tables are open to the API roles and RLS is what protects rows.
  The record is why a user's later `REVOKE insert on t from anon` survives a restart: the grants
  are never re-applied to a pair already set up. Callers in one database are serialised by an
  advisory transaction lock (concurrent GRANTs on one object can fail "tuple concurrently updated").

Without the privilege to create roles (a managed server, a restricted user) nothing fails: a warning
is logged and requests keep running as the connecting user, as before.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import asyncpg

from backstack.db.dialect import quote_ident as quote
from backstack.db.dialect import quote_literal

log = logging.getLogger("backstack.db")

# (name, attributes) as Supabase creates them.
API_ROLES: tuple[tuple[str, str], ...] = (
    ("anon", "nologin noinherit"),
    ("authenticated", "nologin noinherit"),
    ("service_role", "nologin noinherit bypassrls"),
)
GRANTS_TABLE = "_backstack.api_grants"
# The roles a request may run as: only those the connecting user can `SET ROLE` to (a role that
# exists on the cluster but was not granted would make every request fail at `set_config('role')`).
SWITCHABLE_ROLES = "select rolname from pg_roles where rolname !~ '^pg_' and pg_has_role(oid, 'member')"
_LOCK_KEY = 0x62735F726F6C6573  # "bs_roles": serialises the grants of engines starting on one database

_RACES = "when duplicate_object or unique_violation then null"


async def ensure_api_roles(conn: Any, schemas: Sequence[str]) -> None:
    """Create the API roles, let the connecting user switch to them, and grant them `schemas` once."""
    roles = [name for name, attributes in API_ROLES if await _ensure_role(conn, name, attributes)]
    usable = [name for name in roles if await _ensure_membership(conn, name)]
    if usable:
        try:
            await _grant_once(conn, schemas, usable)
        except asyncpg.PostgresError as exc:
            log.warning("cannot grant the API roles on this database: %s", exc)


async def _ensure_role(conn: Any, name: str, attributes: str) -> bool:
    """True when role `name` exists (created here if missing and allowed)."""
    if await conn.fetchval("select true from pg_roles where rolname = $1", name):
        return True
    try:
        await conn.execute(f"do $$ begin create role {quote(name)} {attributes}; exception {_RACES}; end $$")
    except asyncpg.PostgresError as exc:  # no CREATEROLE (or no superuser for BYPASSRLS)
        log.warning("cannot create role %s, requests keep the connecting user's role: %s", name, exc)
        return False
    return True


async def _ensure_membership(conn: Any, name: str) -> bool:
    """True when the connecting user may `SET ROLE name` (granted here if needed and allowed)."""
    if await conn.fetchval("select pg_has_role(current_user, $1, 'member')", name):
        return True
    try:
        await conn.execute(
            f"do $$ begin execute format('grant %I to %I', {quote_literal(name)}, current_user); "
            f"exception {_RACES}; end $$"
        )
    except asyncpg.PostgresError as exc:
        log.warning("cannot grant role %s to the connecting user: %s", name, exc)
        return False
    return bool(await conn.fetchval("select pg_has_role(current_user, $1, 'member')", name))


async def _grant_once(conn: Any, schemas: Sequence[str], roles: Sequence[str]) -> None:
    """Grant each existing schema of `schemas` to each of `roles`, unless that pair is recorded."""
    async with conn.transaction():
        await conn.execute(f"select pg_advisory_xact_lock({_LOCK_KEY})")
        await conn.execute(
            f"create table if not exists {GRANTS_TABLE} (schema_name name not null, role_name name not null,"
            " granted_at timestamptz not null default now(), primary key (schema_name, role_name))"
        )
        pending = await conn.fetch(
            "select n.nspname, r.role from pg_namespace n cross join unnest($2::text[]) as r(role)"  # noqa: S608 (our grants table; values bound)
            " where n.nspname = any($1::text[]) and not exists (select 1 from "
            f"{GRANTS_TABLE} g where g.schema_name = n.nspname and g.role_name = r.role)",
            list(schemas),
            list(roles),
        )
        for schema, role in pending:
            await conn.execute(_grants_sql(schema, role))
            await conn.execute(f"insert into {GRANTS_TABLE} (schema_name, role_name) values ($1, $2)", schema, role)  # noqa: S608 (our grants table; values bound)


def _grants_sql(schema: str, role: str) -> str:
    """Supabase's grants of one schema to one API role: usage, existing objects, and defaults."""
    s, r = quote(schema), quote(role)
    return ";\n".join(
        [
            f"grant usage on schema {s} to {r}",
            f"grant all on all tables in schema {s} to {r}",
            f"grant all on all sequences in schema {s} to {r}",
            f"grant all on all functions in schema {s} to {r}",
            f"alter default privileges in schema {s} grant all on tables to {r}",
            f"alter default privileges in schema {s} grant all on sequences to {r}",
            f"alter default privileges in schema {s} grant all on functions to {r}",
        ]
    )
