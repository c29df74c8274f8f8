"""Change capture on PostgreSQL: the `supabase_realtime` publication, and triggers on its tables
that write each row change to `_backstack.realtime_changes` (with its transaction id) and wake the
readers with one `pg_notify` per transaction.

Why triggers and not logical decoding: a trigger runs in the writing transaction, whoever writes
(the data API, a SQL function, a migration, psql), needs no replication slot or `wal_level`, and a
rolled back write leaves nothing. The row is `to_jsonb(new)` (the data API's JSON types), written
with PostgreSQL's default output settings whatever the writer's session says (`intervalstyle`,
`extra_float_digits`, `bytea_output`: realtime compares the captured row with the row the data API
reads, and a psql session's own style would make them differ; a time zone's offset is compared as an
instant, so `timezone` is left as the writer has it); the old
row holds the replica identity's columns: the primary key by default, every column with
`replica identity full`, none with `replica identity nothing`. `commit_timestamp` is the writing
transaction's `now()` (its start: PostgreSQL does not tell a trigger when it will commit).

Which tables: an event trigger on CREATE/ALTER/DROP PUBLICATION runs `sync_realtime_capture()`,
which gives each table of `pg_publication_tables` for `supabase_realtime` the row trigger and takes
it from tables no longer published, in the same transaction as the `alter publication`. Engine
start creates the publication when missing (as Supabase projects have it), installs the functions
when they are missing or another version's (`VERSION`), and runs the sync once.
Event triggers need superuser: without it a warning is logged and the publication is synced at
each engine start only.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

import asyncpg

from backstack.db.catalog.publication import NOTIFY_CHANNEL, PG_CHANGES, PG_READERS, PUBLICATION

log = logging.getLogger("backstack.db")

TRIGGER = "backstack_realtime_capture"
CAPTURE_FUNCTION = "_backstack.realtime_capture"
SYNC_FUNCTION = "_backstack.sync_realtime_capture"
EVENT_TRIGGER = "backstack_realtime_publication"
_LOCK_KEY = 0x62735F63617074  # "bs_capt": serialises engines starting on one database

_OUTBOX_SQL = f"""
create table if not exists {PG_CHANGES} (
  id bigint generated always as identity primary key,
  schema_name text not null,
  table_name text not null,
  operation text not null,
  record jsonb,
  old_record jsonb,
  commit_timestamp timestamptz not null default now()
);
alter table {PG_CHANGES} add column if not exists txid xid8 not null default pg_current_xact_id();
create index if not exists realtime_changes_txid on {PG_CHANGES} (txid);
create table if not exists {PG_READERS} (
  reader text primary key,
  safe xid8 not null,
  seen_at timestamptz not null default now()
)
"""

# security definer: the API roles write the outbox through it without any grant on it.
_CAPTURE_SQL = f"""
create or replace function {CAPTURE_FUNCTION}() returns trigger
language plpgsql security definer set search_path = pg_catalog
  set intervalstyle = 'postgres' set extra_float_digits = 1 set bytea_output = 'hex' as $$
declare
  identity "char";
  keys text[];
  old_row jsonb;
begin
  if tg_op <> 'INSERT' then
    select c.relreplident into identity from pg_class c where c.oid = tg_relid;
    if identity = 'f' then
      old_row := to_jsonb(old);
    elsif identity <> 'n' then
      select array_agg(a.attname) into keys
      from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = any(i.indkey)
      where i.indrelid = tg_relid and (case when identity = 'i' then i.indisreplident else i.indisprimary end);
      select coalesce(jsonb_object_agg(e.key, e.value), '{{}}'::jsonb) into old_row
      from jsonb_each(to_jsonb(old)) e where e.key = any(coalesce(keys, '{{}}'));
    end if;
  end if;
  insert into {PG_CHANGES} (schema_name, table_name, operation, record, old_record)
  values (tg_table_schema, tg_table_name, tg_op, case when tg_op = 'DELETE' then null else to_jsonb(new) end, old_row);
  perform pg_notify('{NOTIFY_CHANNEL}', '');  -- one wake-up per transaction: PostgreSQL folds equal ones
  return null;
end $$
"""  # noqa: S608 (our constants)

_SYNC_SQL = f"""
create or replace function {SYNC_FUNCTION}() returns void
language plpgsql set search_path = pg_catalog as $$
declare r record;
begin
  for r in
    select t.tgrelid::regclass as rel from pg_trigger t
    where t.tgname = '{TRIGGER}' and not exists (
      select 1 from pg_publication_tables p join pg_class c on c.relname = p.tablename
      join pg_namespace n on n.oid = c.relnamespace and n.nspname = p.schemaname
      where p.pubname = '{PUBLICATION}' and c.oid = t.tgrelid)
  loop
    execute format('drop trigger {TRIGGER} on %s', r.rel);
  end loop;
  for r in
    select format('%I.%I', p.schemaname, p.tablename)::regclass as rel from pg_publication_tables p
    where p.pubname = '{PUBLICATION}' and not exists (
      select 1 from pg_trigger t
      where t.tgname = '{TRIGGER}' and t.tgrelid = format('%I.%I', p.schemaname, p.tablename)::regclass)
  loop
    execute format('create trigger {TRIGGER} after insert or update or delete on %s '
                   'for each row execute function {CAPTURE_FUNCTION}()', r.rel);
  end loop;
end $$
"""  # noqa: S608 (our constants)

_EVENT_SQL = f"""
create or replace function {SYNC_FUNCTION}_on_ddl() returns event_trigger
language plpgsql as $$ begin perform {SYNC_FUNCTION}(); end $$
"""


_INSTALL = (_OUTBOX_SQL, _CAPTURE_SQL, _SYNC_SQL, _EVENT_SQL)
# Stamped on the sync function: a start that finds it skips the DDL (which every engine's schema
# watch would hear as a schema change), and a backstack whose SQL differs installs its own.
VERSION = "backstack capture " + hashlib.sha256("".join(_INSTALL).encode()).hexdigest()[:16]
_CURRENT = (
    "select exists (select 1 from pg_publication where pubname = $1) and coalesce(obj_description("  # noqa: S608
    f"to_regprocedure('{SYNC_FUNCTION}()'), 'pg_proc') = $2, false)"
)


async def ensure_capture(conn: Any) -> bool:
    """The publication, outbox, functions and event trigger; True when the event trigger is in place."""
    try:
        if await conn.fetchval(_CURRENT, PUBLICATION, VERSION):
            await conn.execute(f"select {SYNC_FUNCTION}()")  # no DDL unless a trigger is missing
            return await _ensure_event_trigger(conn)
        async with conn.transaction():
            await conn.execute(f"select pg_advisory_xact_lock({_LOCK_KEY})")
            if not await conn.fetchval("select exists (select 1 from pg_publication where pubname = $1)", PUBLICATION):
                await conn.execute(f"create publication {PUBLICATION}")
            for sql in _INSTALL:
                await conn.execute(sql)
            await conn.execute(f"comment on function {SYNC_FUNCTION}() is '{VERSION}'")
            await conn.execute(f"select {SYNC_FUNCTION}()")
    except asyncpg.PostgresError as exc:
        log.warning("cannot set up change capture for publication %s: %s", PUBLICATION, exc)
        return False
    return await _ensure_event_trigger(conn)


async def _ensure_event_trigger(conn: Any) -> bool:
    exists = "select exists (select 1 from pg_event_trigger where evtname = $1 and evtenabled <> 'D')"
    if await conn.fetchval(exists, EVENT_TRIGGER):
        return True
    try:
        async with conn.transaction():
            await conn.execute(f"select pg_advisory_xact_lock({_LOCK_KEY})")
            if await conn.fetchval(exists, EVENT_TRIGGER):
                return True
            await conn.execute(f"drop event trigger if exists {EVENT_TRIGGER}")
            await conn.execute(
                f"create event trigger {EVENT_TRIGGER} on ddl_command_end when tag in "
                "('CREATE PUBLICATION', 'ALTER PUBLICATION', 'DROP PUBLICATION') "
                f"execute function {SYNC_FUNCTION}_on_ddl()"
            )
    except asyncpg.PostgresError as exc:  # not superuser: synced at engine start only
        log.warning(
            "cannot create the event trigger that follows publication %s (%s); its capture triggers are "
            "synced at engine start only",
            PUBLICATION,
            exc,
        )
        return False
    return True
