"""SQLite translation of row-level security DDL: ENABLE/DISABLE/FORCE RLS, CREATE/ALTER/DROP POLICY and
GRANT/REVOKE (db.translate.grants), into rows of the catalog tables of `db.catalog.rls`.

Migrations keep PostgreSQL's text; on SQLite each of these statements becomes catalog rows written in
the migration's transaction, followed by the schema stamp of `db.catalog.stamp` so every worker
reloads its policies. Expressions are parsed by sqlglot (PostgreSQL dialect) to reject what is not an
expression, and stored as PostgreSQL text: the policy service turns them into predicates per request.

Errors are PostgreSQL's: what the statement alone shows (WITH CHECK on a SELECT policy, a bad clause)
when it is translated; what depends on the database (a duplicate policy, a missing table) when it
runs, through `backstack_raise`.
"""

from __future__ import annotations

import logging
import re

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from backstack.core import json
from backstack.db.catalog import rls as catalog
from backstack.db.catalog.stamp import stamped
from backstack.db.dialect import quote_literal
from backstack.db.errors import database_error
from backstack.db.translate.clauses import Clauses
from backstack.db.translate.expressions import Refused
from backstack.db.translate.grants import default_privileges, grant_statement, read_roles
from backstack.db.translate.names import sqlite_table_name

COMMANDS = ("all", "select", "insert", "update", "delete")
_CANDIDATE = re.compile(
    r"^\s*(?:(?:--[^\n]*(?:\n|$)|/\*.*?\*/)\s*)*(?:grant|revoke|(?:create|alter|drop)\s+policy|alter\s+(?:table|default))\b",
    re.IGNORECASE | re.DOTALL,
)
_ACTIONS = {"enable": ("enabled", 1), "disable": ("enabled", 0), "force": ("forced", 1), "no": ("forced", 0)}


def policy_statement(source: str) -> list[str] | None:
    """The SQLite statements for an RLS, policy or grant statement; None when `source` is not one."""
    if not _CANDIDATE.match(source):
        return None  # most statements (tables, inserts of a seed): no tokenizing needed
    words = Clauses.of(source)
    if words is None:
        return None
    first, second = words.keyword(0), words.keyword(1)
    if first in ("grant", "revoke"):
        return grant_statement(words)
    if second == "policy" and first in ("create", "alter", "drop"):
        return {"create": _create_policy, "alter": _alter_policy, "drop": _drop_policy}[first](words)
    if (first, second) == ("alter", "default") and words.keyword(2) == "privileges":
        return default_privileges(words)
    if (first, second) == ("alter", "table") and words.mentions("row", "level", "security"):
        return _row_security(words)
    return None


def translated_table_changes(trees: list[exp.Expression]) -> list[str]:
    """Catalog rows that follow DROP TABLE/VIEW (removed) and ALTER TABLE ... RENAME TO (moved), given
    the SQLite statements db.translate.ddl made of one source statement."""
    statements: list[str] = []
    for tree in trees:
        if (
            isinstance(tree, exp.Drop)
            and str(tree.args.get("kind") or "").upper() in ("TABLE", "VIEW")
            and not tree.meta.get("replacing")
        ):
            for table in tree.args.get("tables") or []:
                statements += catalog.forget_table(table.name)
        elif isinstance(tree, exp.Alter) and tree.this is not None:
            for action in tree.args.get("actions") or []:
                if isinstance(action, exp.AlterRename) and action.this is not None:
                    statements += catalog.move_table(tree.this.name, action.this.name)
    return [*catalog.CREATE, *statements] if statements else []


# ------------------------------------------------------------------ ALTER TABLE ... ROW LEVEL SECURITY


def _row_security(words: Clauses) -> list[str]:
    words.expect("alter", "table")
    if_exists = words.accept("if", "exists")
    words.accept("only")
    table, name, written = _table(words)
    actions = words.listed(lambda: _rls_action(words))
    words.end()
    kind = catalog.relation_kind(table)
    checks = [] if if_exists else [(f"{kind} IS NULL", "42P01", f'relation "{written}" does not exist')]
    label = actions[0][0]
    checks.append((f"{kind} = 'view'", "42809", f'ALTER action {label} cannot be performed on relation "{name}"'))
    statements = [*catalog.CREATE]
    for _, column, value in actions:
        statements.append(
            f"INSERT INTO {catalog.RLS} (tbl, {column}) SELECT {quote_literal(table)}, {value} "
            f"WHERE {kind} = 'table' ON CONFLICT (tbl) DO UPDATE SET {column} = excluded.{column}"
        )
    return stamped([catalog.fail_when(*checks), *statements])


def _rls_action(words: Clauses) -> tuple[str, str, int]:
    """(PostgreSQL's name of the action, catalog column, value) for `[NO] FORCE|ENABLE|DISABLE ROW LEVEL SECURITY`."""
    word = words.keyword()
    if word not in _ACTIONS:
        raise Refused("write ROW LEVEL SECURITY changes in an ALTER TABLE statement of their own on SQLite")
    words.choice(word)
    if word == "no":
        words.expect("force")
    words.expect("row", "level", "security")
    column, value = _ACTIONS[word]
    label = "NO FORCE" if word == "no" else word.upper()
    return f"{label} ROW SECURITY", column, value


# ------------------------------------------------------------------ CREATE / ALTER / DROP POLICY


def _create_policy(words: Clauses) -> list[str]:
    words.expect("create", "policy")
    name = words.name()
    words.expect("on")
    table, relname, written = _table(words)
    permissive = not (words.accept("as") and _permissiveness(words) == "restrictive")
    command = words.choice(*COMMANDS) if words.accept("for") else "all"
    roles = read_roles(words) if words.accept("to") else ("public",)
    using = _expression(words.parenthesised(), "USING") if words.accept("using") else None
    check = _expression(words.parenthesised(), "WITH CHECK") if words.accept("with", "check") else None
    words.end()
    if check is not None and command in ("select", "delete"):
        raise database_error("42601", "WITH CHECK cannot be applied to SELECT or DELETE")
    if using is not None and command == "insert":
        raise database_error("42601", "only WITH CHECK expression allowed for INSERT")
    values = ", ".join(
        _literal(v) for v in (table, name, command, int(permissive), json.dumps_str(list(roles)), using, check)
    )
    return stamped(
        [
            *catalog.CREATE,
            _table_checks(table, relname, written),
            catalog.fail_when(_taken(table, name, relname)),
            f"INSERT INTO {catalog.POLICIES} (tbl, name, command, permissive, roles, using_expr, check_expr) "
            f"VALUES ({values})",
        ]
    )


def _permissiveness(words: Clauses) -> str:
    word = words.name()
    if word not in ("permissive", "restrictive"):
        raise database_error(
            "42601",
            f'unrecognized row security option "{word}"',
            hint="Only PERMISSIVE or RESTRICTIVE policies are supported currently.",
        )
    return word


def _alter_policy(words: Clauses) -> list[str]:
    words.expect("alter", "policy")
    name = words.name()
    words.expect("on")
    table, relname, written = _table(words)
    where = _where(table, name)
    statements = [*catalog.CREATE, _table_checks(table, relname, written)]
    if words.accept("rename", "to"):
        new = words.name()
        words.end()
        renaming = catalog.fail_when(_missing(table, name, relname), _taken(table, new, relname))
        return stamped([*statements, renaming, f"UPDATE {catalog.POLICIES} SET name = {quote_literal(new)} {where}"])
    roles = read_roles(words) if words.accept("to") else None
    using = _expression(words.parenthesised(), "USING") if words.accept("using") else None
    check = _expression(words.parenthesised(), "WITH CHECK") if words.accept("with", "check") else None
    words.end()
    checks = [_missing(table, name, relname)]
    command = f"(SELECT command FROM {catalog.POLICIES} {where})"
    if using is not None:
        checks.append((f"{command} = 'insert'", "42601", "only WITH CHECK expression allowed for INSERT"))
    if check is not None:
        only_using = "only USING expression allowed for SELECT, DELETE"
        checks.append((f"{command} IN ('select', 'delete')", "42601", only_using))
    role_list = None if roles is None else json.dumps_str(list(roles))
    updates = {"roles": role_list, "using_expr": using, "check_expr": check}
    sets = ", ".join(f"{column} = {_literal(value)}" for column, value in updates.items() if value is not None)
    statements.append(catalog.fail_when(*checks))
    if sets:
        statements.append(f"UPDATE {catalog.POLICIES} SET {sets} {where}")
    return stamped(statements)


def _drop_policy(words: Clauses) -> list[str]:
    words.expect("drop", "policy")
    if_exists = words.accept("if", "exists")
    name = words.name()
    words.expect("on")
    table, relname, written = _table(words)
    if not words.accept("cascade"):
        words.accept("restrict")
    words.end()
    statements = [*catalog.CREATE]
    if not if_exists:
        statements += [_table_checks(table, relname, written), catalog.fail_when(_missing(table, name, relname))]
    return stamped([*statements, f"DELETE FROM {catalog.POLICIES} {_where(table, name)}"])


# ------------------------------------------------------------------ pieces


def _table(words: Clauses) -> tuple[str, str, str]:
    """(SQLite name, PostgreSQL relation name, name as written) of the table named next."""
    schema, name, written = words.qualified_name()
    return sqlite_table_name(schema, name), name, written


def _table_checks(table: str, relname: str, written: str) -> str:
    kind = catalog.relation_kind(table)
    return catalog.fail_when(
        (f"{kind} IS NULL", "42P01", f'relation "{written}" does not exist'),
        (f"{kind} = 'view'", "42809", f'"{relname}" is not a table'),
    )


def _taken(table: str, name: str, relname: str) -> tuple[str, str, str]:
    return catalog.policy_exists(table, name), "42710", f'policy "{name}" for table "{relname}" already exists'


def _missing(table: str, name: str, relname: str) -> tuple[str, str, str]:
    condition = f"NOT {catalog.policy_exists(table, name)}"
    return condition, "42704", f'policy "{name}" for table "{relname}" does not exist'


def _where(table: str, name: str) -> str:
    return f"WHERE tbl = {quote_literal(table)} AND name = {quote_literal(name)}"


def _literal(value: str | int | None) -> str:
    if value is None:
        return "NULL"
    return str(value) if isinstance(value, int) else quote_literal(value)


def _expression(text: str, clause: str) -> str:
    """`text` as normalised PostgreSQL (identifiers folded as PostgreSQL does); Refused when it is
    not an expression sqlglot can read."""
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        tree = sqlglot.parse_one(text, read="postgres")
    except (ParseError, TokenError) as exc:
        reason = exc.errors[0]["description"] if isinstance(exc, ParseError) and exc.errors else str(exc)
        raise Refused(f"cannot parse the {clause} expression ({text.strip()}): {reason}") from None
    finally:
        logger.setLevel(level)
    if isinstance(tree, (exp.Query, exp.Command, exp.DDL, exp.DML)):
        raise Refused(f"the {clause} expression must not be a statement: {text.strip()}")
    normalized = normalize_identifiers(tree, dialect="postgres")
    return normalized.sql(dialect="postgres")
