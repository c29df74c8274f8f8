"""Read a SQLite database's schema (sqlite_schema + PRAGMAs) into `db.schema.model.Schema`.

Types come back in PostgreSQL's spelling (`db.pgtypes.names`), constraint names in PostgreSQL's default
naming (`t_pkey`, `t_a_b_key`, `t_col_fkey`) because SQLite forgets the names the DDL gave, and the
data API's error messages and embed hints must read the same on both engines. Internal tables
(`_backstack_*`), SQLite's own (`sqlite_*`) and FTS5 tables with their shadows are not exposed; an
FTS5 external-content table is recorded on the table it indexes (`Table.fts`). `realtime.messages`
(`_realtime_messages`) is read into `Schema.internal` with its policies, for Realtime Authorization
(db/sqlite/realtime_messages.py).
"""

from __future__ import annotations

import logging
import re
import sqlite3
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from backstack.db.errors import SqliteNames
from backstack.db.pgtypes.names import canonical_type, type_kind
from backstack.db.schema.functions import sqlite_functions
from backstack.db.schema.model import Column, ForeignKey, Schema, Table
from backstack.db.schema.policies import sqlite_policies
from backstack.db.schema.view_keys import infer_view_keys
from backstack.db.sqlite.realtime_messages import internal_tables

# `_<schema>_<table>` holds PostgreSQL's `schema.table` (db.translate.ddl maps `auth.users` to `_auth_users`);
# none of them is exposed, and a foreign key to one is reported with its PostgreSQL name.
INTERNAL_PREFIX = "_"
KNOWN_SCHEMAS = ("auth", "storage", "realtime", "extensions", "supabase_functions", "vault", "backstack")
_FTS_SHADOWS = ("_data", "_idx", "_content", "_docsize", "_config")
_FTS = re.compile(r"\busing\s+fts5\s*\((?P<args>.*)\)\s*$", re.IGNORECASE | re.DOTALL)


@dataclass(frozen=True, slots=True)
class _Fts:
    name: str
    content: str
    columns: tuple[str, ...]


def introspect(conn: sqlite3.Connection, schema_name: str = "public") -> tuple[Schema, SqliteNames]:
    """The exposed tables and views of `conn`'s main database, read in one snapshot."""
    conn.execute("BEGIN")
    try:
        version = conn.execute("PRAGMA schema_version").fetchone()[0]
        entries = conn.execute(
            "SELECT type, name, sql FROM sqlite_schema WHERE type IN ('table', 'view') ORDER BY name"
        ).fetchall()
        return _read(conn, entries, str(version), schema_name)
    finally:
        conn.execute("COMMIT")


def _read(
    conn: sqlite3.Connection, entries: list[tuple[str, str, str | None]], version: str, schema_name: str
) -> tuple[Schema, SqliteNames]:
    fts = [f for f in (_parse_fts(name, sql or "") for _, name, sql in entries) if f is not None]
    hidden = {f.name for f in fts} | {f.name + s for f in fts for s in _FTS_SHADOWS}
    tables: dict[str, Table] = {}
    names = SqliteNames()
    for kind, name, sql in entries:
        if name.startswith(("sqlite_", INTERNAL_PREFIX)) or name in hidden or _is_virtual(sql):
            continue
        if kind == "view":
            tables[name] = _view(conn, name, schema_name, sql or "")
        else:
            tables[name] = _table(conn, name, schema_name, names, named_constraints(sql or ""))
    for index in fts:
        _attach_fts(tables, index)
    views = {name: sql for kind, name, sql in entries if kind == "view" and sql and name in tables}
    infer_view_keys(tables, views, "sqlite")
    tables = sqlite_policies(conn, tables)
    sql_of = {name: sql or "" for _, name, sql in entries}
    internal = internal_tables(
        conn, lambda name: _table(conn, name, "realtime", SqliteNames(), named_constraints(sql_of.get(name, "")))
    )
    functions = sqlite_functions(conn, tables)
    return Schema(tables=tables, fingerprint=version, functions=functions, internal=internal), names


def _is_virtual(sql: str | None) -> bool:
    return bool(sql) and sql.lstrip()[:22].upper().startswith("CREATE VIRTUAL")  # type: ignore[union-attr]


def _parse_fts(name: str, sql: str) -> _Fts | None:
    match = _FTS.search(sql) if _is_virtual(sql) else None
    if match is None:
        return None
    columns: list[str] = []
    content = ""
    for arg in _split_args(match["args"]):
        key, eq, value = arg.partition("=")
        if eq:
            if key.strip().lower() == "content":
                content = _unquote(value.strip())
            continue
        words = arg.split()
        if words:
            columns.append(_unquote(words[0]))
    return _Fts(name, content, tuple(columns))


def _split_args(text: str) -> list[str]:
    """Split on top-level commas, respecting quotes."""
    parts: list[str] = []
    current: list[str] = []
    quote = ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"`[":
            quote = "]" if ch == "[" else ch
        elif ch == ",":
            parts.append("".join(current).strip())
            current = []
            continue
        current.append(ch)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


def _unquote(word: str) -> str:
    if len(word) >= 2 and word[0] in "'\"`[":
        return word[1:-1]
    return word


def _attach_fts(tables: dict[str, Table], index: _Fts) -> None:
    table = tables.get(index.content)
    if table is None or table.is_view:
        return
    for column in index.columns:
        if column in table.columns:
            table.fts[column] = index.name


def _xinfo(conn: sqlite3.Connection, name: str) -> list[tuple[int, str, str, int, str | None, int, int]]:
    return conn.execute("SELECT * FROM pragma_table_xinfo(?)", (name,)).fetchall()


def _table(
    conn: sqlite3.Connection, name: str, schema_name: str, names: SqliteNames, named: dict[tuple[str, ...], str]
) -> Table:
    info = [row for row in _xinfo(conn, name) if row[6] != 1]
    pk = tuple(row[1] for row in sorted((r for r in info if r[5]), key=lambda r: r[5]))
    rowid_alias = len(pk) == 1 and any(r[1] == pk[0] and (r[2] or "").upper() == "INTEGER" for r in info)
    columns = {row[1]: _column(row, pk, rowid_alias) for row in info}
    names.columns[name] = tuple(columns)
    unique = _unique_keys(conn, name, pk, names, named)
    fks = _foreign_keys(conn, name, names, named)
    return Table(schema_name, name, columns, pk, unique, fks)


def named_constraints(sql: str) -> dict[tuple[str, ...], str]:
    """Names the CREATE TABLE gave its constraints, keyed by (kind, *columns) with kind p/u/f.

    SQLite's PRAGMAs forget them; PostgreSQL reports them, and clients use FK names in embed
    hints (`author:users!posts_author_fkey(*)`), so they must match. Parsed only when named.
    """
    if "constraint" not in sql.lower():
        return {}
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        tree = sqlglot.parse_one(sql, read="sqlite")
    except (ParseError, TokenError):
        return {}
    finally:
        logger.setLevel(level)
    found: dict[tuple[str, ...], str] = {}
    for node in tree.find_all(exp.Constraint):
        for inner in node.expressions:
            key = _constraint_key(inner)
            if key is not None:
                found[key] = node.name
    for column in tree.find_all(exp.ColumnDef):
        for constraint in column.args.get("constraints") or []:
            kind = constraint.args.get("kind")
            tag = {exp.Reference: "f", exp.UniqueColumnConstraint: "u", exp.PrimaryKeyColumnConstraint: "p"}.get(
                type(kind)
            )
            if tag and constraint.args.get("this") is not None:
                found[(tag, column.name)] = constraint.name
    return found


def _constraint_key(node: exp.Expression) -> tuple[str, ...] | None:
    if isinstance(node, exp.ForeignKey):
        return ("f", *(e.name for e in node.expressions))
    if isinstance(node, exp.PrimaryKey):
        return ("p", *(e.name for e in node.expressions))
    if isinstance(node, exp.UniqueColumnConstraint) and isinstance(node.this, exp.Schema):
        return ("u", *(e.name for e in node.this.expressions))
    return None


def _column(row: tuple[int, str, str, int, str | None, int, int], pk: tuple[str, ...], rowid_alias: bool) -> Column:
    _, name, declared, notnull, default, _, hidden = row
    is_alias = rowid_alias and name == pk[0]
    pg_type = "bigint" if is_alias else canonical_type(declared or "")
    return Column(
        name=name,
        type=pg_type,
        kind=type_kind(pg_type),
        nullable=not (notnull or name in pk),
        default=None if is_alias else default,
        generated=is_alias or hidden in (2, 3),
    )


def _unique_keys(
    conn: sqlite3.Connection, table: str, pk: tuple[str, ...], names: SqliteNames, named: dict[tuple[str, ...], str]
) -> tuple[tuple[str, ...], ...]:
    keys: list[tuple[str, ...]] = []
    if pk:
        keys.append(pk)
        names.unique[(table, pk)] = named.get(("p", *pk), f"{table}_pkey")
    for _, index, unique, origin, partial in conn.execute("SELECT * FROM pragma_index_list(?)", (table,)):
        if not unique or partial:
            continue
        cols = [row[2] for row in conn.execute("SELECT * FROM pragma_index_info(?)", (index,))]
        if not cols or any(c is None for c in cols):
            continue  # expression index: no column key to report
        key = tuple(cols)
        if origin == "c":
            names.unique[(table, key)] = index
        elif origin == "pk":
            names.unique.setdefault((table, key), named.get(("p", *key), f"{table}_pkey"))
        else:
            names.unique.setdefault((table, key), named.get(("u", *key), f"{table}_{'_'.join(key)}_key"))
        if key not in keys:
            keys.append(key)
    return tuple(keys)


def _foreign_keys(
    conn: sqlite3.Connection, table: str, names: SqliteNames, named: dict[tuple[str, ...], str]
) -> tuple[ForeignKey, ...]:
    groups: dict[int, list[tuple[str, str, str | None]]] = {}
    rows = conn.execute('SELECT id, seq, "table", "from", "to" FROM pragma_foreign_key_list(?)', (table,))
    for fk_id, _, ref_table, column, ref_column in sorted(rows, key=lambda r: (r[0], r[1])):
        groups.setdefault(fk_id, []).append((ref_table, column, ref_column))
    result: list[ForeignKey] = []
    for fk_id in sorted(groups):
        parts = groups[fk_id]
        ref_table = parts[0][0]
        cols = tuple(p[1] for p in parts)
        refs = tuple(p[2] for p in parts)
        ref_cols = refs if all(refs) else _primary_key(conn, ref_table)
        name = named.get(("f", *cols)) or f"{table}_{'_'.join(cols)}_fkey"
        result.append(ForeignKey(name, table, cols, pg_table_name(ref_table), tuple(c for c in ref_cols if c)))
        names.foreign_keys.setdefault(table, []).append((name, cols, ref_table, tuple(c for c in ref_cols if c)))
    return tuple(result)


def pg_table_name(name: str) -> str:
    """`_auth_users` -> `auth.users` (see KNOWN_SCHEMAS); other names unchanged."""
    for schema in KNOWN_SCHEMAS:
        prefix = f"_{schema}_"
        if name.startswith(prefix) and len(name) > len(prefix):
            return f"{schema}.{name[len(prefix) :]}"
    return name


def _primary_key(conn: sqlite3.Connection, table: str) -> tuple[str, ...]:
    rows = [r for r in _xinfo(conn, table) if r[5]]
    return tuple(r[1] for r in sorted(rows, key=lambda r: r[5]))


def _view(conn: sqlite3.Connection, name: str, schema_name: str, definition: str) -> Table:
    columns: dict[str, Column] = {}
    for row in _xinfo(conn, name):
        pg_type = canonical_type(row[2] or "")
        columns[row[1]] = Column(name=row[1], type=pg_type, kind=type_kind(pg_type))
    return Table(schema_name, name, columns, is_view=True, definition=definition)
