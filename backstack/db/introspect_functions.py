"""Functions callable through `/rest/v1/rpc/<name>`, read into `db.schema.Function`.

SQLite: the `_backstack_functions` catalog written by db.ddl_functions. PostgreSQL: `pg_proc`
in the exposed schemas.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backstack.db.schema import Function, Table


def sqlite_functions(conn: sqlite3.Connection, tables: dict[str, Table]) -> dict[str, tuple[Function, ...]]:
    """The functions of the SQLite catalog, by name."""
    return {}


async def postgres_functions(conn: Any, schemas: Sequence[str],
                             tables: dict[str, Table]) -> dict[str, tuple[Function, ...]]:
    """The functions of the exposed schemas, by name."""
    return {}
