"""PostgreSQL-dialect migrations -> SQLite statements (sqlglot AST rewrites, never text edits).

Migrations are written for PostgreSQL (what Supabase users have) and run verbatim there; on
SQLite each statement is parsed with sqlglot and rewritten where SQLite can honour it:

- declared types keep their PostgreSQL names (`boolean`, `jsonb`, `timestamptz`, `uuid`,
  `numeric(10,2)`, `text[]`): SQLite accepts any type name and the JSON output relies on them;
- an identity/serial primary key becomes `integer primary key autoincrement` (a rowid alias);
- `default now()` / `gen_random_uuid()` / `true` / `'{}'::jsonb` / `'{a,b}'` become built-in
  SQLite expressions and literals, so the file stays usable from the plain sqlite3 shell;
- `create or replace view` becomes drop + create (keeping the view's grants); view options
  (`security_invoker`, `security_barrier`, `check_option`) become catalog rows (views.py);
  `drop ... cascade` loses `cascade`;
  multi-action `alter table` and multi-table `drop` are split; `public.` qualifiers are dropped;
- `auth.users` becomes `_auth_users` (other schemas are table-name prefixes; `create schema` is a
  no-op) and `auth.uid()`/`auth.role()`/`auth.jwt()` the registered `auth_uid()`... functions;
- statements with no meaning on SQLite are skipped: `comment on`, `create extension`, `set`,
  `begin`/`commit`, `notify`, non-btree indexes (performance only);
- row-level security (`alter table ... enable row level security`, `create/alter/drop policy`,
  `grant`/`revoke`) becomes rows of SQLite catalog tables (policies.py), which `drop table`
  and `alter table ... rename to` keep in step;
- a GIN index over `to_tsvector(col)` becomes an FTS5 index with triggers (fts.py), so
  full-text filters work on both engines from the same migration;
- `alter publication supabase_realtime add|drop|set table ...` becomes rows of
  `_backstack_publication` (publication.py), whose tables the engine captures the changes of.

Anything else SQLite cannot honour (functions, triggers, types, `alter column`...) raises
`DatabaseError` 0A000 naming the statement, unless an `on_unsupported` callback (the policy
service's, say) returns SQLite statements for it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.optimizer.normalize_identifiers import normalize_identifiers

from backstack.core.errors import DatabaseError
from backstack.db.pgtypes.names import canonical_type, type_kind
from backstack.db.translate.expressions import (
    Refused,
    array_json,
    cast_literal,
    pg_type_of,
    plain_order,
    range_literal,
    rewrite_expressions,
)
from backstack.db.translate.fts import fts_index
from backstack.db.translate.functions import function_statement
from backstack.db.translate.names import sqlite_table_name
from backstack.db.translate.policies import policy_statement, translated_table_changes
from backstack.db.translate.publication import publication_statement
from backstack.db.translate.tables import constraints_of, create_table, has_constraint, is_identity, rewrite_column
from backstack.db.translate.views import split_view_options, view_rows

if TYPE_CHECKING:
    from backstack.db.schema.model import Schema

Unsupported = Callable[[str, exp.Expression], list[str] | None]
ColumnTypes = dict[str, dict[str, str]]  # table -> column -> PostgreSQL type, in column order

_SKIP_COMMANDS = re.compile(
    r"^\s*(create\s+extension|comment\s+on|notify|set|reset|begin|start\s+transaction|commit|end|"
    r"analyze|vacuum)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Translated:
    """One source statement and the SQLite statements it became (none when skipped)."""

    source: str
    sqlite: tuple[str, ...]


def to_sqlite(sql: str, *, on_unsupported: Unsupported | None = None, column_types: ColumnTypes | None = None) -> str:
    """The SQLite script for a PostgreSQL-dialect script (statements joined by `;\\n`)."""
    translated = translate(sql, on_unsupported=on_unsupported, column_types=column_types)
    return "".join(f"{s};\n" for t in translated for s in t.sqlite)


def translate(
    sql: str, *, on_unsupported: Unsupported | None = None, column_types: ColumnTypes | None = None
) -> list[Translated]:
    """Translate each statement of `sql`; raises DatabaseError 0A000 naming the first one SQLite
    cannot honour.

    `column_types` (existing tables' PostgreSQL types, e.g. from the engine's schema) lets
    `insert ... values ('{a,b}', 't')` store arrays as JSON and booleans as 1/0; tables created
    earlier in the same script are known without it.
    """
    types: ColumnTypes = {t: dict(cols) for t, cols in (column_types or {}).items()}
    result: list[Translated] = []
    for index, source in enumerate(split(sql), 1):
        try:
            result.append(Translated(source, tuple(_statement(source, on_unsupported, types))))
        except Refused as refused:
            raise unsupported(index, source, str(refused)) from None
        except DatabaseError as error:  # what PostgreSQL itself refuses (db.translate.policies): say where
            raise DatabaseError(
                error.code, error.message, f"statement {index}: {_head(source)}", error.hint, status=error.status
            ) from None
    return result


def column_types_of(schema: Schema) -> ColumnTypes:
    """The `column_types` argument for `translate`, from an engine's current schema."""
    return {name: {c.name: c.type for c in t.columns.values()} for name, t in schema.tables.items()}


def unsupported(index: int, source: str, reason: str) -> DatabaseError:
    return DatabaseError("0A000", f"SQLite cannot run statement {index}: {_head(source)}", reason, status=400)


def split(sql: str) -> list[str]:
    """Split a PostgreSQL script into statements (quotes, dollar quotes and comments respected)."""
    try:
        tokens = sqlglot.tokenize(sql, read="postgres")
    except TokenError as exc:
        raise DatabaseError("42601", "cannot split the script into statements", str(exc)) from None
    statements: list[str] = []
    start = 0
    for token in tokens:
        if token.token_type == sqlglot.TokenType.SEMICOLON:
            statements.append(sql[start : token.start])
            start = token.end + 1
    statements.append(sql[start:])
    return [s.strip() for s in statements if _has_tokens(s)]


def _has_tokens(text: str) -> bool:
    try:
        return bool(sqlglot.tokenize(text, read="postgres"))
    except TokenError:
        return True


def _head(source: str, limit: int = 80) -> str:
    text = " ".join(_strip_comments(source).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _strip_comments(source: str) -> str:
    return re.sub(r"--[^\n]*|/\*.*?\*/", " ", source, flags=re.DOTALL)


def _parse(source: str) -> exp.Expression:
    logger = logging.getLogger("sqlglot")
    level = logger.level
    logger.setLevel(logging.ERROR)  # "falling back to parsing as a Command" is expected here
    try:
        tree = sqlglot.parse_one(source, read="postgres")
    except ParseError as exc:
        raise Refused(f"cannot parse: {exc.errors[0]['description'] if exc.errors else exc}") from None
    finally:
        logger.setLevel(level)
    normalized = normalize_identifiers(tree, dialect="postgres")
    assert isinstance(normalized, exp.Expression)
    return normalized


def _statement(source: str, on_unsupported: Unsupported | None, types: ColumnTypes) -> list[str]:
    for catalog_statement in (policy_statement, function_statement, publication_statement):  # db.catalog rows
        handled = catalog_statement(source)
        if handled is not None:
            return handled
    if _SKIP_COMMANDS.match(_strip_comments(source)):
        return []
    view = split_view_options(source)
    tree = _parse(source if view is None else view[0])
    search_index = fts_index(tree)
    if search_index is not None:
        return search_index
    original = tree.copy()
    try:
        if isinstance(tree, exp.Insert):
            _insert_literals(tree, types)
        trees = _rewrite(tree)
    except Refused:
        if on_unsupported is not None:
            handled = on_unsupported(source, original)
            if handled is not None:
                return handled
        raise
    _remember(original, types)
    options = [] if view is None else [s for t in trees for s in view_rows(_view_name(t), view[1]) if _view_name(t)]
    return [*(t.sql(dialect="sqlite") for t in trees), *translated_table_changes(trees), *options]


def _view_name(tree: exp.Expression) -> str:
    """The name of the view `tree` creates; "" when it creates none."""
    if not isinstance(tree, exp.Create) or str(tree.args.get("kind") or "").upper() != "VIEW":
        return ""
    target = tree.this.this if isinstance(tree.this, exp.Schema) else tree.this
    return target.name if isinstance(target, exp.Table) else ""


def _remember(tree: exp.Expression, types: ColumnTypes) -> None:
    """Track column types of tables the script creates, alters and drops."""
    if isinstance(tree, exp.Create) and isinstance(tree.this, exp.Schema):
        table = tree.this.this.name
        types[table] = {
            c.name: pg_type_of(c.args["kind"])
            for c in tree.this.expressions
            if isinstance(c, exp.ColumnDef) and isinstance(c.args.get("kind"), exp.DataType)
        }
    elif isinstance(tree, exp.Alter) and tree.this is not None:
        for action in tree.args.get("actions") or []:
            if isinstance(action, exp.ColumnDef) and isinstance(action.args.get("kind"), exp.DataType):
                types.setdefault(tree.this.name, {})[action.name] = pg_type_of(action.args["kind"])
    elif isinstance(tree, exp.Drop):
        for table in tree.args.get("tables") or []:
            types.pop(table.name, None)


def _insert_literals(tree: exp.Insert, types: ColumnTypes) -> None:
    """`'{a,b}'` into a text[] column -> `'["a","b"]'`; `'t'` into a boolean column -> 1; `'[1,5]'`
    into an int4range column -> `'[1,6)'` (ranges are stored as PostgreSQL prints them)."""
    target = tree.this
    table = target.this if isinstance(target, exp.Schema) else target
    known = types.get(table.name if isinstance(table, exp.Table) else "", {})
    values = tree.expression
    if not known or not isinstance(values, exp.Values):
        return
    names = [c.name for c in target.expressions] if isinstance(target, exp.Schema) else list(known)
    for row in values.expressions:
        for item, name in zip(row.expressions, names, strict=False):
            if isinstance(item, exp.Literal) and item.is_string and name in known:
                item.replace(_typed_literal(item, known[name]))


def _typed_literal(item: exp.Literal, pg_type: str) -> exp.Expression:
    kind = type_kind(canonical_type(pg_type))
    if kind == "array":
        return exp.Literal.string(array_json(item.this, pg_type))
    if kind == "bool":
        return cast_literal(item, "bool")
    if kind == "range":
        return range_literal(item.this, pg_type)
    return item


def _rewrite(tree: exp.Expression) -> list[exp.Expression]:
    if isinstance(tree, (exp.Comment, exp.Transaction, exp.Commit, exp.Set)):
        return []
    if isinstance(tree, exp.Command):
        words = f"{tree.name} {tree.expression}".split()
        raise Refused(f"{' '.join(words[:2]).upper()} ... is PostgreSQL-only")
    _qualifiers(tree)
    if isinstance(tree, exp.Create):
        return _create(tree)
    if isinstance(tree, exp.Drop):
        return _drop(tree)
    if isinstance(tree, exp.Alter):
        return _alter(tree)
    if isinstance(tree, (exp.Insert, exp.Update, exp.Delete, exp.Select, exp.Union)):
        return [_dml(tree)]
    raise Refused(f"{type(tree).__name__.lower()} statements are not supported on SQLite")


def _qualifiers(tree: exp.Expression) -> None:
    """SQLite has one namespace: `public.t` is `t`, and `auth.users` is `_auth_users` (tables of
    other schemas live under a `_<schema>_` prefix, which the data API never exposes)."""
    for table in tree.find_all(exp.Table):
        schema = table.args.get("db")
        if schema is None:
            continue
        if schema.name.lower() != "public":
            table.set("this", exp.to_identifier(sqlite_table_name(schema.name, table.name)))
        table.set("db", None)
        table.set("catalog", None)


# ------------------------------------------------------------------ index, view, drop, alter, dml


def _create(tree: exp.Create) -> list[exp.Expression]:
    kind = str(tree.args.get("kind") or "").upper()
    if kind == "TABLE":
        if any(isinstance(p, exp.InheritsProperty) for p in tree.find_all(exp.Property)):
            raise Refused(
                "INHERITS is PostgreSQL-only: SQLite has no table inheritance (reads of the parent would "
                "miss the child's rows, and its policies would not cover them); declare the columns instead"
            )
        return [create_table(tree)]
    if kind == "INDEX":
        return _create_index(tree)
    if kind == "VIEW":
        return _create_view(tree)
    if kind == "SCHEMA":
        return []  # a schema is a table-name prefix on SQLite (see sqlite_table_name)
    raise Refused(f"CREATE {kind or 'this object'} is PostgreSQL-only")


def _create_index(tree: exp.Create) -> list[exp.Expression]:
    index = tree.this
    params = index.args.get("params") if isinstance(index, exp.Index) else None
    if params is None:
        return [tree]
    using = params.args.get("using")
    if using is not None and using.name.lower() not in ("btree", "hash"):
        return []  # gin/gist/brin: a performance structure SQLite has no use for; meaning is unchanged
    params.set("using", None)
    params.set("include", None)
    params.set(
        "columns",
        [
            plain_order(c) if isinstance(c, exp.Ordered) else c
            for c in params.expressions or params.args.get("columns") or []
        ],
    )
    where = params.args.get("where")
    if where is not None:
        params.set("where", rewrite_expressions(where))
    tree.set("concurrently", False)
    return [tree]


def _create_view(tree: exp.Create) -> list[exp.Expression]:
    if tree.args.get("kind") and any(isinstance(p, exp.MaterializedProperty) for p in tree.find_all(exp.Property)):
        raise Refused("materialized views are PostgreSQL-only")
    body = tree.expression
    if body is not None:
        tree.set("expression", _dml(body))
    if not tree.args.get("replace"):
        return [tree]
    tree.set("replace", False)
    name = tree.this.copy()
    drop = exp.Drop(tables=[name], kind="VIEW", exists=True)
    drop.meta["replacing"] = True  # the view's grants stay, as on PostgreSQL (db.translate.policies)
    return [drop, tree]


def _drop(tree: exp.Drop) -> list[exp.Expression]:
    kind = str(tree.args.get("kind") or "").upper()
    if kind not in ("TABLE", "VIEW", "INDEX"):
        raise Refused(f"DROP {kind or 'this object'} is PostgreSQL-only")
    tree.set("cascade", False)
    tree.set("restrict", False)
    tree.set("concurrently", False)
    tables = tree.args.get("tables") or []
    if len(tables) <= 1:
        return [tree]
    return [exp.Drop(tables=[t], kind=kind, exists=tree.args.get("exists")) for t in tables]


def _alter(tree: exp.Alter) -> list[exp.Expression]:
    if str(tree.args.get("kind") or "").upper() != "TABLE":
        raise Refused("only ALTER TABLE is supported on SQLite")
    actions = tree.args.get("actions") or []
    result: list[exp.Expression] = []
    for action in actions:
        result.append(exp.Alter(this=tree.this.copy(), kind="TABLE", actions=[_alter_action(action)]))
    return result


def _alter_action(action: exp.Expression) -> exp.Expression:
    if isinstance(action, exp.ColumnDef):
        if is_identity(action) or has_constraint(action, exp.PrimaryKeyColumnConstraint):
            raise Refused("SQLite cannot add a primary key or identity column to an existing table")
        if has_constraint(action, exp.UniqueColumnConstraint):
            raise Refused("SQLite cannot add a UNIQUE column; add the column, then CREATE UNIQUE INDEX")
        rewrite_column(action)
        if any(
            isinstance(c.find(exp.Paren), exp.Paren)
            for c in constraints_of(action)
            if isinstance(c.args.get("kind"), exp.DefaultColumnConstraint)
        ):
            raise Refused("SQLite cannot add a column whose default is not a constant")
        return action
    if isinstance(action, (exp.Drop, exp.RenameColumn, exp.AlterRename)):
        if isinstance(action, exp.Drop):
            action.set("cascade", False)
        return action
    raise Refused(f"ALTER TABLE {type(action).__name__} is not supported on SQLite")


def _dml(tree: exp.Expression) -> exp.Expression:
    for conflict in tree.find_all(exp.OnConflict):
        keys = conflict.args.get("conflict_keys") or []
        conflict.set("conflict_keys", [plain_order(k) if isinstance(k, exp.Ordered) else k for k in keys])
    return rewrite_expressions(tree)
