"""Supabase's Realtime Authorization objects on PostgreSQL, and the probe that asks their policies.

Why: on Supabase a private channel is authorised by RLS policies on `realtime.messages` that call
`realtime.topic()` (the topic being authorised, a transaction-local setting). Migrations written for
Supabase create such policies, so the table and the function must exist as Supabase has them.

`ensure_realtime_messages` (app.py `prepare_database`, at start) creates schema `realtime`, the table
(RLS enabled; select/insert/update granted to the API roles, so only policies decide) and the
function; idempotent, serialised by an advisory lock when several engines start at once.

`may_access` asks as Supabase Realtime does, inside one transaction that is always rolled back, with
the caller's role and claims applied as the data API applies them (`engine.transaction(caller)`):
- read: the topic is set, probe rows for the extension are inserted as the engine's own role (the
  caller's role is set aside for that insert, then restored), and the caller counts the probe rows
  its select policies let it see;
- write: the caller inserts a row for the topic and extension; an RLS violation refuses, and so does
  a row a trigger skipped (no policy was asked).
A caller whose role the database lacks (the data API then runs it as the connecting user, the table's
owner, whom no policy binds) is refused: a private channel is never opened for want of a role.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

from backstack.core.errors import ApiError

if TYPE_CHECKING:
    from backstack.core.caller import Caller
    from backstack.db.protocol import Connection, Engine

log = logging.getLogger("backstack.db")

Access = Literal["read", "write"]
_LOCK = 0x7265616C74696D65  # "realtime": one engine creates the objects at a time
_API_ROLES = ("anon", "authenticated", "service_role")

_CREATE = """
create schema if not exists realtime;
create table if not exists realtime.messages (
    topic text not null,
    extension text not null,
    payload jsonb,
    event text,
    private boolean default false,
    updated_at timestamp without time zone not null default now(),
    inserted_at timestamp without time zone not null default now(),
    id uuid not null default gen_random_uuid(),
    primary key (id, inserted_at)
);
alter table realtime.messages enable row level security;
create or replace function realtime.topic() returns text language sql stable
    as $$ select nullif(current_setting('realtime.topic', true), '')::text $$;
do $$
declare r text;
begin
    foreach r in array array['anon', 'authenticated', 'service_role'] loop
        if exists (select 1 from pg_roles where rolname = r) then
            execute format('grant usage on schema realtime to %I', r);
            execute format('grant select, insert, update on realtime.messages to %I', r);
            execute format('grant execute on function realtime.topic() to %I', r);
        end if;
    end loop;
end $$
"""
_PRESENT = (
    "select to_regclass('realtime.messages') is not null"
    " and to_regprocedure('realtime.topic()') is not null"
    " and (select relrowsecurity from pg_class where oid = to_regclass('realtime.messages'))"
)

# What a reset drops besides the exposed schemas' objects: the project's policies on realtime.messages
# (its migrations made them, and will make them again), never the table itself.
DROP_POLICIES = """
do $$
declare r record;
begin
  for r in select format('drop policy if exists %I on realtime.messages', polname) as cmd
           from pg_policy where polrelid = to_regclass('realtime.messages')
  loop execute r.cmd; end loop;
end $$;
"""


async def ensure_realtime_messages(engine: Engine) -> None:
    """Create schema `realtime`, `realtime.messages` and `realtime.topic()` unless they exist."""
    present = await engine.fetch_one(_PRESENT)
    if present is not None and present[0]:
        return
    try:
        async with engine.transaction() as conn:
            await conn.execute("select pg_advisory_xact_lock($1)", (_LOCK,))
            await conn.execute(_CREATE)
    except ApiError as error:  # no CREATE on the database: private channels stay refused
        log.warning("cannot create realtime.messages: %s", error.message)


class _RolledBack(Exception):
    """Raised to end the probe's transaction: it never commits."""

    def __init__(self, allowed: bool) -> None:
        self.allowed = allowed


async def may_access(engine: Engine, caller: Caller, topic: str, extension: str, access: Access) -> bool:
    """Whether the policies on realtime.messages let `caller` read or write `topic` for `extension`."""
    try:
        async with engine.transaction(caller) as conn:
            role = await conn.fetch_one(
                "select current_setting('role'), set_config('realtime.topic', $1, true)", (topic,)
            )
            assert role is not None
            if role[0] == "none":  # the caller's role is missing: as the table's owner no policy would be asked
                log.warning("realtime authorization of %r refused: role %r does not exist", topic, caller.role)
                raise _RolledBack(allowed=False)
            if access == "read":
                raise _RolledBack(await _may_read(conn, topic, extension, role[0]))
            inserted = await conn.execute(
                "insert into realtime.messages (topic, extension, private) values ($1, $2, true)", (topic, extension)
            )
            raise _RolledBack(allowed=inserted == 1)  # a trigger skipping the row skips the policies too
    except _RolledBack as done:
        return done.allowed
    except ApiError as error:
        if error.code != "42501":  # a policy that fails (or the database away) refuses too, and says why
            log.warning("realtime authorization of %r failed: %r", topic, error.message)  # %r: a client named it
        return False


async def _may_read(conn: Connection, topic: str, extension: str, role: str) -> bool:
    await conn.fetch_one("select set_config('role', 'none', true)")  # the engine's own role inserts the probe
    probe = await conn.fetch_one(
        "insert into realtime.messages (topic, extension, private) values ($1, $2, true) returning id::text",
        (topic, extension),
    )
    if probe is None:  # a trigger of the project's skipped it: nothing the caller could be shown
        return False
    await conn.fetch_one("select set_config('role', $1, true)", (role,))  # the caller's again
    seen = await conn.fetch_one("select count(*) from realtime.messages where id = $1::uuid", (probe[0],))
    return seen is not None and seen[0] > 0
