"""Supabase's Realtime Authorization on SQLite: `realtime.messages`, and the probe that asks its policies.

Why: on Supabase a private channel is authorised by RLS policies on `realtime.messages` that call
`realtime.topic()`; migrations written for Supabase create such policies, so on SQLite too the table
must exist (as `_realtime_messages`, where db.translate puts `realtime.messages`) and the policies
must mean what they mean on PostgreSQL (db/postgres/realtime_messages.py).

`ensure_realtime_messages` (engine start, on the writer, before the first schema load) creates the
table with PostgreSQL's columns, RLS enabled and select/insert/update granted to the API roles (as
db/postgres does), so only policies decide; introspection reads it back, with its policies, into
`Schema.internal` (`internal_tables`), never into the tables the data API exposes.

`MessagesProbe` asks the policies as the data API applies them on SQLite: the policy service compiles
the role's SELECT USING (read) or INSERT WITH CHECK (write) predicate of `realtime.messages`, and one
read-only statement evaluates it, as the caller, over the probe row an `insert (topic, extension,
private)` would make (every other column its default), with `realtime.topic()` answering the topic.
Nothing is written, so nothing can be left behind, and no trigger can skip the row; a predicate
that cannot be compiled or fails when it runs refuses.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

from backstack.core.errors import ApiError
from backstack.db.catalog import rls as catalog
from backstack.db.catalog.stamp import stamped
from backstack.db.dialect import quote_ident, quote_literal
from backstack.db.schema.model import Schema
from backstack.db.schema.policies import sqlite_policies

if TYPE_CHECKING:
    from backstack.core.caller import Caller
    from backstack.core.ports import PolicyProvider
    from backstack.db.schema.model import Table
    from backstack.db.sqlite.engine import SqliteEngine

log = logging.getLogger("backstack.db")

Access = Literal["read", "write"]
NAME = "realtime.messages"  # its key in `Schema.internal`
TABLE = "_realtime_messages"  # db.translate.names.sqlite_table_name("realtime", "messages")

# What db.translate makes of db/postgres/realtime_messages.py's CREATE TABLE (its columns and defaults).
_CREATE = (
    f"CREATE TABLE IF NOT EXISTS {TABLE} (topic text NOT NULL, extension text NOT NULL, payload jsonb, "
    "event text, private boolean DEFAULT 0, "
    "updated_at timestamp NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now')), "
    "inserted_at timestamp NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f', 'now')), "
    "id uuid NOT NULL DEFAULT (lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || "
    "substr(hex(randomblob(2)), 2) || '-' || substr('89ab', 1 + (abs(random()) % 4), 1) || "
    "substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)))), PRIMARY KEY (id, inserted_at))"
)
_ENABLED = "SELECT enabled FROM _backstack_rls WHERE tbl = '_realtime_messages'"  # catalog.RLS, TABLE
_ENABLE = (
    "INSERT INTO _backstack_rls (tbl, enabled) VALUES ('_realtime_messages', 1) "
    "ON CONFLICT (tbl) DO UPDATE SET enabled = 1"
)
_GRANT = (  # a new table gets PostgreSQL's grants (a migration may change them afterwards)
    "INSERT OR IGNORE INTO _backstack_grants (tbl, role, can_select, can_insert, can_update) "
    "SELECT '_realtime_messages', column1, 1, 1, 1 FROM (VALUES ('anon'), ('authenticated'), ('service_role'))"
)

# What a reset drops besides the exposed tables: the project's policies on realtime.messages (its
# migrations made them, and will make them again), never the table itself.
DROP_POLICIES = f"DELETE FROM {catalog.POLICIES} WHERE tbl = {quote_literal(TABLE)}"  # noqa: S608 (our catalog)


def ensure_realtime_messages(conn: sqlite3.Connection) -> None:
    """Create `_realtime_messages` (RLS enabled, granted to the API roles) unless it exists; enable
    its RLS again if it was disabled, as db/postgres does at every start. Outside any transaction."""
    present = _tables_present(conn, TABLE, catalog.RLS)
    if len(present) == 2 and (conn.execute(_ENABLED).fetchone() or (0,))[0]:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        grant = [_GRANT] if TABLE not in present else []
        for statement in stamped([_CREATE, *catalog.CREATE, _ENABLE, *grant]):
            conn.execute(statement)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def _tables_present(conn: sqlite3.Connection, *names: str) -> set[str]:
    marks = ", ".join("?" * len(names))
    query = f"SELECT name FROM sqlite_schema WHERE type = 'table' AND name IN ({marks})"  # noqa: S608 (placeholders)
    return {row[0] for row in conn.execute(query, names)}


class MessagesProbe:
    """The probe of one engine (db/postgres's `may_access`, for SQLite): the schema its policies
    compile against (the exposed tables plus realtime.messages) is made once per schema version."""

    def __init__(self, engine: SqliteEngine, policies: PolicyProvider[Schema, Table]) -> None:
        self.engine = engine
        self.policies = policies
        self._schema: tuple[str, Schema] | None = None

    async def __call__(self, caller: Caller, topic: str, extension: str, access: Access) -> bool:
        """Whether the policies on realtime.messages let `caller` read or write `topic` for `extension`."""
        try:
            return await self._may(caller, topic, extension, access)
        except ApiError as error:
            if error.code != "42501":  # a policy that fails (or cannot run on SQLite) refuses too, and says why
                why = error.message if error.details is None else f"{error.message}: {error.details}"
                log.warning("realtime authorization of %r failed: %r", topic, why)  # %r: a client named the topic
            return False

    async def _may(self, caller: Caller, topic: str, extension: str, access: Access) -> bool:
        schema = await self.engine.schema()
        table = schema.internal.get(NAME)
        if table is None or not caller.role:  # no table (a file from elsewhere), or no role to ask as
            return False
        row_policies = self.policies.for_role(self._with_messages(schema, table), caller.role)
        if row_policies is None:  # a role no policy binds (postgres...), or RLS disabled: as on PostgreSQL
            return True
        predicate = row_policies.using(table, "select") if access == "read" else row_policies.check(table, "insert")
        if predicate is None:
            return True
        row = await self.engine.fetch_one(
            _probe_sql(table, predicate), (topic, extension), caller=caller, settings={"realtime.topic": topic}
        )
        return row is not None and row[0] == 1

    def _with_messages(self, schema: Schema, table: Table) -> Schema:
        """`schema` plus realtime.messages under its SQLite name, so its policies compile (their
        subqueries may read the exposed tables); its own fingerprint, so no cache takes it for `schema`."""
        if self._schema is None or self._schema[0] != schema.fingerprint:
            tables = {**schema.tables, table.name: table}
            self._schema = (schema.fingerprint, Schema(tables, f"{schema.fingerprint}+{NAME}", schema.functions))
        return self._schema[1]


def _probe_sql(table: Table, predicate: str) -> str:
    """The row `insert into realtime.messages (topic, extension, private) values (?1, ?2, true)` would
    store (every other column its default), tested against `predicate`: 1 when it passes."""
    given = {"topic": "?1", "extension": "?2", "private": "1"}
    columns = table.columns.items()
    values = ", ".join(f"{given.get(name) or _default(c.default)} AS {quote_ident(name)}" for name, c in columns)
    where = predicate.replace("{row}", "_bs_probe")
    return f"SELECT EXISTS (SELECT 1 FROM (SELECT {values}) AS _bs_probe WHERE {where})"  # noqa: S608 (quoted identifiers, compiled policy SQL)


def _default(expression: str | None) -> str:
    return "NULL" if expression is None else f"({expression})"


def internal_tables(conn: sqlite3.Connection, read: Callable[[str], Table]) -> dict[str, Table]:
    """`Schema.internal`: realtime.messages read by `read` (introspection's reader of one table),
    with its RLS flag, policies and grants; empty when the file has no such table."""
    if not _tables_present(conn, TABLE):
        return {}
    return {NAME: sqlite_policies(conn, {TABLE: read(TABLE)})[TABLE]}
