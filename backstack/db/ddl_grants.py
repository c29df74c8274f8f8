"""GRANT and REVOKE on SQLite: table privileges of the API roles as rows of `_backstack_grants`.

On Supabase the API roles (anon, authenticated, service_role) hold every privilege on every public
table, and a migration narrows that with `revoke insert on todos from anon`. On SQLite the data API
(through `Table.grants`) enforces what these rows say. Only table privileges mean something here:
GRANT/REVOKE on schemas, sequences, functions, databases... and role membership are accepted and
do nothing, as does the grant option; column privileges are refused (not enforced on SQLite).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from backstack.db import rls_catalog as catalog
from backstack.db.catalog_sqlite import stamped
from backstack.db.ddl_expressions import Refused
from backstack.db.dialect import quote_literal
from backstack.db.errors import database_error

if TYPE_CHECKING:
    from backstack.db.ddl_clauses import Clauses

# Roles a Supabase database has; anything else is refused as PostgreSQL would (role does not exist).
KNOWN_ROLES = frozenset({
    *catalog.API_ROLES, "postgres", "authenticator", "dashboard_user", "pgbouncer", "supabase_admin",
    "supabase_auth_admin", "supabase_storage_admin", "supabase_functions_admin", "supabase_realtime_admin",
    "supabase_replication_admin", "supabase_read_only_user",
})
_SESSION_ROLES = ("current_user", "current_role", "session_user")  # the migration's user: postgres
_IGNORED_PRIVILEGES = {"truncate", "references", "trigger", "maintain"}  # no data API meaning
_OTHER_OBJECTS = {
    "sequence", "database", "domain", "foreign", "function", "procedure", "routine", "language", "large",
    "parameter", "schema", "tablespace", "type",
}


def read_roles(words: Clauses) -> tuple[str, ...]:
    """`role[, ...]` after TO/FROM: sorted, `public` alone when named (it covers every role)."""
    roles = set(words.listed(lambda: _role(words)))
    return ("public",) if "public" in roles else tuple(sorted(roles))


def _role(words: Clauses) -> str:
    words.accept("group")
    keyword = words.keyword()
    name = words.name()
    if keyword in _SESSION_ROLES:
        return "postgres"
    if name != "public" and name not in KNOWN_ROLES:
        raise database_error("42704", f'role "{name}" does not exist')
    return name


def grant_statement(words: Clauses) -> list[str]:
    """The SQLite statements for a GRANT or REVOKE (`words` at its first word)."""
    revoke = words.choice("grant", "revoke") == "revoke"
    if revoke and words.accept("grant", "option", "for"):
        return []  # takes back only the right to grant: nothing SQLite keeps
    privileges, columns = _privileges(words)
    if not words.accept("on"):
        return []  # GRANT role TO role: membership, which the API's roles do not use on SQLite
    target = _target(words)
    if target is None:
        return []
    if columns:
        raise Refused("column privileges (GRANT ... (columns) ON ...) are not supported on SQLite")
    unknown = sorted(set(privileges) - {"all", *catalog.PRIVILEGES, *_IGNORED_PRIVILEGES})
    if unknown:
        raise database_error("0LP01", f"invalid privilege type {unknown[0].upper()} for table")
    words.expect("from" if revoke else "to")
    roles = read_roles(words)  # WITH GRANT OPTION, GRANTED BY, CASCADE may follow: nothing to keep
    honoured = [p for p in catalog.PRIVILEGES if p in privileges or "all" in privileges]
    return _statements(target, roles, honoured, value=0 if revoke else 1)


def _privileges(words: Clauses) -> tuple[list[str], bool]:
    """The privilege words before ON (role names, for membership grants) and whether any had columns."""
    privileges: list[str] = []
    columns = False

    def one() -> None:
        nonlocal columns
        word = words.name()
        if word == "all":
            words.accept("privileges")
        elif word == "alter" and words.accept("system"):
            word = "alter system"
        privileges.append(word)
        if words.keyword() == "(":
            words.parenthesised()
            columns = True

    words.listed(one)
    return privileges, columns


@dataclass(frozen=True, slots=True)
class _Target:
    """The tables a GRANT is on: SQL selecting their SQLite names, and the checks that they exist."""

    select: str
    checks: tuple[tuple[str, str, str], ...] = ()


def _target(words: Clauses) -> _Target | None:
    """The tables after ON; None for other objects (schemas, sequences, functions...)."""
    if words.accept("all", "tables", "in", "schema"):
        return _Target(" UNION ".join(_schema_tables(s) for s in words.listed(words.name)))
    if words.keyword() == "all" or words.keyword() in _OTHER_OBJECTS:
        return None
    words.accept("table")
    tables = [(_sqlite_name(schema, name), written) for schema, name, written in words.listed(words.qualified_name)]
    names = ", ".join(quote_literal(table) for table, _ in tables)
    return _Target(
        f"SELECT name FROM sqlite_schema WHERE type IN ('table', 'view') AND name IN ({names})",
        tuple((f"{catalog.relation_kind(t)} IS NULL", "42P01", f'relation "{w}" does not exist') for t, w in tables),
    )


def _statements(target: _Target, roles: tuple[str, ...], privileges: Sequence[str], value: int) -> list[str]:
    checks = [catalog.fail_when(*target.checks)] if target.checks else []
    if not privileges:
        return checks
    columns = ", ".join(f"can_{p}" for p in catalog.PRIVILEGES)
    everything = ", ".join("1" for _ in catalog.PRIVILEGES)
    pairs = f"FROM ({target.select}) AS t, ({_roles_select(catalog.API_ROLES)}) AS r"
    named = f"FROM ({target.select}) AS t, ({_roles_select(roles)}) AS r"
    changes = ", ".join(f"can_{p} = {value}" for p in privileges)
    role_list = ", ".join(quote_literal(r) for r in roles)
    return stamped([
        *catalog.CREATE,
        *checks,
        f"INSERT OR IGNORE INTO {catalog.GRANTS} (tbl, role, {columns}) SELECT t.name, r.role, {everything} {pairs}",
        f"INSERT OR IGNORE INTO {catalog.GRANTS} (tbl, role) SELECT t.name, r.role {named}",
        f"UPDATE {catalog.GRANTS} SET {changes} WHERE tbl IN ({target.select}) AND role IN ({role_list})",
    ])


def _roles_select(roles: Sequence[str]) -> str:
    return " UNION ALL ".join(f"SELECT {quote_literal(role)} AS role" for role in roles)


def _schema_tables(schema: str) -> str:
    """SQL: every table and view SQLite holds for PostgreSQL schema `schema` (see db.ddl.sqlite_table_name)."""
    kinds = "type IN ('table', 'view')"
    if schema == "public":
        pattern = r"name NOT LIKE '\_%' ESCAPE '\' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'"
    else:
        pattern = "name LIKE " + quote_literal("\\_" + schema.replace("_", "\\_") + "\\_%") + " ESCAPE '\\'"
    return f"SELECT name FROM sqlite_schema WHERE {kinds} AND {pattern}"


def _sqlite_name(schema: str, table: str) -> str:
    from backstack.db.ddl import sqlite_table_name  # db.ddl imports this module's caller

    return sqlite_table_name(schema, table)
