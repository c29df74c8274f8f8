"""SQLite translation of row-level security DDL: ENABLE/DISABLE RLS, CREATE/ALTER/DROP POLICY,
GRANT/REVOKE on tables, into rows of the catalog tables of `db.catalog_sqlite`."""

from __future__ import annotations


def policy_statement(source: str) -> list[str] | None:
    """The SQLite statements for an RLS, policy or grant statement; None when `source` is not one."""
    return None
