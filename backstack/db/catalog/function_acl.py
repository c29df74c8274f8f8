"""EXECUTE on SQL functions, on SQLite: who may call each function, and the defaults for new ones.

PostgreSQL keeps this in `pg_proc.proacl` and `pg_default_acl`; on SQLite two catalog tables hold it,
written by migrations (db.translate.functions, db.translate.grants) and read back into `Function.grantees`,
which `/rpc` checks before running a function (42501 `permission denied for function f`):

    _backstack_function_acl   schema, name, signature, role: the roles holding EXECUTE (`public`: every role)
    _backstack_default_acl    scope ('' for global, else a schema), role, granted 0/1

A function is identified by its schema, name and input types, as in PostgreSQL: `public.f()` and
`private.f()` are two functions with their own ACLs. Databases made before the schema was part of
the key are upgraded when the engine starts (`upgrade`).

PostgreSQL's rules, with Supabase's defaults: a new function is executable by PUBLIC (the global
default) and, in schema `public`, by anon, authenticated and service_role (Supabase's
`alter default privileges in schema public grant all on functions to ...`). A schema's defaults only
add to the global ones, so `alter default privileges in schema public revoke execute on functions
from public` leaves PUBLIC's EXECUTE in place, as on PostgreSQL (revoke it globally: `alter default
privileges revoke execute on functions from public`). The owner (`postgres`, the migration's role)
always holds EXECUTE: its row also marks a function whose ACL is recorded; a function created
before this catalog existed has no rows and keeps the defaults until a GRANT/REVOKE names it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from backstack.db.dialect import quote_literal

ACL = "_backstack_function_acl"
DEFAULTS = "_backstack_default_acl"
OWNER = "postgres"
# Supabase's defaults for functions: PUBLIC globally (PostgreSQL's own), the API roles in schema public.
SEEDED = (("", "public"), ("public", "anon"), ("public", "authenticated"), ("public", "service_role"))
LEGACY_ROLES = ("public", "anon", "authenticated", "service_role")

CREATE: tuple[str, ...] = (
    f"CREATE TABLE IF NOT EXISTS {ACL} (schema TEXT NOT NULL DEFAULT 'public', name TEXT NOT NULL, "
    "signature TEXT NOT NULL, role TEXT NOT NULL, PRIMARY KEY (schema, name, signature, role))",
    f"CREATE TABLE IF NOT EXISTS {DEFAULTS} (scope TEXT NOT NULL, role TEXT NOT NULL, "
    "granted INTEGER NOT NULL, PRIMARY KEY (scope, role))",
    f"INSERT OR IGNORE INTO {DEFAULTS} (scope, role, granted) VALUES "
    + ", ".join(f"({quote_literal(scope)}, {quote_literal(role)}, 1)" for scope, role in SEEDED),
)


def on_create(schema: str, name: str, signature: str) -> list[str]:
    """A new function gets the default ACL of its schema; a replaced one keeps its own (as PostgreSQL)."""
    key = f"{quote_literal(schema)}, {quote_literal(name)}, {quote_literal(signature)}"
    recorded = f"SELECT 1 FROM {ACL} WHERE (schema, name, signature) = ({key})"
    defaults = (
        f"SELECT DISTINCT role FROM {DEFAULTS} WHERE granted = 1 AND scope IN ('', {quote_literal(schema)}) "
        f"UNION SELECT {quote_literal(OWNER)}"
    )
    return [
        *CREATE,
        f"INSERT INTO {ACL} (schema, name, signature, role) SELECT {key}, role "
        f"FROM ({defaults}) WHERE NOT EXISTS ({recorded})",
    ]


def on_drop(where: str) -> str:
    """Forget the ACL of the functions `where` (a condition on schema, name and signature) selects."""
    return f"DELETE FROM {ACL} WHERE {where}"


def change(functions: str, roles: Sequence[str], *, grant: bool) -> list[str]:
    """GRANT/REVOKE EXECUTE on the functions `functions` selects (SQL yielding schema, name, signature)."""
    legacy = _roles_select((*LEGACY_ROLES, OWNER))
    role_list = ", ".join(quote_literal(r) for r in roles)
    statements = [
        *CREATE,
        # a function without rows predates this catalog: write its defaults out first
        f"INSERT OR IGNORE INTO {ACL} (schema, name, signature, role) SELECT f.schema, f.name, f.signature, r.role "
        f"FROM ({functions}) AS f, ({legacy}) AS r WHERE NOT EXISTS "
        f"(SELECT 1 FROM {ACL} a WHERE (a.schema, a.name, a.signature) = (f.schema, f.name, f.signature))",
    ]
    if grant:
        statements.append(
            f"INSERT OR IGNORE INTO {ACL} (schema, name, signature, role) "
            f"SELECT f.schema, f.name, f.signature, r.role FROM ({functions}) AS f, "
            f"({_roles_select(roles)}) AS r"
        )
    else:
        statements.append(
            f"DELETE FROM {ACL} WHERE role IN ({role_list}) AND (schema, name, signature) IN "
            f"(SELECT schema, name, signature FROM ({functions}))"
        )
    return statements


def change_defaults(scopes: Sequence[str], roles: Sequence[str], *, grant: bool) -> list[str]:
    """ALTER DEFAULT PRIVILEGES [IN SCHEMA s] GRANT/REVOKE EXECUTE ON FUNCTIONS (scope '' = global)."""
    values = ", ".join(f"({quote_literal(s)}, {quote_literal(r)}, {int(grant)})" for s in scopes for r in roles)
    return [
        *CREATE,
        f"INSERT INTO {DEFAULTS} (scope, role, granted) VALUES {values} "
        "ON CONFLICT (scope, role) DO UPDATE SET granted = excluded.granted",
    ]


def _roles_select(roles: Sequence[str]) -> str:
    return " UNION ALL ".join(f"SELECT {quote_literal(r)} AS role" for r in roles)


# ------------------------------------------------------------------ upgrading older databases

FUNCTIONS = "_backstack_functions"  # written by db.translate.functions (its CATALOG), read by db.schema.functions
_FUNCTIONS_TABLE = (
    f"CREATE TABLE {FUNCTIONS} (schema TEXT NOT NULL DEFAULT 'public', name TEXT NOT NULL, "
    "signature TEXT NOT NULL, definition TEXT NOT NULL, PRIMARY KEY (schema, name, signature))"
)
_UPGRADE: tuple[str, ...] = (
    # keyed by (name, signature) before: at most one function per key, whose definition names its schema
    "CREATE TEMP TABLE _bs_old_functions AS SELECT coalesce(json_extract(definition, '$.schema'), 'public') "
    f"AS schema, name, signature, definition FROM {FUNCTIONS}",
    f"CREATE TEMP TABLE _bs_old_acl AS SELECT coalesce((SELECT f.schema FROM _bs_old_functions f WHERE "
    f"f.name = a.name AND f.signature = a.signature), 'public') AS schema, a.name, a.signature, a.role FROM {ACL} a",
    f"DROP TABLE {FUNCTIONS}",
    f"DROP TABLE {ACL}",
    _FUNCTIONS_TABLE,
    CREATE[0],
    f"INSERT INTO {FUNCTIONS} (schema, name, signature, definition) "
    "SELECT schema, name, signature, definition FROM _bs_old_functions",
    f"INSERT OR IGNORE INTO {ACL} (schema, name, signature, role) "
    "SELECT schema, name, signature, role FROM _bs_old_acl",
    "DROP TABLE _bs_old_functions",
    "DROP TABLE _bs_old_acl",
)


def upgrade(conn: sqlite3.Connection) -> bool:
    """Give the function catalogs of a database made by an older backstack their schema column (the
    key was (name, signature), so `private.f` replaced `public.f`); whether anything changed.
    Runs in its own IMMEDIATE transaction on the writer connection (autocommit mode)."""
    if not _outdated(conn):
        return False
    conn.execute("BEGIN IMMEDIATE")
    try:
        changed = _outdated(conn)  # another process may have upgraded it meanwhile
        if changed:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {FUNCTIONS} (name TEXT NOT NULL, signature TEXT NOT NULL, "
                "definition TEXT NOT NULL, PRIMARY KEY (name, signature))"
            )
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {ACL} (name TEXT NOT NULL, signature TEXT NOT NULL, "
                "role TEXT NOT NULL, PRIMARY KEY (name, signature, role))"
            )
            for statement in _UPGRADE:
                conn.execute(statement)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return changed


def _outdated(conn: sqlite3.Connection) -> bool:
    """Whether either catalog table exists without its `schema` column."""
    for table in (FUNCTIONS, ACL):
        columns = {row[1] for row in conn.execute("SELECT * FROM pragma_table_info(?)", (table,))}
        if columns and "schema" not in columns:
            return True
    return False
