"""SQLite translation of `CREATE [OR REPLACE] FUNCTION ... LANGUAGE sql` and `DROP FUNCTION` into
rows of the `_backstack_functions` catalog (`db.catalog_sqlite`)."""

from __future__ import annotations


def function_statement(source: str) -> list[str] | None:
    """The SQLite statements for a function statement; None when `source` is not one."""
    return None
