"""Building blocks of the data API's SQL that every engine shares: column references and
expressions, the CSV header (statements and their parameters are `sql/statement.py`'s).

Rules every builder follows: values are bound parameters (numbered, so one fragment can be reused,
e.g. the WHERE of a page and of its count; `Spelling.placeholder`); identifiers go through
`dialect.quote_ident`; the only literals spliced in are built from validated names (JSON path keys,
through `quote_literal`). What an engine spells its own way is `EngineSql` (`sql/engines/`).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from backstack.db.dialect import quote_ident

if TYPE_CHECKING:
    from backstack.rest.plan.resolve import Col, OutField
    from backstack.rest.sql.statement import Binding


def column_ref(alias: str, name: str) -> str:
    return f"{alias}.{quote_ident(name)}"


def col_expr(ctx: Binding, alias: str, col: Col) -> str:
    """The SQL value of `col` in the row `alias` (a JSON path yields JSON or text, as in PostgreSQL)."""
    base = column_ref(alias, col.column.name)
    if not col.path:
        return base
    return ctx.spelling.json_path(base, col)


def field_value(ctx: Binding, alias: str, item: OutField) -> str:
    """An output field as the engine's JSON builder takes it (`Spelling.field_value`)."""
    return ctx.spelling.field_value(col_expr(ctx, alias, item.col), item)


def csv_header(keys: list[str]) -> str:
    """The CSV header line: the output keys, quoted when they need it."""
    return ",".join(_csv_name(k) for k in keys)


def _csv_name(key: str) -> str:
    if key == "" or re.search(r'[",()\\\s]', key):
        return '"' + key.replace("\\", "\\\\").replace('"', '""') + '"'
    return key
