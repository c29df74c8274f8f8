"""SQLite's stand-in for PostgreSQL catalogs that SQLite lacks: RLS flags, policies, grants, functions.

Migrations written for PostgreSQL (`create policy`, `grant`, `create function ... language sql`)
become rows of `_backstack_*` catalog tables on SQLite (db.ddl_policies, db.ddl_functions), in
the migration's own transaction, and introspection reads them back into `db.schema`.

The schema cache is keyed by `PRAGMA schema_version`, which plain row changes do not move, so every
catalog change ends with `STAMP`: dropping and re-creating a one-line view bumps the version, and
every worker process reloads its schema (policies included) as it does after any DDL.
"""

from __future__ import annotations

STAMP_VIEW = "_backstack_catalog_stamp"
STAMP: tuple[str, ...] = (
    f"DROP VIEW IF EXISTS {STAMP_VIEW}",
    f"CREATE VIEW {STAMP_VIEW} AS SELECT 1 AS stamp",
)


def stamped(statements: list[str]) -> list[str]:
    """`statements` followed by the schema-version bump (see the module docstring)."""
    return [*statements, *STAMP]
