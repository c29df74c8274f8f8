"""Tell every server when the schema changes: event triggers that `NOTIFY pgrst, 'reload schema'`.

Why: DDL run by another process (`backstack db reset`, `migrate`, psql) must be seen by the next
request, not after the next poll. Supabase installs the same pair of event triggers for PostgREST
(`pgrst_ddl_watch` on `ddl_command_end`, `pgrst_drop_watch` on `sql_drop`); every backstack worker
LISTENs on channel `pgrst` (db/postgres/engine.py) and reloads its schema cache when notified. NOTIFY is
transactional: the notification goes out when the DDL commits, never for a rolled back one.

`ensure_schema_watch` runs at engine start. Creating an event trigger needs superuser (or a managed
server's equivalent); without it a warning is logged once and the engine keeps polling the catalog
fingerprint, as before. Engines starting at once on one database are serialised by an advisory
transaction lock, and a trigger already there is left alone, so nothing is created twice.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg

log = logging.getLogger("backstack.db")

CHANNEL = "pgrst"  # PostgREST's channel: `NOTIFY pgrst, 'reload schema'` by hand works the same
FUNCTION = "_backstack.notify_schema_change"
TRIGGERS = {"backstack_schema_ddl": "ddl_command_end", "backstack_schema_drop": "sql_drop"}
_LOCK_KEY = 0x62735F7761746368  # "bs_watch": serialises engines starting on one database

_FUNCTION_SQL = f"""
create or replace function {FUNCTION}() returns event_trigger language plpgsql as $$
begin
  perform pg_notify('{CHANNEL}', 'reload schema');
end $$
"""


async def ensure_schema_watch(conn: Any) -> bool:
    """Install the event triggers unless present; True when they are in place."""
    if await _installed(conn):
        return True
    try:
        async with conn.transaction():
            await conn.execute(f"select pg_advisory_xact_lock({_LOCK_KEY})")
            if await _installed(conn):
                return True
            await conn.execute(_FUNCTION_SQL)
            for name, event in TRIGGERS.items():
                await conn.execute(f"drop event trigger if exists {name}")
                await conn.execute(f"create event trigger {name} on {event} execute function {FUNCTION}()")
    except asyncpg.PostgresError as exc:  # not superuser: polling only
        log.warning(
            "cannot create the schema-change event triggers (%s); schema changes made by other processes are "
            "seen by polling every schema_poll_seconds, or at once after `NOTIFY pgrst, 'reload schema'`",
            exc,
        )
        return False
    return True


async def _installed(conn: Any) -> bool:
    count = await conn.fetchval(
        "select count(*) from pg_event_trigger where evtname = any($1::text[]) and evtenabled <> 'D'", list(TRIGGERS)
    )
    return bool(count == len(TRIGGERS))
