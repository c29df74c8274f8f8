"""The data API's SQL per engine: the one place rest/ chooses by engine (`engine_sql`).

`base.py` is the protocol the builders ask (`EngineSql`); `postgres/` and `sqlite/` implement it,
each a class assembled from its parts (values, filter, read, write). A third engine is one more
package implementing `EngineSql` and its entry in `_ENGINES` (its `Dialect.name` in db/dialect.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backstack.rest.sql.engines.postgres import PostgresSql
from backstack.rest.sql.engines.sqlite import SqliteSql

if TYPE_CHECKING:
    from backstack.db.dialect import Dialect, DialectName
    from backstack.rest.sql.engines.base import EngineSql

_ENGINES: dict[DialectName, EngineSql] = {"postgres": PostgresSql(), "sqlite": SqliteSql()}


def engine_sql(dialect: Dialect) -> EngineSql:
    """The SQL compiler of `dialect`'s engine (stateless: one instance per engine)."""
    return _ENGINES[dialect.name]
