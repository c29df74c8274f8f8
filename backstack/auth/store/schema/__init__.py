"""The auth tables: Supabase's `auth` schema on PostgreSQL, `_auth_*` tables in the SQLite file.

On PostgreSQL the tables carry exactly the names and columns Supabase gives them, so a user's
migration can say `references auth.users(id)` and SQL written for Supabase (`auth.uid()` in a
policy, a trigger on `auth.users`) runs unchanged. SQLite has no schemas: the same tables live in
the main database file as `_auth_users`, `_auth_sessions`, ... (the DDL translator maps
`auth.users` to `_auth_users`; introspection skips `_`-prefixed tables, so the data API never
exposes them). Columns the first slice does not use yet (recovery, email change, MFA) exist
already, so later features need no table rewrite.

`ensure_schema(engine)` is idempotent and versioned: every step is `create ... if not exists`, and
the applied versions are recorded in `auth.schema_migrations` (GoTrue's own table name; our
versions are prefixed `backstack-`). A later change adds its DDL to the module of its area (users,
mfa, email, oauth) and appends its step to `_STEPS`; existing databases get only the steps they
lack. On PostgreSQL the step runs under an advisory lock, so several workers starting at once do
not race; on SQLite the writer's `BEGIN IMMEDIATE` does that.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backstack.auth.store.schema.email import (
    EMAIL_VERSION,
    OTP_ATTEMPTS_VERSION,
    PG_EMAIL,
    PG_OTP_ATTEMPTS,
    SQLITE_EMAIL,
    SQLITE_OTP_ATTEMPTS,
)
from backstack.auth.store.schema.lock import LOCK_KEY
from backstack.auth.store.schema.mfa import MFA_VERSION, PG_MFA, SQLITE_MFA
from backstack.auth.store.schema.oauth import (
    OAUTH_BINDING_VERSION,
    OAUTH_LINK_VERSION,
    OAUTH_VERSION,
    PG_OAUTH,
    PG_OAUTH_BINDING,
    PG_OAUTH_LINK,
    SQLITE_OAUTH,
    SQLITE_OAUTH_BINDING,
    SQLITE_OAUTH_LINK,
)
from backstack.auth.store.schema.users import PG_V1, SCHEMA_VERSION, SQLITE_V1

if TYPE_CHECKING:
    from backstack.db.engine import Engine


PG_MIGRATIONS_TABLE = f"""
select pg_advisory_xact_lock({LOCK_KEY});
create schema if not exists auth;
create table if not exists auth.schema_migrations (version varchar(255) not null primary key);
"""

SQLITE_MIGRATIONS_TABLE = """
create table if not exists _auth_schema_migrations (version text not null primary key);
"""

# (version, PostgreSQL script, SQLite script), applied in order; append, never edit a shipped step.
__all__ = ["EMAIL_VERSION", "MFA_VERSION", "SCHEMA_VERSION", "applied_versions", "ensure_schema"]

_STEPS: tuple[tuple[str, str, str], ...] = (
    (SCHEMA_VERSION, PG_V1, SQLITE_V1),
    (MFA_VERSION, PG_MFA, SQLITE_MFA),
    (EMAIL_VERSION, PG_EMAIL, SQLITE_EMAIL),
    (OAUTH_VERSION, PG_OAUTH, SQLITE_OAUTH),
    (OAUTH_LINK_VERSION, PG_OAUTH_LINK, SQLITE_OAUTH_LINK),
    (OAUTH_BINDING_VERSION, PG_OAUTH_BINDING, SQLITE_OAUTH_BINDING),
    (OTP_ATTEMPTS_VERSION, PG_OTP_ATTEMPTS, SQLITE_OTP_ATTEMPTS),
)

# Run on every start (cheap, idempotent): roles created after the tables still get to call auth.uid().
PG_GRANTS = f"""
select pg_advisory_xact_lock({LOCK_KEY});
do $$
declare r text;
begin
    foreach r in array array['anon', 'authenticated', 'service_role'] loop
        if exists (select 1 from pg_roles where rolname = r) then
            execute format('grant usage on schema auth to %I', r);
        end if;
    end loop;
end $$;
"""


async def applied_versions(engine: Engine) -> set[str]:
    """The schema versions recorded in this database (creating the record table when missing)."""
    if engine.dialect.is_sqlite:
        await engine.execute_script(SQLITE_MIGRATIONS_TABLE)
        rows = await engine.fetch_all("select version from _auth_schema_migrations")
    else:
        await engine.execute_script(PG_MIGRATIONS_TABLE)
        rows = await engine.fetch_all("select version from auth.schema_migrations")
    return {str(row[0]) for row in rows}


async def ensure_schema(engine: Engine) -> None:
    """Create or upgrade the auth tables on `engine`; safe to call on every start, from every worker."""
    done = await applied_versions(engine)
    for version, postgres, sqlite in _STEPS:
        if version not in done:
            await engine.execute_script(sqlite if engine.dialect.is_sqlite else postgres)
    if not engine.dialect.is_sqlite:
        await engine.execute_script(PG_GRANTS)
