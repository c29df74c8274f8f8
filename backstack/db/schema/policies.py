"""Row-level security read back into `db.schema.model`: RLS flags, policies, (SQLite) grants and view options.

SQLite: from the catalog tables of `db.catalog.rls` that db.translate.policies writes. PostgreSQL: from
`pg_class.relrowsecurity` and `pg_policy` (informational there: PostgreSQL enforces them itself and
checks its own ACLs, so `Table.grants` stays None). Both run on every schema reload, so each reads
its catalog with one query and leaves tables without RLS state untouched. Roles come back sorted
and policies by name on both engines, so the two read the same.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from backstack.core import json
from backstack.db.catalog import rls as catalog
from backstack.db.schema.model import Policy

if TYPE_CHECKING:
    from backstack.db.schema.model import Schema, Table

_Changes = dict[str, dict[str, Any]]  # table key -> the Table fields to replace
_PG_COMMANDS = {"*": "all", "r": "select", "a": "insert", "w": "update", "d": "delete"}

_PG_POLICIES = """
select n.nspname, c.relname, c.relrowsecurity, c.relforcerowsecurity, p.polname, p.polcmd::text as polcmd,
       p.polpermissive,
       array(select distinct case when r = 0 then 'public' else pg_get_userbyid(r)::text end
               from unnest(p.polroles) r) as roles,
       pg_get_expr(p.polqual, p.polrelid) as using_expr, pg_get_expr(p.polwithcheck, p.polrelid) as check_expr
from pg_class c
join pg_namespace n on n.oid = c.relnamespace
left join pg_policy p on p.polrelid = c.oid
where n.nspname = any($1::text[]) and c.relkind in ('r', 'p')
  and (c.relrowsecurity or c.relforcerowsecurity or p.oid is not null)
"""


def sqlite_policies(conn: sqlite3.Connection, tables: dict[str, Table]) -> dict[str, Table]:
    """`tables` with their RLS flags, policies and grants from the SQLite catalog (absent: none)."""
    present = {
        row[0]
        for row in conn.execute(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name IN (?, ?, ?, ?)",
            (catalog.RLS, catalog.POLICIES, catalog.GRANTS, catalog.VIEWS),
        )
    }
    if not present:
        return tables
    changes: _Changes = {}
    if catalog.RLS in present:
        for tbl, enabled, forced in conn.execute(f"SELECT tbl, enabled, forced FROM {catalog.RLS}"):  # noqa: S608 (our catalog table)
            _change(changes, tables, tbl).update(rls_enabled=bool(enabled), rls_forced=bool(forced))
    if catalog.POLICIES in present:
        _read_sqlite_policies(conn, tables, changes)
    if catalog.GRANTS in present:
        _read_sqlite_grants(conn, tables, changes)
    if catalog.VIEWS in present:
        for tbl, invoker, barrier in conn.execute(
            f"SELECT tbl, security_invoker, security_barrier FROM {catalog.VIEWS}"  # noqa: S608 (our catalog table)
        ):
            _change(changes, tables, tbl).update(security_invoker=bool(invoker), security_barrier=bool(barrier))
    return _replaced(tables, changes)


def _read_sqlite_policies(conn: sqlite3.Connection, tables: dict[str, Table], changes: _Changes) -> None:
    rows = conn.execute(
        f"SELECT tbl, name, command, permissive, roles, using_expr, check_expr FROM {catalog.POLICIES}"  # noqa: S608 (our catalog table)
    )
    for tbl, name, command, permissive, roles, using, check in rows:
        policy = Policy(name, tbl, command, bool(permissive), tuple(json.loads(roles)), using, check)
        change = _change(changes, tables, tbl)
        change["policies"] = (*change.get("policies", ()), policy)


def _read_sqlite_grants(conn: sqlite3.Connection, tables: dict[str, Table], changes: _Changes) -> None:
    columns = ", ".join(f"can_{p}" for p in catalog.PRIVILEGES)
    for tbl, role, *flags in conn.execute(f"SELECT tbl, role, {columns} FROM {catalog.GRANTS}"):  # noqa: S608 (our catalog table and columns)
        held = frozenset(p for p, flag in zip(catalog.PRIVILEGES, flags, strict=True) if flag)
        change = _change(changes, tables, tbl)
        change["grants"] = {**change.get("grants", {}), role: held}


async def postgres_policies(conn: Any, schemas: Sequence[str], tables: dict[str, Table]) -> dict[str, Table]:
    """`tables` with their RLS flags and policies from PostgreSQL's catalogs."""
    default_schema = schemas[0] if schemas else "public"
    changes: _Changes = {}
    for row in await conn.fetch(_PG_POLICIES, list(schemas)):
        key = row["relname"] if row["nspname"] == default_schema else f"{row['nspname']}.{row['relname']}"
        change = _change(changes, tables, key)
        change.update(rls_enabled=row["relrowsecurity"], rls_forced=row["relforcerowsecurity"])
        if row["polname"] is not None:
            policy = Policy(
                name=row["polname"],
                table=key,
                command=_PG_COMMANDS.get(row["polcmd"], "all"),
                permissive=row["polpermissive"],
                roles=tuple(sorted(row["roles"])),
                using=row["using_expr"],
                check=row["check_expr"],
            )
            change["policies"] = (*change.get("policies", ()), policy)
    return _replaced(tables, changes)


_PG_PRIVILEGES = """
select n.nspname, c.relname, r.rolname,
       array(select p from unnest(array['select', 'insert', 'update', 'delete']) p
              where has_table_privilege(r.oid, c.oid, p)) as privileges
from pg_class c join pg_namespace n on n.oid = c.relnamespace cross join pg_roles r
where n.nspname = any($1::text[]) and c.relkind in ('r', 'p') and r.rolname = any($2::text[])
"""


Privileges = dict[str, dict[str, frozenset[str] | None]]  # table key -> role -> privileges (None: all)


async def api_privileges(engine: Any, schema: Schema, schemas: Sequence[str], roles: Sequence[str]) -> Privileges:
    """What each of `roles` may do to each exposed table, by table key then role, for reports
    (`backstack policies`, the `serve` banner): SQLite's recorded grants (None: the defaults, every
    privilege), or PostgreSQL's own ACL answer (PUBLIC and role memberships included). The data API
    never needs it: PostgreSQL checks its ACLs itself, SQLite's policy service reads `Table.grants`."""
    if engine.dialect.is_sqlite:
        return {key: {role: _granted(table.grants, role) for role in roles} for key, table in schema.tables.items()}
    default_schema = schemas[0] if schemas else "public"
    held: Privileges = {}
    for nspname, relname, role, privileges in await engine.fetch_all(_PG_PRIVILEGES, [list(schemas), list(roles)]):
        key = relname if nspname == default_schema else f"{nspname}.{relname}"
        held.setdefault(key, {})[role] = frozenset(privileges)
    return held


def _granted(grants: dict[str, frozenset[str]] | None, role: str) -> frozenset[str] | None:
    if grants is None:
        return None
    return grants.get(role, frozenset()) | grants.get("public", frozenset())


def _change(changes: _Changes, tables: dict[str, Table], key: str) -> dict[str, Any]:
    """The pending field changes of table `key` (a scratch dict for catalog rows of unexposed tables)."""
    if key not in tables:
        return {}
    return changes.setdefault(key, {})


def _replaced(tables: dict[str, Table], changes: _Changes) -> dict[str, Table]:
    if not changes:
        return tables
    for change in changes.values():
        if "policies" in change:
            change["policies"] = tuple(sorted(change["policies"], key=lambda policy: policy.name))
    return {name: replace(table, **changes[name]) if name in changes else table for name, table in tables.items()}
