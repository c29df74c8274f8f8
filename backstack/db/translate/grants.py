"""GRANT and REVOKE on SQLite: table privileges and function EXECUTE as rows of catalog tables.

On Supabase the API roles (anon, authenticated, service_role) hold every privilege on every public
table, and a migration narrows that with `revoke insert on todos from anon`. On SQLite the data API
(through `Table.grants`) enforces what `_backstack_grants` says, and `/rpc` what
`_backstack_function_acl` says about EXECUTE (db.catalog.function_acl), including `ALTER DEFAULT PRIVILEGES
... ON FUNCTIONS`. Column privileges are refused (not enforced on SQLite).

Statements that take nothing away from the API roles are accepted and need no row: GRANTs on
schemas, sequences, types... (the API roles already hold them, as on Supabase), role membership
(the API roles are NOINHERIT), the grant option, default privileges for objects created by a role
other than the migration's. A REVOKE that would take a schema's or sequence's privileges, or
default table/sequence privileges, from an API role is refused: SQLite cannot honour it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from backstack.db.catalog import function_acl
from backstack.db.catalog import rls as catalog
from backstack.db.catalog.stamp import stamped
from backstack.db.dialect import quote_literal
from backstack.db.errors import database_error
from backstack.db.translate.expressions import Refused
from backstack.db.translate.function_def import argument_types
from backstack.db.translate.functions import CATALOG, CREATE_CATALOG
from backstack.db.translate.names import sqlite_table_name

if TYPE_CHECKING:
    from backstack.db.translate.clauses import Clauses

# Roles a Supabase database has; anything else is refused as PostgreSQL would (role does not exist).
KNOWN_ROLES = frozenset(
    {
        *catalog.API_ROLES,
        "postgres",
        "authenticator",
        "dashboard_user",
        "pgbouncer",
        "supabase_admin",
        "supabase_auth_admin",
        "supabase_storage_admin",
        "supabase_functions_admin",
        "supabase_realtime_admin",
        "supabase_replication_admin",
        "supabase_read_only_user",
    }
)
_SESSION_ROLES = ("current_user", "current_role", "session_user")  # the migration's user: postgres
_IGNORED_PRIVILEGES = {"truncate", "references", "trigger", "maintain"}  # no data API meaning
_OTHER_OBJECTS = {
    "sequence",
    "database",
    "domain",
    "foreign",
    "function",
    "procedure",
    "routine",
    "language",
    "large",
    "parameter",
    "schema",
    "tablespace",
    "type",
}


def read_roles(words: Clauses, *, every: bool = False) -> tuple[str, ...]:
    """`role[, ...]` after TO/FROM: sorted, `public` alone when named (it covers every role) unless
    `every` (a REVOKE from public, anon takes it from anon's own grant too)."""
    roles = set(words.listed(lambda: _role(words)))
    return ("public",) if "public" in roles and not every else tuple(sorted(roles))


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
    functions = _functions(words)
    if functions is not None:
        return _function_grant(words, privileges, functions, revoke)
    if (words.keyword() == "all" and words.keyword(1) != "tables") or words.keyword() in _OTHER_OBJECTS:
        return _other_object(words, revoke)
    target = _target(words)
    if columns:
        raise Refused("column privileges (GRANT ... (columns) ON ...) are not supported on SQLite")
    unknown = sorted(set(privileges) - {"all", *catalog.PRIVILEGES, *_IGNORED_PRIVILEGES})
    if unknown:
        raise database_error("0LP01", f"invalid privilege type {unknown[0].upper()} for table")
    words.expect("from" if revoke else "to")
    roles = read_roles(words, every=True)  # WITH GRANT OPTION, GRANTED BY, CASCADE may follow: nothing to keep
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


def _target(words: Clauses) -> _Target:
    """The tables after ON."""
    if words.accept("all", "tables", "in", "schema"):
        return _Target(" UNION ".join(_schema_tables(s) for s in words.listed(words.name)))
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
    return stamped(
        [
            *catalog.CREATE,
            *checks,
            f"INSERT OR IGNORE INTO {catalog.GRANTS} (tbl, role, {columns}) "
            f"SELECT t.name, r.role, {everything} {pairs}",
            f"INSERT OR IGNORE INTO {catalog.GRANTS} (tbl, role) SELECT t.name, r.role {named}",
            f"UPDATE {catalog.GRANTS} SET {changes} WHERE tbl IN ({target.select}) AND role IN ({role_list})",
        ]
    )


def _roles_select(roles: Sequence[str]) -> str:
    return " UNION ALL ".join(f"SELECT {quote_literal(role)} AS role" for role in roles)


def _schema_tables(schema: str) -> str:
    """SQL: every table and view SQLite holds for PostgreSQL schema `schema` (see db.translate.names)."""
    kinds = "type IN ('table', 'view')"
    if schema == "public":
        pattern = r"name NOT LIKE '\_%' ESCAPE '\' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'"
    else:
        pattern = "name LIKE " + quote_literal("\\_" + schema.replace("_", "\\_") + "\\_%") + " ESCAPE '\\'"
    return f"SELECT name FROM sqlite_schema WHERE {kinds} AND {pattern}"


def _sqlite_name(schema: str, table: str) -> str:
    return sqlite_table_name(schema, table)


# ------------------------------------------------------------------ functions, other objects, defaults

_ROUTINES = ("function", "procedure", "routine")
_ROUTINES_PLURAL = ("functions", "procedures", "routines")
_GUARDED_KINDS = ("schema", "sequence", "sequences", "tables")  # privileges the API roles rely on


@dataclass(frozen=True, slots=True)
class _Functions:
    """The functions after ON: SQL selecting (schema, name, signature), and the checks that they exist."""

    select: str
    checks: tuple[str, ...] = ()


def _functions(words: Clauses) -> _Functions | None:
    """`FUNCTION f(args)[, ...]` or `ALL FUNCTIONS IN SCHEMA s[, ...]`; None for other objects."""
    if words.keyword() == "all" and words.keyword(1) in _ROUTINES_PLURAL:
        words.pos += 2
        words.expect("in", "schema")
        schemas = ", ".join(quote_literal(s) for s in words.listed(words.name))
        return _Functions(f"SELECT schema, name, signature FROM {CATALOG} WHERE schema IN ({schemas})")
    if words.keyword() not in _ROUTINES:
        return None
    words.pos += 1
    selects: list[str] = []
    checks: list[str] = []
    for where, shown, overloaded in words.listed(lambda: _function(words)):
        selects.append(f"SELECT schema, name, signature FROM {CATALOG} WHERE {where}")
        count = f"(SELECT count(*) FROM {CATALOG} WHERE {where})"
        failures = [(f"{count} = 0", "42883", f"function {shown} does not exist")]
        if overloaded:
            failures.append((f"{count} > 1", "42725", f'function name "{shown}" is not unique'))
        checks.append(catalog.fail_when(*failures))
    return _Functions(" UNION ".join(selects), tuple(checks))


def _function(words: Clauses) -> tuple[str, str, bool]:
    """(SQL condition on the catalog, the name as PostgreSQL shows it, whether overloads may match)."""
    schema, name, _ = words.qualified_name()
    where = f"schema = {quote_literal(schema)} AND name = {quote_literal(name)}"
    shown = name if schema == "public" else f"{schema}.{name}"
    if words.keyword() != "(":
        return where, shown, True
    start = words.pos
    words.parenthesised()
    types = argument_types(words.source, words.tokens[start + 1 : words.pos - 1])
    return f"{where} AND signature = {quote_literal(','.join(types))}", f"{shown}({', '.join(types)})", False


def _function_grant(words: Clauses, privileges: list[str], functions: _Functions, revoke: bool) -> list[str]:
    unknown = sorted(set(privileges) - {"all", "execute"})
    if unknown:
        raise database_error("0LP01", f"invalid privilege type {unknown[0].upper()} for function")
    words.expect("from" if revoke else "to")
    roles = read_roles(words, every=True)
    return stamped([CREATE_CATALOG, *functions.checks, *function_acl.change(functions.select, roles, grant=not revoke)])


def _other_object(words: Clauses, revoke: bool) -> list[str]:
    """Schemas, sequences, types...: nothing to record; a REVOKE from an API role is refused."""
    kind = words.keyword(1) if words.keyword() == "all" else words.keyword()
    while not words.at_end() and words.keyword() not in ("to", "from"):
        words.pos += 1
    if words.at_end():
        raise words.syntax_error()
    words.pos += 1
    roles = read_roles(words, every=True)
    if revoke and kind in _GUARDED_KINDS:
        _refuse_api_revoke(roles, f"REVOKE ... ON {kind.upper()}")
    return []


def _refuse_api_revoke(roles: Sequence[str], what: str) -> None:
    taken = [r for r in roles if r in catalog.API_ROLES]
    if taken:
        raise Refused(
            f"{what} FROM {', '.join(taken)} cannot be enforced on SQLite (the API roles always hold "
            "schema and sequence privileges there): revoke the table or function privileges instead"
        )


def default_privileges(words: Clauses) -> list[str]:
    """`ALTER DEFAULT PRIVILEGES [FOR ROLE r] [IN SCHEMA s] GRANT|REVOKE ... ON kind TO|FROM roles`."""
    words.expect("alter", "default", "privileges")
    owners = ["postgres"]
    if words.accept("for"):
        words.choice("role", "user")
        owners = list(words.listed(lambda: _role(words)))
    scopes = list(words.listed(words.name)) if words.accept("in", "schema") else [""]
    revoke = words.choice("grant", "revoke") == "revoke"
    if revoke and words.accept("grant", "option", "for"):
        return []
    privileges, _ = _privileges(words)
    words.expect("on")
    kind = words.choice("tables", "sequences", "functions", "routines", "types", "schemas", "large")
    if kind == "large":
        words.expect("objects")
    words.expect("from" if revoke else "to")
    roles = read_roles(words, every=True)
    if "postgres" not in owners:
        return []  # defaults for objects another role creates: every object here is created by postgres
    if kind in ("functions", "routines"):
        unknown = sorted(set(privileges) - {"all", "execute"})
        if unknown:
            raise database_error("0LP01", f"invalid privilege type {unknown[0].upper()} for function")
        return stamped(function_acl.change_defaults(scopes, roles, grant=not revoke))
    if revoke and kind in ("tables", "sequences"):
        taken = [r for r in roles if r in catalog.API_ROLES]
        if taken:
            raise Refused(
                f"ALTER DEFAULT PRIVILEGES ... REVOKE ... ON {kind.upper()} FROM {', '.join(taken)} is not "
                f"supported on SQLite: write a REVOKE for each table after creating it"
            )
    return []  # grants the API roles already hold (Supabase's defaults), or revokes from other roles
