"""`alter publication supabase_realtime add|drop|set table ...` on SQLite: rows of `_backstack_publication`.

SQLite has no publications; the one Supabase projects have, `supabase_realtime`, is a catalog
table of published tables (db.catalog.publication) that exists from engine start, and the engine
keeps its capture triggers in step after every script (db.sqlite.capture). What PostgreSQL would
refuse (a missing table, a view, a table already published or not published) fails the same way,
in the migration's transaction. Forms SQLite cannot honour (other publications, column lists,
row filters, `tables in schema`, publication options) are refused, never ignored;
`owner to` has no meaning without roles owning objects and is skipped.
"""

from __future__ import annotations

import re

from backstack.db.catalog import rls as catalog
from backstack.db.catalog.publication import PUBLICATION, PUBLISHED
from backstack.db.catalog.stamp import stamped
from backstack.db.dialect import quote_literal
from backstack.db.errors import database_error
from backstack.db.translate.clauses import Clauses
from backstack.db.translate.expressions import Refused
from backstack.db.translate.names import sqlite_table_name

_CANDIDATE = re.compile(
    r"^\s*(?:(?:--[^\n]*(?:\n|$)|/\*.*?\*/)\s*)*(?:create|alter|drop)\s+publication\b", re.IGNORECASE | re.DOTALL
)


def publication_statement(source: str) -> list[str] | None:
    """The SQLite statements for a publication statement; None when `source` is not one."""
    if not _CANDIDATE.match(source):
        return None
    words = Clauses.of(source)
    if words is None:
        return None
    verb = words.choice("create", "alter", "drop")
    words.expect("publication")
    if verb == "drop":
        raise Refused(f"DROP PUBLICATION is PostgreSQL-only: on SQLite {PUBLICATION} always exists")
    name = words.name()
    if name != PUBLICATION:
        raise Refused(f"only the publication {PUBLICATION} exists on SQLite (not {name!r})")
    if verb == "create":
        raise database_error("42710", f'publication "{PUBLICATION}" already exists')
    action = words.keyword()
    if action == "owner":
        return []  # `owner to role`: no object owners on SQLite
    if action not in ("add", "drop", "set"):
        raise Refused(f"ALTER PUBLICATION ... {action.upper() or 'this form'} is PostgreSQL-only")
    words.choice(action)
    if words.keyword() != "table":
        raise Refused("only ALTER PUBLICATION ... ADD|DROP|SET TABLE is supported on SQLite")
    words.expect("table")
    tables = words.listed(lambda: _table(words))
    words.end()
    return stamped([*catalog.CREATE, *{"add": _add, "drop": _drop, "set": _set}[action](tables)])


def _table(words: Clauses) -> tuple[str, str]:
    """(SQLite name, name as written) of one table of the list; column lists and row filters refused."""
    words.accept("only")
    schema, name, written = words.qualified_name()
    words.accept("*")
    if words.keyword() == "where" or not (words.at_end() or words.at(",")):
        raise Refused("column lists and row filters (WHERE) of a publication are PostgreSQL-only")
    return sqlite_table_name(schema, name), written


def _is_table(table: str, written: str) -> list[tuple[str, str, str]]:
    kind = catalog.relation_kind(table)
    return [
        (f"{kind} IS NULL", "42P01", f'relation "{written}" does not exist'),
        (f"{kind} = 'view'", "42809", f'cannot add relation "{written}" to publication'),
    ]


def _published(table: str) -> str:
    return f"EXISTS (SELECT 1 FROM {PUBLISHED} WHERE tbl = {quote_literal(table)})"


def _add(tables: list[tuple[str, str]]) -> list[str]:
    statements: list[str] = []
    for table, written in tables:
        taken = (_published(table), "42710", f'relation "{written}" is already member of publication "{PUBLICATION}"')
        statements += [catalog.fail_when(*_is_table(table, written), taken), _insert(table)]
    return statements


def _drop(tables: list[tuple[str, str]]) -> list[str]:
    statements: list[str] = []
    for table, written in tables:
        missing = (f"NOT {_published(table)}", "42704", f'relation "{written}" is not part of the publication')
        statements += [
            catalog.fail_when(missing),
            f"DELETE FROM {PUBLISHED} WHERE tbl = {quote_literal(table)}",
        ]
    return statements


def _set(tables: list[tuple[str, str]]) -> list[str]:
    checks = [catalog.fail_when(*_is_table(table, written)) for table, written in tables]
    return [*checks, f"DELETE FROM {PUBLISHED}", *(_insert(table) for table, _ in tables)]


def _insert(table: str) -> str:
    return f"INSERT OR IGNORE INTO {PUBLISHED} (tbl) VALUES ({quote_literal(table)})"
