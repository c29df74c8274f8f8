"""The SQLite writer's statements: one statement with precise FK errors, scripts, script splitting.

Runs on the writer thread, inside the transaction `SqliteEngine` opened.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from backstack.db.dialect import quote_ident
from backstack.db.errors import SqliteNames, foreign_key_violation, statement_target
from backstack.db.sqlite.capture import sync_capture

if TYPE_CHECKING:
    from backstack.core.errors import ApiError
    from backstack.db.protocol import Params
    from backstack.db.sqlite.functions import ConnState


def write_statement(conn: sqlite3.Connection, sql: str, params: Params, fetch: bool, names: SqliteNames) -> Any:
    """Run one statement in the open transaction; a foreign key failure is diagnosed precisely."""
    try:
        cursor = conn.execute(sql, params)
        rows = cursor.fetchall() if cursor.description is not None else []
    except sqlite3.IntegrityError as exc:
        if str(exc).startswith("FOREIGN KEY"):
            precise = _diagnose_foreign_key(conn, sql, params, names)
            if precise is not None:
                raise precise from None
        raise
    return rows if fetch else max(cursor.rowcount, 0)


def _diagnose_foreign_key(conn: sqlite3.Connection, sql: str, params: Params, names: SqliteNames) -> ApiError | None:
    """Re-run the failed statement with deferred FK checks inside a savepoint, to name the
    violated constraint and key as PostgreSQL does; always rolled back. Error path only."""
    target = statement_target(sql)
    if target is None:
        return None
    verb, table = target
    children = (
        [table]
        if verb != "delete"
        else [child for child, fks in names.foreign_keys.items() if any(fk[2] == table for fk in fks)]
    )
    conn.execute("SAVEPOINT _backstack_fk")
    try:
        conn.execute("PRAGMA defer_foreign_keys = ON")
        cursor = conn.execute(sql, params)
        if cursor.description is not None:
            cursor.fetchall()
        return _first_violation(conn, verb, table, children, names)
    except sqlite3.Error:
        return None
    finally:
        conn.execute("ROLLBACK TO _backstack_fk")
        conn.execute("RELEASE _backstack_fk")
        conn.execute("PRAGMA defer_foreign_keys = OFF")


def _first_violation(
    conn: sqlite3.Connection, verb: str, table: str, children: list[str], names: SqliteNames
) -> ApiError | None:
    for child in children:
        for _, rowid, _, fkid in conn.execute("SELECT * FROM pragma_foreign_key_check(?)", (child,)):
            fks = names.foreign_keys.get(child, [])
            if rowid is None or fkid >= len(fks):
                continue
            fk = fks[fkid]
            cols = ", ".join(quote_ident(c) for c in fk[1])
            values = conn.execute(f"SELECT {cols} FROM {quote_ident(child)} WHERE rowid = ?", (rowid,)).fetchone()  # noqa: S608 (quoted identifiers)
            return foreign_key_violation(verb, table, fk, child, tuple(values))
    return None


def run_script(
    state: ConnState, statements: list[str], translate: Callable[[ConnState, sqlite3.Error, str], ApiError]
) -> int:
    """Run `statements` in one transaction; a failure names the statement (scripts are the
    developer's own migrations and seed, so quoting their text back is the useful thing to do)."""
    conn = state.conn
    conn.execute("BEGIN IMMEDIATE")
    try:
        for index, statement in enumerate(statements, 1):
            try:
                cursor = conn.execute(statement)
                if cursor.description is not None:
                    cursor.fetchall()
            except sqlite3.Error as exc:
                error = translate(state, exc, statement)
                error.details = f"statement {index}: {_head(statement)}"
                raise error from None
        sync_capture(conn)  # the capture triggers follow the publication and the tables' columns
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    version: int = conn.execute("PRAGMA schema_version").fetchone()[0]
    return version


def _head(statement: str, limit: int = 80) -> str:
    text = " ".join(statement.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def split_statements(sql: str) -> list[str]:
    """Split a script into complete statements (trigger bodies and quoted `;` stay intact)."""
    statements: list[str] = []
    current = ""
    for piece in sql.split(";"):
        current += piece + ";"
        if sqlite3.complete_statement(current):
            if _has_code(current):
                statements.append(current.strip())
            current = ""
    if _has_code(current.removesuffix(";")):
        statements.append(current.removesuffix(";").strip())
    return statements


def _has_code(text: str) -> bool:
    """False for whitespace, `;` and comments only."""
    for line in text.splitlines():
        stripped = line.split("--", 1)[0].strip().strip(";").strip()
        if stripped and not (stripped.startswith("/*") and stripped.endswith("*/")):
            return True
    return False
