"""The schema-version bump that ends every change to the SQLite catalog tables (see db.catalog).

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
