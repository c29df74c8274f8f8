"""Each engine's auth schema: the scripts of every step (`VERSIONS` in `__init__`), where the applied
versions are recorded, and what runs on every start. `schema_for(dialect)` is the one place the
schema asks which engine it is on: another engine is one more `EngineSchema` in `_BY_ENGINE`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
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
    from backstack.db.dialect import Dialect, DialectName


@dataclass(frozen=True, slots=True)
class EngineSchema:
    """The auth schema's scripts on one engine."""

    record_table: str  # creates the table of applied versions when missing
    applied: str  # reads the applied versions
    steps: Mapping[str, str]  # version -> the script that applies it (and records it)
    every_start: str = ""  # run after the steps on every start


PG_MIGRATIONS_TABLE = f"""
select pg_advisory_xact_lock({LOCK_KEY});
create schema if not exists auth;
create table if not exists auth.schema_migrations (version varchar(255) not null primary key);
"""

SQLITE_MIGRATIONS_TABLE = """
create table if not exists _auth_schema_migrations (version text not null primary key);
"""

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

POSTGRES = EngineSchema(
    record_table=PG_MIGRATIONS_TABLE,
    applied="select version from auth.schema_migrations",
    steps={
        SCHEMA_VERSION: PG_V1,
        MFA_VERSION: PG_MFA,
        EMAIL_VERSION: PG_EMAIL,
        OAUTH_VERSION: PG_OAUTH,
        OAUTH_LINK_VERSION: PG_OAUTH_LINK,
        OAUTH_BINDING_VERSION: PG_OAUTH_BINDING,
        OTP_ATTEMPTS_VERSION: PG_OTP_ATTEMPTS,
    },
    every_start=PG_GRANTS,
)

# SQLite: the writer's `BEGIN IMMEDIATE` serialises starting workers, so no lock; no roles to grant to.
SQLITE = EngineSchema(
    record_table=SQLITE_MIGRATIONS_TABLE,
    applied="select version from _auth_schema_migrations",
    steps={
        SCHEMA_VERSION: SQLITE_V1,
        MFA_VERSION: SQLITE_MFA,
        EMAIL_VERSION: SQLITE_EMAIL,
        OAUTH_VERSION: SQLITE_OAUTH,
        OAUTH_LINK_VERSION: SQLITE_OAUTH_LINK,
        OAUTH_BINDING_VERSION: SQLITE_OAUTH_BINDING,
        OTP_ATTEMPTS_VERSION: SQLITE_OTP_ATTEMPTS,
    },
)

_BY_ENGINE: dict[DialectName, EngineSchema] = {"postgres": POSTGRES, "sqlite": SQLITE}


def schema_for(dialect: Dialect) -> EngineSchema:
    """The auth schema of the engine `dialect` names."""
    return _BY_ENGINE[dialect.name]
