"""SQLite's spelling of the data API's SQL (`EngineSql`), answering as PostgreSQL would: `?N`
parameters, one schema, values typed by the declared column kind (`values.py`), filters parsed
before binding (`filter.py`), JSON built with `json_object` (`read.py`), writes as DML returning
row identities then the representation (`write.py`, `run.py`), with the row policies PostgreSQL
enforces itself compiled in (`policies.py`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backstack.db.dialect import quote_ident
from backstack.db.sqlite.json_values import json_value
from backstack.rest.sql.engines.sqlite.filter import SqliteFilterSql
from backstack.rest.sql.engines.sqlite.read import SqliteReadSql
from backstack.rest.sql.engines.sqlite.values import cast_value, check_parses, json_text, path_literal
from backstack.rest.sql.engines.sqlite.write import SqliteWriteSql

if TYPE_CHECKING:
    from backstack.db.schema.model import Table
    from backstack.rest.plan.resolve import Col, OutField


class SqliteSql(SqliteFilterSql, SqliteReadSql, SqliteWriteSql):
    """`EngineSql` for SQLite: the statement-level parts here, the rest from its parts' classes."""

    def placeholder(self, index: int) -> str:
        return f"?{index}"

    def text(self, placeholder: str) -> str:
        return placeholder  # untyped: SQLite takes the value as it is bound

    def table(self, table: Table) -> str:
        return quote_ident(table.name)  # one schema

    def check_parses(self, sql: str) -> None:
        check_parses(sql)

    def json_path(self, base: str, col: Col) -> str:
        path = path_literal(col.path)
        if col.path[-1].arrow == "->":
            return f"({base} -> {path})"
        return f"({json_text(base, path)})"

    def field_value(self, expr: str, item: OutField) -> str:
        """The value ready for json_object(), typed by the column's kind (or the cast's)."""
        kind = item.col.kind
        if item.cast is not None:
            expr, kind = cast_value(expr, kind, item.cast)
        return json_value(expr, kind)
