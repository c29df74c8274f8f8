"""PostgreSQL's WHERE: every value bound as text and cast to the column's type in SQL
(`col = $1::text::integer`), so a bad value fails with PostgreSQL's own 22P02, as PostgREST's does;
full-text search through `to_tsvector` and the operator's `*_tsquery`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backstack.rest.plan.values import like_pattern
from backstack.rest.sql.common import col_expr
from backstack.rest.sql.operators import PG_FTS, PG_IS, PG_OPS, pg_type

if TYPE_CHECKING:
    from backstack.rest.plan.resolve import Node, PFilter
    from backstack.rest.sql.statement import Binding


class PostgresFilterSql:
    """`EngineSql.filter` and `text_search` on PostgreSQL."""

    def filter(self, ctx: Binding, lhs: str, flt: PFilter) -> str:
        """Values go through `ctx.bind`/`ctx.text` only (they may be placeholders: `shape_parameters`)."""
        op, value = flt.operator, flt.value
        lhs = self._lhs(lhs, flt)
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

    @staticmethod
    def _lhs(lhs: str, flt: PFilter) -> str:
        kind = flt.col.kind
        if flt.operator in ("like", "ilike", "match", "imatch") and kind != "text":
            return f"{lhs}::text"
        if kind == "json" and flt.operator not in ("is",) and (flt.col.path or flt.col.column.type == "json"):
            return f"{lhs}::jsonb"
        return lhs

    def text_search(self, ctx: Binding, node: Node, flt: PFilter, per_row: bool) -> str:
        """`to_tsvector(col) @@ to_tsquery(value)` (a tsvector column is searched as it is)."""
        lhs = col_expr(ctx, node.alias, flt.col)
        config = f"{ctx.text(flt.fts_config)}::regconfig, " if flt.fts_config else ""
        if flt.col.kind != "tsvector":
            lhs = f"to_tsvector({config}{lhs})"
        return f"{lhs} @@ {PG_FTS[flt.operator]}({config}{ctx.text(flt.value)})"


def _like_pattern(value: str) -> str:
    return like_pattern(str(value))


def _like_patterns(values: tuple[str, ...]) -> list[str]:
    return [like_pattern(v) for v in values]
