"""Conditions -> WHERE fragments: the logic tree, embed tests and which filters are leakproof are
shared; each filter's SQL is its engine's (`EngineSql.filter`, `EngineSql.text_search`).

Both engines answer a bad value alike: PostgreSQL casts the text value to the column's type in SQL
and fails with its own 22P02, as PostgREST's does; SQLite parses it by the column's kind before
binding and raises the same 22P02 (`invalid input syntax for type integer: "abc"`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from backstack.rest.plan.resolve import PEmbedNull, PLogic
from backstack.rest.sql.common import col_expr

if TYPE_CHECKING:
    from backstack.db.dialect import Dialect
    from backstack.rest.plan.resolve import Node, PCondition, PFilter
    from backstack.rest.sql.context import Ctx

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
        return ctx.engine_sql.text_search(ctx, node, flt, per_row)
    return ctx.engine_sql.filter(ctx, col_expr(ctx, node.alias, flt.col), flt)


def shape_parameters(operator: str, value: object, dialect: Dialect) -> bool:
    """Whether a filter's value can leave the request's shape (`sql.statement_cache.shape_of`):
    the SQL compiled for it must not depend on the value, only its parameters. Not so for `is`
    (the keyword is SQL), an empty `in` list (FALSE), and the dialect's
    `operators_compiled_by_value`."""
    if operator == "is" or (operator == "in" and value == ()):
        return False
    return operator not in dialect.operators_compiled_by_value
