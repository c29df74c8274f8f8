"""Keys of views, inferred from the table a view selects from (PostgREST does the same).

A view has no constraints of its own, yet clients embed through views (`select=*,author:users(*)`
on a view of posts). When a view selects plain columns of one base table, the base table's primary
key, unique keys and foreign keys whose columns all appear in the view carry over, renamed to the
view's column names; on SQLite the base columns' types do too (SQLite reports a rowid alias
selected through a view as `integer`, PostgreSQL as the declared `bigint`).
"""

from __future__ import annotations

import dataclasses
import logging

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from backstack.db.schema.model import ForeignKey, Table


def source_columns(view_sql: str, dialect: str) -> tuple[str, dict[str, str]] | None:
    """(base table, {view column: base column}) for a view over one table, else None."""
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        tree = sqlglot.parse_one(view_sql, read=dialect)
    except (ParseError, TokenError):
        return None
    finally:
        logger.setLevel(level)
    select = tree.expression if isinstance(tree, exp.Create) else tree
    if not isinstance(select, exp.Select) or select.args.get("joins") or select.args.get("group"):
        return None
    source = select.args.get("from_") or select.args.get("from")
    table = source.this if isinstance(source, exp.From) else None
    if not isinstance(table, exp.Table):
        return None
    mapping: dict[str, str] = {}
    for projection in select.expressions:
        inner = projection.this if isinstance(projection, exp.Alias) else projection
        if isinstance(inner, exp.Column) and inner.name:
            mapping[projection.alias_or_name] = inner.name
    return table.name, mapping


def with_base_keys(view: Table, base: Table, mapping: dict[str, str], *, copy_types: bool) -> Table:
    """`view` with the base table's keys (and, on SQLite, column types) carried over."""
    reverse: dict[str, str] = {}
    for view_col, base_col in mapping.items():
        reverse.setdefault(base_col, view_col)

    def rename(cols: tuple[str, ...]) -> tuple[str, ...] | None:
        return tuple(reverse[c] for c in cols) if all(c in reverse for c in cols) else None

    pk = rename(base.primary_key) if base.primary_key else None
    unique = tuple(k for k in (rename(u) for u in base.unique) if k)
    fks = tuple(
        ForeignKey(fk.name, view.name, cols, fk.ref_table, fk.ref_columns)
        for fk in base.foreign_keys
        if (cols := rename(fk.columns))
    )
    columns = dict(view.columns)
    if copy_types:
        for name, column in view.columns.items():
            origin = base.columns.get(mapping.get(name, ""))
            if origin is not None:
                columns[name] = dataclasses.replace(column, type=origin.type, kind=origin.kind)
    return dataclasses.replace(view, columns=columns, primary_key=pk or (), unique=unique, foreign_keys=fks)


def infer_view_keys(tables: dict[str, Table], view_sql: dict[str, str], dialect: str) -> None:
    """Replace each view in `tables` by its inferred version (in place; `view_sql` by view name)."""
    for name, sql in view_sql.items():
        view = tables.get(name)
        found = source_columns(sql, dialect) if view is not None else None
        if view is None or found is None:
            continue
        base = tables.get(found[0])
        if base is not None and not base.is_view:
            tables[name] = with_base_keys(view, base, found[1], copy_types=dialect == "sqlite")
