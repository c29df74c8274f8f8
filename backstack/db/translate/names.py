"""PostgreSQL's `schema.table` on SQLite's one namespace, shared by every translator module.

Its own module so that db.translate.ddl and the modules it calls (functions, grants, policies)
all import it at the top, without an import cycle between them.
"""

from __future__ import annotations


def sqlite_table_name(schema: str, table: str) -> str:
    """The SQLite name of PostgreSQL table `schema.table`: `t` for public, else `_<schema>_<table>`."""
    return table if schema == "public" else f"_{schema}_{table}"
