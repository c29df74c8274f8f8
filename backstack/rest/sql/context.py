"""`Ctx`: one statement being built, and the engine it is built for.

The engine's SQL compiler (`EngineSql`) is chosen here, once per statement, from `Dialect.name`
(`sql.engines.engine_sql`); the builders ask `ctx.engine_sql` wherever the engines differ. The
parameters are the `Binding`'s (`sql/statement.py`), which is all the engines see of a `Ctx`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backstack.rest.sql.engines import engine_sql
from backstack.rest.sql.statement import Binding

if TYPE_CHECKING:
    from backstack.db.dialect import Dialect
    from backstack.rest.sql.engines.base import EngineSql


class Ctx(Binding):
    """A `Binding` for `dialect`'s engine, with that engine's whole compiler (`engine_sql`, the same
    object the binding spells with) for the builders to ask."""

    __slots__ = ("engine_sql",)

    def __init__(self, dialect: Dialect, schema_name: str = "public") -> None:
        self.engine_sql: EngineSql = engine_sql(dialect)
        super().__init__(dialect, self.engine_sql, schema_name)

    def fresh(self) -> Ctx:
        """Another statement for the same engine and schema, with no parameter bound yet."""
        return Ctx(self.dialect, self.schema_name)
