"""Building blocks of the data API's SQL that every engine shares: statements and their deferred
parameters, the replaced root of a write's representation, column references and expressions, the
CSV header.

Rules every builder follows: values are bound parameters (numbered, so one fragment can be reused,
e.g. the WHERE of a page and of its count; `EngineSql.placeholder`); identifiers go through
`dialect.quote_ident`; the only literals spliced in are built from validated names (JSON path keys,
through `quote_literal`). What an engine spells its own way is `EngineSql` (`sql/engines/`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from backstack.db.dialect import quote_ident

if TYPE_CHECKING:
    from backstack.rest.plan.resolve import Col, OutField
    from backstack.rest.sql.context import Ctx


@dataclass(frozen=True, slots=True)
class Deferred:
    """A parameter made from the request's `index`-th filter value at run time (`Statement.with_values`)."""

    index: int
    convert: Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Statement:
    """SQL text and its parameters; `params[0]` may be a slot filled at run time (`bind`), and a
    statement compiled from a request's shape holds `Deferred` parameters (`with_values`)."""

    sql: str
    params: tuple[Any, ...] = ()

    def bind(self, first: Any) -> tuple[Any, ...]:
        """The parameters with the run-time value (request body, list of row ids) in slot 1."""
        return (first, *self.params[1:])

    def with_values(self, values: Sequence[Any]) -> Statement:
        """This statement for one request: each `Deferred` converted from that request's values
        (conversion errors are the ones compiling with the values would raise)."""
        if not values:  # a shape without values compiles to no `Deferred`
            return self
        return Statement(
            self.sql, tuple([p.convert(values[p.index]) if type(p) is Deferred else p for p in self.params])
        )


@dataclass(slots=True)
class RootSource:
    """Replaces the root's FROM and WHERE (writes: the changed rows); the root's own filters and
    paging then do not apply (the write applied them), its `order` replaces `order_sql`."""

    from_sql: str
    order_sql: str = ""
    conds: tuple[str, ...] = ()


def column_ref(alias: str, name: str) -> str:
    return f"{alias}.{quote_ident(name)}"


def col_expr(ctx: Ctx, alias: str, col: Col) -> str:
    """The SQL value of `col` in the row `alias` (a JSON path yields JSON or text, as in PostgreSQL)."""
    base = column_ref(alias, col.column.name)
    if not col.path:
        return base
    return ctx.engine_sql.json_path(base, col)


def field_value(ctx: Ctx, alias: str, item: OutField) -> str:
    """An output field as the engine's JSON builder takes it (`EngineSql.field_value`)."""
    return ctx.engine_sql.field_value(col_expr(ctx, alias, item.col), item)


def csv_header(keys: list[str]) -> str:
    """The CSV header line: the output keys, quoted when they need it."""
    return ",".join(_csv_name(k) for k in keys)


def _csv_name(key: str) -> str:
    if key == "" or re.search(r'[",()\\\s]', key):
        return '"' + key.replace("\\", "\\\\").replace('"', '""') + '"'
    return key
