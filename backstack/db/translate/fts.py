"""`create index ... using gin (to_tsvector(...))` on SQLite: an FTS5 index kept in step by triggers.

On PostgreSQL full-text search works on any text column and a GIN index over `to_tsvector` only
makes it fast. SQLite can only search text indexed by FTS5, so the same migration statement becomes
an external-content FTS5 table over the column (named like the index; the data API finds it through
introspection, `Table.fts`), three triggers that keep it current, and a rebuild for existing rows.
"""

from __future__ import annotations

from sqlglot import exp

from backstack.db.dialect import quote_ident, quote_literal


def fts_index(tree: exp.Expression) -> list[str] | None:
    """The SQLite statements for a `to_tsvector` GIN index, or None when `tree` is not one."""
    if not isinstance(tree, exp.Create) or not isinstance(tree.this, exp.Index):
        return None
    index = tree.this
    params = index.args.get("params")
    using = params.args.get("using") if params is not None else None
    if params is None or using is None or using.name.lower() != "gin":
        return None
    columns = [_tsvector_column(ordered.this) for ordered in params.args.get("columns") or []]
    table = index.args.get("table")
    if not columns or None in columns or not isinstance(table, exp.Table):
        return None
    return _statements(index.name, table.name, [c for c in columns if c is not None])


def _tsvector_column(node: exp.Expression) -> str | None:
    """`to_tsvector('english', title)` or `to_tsvector(title)` -> "title"."""
    if not isinstance(node, exp.Anonymous) or node.name.lower() != "to_tsvector":
        return None
    args = node.expressions
    column = args[-1] if args else None
    return column.name if isinstance(column, exp.Column) else None


def _statements(name: str, table: str, columns: list[str]) -> list[str]:
    fts, target = quote_ident(name), quote_ident(table)
    cols = ", ".join(quote_ident(c) for c in columns)
    new = ", ".join(f"new.{quote_ident(c)}" for c in columns)
    old = ", ".join(f"old.{quote_ident(c)}" for c in columns)
    forget = f"INSERT INTO {fts}({fts}, rowid, {cols}) VALUES ('delete', old.rowid, {old});"
    learn = f"INSERT INTO {fts}(rowid, {cols}) VALUES (new.rowid, {new});"
    trigger = quote_ident
    return [
        f"CREATE VIRTUAL TABLE {fts} USING fts5({cols}, content={quote_literal(table)}, content_rowid='rowid')",
        f"CREATE TRIGGER {trigger(name + '_ai')} AFTER INSERT ON {target} BEGIN {learn} END",
        f"CREATE TRIGGER {trigger(name + '_ad')} AFTER DELETE ON {target} BEGIN {forget} END",
        f"CREATE TRIGGER {trigger(name + '_au')} AFTER UPDATE ON {target} BEGIN {forget} {learn} END",
        f"INSERT INTO {fts}({fts}) VALUES ('rebuild')",
    ]
