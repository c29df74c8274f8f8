"""Change capture on SQLite: triggers on the published tables write each row change to the outbox.

A table is published when `_backstack_publication` has its row (db.translate.publication writes it
from `alter publication supabase_realtime ...`). `sync_capture` runs at the end of every script
(migrations, `db reset`), in its transaction: it (re)creates the three AFTER triggers of each
published table from its current columns (an added column is captured from the next migration on)
and drops those of tables no longer published. A trigger runs inside the writing transaction, so a
rolled back write leaves nothing, and every writer is seen: the data API, SQL functions, scripts,
the sqlite3 shell (a table altered from the shell is re-synced by the next script only).

The row is JSON with the data API's types (booleans, JSON and arrays as JSON, numbers as numbers);
the old row holds the primary key columns only (`{}` for a table without one).
"""

from __future__ import annotations

import sqlite3

from backstack.db.catalog.publication import CREATE_SQLITE, PUBLISHED, SQLITE_CHANGES
from backstack.db.dialect import quote_ident, quote_literal
from backstack.db.pgtypes.names import TypeKind, canonical_type, type_kind
from backstack.db.sqlite.json_values import json_value

TRIGGER_PREFIX = "_backstack_capture_"
_OPERATIONS = ("INSERT", "UPDATE", "DELETE")
_PAIRS = 60  # json_object takes at most 127 arguments (SQLITE_MAX_FUNCTION_ARG)
_NOW = "strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')"  # as timestamptz values are stored


def ensure_capture(conn: sqlite3.Connection) -> None:
    """The publication catalog and the outbox, from engine start (outside any transaction)."""
    for statement in CREATE_SQLITE:
        conn.execute(statement)


def sync_capture(conn: sqlite3.Connection) -> None:
    """Make the capture triggers match the published tables (only what differs is dropped or created)."""
    wanted: dict[str, str] = {}
    for (table,) in conn.execute(f"SELECT tbl FROM {PUBLISHED} ORDER BY tbl").fetchall():  # noqa: S608
        columns = conn.execute(f"PRAGMA table_info({quote_ident(table)})").fetchall()
        if columns:
            wanted.update(_triggers(table, [(c[1], c[2], int(c[5])) for c in columns]))
    existing = dict(
        conn.execute(
            "SELECT name, sql FROM sqlite_schema WHERE type = 'trigger' AND name LIKE ? ESCAPE '\\'",
            (TRIGGER_PREFIX.replace("_", "\\_") + "%",),
        ).fetchall()
    )
    for name, sql in existing.items():
        if wanted.get(name) != sql:
            conn.execute(f"DROP TRIGGER IF EXISTS {quote_ident(name)}")
    for name, sql in wanted.items():
        if existing.get(name) != sql:
            conn.execute(sql)


def _triggers(table: str, columns: list[tuple[str, str, int]]) -> dict[str, str]:
    """Trigger name -> CREATE TRIGGER for the three operations of `table` ((name, type, pk position))."""
    kinds = [(name, type_kind(canonical_type(declared))) for name, declared, _ in columns]
    ordered = sorted(zip(kinds, columns, strict=True), key=lambda pair: pair[1][2])  # by position in the key
    keys = [kind for kind, (_, _, pk) in ordered if pk]
    result: dict[str, str] = {}
    for operation in _OPERATIONS:
        record = "NULL" if operation == "DELETE" else _object("NEW", kinds)
        old = "NULL" if operation == "INSERT" else _object("OLD", keys)
        name = f"{TRIGGER_PREFIX}{table}_{operation.lower()}"
        insert = (
            f"INSERT INTO {SQLITE_CHANGES} (schema_name, table_name, operation, record, old_record, "  # noqa: S608 (quoted)
            f"commit_timestamp) VALUES ('public', {quote_literal(table)}, '{operation}', {record}, {old}, {_NOW})"
        )
        target = quote_ident(table)
        result[name] = f"CREATE TRIGGER {quote_ident(name)} AFTER {operation} ON {target} BEGIN {insert}; END"
    return result


def _object(row: str, columns: list[tuple[str, TypeKind]]) -> str:
    """json_object() of `row`'s columns, in chunks under SQLite's argument limit."""
    values = [(name, json_value(f"{row}.{quote_ident(name)}", kind)) for name, kind in columns]
    head, rest = values[:_PAIRS], values[_PAIRS:]
    obj = "json_object(" + ", ".join(f"{quote_literal(name)}, {value}" for name, value in head) + ")"
    while rest:  # json_insert keeps null values (json_patch would drop them)
        chunk, rest = rest[:_PAIRS], rest[_PAIRS:]
        paths = ", ".join(f"{quote_literal(_path(name))}, {value}" for name, value in chunk)
        obj = f"json_insert({obj}, {paths})"
    return obj


def _path(name: str) -> str:
    return '$."' + name.replace('"', '""') + '"'
