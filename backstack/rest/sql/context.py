"""`Ctx`: one statement being built, and the engine it is built for.

The engine's SQL compiler (`EngineSql`) is chosen here, once per statement, from `Dialect.name`
(`sql.engines.engine_sql`); the builders ask `ctx.engine_sql` wherever the engines differ.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from backstack.rest.request.query import Placeholder
from backstack.rest.sql.common import Deferred, Statement
from backstack.rest.sql.engines import engine_sql

if TYPE_CHECKING:
    from backstack.db.dialect import Dialect
    from backstack.db.schema.model import Table
    from backstack.rest.sql.engines.base import EngineSql


@dataclass(slots=True)
class Ctx:
    """One statement being built: its dialect, its engine's compiler, and the parameters bound so far."""

    dialect: Dialect
    schema_name: str = "public"
    params: list[Any] = field(default_factory=list)
    engine_sql: EngineSql = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.engine_sql = engine_sql(self.dialect)

    def fresh(self) -> Ctx:
        """Another statement for the same engine and schema, with no parameter bound yet."""
        return Ctx(self.dialect, self.schema_name)

    def param(self, value: Any) -> str:
        """Bind `value`; return its placeholder."""
        self.params.append(value)
        return self.placeholder(len(self.params))

    def bind(self, value: Any, convert: Callable[[Any], Any] = str) -> str:
        """Bind a filter's value as `convert` makes it; a `Placeholder` is converted at run time."""
        if isinstance(value, Placeholder):
            self.params.append(Deferred(value.index, convert))
            return self.placeholder(len(self.params))
        return self.param(convert(value))

    def placeholder(self, index: int) -> str:
        return self.engine_sql.placeholder(index)

    def text(self, value: Any, convert: Callable[[Any], Any] = str) -> str:
        """A text parameter (typed `text` where the driver needs to know: `EngineSql.text`)."""
        return self.engine_sql.text(self.bind(value, convert))

    def table(self, table: Table) -> str:
        """The table reference (`EngineSql.table`: bare on SQLite, schema-qualified on PostgreSQL)."""
        return self.engine_sql.table(table)

    def statement(self, sql: str) -> Statement:
        self.engine_sql.check_parses(sql)
        return Statement(sql, tuple(self.params))
