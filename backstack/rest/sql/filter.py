"""Conditions -> WHERE fragments, for both dialects.

PostgreSQL gets every value as text and casts it to the column's type in SQL
(`col = $1::text::integer`), so a bad value fails with PostgreSQL's own 22P02, as PostgREST's does.
SQLite has no such types, so values are parsed here by the column's kind before binding and a bad
one raises the same 22P02 (`invalid input syntax for type integer: "abc"`): both engines answer alike.

SQLite equivalents of each operator are `sql/filter_sqlite.py`; full-text search goes through the
FTS5 table recorded on the column (`fts.py`). The operators' SQL spellings are `sql/operators.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from backstack.db.dialect import quote_ident
from backstack.rest import errors
from backstack.rest.plan.resolve import PEmbedNull, PFilter, PLogic
from backstack.rest.plan.values import (
    like_pattern,
)
from backstack.rest.sql.common import Ctx, col_expr
from backstack.rest.sql.filter_sqlite import sqlite_filter
from backstack.rest.sql.fts import to_fts5
from backstack.rest.sql.operators import PG_FTS, PG_IS, PG_OPS, pg_type

if TYPE_CHECKING:
    from backstack.db.dialect import Dialect
    from backstack.rest.plan.resolve import Node, PCondition

# `exists(child, parent)`: the EXISTS(...) test for an embed, supplied by the read builder.
ExistsFn = Callable[["Node", "Node"], str]


def condition_sql(ctx: Ctx, node: Node, cond: PCondition, exists: ExistsFn, *, per_row: bool = False) -> str:
    """One condition on the rows of `node`.

    `per_row` (SQLite, rows behind a policy): full-text search looks up each row in the index
    instead of collecting every match first, whose time grows with hidden matches."""
    if isinstance(cond, PLogic):
        joiner = " AND " if cond.operator == "and" else " OR "
        parts = [condition_sql(ctx, node, c, exists, per_row=per_row) for c in cond.conditions]
        inner = joiner.join(f"({p})" for p in parts) if parts else ("TRUE" if cond.operator == "and" else "FALSE")
        return f"NOT ({inner})" if cond.negated else f"({inner})"
    if isinstance(cond, PEmbedNull):
        test = exists(cond.node, node)
        return f"NOT {test}" if cond.is_null else test
    sql = _filter_sql(ctx, node, cond, per_row)
    return f"NOT ({sql})" if cond.negated else sql


# PostgreSQL marks the comparison operators of its base types LEAKPROOF: they neither fail nor take a
# time that depends on the value, so they may see rows a policy hides (and use indexes).
_LEAKPROOF = frozenset({"eq", "neq", "gt", "gte", "lt", "lte", "in", "is", "isdistinct"})


def leakproof(cond: PCondition) -> bool:
    """Whether `cond` may run on a row before its policy (SQLite; see `ReadBuilder.guarded`).

    Only comparisons of a plain column with bound values: a JSON path or a JSON/array/range column
    parses stored text (and fails on bad text), pattern, regex, containment, range and full-text
    tests cost time by content, and an embed test reads other rows.
    """
    if isinstance(cond, PLogic):
        return all(leakproof(c) for c in cond.conditions)
    if isinstance(cond, PEmbedNull):
        return False
    return (
        cond.operator in _LEAKPROOF
        and cond.quantifier is None
        and not cond.col.path
        and cond.col.kind not in ("json", "array", "range")
    )


def _filter_sql(ctx: Ctx, node: Node, flt: PFilter, per_row: bool) -> str:
    if flt.operator in ("fts", "plfts", "phfts", "wfts"):
        return _fts(ctx, node, flt, per_row)
    lhs = col_expr(ctx, node.alias, flt.col)
    if ctx.sqlite:
        return sqlite_filter(ctx, lhs, flt)
    return _pg_filter(ctx, lhs, flt)


# ---------------------------------------------------------------- PostgreSQL


def _pg_lhs(lhs: str, flt: PFilter) -> str:
    kind = flt.col.kind
    if flt.operator in ("like", "ilike", "match", "imatch") and kind != "text":
        return f"{lhs}::text"
    if kind == "json" and flt.operator not in ("is",) and (flt.col.path or flt.col.column.type == "json"):
        return f"{lhs}::jsonb"
    return lhs


def _pg_filter(ctx: Ctx, lhs: str, flt: PFilter) -> str:
    """Values go through `ctx.bind`/`ctx.text` only (they may be placeholders: `shape_parameters`)."""
    op, value = flt.operator, flt.value
    lhs = _pg_lhs(lhs, flt)
    if op == "is":
        return f"{lhs} {PG_IS[str(value)]}"
    if op == "in":
        if value == ():
            return "FALSE"
        return f"{lhs} = ANY({ctx.bind(value, list)}::text[]::{pg_type(flt)}[])"
    if op in ("like", "ilike"):
        if flt.quantifier is not None:
            patterns = ctx.bind(value, _like_patterns)
            return f"{lhs} {PG_OPS[op]} {flt.quantifier.upper()}({patterns}::text[])"
        return f"{lhs} {PG_OPS[op]} {ctx.text(value, _like_pattern)}"
    if op in ("match", "imatch"):
        if flt.quantifier is not None:
            return f"{lhs} {PG_OPS[op]} {flt.quantifier.upper()}({ctx.bind(value, list)}::text[])"
        return f"{lhs} {PG_OPS[op]} {ctx.text(value)}"
    if op == "isdistinct":
        return f"{lhs} IS DISTINCT FROM {ctx.text(value)}::{pg_type(flt)}"
    if flt.quantifier is not None:
        arr = f"{ctx.bind(value, list)}::text[]::{pg_type(flt)}[]"
        return f"{lhs} {PG_OPS[op]} {flt.quantifier.upper()}({arr})"
    return f"{lhs} {PG_OPS[op]} {ctx.text(value)}::{pg_type(flt)}"


def _like_pattern(value: str) -> str:
    return like_pattern(str(value))


def _like_patterns(values: tuple[str, ...]) -> list[str]:
    return [like_pattern(v) for v in values]


def shape_parameters(operator: str, value: object, dialect: Dialect) -> bool:
    """Whether a filter's value can leave the request's shape (`sql.statement_cache.shape_of`):
    the SQL compiled for it must not depend on the value, only its parameters. Not so for `is`
    (the keyword is SQL), an empty `in` list (FALSE), and the dialect's
    `operators_compiled_by_value`."""
    if operator == "is" or (operator == "in" and value == ()):
        return False
    return operator not in dialect.operators_compiled_by_value


# ---------------------------------------------------------------- full-text search


def _fts(ctx: Ctx, node: Node, flt: PFilter, per_row: bool) -> str:
    if ctx.sqlite:
        index = node.table.fts.get(flt.col.column.name)
        if index is None or flt.col.path:
            raise errors.no_fts_index(node.table.name, flt.col.column.name)
        query = to_fts5(flt.operator, str(flt.value))
        if query is None:
            return "FALSE"
        fts = quote_ident(index)
        match = f"{fts}.{quote_ident(flt.col.column.name)}"
        column = col_expr(ctx, node.alias, flt.col)
        if per_row:
            hits = (
                f"EXISTS (SELECT 1 FROM {fts} WHERE {fts}.rowid = {node.alias}.rowid "
                f"AND {match} MATCH {ctx.param(query)})"
            )
        else:
            hits = f"{node.alias}.rowid IN (SELECT rowid FROM {fts} WHERE {match} MATCH {ctx.param(query)})"
        return f"CASE WHEN {column} IS NULL THEN NULL ELSE {hits} END"  # NULL stays unknown, as to_tsvector(NULL)
    lhs = col_expr(ctx, node.alias, flt.col)
    config = f"{ctx.text(flt.fts_config)}::regconfig, " if flt.fts_config else ""
    if flt.col.kind != "tsvector":
        lhs = f"to_tsvector({config}{lhs})"
    return f"{lhs} @@ {PG_FTS[flt.operator]}({config}{ctx.text(flt.value)})"
