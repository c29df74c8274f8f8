"""Supabase's `extensions` schema on PostgreSQL: uuid-ossp and pgcrypto, on the search path.

Why: a Supabase project comes with schema `extensions` holding `uuid-ossp` and `pgcrypto`, and
`extensions` on every role's search path, so migrations written for Supabase call
`uuid_generate_v4()`, `gen_random_bytes()` or `crypt()` unqualified. Without them here such a
migration fails on PostgreSQL (SQLite translates these functions itself).

`ensure_extensions` runs at engine start: it creates the schema and the two extensions in it where
the server ships them (contrib; both are trusted extensions, so a database owner may create them
without superuser), and grants USAGE on the schema to the API roles, as Supabase does. An
extension already installed (in any schema) is left where it is. Engines starting at once on one
database race on CREATE: the loser's duplicate_object / unique_violation is caught in the same
statement. Without the privilege nothing fails: a warning is logged. The search path itself is a
connection setting (`SEARCH_PATH`, sent at connect by `db/postgres/engine.py`); a schema on it that does
not exist is ignored by PostgreSQL.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import asyncpg

from backstack.db.dialect import quote_ident as quote
from backstack.db.dialect import quote_literal

log = logging.getLogger("backstack.db")

SCHEMA = "extensions"
EXTENSIONS = ("uuid-ossp", "pgcrypto")
SEARCH_PATH = f'"$user", public, {SCHEMA}'
_RACES = "when duplicate_object or unique_violation or duplicate_schema then null"


async def ensure_extensions(conn: Any, roles: Sequence[str]) -> None:
    """Create schema `extensions` with uuid-ossp and pgcrypto where available; let `roles` use it."""
    missing = await conn.fetch(
        "select a.name from pg_available_extensions a where a.name = any($1::text[])"
        " and not exists (select 1 from pg_extension e where e.extname = a.name)",
        list(EXTENSIONS),
    )
    has_schema = await conn.fetchval("select true from pg_namespace where nspname = $1", SCHEMA)
    if has_schema and not missing:
        return
    try:
        statements = [f"create schema if not exists {quote(SCHEMA)}"]
        statements += [
            f"create extension if not exists {quote(row['name'])} with schema {quote(SCHEMA)}" for row in missing
        ]
        body = "; ".join(f"begin execute {quote_literal(s)}; exception {_RACES}; end" for s in statements)
        await conn.execute(f"do $$ begin {body}; end $$")
        existing = await conn.fetch("select rolname from pg_roles where rolname = any($1::text[])", list(roles))
        if existing:
            grantees = ", ".join(quote(row["rolname"]) for row in existing)
            await conn.execute(f"grant usage on schema {quote(SCHEMA)} to {grantees}")
    except asyncpg.PostgresError as exc:  # no CREATE on the database, or extensions not allowed
        log.warning("cannot create schema %s with %s: %s", SCHEMA, ", ".join(EXTENSIONS), exc)
