"""EXECUTE on SQL functions, on SQLite: who may call each function, and the defaults for new ones.

PostgreSQL keeps this in `pg_proc.proacl` and `pg_default_acl`; on SQLite two catalog tables hold it,
written by migrations (db.ddl_functions, db.ddl_grants) and read back into `Function.grantees`,
which `/rpc` checks before running a function (42501 `permission denied for function f`):

    _backstack_function_acl   name, signature, role: the roles holding EXECUTE (`public`: every role)
    _backstack_default_acl    scope ('' for global, else a schema), role, granted 0/1

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

from collections.abc import Sequence

from backstack.db.dialect import quote_literal

ACL = "_backstack_function_acl"
DEFAULTS = "_backstack_default_acl"
OWNER = "postgres"
# Supabase's defaults for functions: PUBLIC globally (PostgreSQL's own), the API roles in schema public.
SEEDED = (("", "public"), ("public", "anon"), ("public", "authenticated"), ("public", "service_role"))
LEGACY_ROLES = ("public", "anon", "authenticated", "service_role")

CREATE: tuple[str, ...] = (
    f"CREATE TABLE IF NOT EXISTS {ACL} (name TEXT NOT NULL, signature TEXT NOT NULL, role TEXT NOT NULL, "
    "PRIMARY KEY (name, signature, role))",
    f"CREATE TABLE IF NOT EXISTS {DEFAULTS} (scope TEXT NOT NULL, role TEXT NOT NULL, "
    "granted INTEGER NOT NULL, PRIMARY KEY (scope, role))",
    f"INSERT OR IGNORE INTO {DEFAULTS} (scope, role, granted) VALUES "
    + ", ".join(f"({quote_literal(scope)}, {quote_literal(role)}, 1)" for scope, role in SEEDED),
)


def on_create(name: str, signature: str, schema: str) -> list[str]:
    """A new function gets the default ACL of its schema; a replaced one keeps its own (as PostgreSQL)."""
    recorded = f"SELECT 1 FROM {ACL} WHERE name = {quote_literal(name)} AND signature = {quote_literal(signature)}"
    defaults = (f"SELECT DISTINCT role FROM {DEFAULTS} WHERE granted = 1 AND scope IN ('', {quote_literal(schema)}) "
                f"UNION SELECT {quote_literal(OWNER)}")
    return [
        *CREATE,
        f"INSERT INTO {ACL} (name, signature, role) SELECT {quote_literal(name)}, {quote_literal(signature)}, role "
        f"FROM ({defaults}) WHERE NOT EXISTS ({recorded})",
    ]


def on_drop(where: str) -> str:
    """Forget the ACL of the functions `where` (a condition on name and signature) selects."""
    return f"DELETE FROM {ACL} WHERE {where}"


def change(functions: str, roles: Sequence[str], *, grant: bool) -> list[str]:
    """GRANT/REVOKE EXECUTE on the functions `functions` selects (SQL yielding name, signature)."""
    legacy = _roles_select((*LEGACY_ROLES, OWNER))
    role_list = ", ".join(quote_literal(r) for r in roles)
    statements = [
        *CREATE,
        # a function without rows predates this catalog: write its defaults out first
        f"INSERT OR IGNORE INTO {ACL} (name, signature, role) SELECT f.name, f.signature, r.role "
        f"FROM ({functions}) AS f, ({legacy}) AS r WHERE NOT EXISTS "
        f"(SELECT 1 FROM {ACL} a WHERE a.name = f.name AND a.signature = f.signature)",
    ]
    if grant:
        statements.append(f"INSERT OR IGNORE INTO {ACL} (name, signature, role) SELECT f.name, f.signature, r.role "
                          f"FROM ({functions}) AS f, ({_roles_select(roles)}) AS r")
    else:
        statements.append(f"DELETE FROM {ACL} WHERE role IN ({role_list}) AND (name, signature) IN "
                          f"(SELECT name, signature FROM ({functions}))")
    return statements


def change_defaults(scopes: Sequence[str], roles: Sequence[str], *, grant: bool) -> list[str]:
    """ALTER DEFAULT PRIVILEGES [IN SCHEMA s] GRANT/REVOKE EXECUTE ON FUNCTIONS (scope '' = global)."""
    values = ", ".join(f"({quote_literal(s)}, {quote_literal(r)}, {int(grant)})" for s in scopes for r in roles)
    return [*CREATE, f"INSERT INTO {DEFAULTS} (scope, role, granted) VALUES {values} "
                     "ON CONFLICT (scope, role) DO UPDATE SET granted = excluded.granted"]


def _roles_select(roles: Sequence[str]) -> str:
    return " UNION ALL ".join(f"SELECT {quote_literal(r)} AS role" for r in roles)
