"""The SQLite catalog of row-level security: RLS flags, policies and table grants, one row each.

PostgreSQL keeps these in `pg_class.relrowsecurity`, `pg_policy` and `pg_class.relacl`; on SQLite
db.translate.policies and db.translate.grants write them as rows of three tables (created on first use) and
db.schema.policies reads them back into `db.schema.model`. Tables are named as on SQLite (`todos`,
`_auth_users`), roles and privileges as PostgreSQL spells them:

    _backstack_rls       tbl PRIMARY KEY, enabled 0/1, forced 0/1
    _backstack_policies  tbl, name, command (all|select|insert|update|delete), permissive 0/1,
                         roles (JSON array, sorted), using_expr, check_expr (PostgreSQL text); PK (tbl, name)
    _backstack_grants    tbl, role, can_select, can_insert, can_update, can_delete 0/1; PK (tbl, role)
    _backstack_views     tbl PRIMARY KEY, security_invoker 0/1, security_barrier 0/1 (db.translate.views)

A table has no `_backstack_grants` rows until a GRANT or REVOKE names it: it has Supabase's default
(every API role holds every privilege). The first one writes that default out for the API roles,
then changes it, so from then on the rows hold the table's whole state.

What PostgreSQL would refuse (a duplicate policy, a missing table) is checked by the emitted SQL
itself, in the migration's transaction, through `backstack_raise` (db.sqlite.functions).
"""

from __future__ import annotations

from backstack.db.catalog.publication import PUBLISHED
from backstack.db.dialect import quote_literal

RLS = "_backstack_rls"
POLICIES = "_backstack_policies"
GRANTS = "_backstack_grants"
VIEWS = "_backstack_views"
PRIVILEGES = ("select", "insert", "update", "delete")
API_ROLES = ("anon", "authenticated", "service_role")

CREATE: tuple[str, ...] = (
    f"CREATE TABLE IF NOT EXISTS {RLS} (tbl TEXT PRIMARY KEY, enabled INTEGER NOT NULL DEFAULT 0, "
    "forced INTEGER NOT NULL DEFAULT 0)",
    f"CREATE TABLE IF NOT EXISTS {POLICIES} (tbl TEXT NOT NULL, name TEXT NOT NULL, command TEXT NOT NULL, "
    "permissive INTEGER NOT NULL, roles TEXT NOT NULL, using_expr TEXT, check_expr TEXT, PRIMARY KEY (tbl, name))",
    f"CREATE TABLE IF NOT EXISTS {GRANTS} (tbl TEXT NOT NULL, role TEXT NOT NULL, "
    + ", ".join(f"can_{p} INTEGER NOT NULL DEFAULT 0" for p in PRIVILEGES)
    + ", PRIMARY KEY (tbl, role))",
    f"CREATE TABLE IF NOT EXISTS {VIEWS} (tbl TEXT PRIMARY KEY, security_invoker INTEGER NOT NULL DEFAULT 0, "
    "security_barrier INTEGER NOT NULL DEFAULT 0)",
    f"CREATE TABLE IF NOT EXISTS {PUBLISHED} (tbl TEXT PRIMARY KEY)",  # db.catalog.publication
)
_PER_RELATION = (RLS, POLICIES, GRANTS, VIEWS, PUBLISHED)
# `backstack db reset` drops the exposed tables (not `_auth_users`...): their catalog rows go with them.
RESET: tuple[str, ...] = (
    *CREATE,
    *(f"DELETE FROM {name} WHERE tbl NOT LIKE '\\_%' ESCAPE '\\'" for name in _PER_RELATION),
)


def fail_when(*checks: tuple[str, str, str]) -> str:
    """One statement failing with the first (condition, sqlstate, message) whose SQL condition holds."""
    whens = " ".join(
        f"WHEN {condition} THEN backstack_raise({quote_literal(sqlstate)}, {quote_literal(message)})"
        for condition, sqlstate, message in checks
    )
    return f"SELECT CASE {whens} END"


def relation_kind(table: str) -> str:
    """SQL for the kind of `table`: 'table', 'view' or NULL when there is none."""
    return f"(SELECT type FROM sqlite_schema WHERE name = {quote_literal(table)} AND type IN ('table', 'view'))"


def policy_exists(table: str, name: str) -> str:
    """SQL condition: `table` has a policy called `name`."""
    return f"EXISTS (SELECT 1 FROM {POLICIES} WHERE tbl = {quote_literal(table)} AND name = {quote_literal(name)})"


def forget_table(table: str) -> list[str]:
    """What DROP TABLE/VIEW removes with the relation: its RLS flags, policies, grants and publication."""
    return [f"DELETE FROM {name} WHERE tbl = {quote_literal(table)}" for name in _PER_RELATION]


def move_table(old: str, new: str) -> list[str]:
    """What ALTER TABLE ... RENAME TO carries along (the catalog rows of `old`; rows left under the
    new name by a table dropped outside migrations are stale)."""
    return [
        *forget_table(new),
        *(f"UPDATE {name} SET tbl = {quote_literal(new)} WHERE tbl = {quote_literal(old)}" for name in _PER_RELATION),
    ]
