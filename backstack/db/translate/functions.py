"""SQLite translation of `CREATE [OR REPLACE] FUNCTION ... LANGUAGE sql` and `DROP FUNCTION` into
rows of the `_backstack_functions` catalog (`db.catalog`).

SQLite has no stored functions, so a migration's SQL function becomes a catalog row: its
definition as `db/translate/function_def.py` parses it (header and translated body), keyed by
schema, name and input types as PostgreSQL identifies an overload. Creating one that exists
without OR REPLACE is PostgreSQL's 42723; dropping one that does not, without IF EXISTS, 42883.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

import sqlglot
from sqlglot.errors import TokenError

from backstack.core import json
from backstack.db.catalog import function_acl
from backstack.db.catalog.rls import fail_when
from backstack.db.catalog.stamp import stamped
from backstack.db.dialect import quote_literal
from backstack.db.translate.function_def import Cursor, T, parse_argument, parse_create

if TYPE_CHECKING:
    from sqlglot.tokenizer_core import Token

    from backstack.db.translate.function_def import FunctionDef

CATALOG = function_acl.FUNCTIONS
# a function is (schema, name, input types), as in PostgreSQL; older databases: function_acl.upgrade
CREATE_CATALOG = (
    f"CREATE TABLE IF NOT EXISTS {CATALOG} (schema TEXT NOT NULL DEFAULT 'public', name TEXT NOT NULL, "
    "signature TEXT NOT NULL, definition TEXT NOT NULL, PRIMARY KEY (schema, name, signature))"
)


def function_statement(source: str) -> list[str] | None:
    """The SQLite statements for a function statement; None when `source` is not one."""
    if "function" not in source.lower():
        return None
    try:
        tokens = sqlglot.tokenize(source, read="postgres")
    except TokenError:
        return None
    words = [t.text.lower() for t in tokens[:4]]
    if words[:2] == ["create", "function"] or words[:4] == ["create", "or", "replace", "function"]:
        definition = parse_create(source, tokens)
        where = (
            f"schema = {quote_literal(definition.schema)} AND name = {quote_literal(definition.name)} "
            f"AND signature = {quote_literal(definition.signature)}"
        )
        exists = fail_when(
            (
                f"EXISTS (SELECT 1 FROM {CATALOG} WHERE {where})",
                "42723",
                f'function "{definition.name}" already exists with same argument types',
            )
        )
        acl = function_acl.on_create(definition.schema, definition.name, definition.signature)
        return stamped([CREATE_CATALOG, *([] if definition.replace else [exists]), _insert(definition), *acl])
    if words[:2] == ["drop", "function"]:
        return stamped([CREATE_CATALOG, *function_acl.CREATE, *_deletes(source, tokens)])
    return None


def _insert(definition: FunctionDef) -> str:
    verb = "INSERT OR REPLACE" if definition.replace else "INSERT"
    payload = asdict(definition)
    payload.pop("replace")
    values = ", ".join(
        quote_literal(v) for v in (definition.schema, definition.name, definition.signature, json.dumps_str(payload))
    )
    return f"{verb} INTO {CATALOG} (schema, name, signature, definition) VALUES ({values})"


# ------------------------------------------------------------------ DROP FUNCTION


def _deletes(source: str, tokens: list[Token]) -> list[str]:
    """`DROP FUNCTION [IF EXISTS] a(int), b` -> one DELETE per function (all overloads without types);
    without IF EXISTS a missing function is PostgreSQL's 42883."""
    cursor = Cursor(source, tokens, 2)
    if_exists = cursor.word() == "if"
    if if_exists:
        cursor.advance(2)
    statements: list[str] = []
    while not cursor.done and cursor.word() not in ("cascade", "restrict"):
        schema, name = cursor.qualified_name()
        where = f"schema = {quote_literal(schema)} AND name = {quote_literal(name)}"
        shown = name if schema == "public" else f"{schema}.{name}"
        if cursor.kind() == T.L_PAREN:
            types = [a.type for a in (parse_argument(cursor.source, g) for g in cursor.group()) if a.mode != "out"]
            where += f" AND signature = {quote_literal(','.join(types))}"
            shown += f"({', '.join(types)})"
        if not if_exists:
            statements.append(
                fail_when(
                    (f"NOT EXISTS (SELECT 1 FROM {CATALOG} WHERE {where})", "42883", f"function {shown} does not exist")
                )
            )
        statements.append(f"DELETE FROM {CATALOG} WHERE {where}")
        statements.append(function_acl.on_drop(where))
        if cursor.kind() == T.COMMA:
            cursor.advance()
    return statements
