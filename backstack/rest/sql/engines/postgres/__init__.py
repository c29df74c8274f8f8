"""PostgreSQL's spelling of the data API's SQL (`EngineSql`): `$N` parameters, schema-qualified
tables, typed values cast in SQL, JSON built by the database's own functions (`read.py`), filters
cast to the column's type (`filter.py`), and one statement per write (`write.py`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backstack.db.dialect import quote_ident, quote_literal
from backstack.rest.plan.resolve import CASTS
from backstack.rest.sql.engines.postgres.filter import PostgresFilterSql
from backstack.rest.sql.engines.postgres.read import PostgresReadSql
from backstack.rest.sql.engines.postgres.write import PostgresWriteSql

if TYPE_CHECKING:
    from backstack.db.schema.model import Table
    from backstack.rest.plan.resolve import Col, OutField


class PostgresSql(PostgresFilterSql, PostgresReadSql, PostgresWriteSql):
    """`EngineSql` for PostgreSQL: the statement-level parts here, the rest from its parts' classes."""

    def placeholder(self, index: int) -> str:
        return f"${index}"

    def text(self, placeholder: str) -> str:
        return f"{placeholder}::text"  # asyncpg needs to know the parameter's type

    def table(self, table: Table) -> str:
        return f"{quote_ident(table.schema)}.{quote_ident(table.name)}"

    def check_parses(self, sql: str) -> None:
        return None  # the server answers its own limits (54001) as an error of the statement

    def json_path(self, base: str, col: Col) -> str:
        if col.column.kind == "array":
            base = f"to_jsonb({base})"
        for step in col.path:
            key = str(step.key) if isinstance(step.key, int) else quote_literal(step.key)
            base = f"{base} {step.arrow} {key}"
        return f"({base})"

    def field_value(self, expr: str, item: OutField) -> str:
        """A typed column (the database types the JSON), cast when the request asks."""
        if item.cast is None:
            return expr
        type_name = CASTS[item.cast][0] if item.cast in CASTS else quote_ident(item.cast)
        return f"CAST({expr} AS {type_name})"
