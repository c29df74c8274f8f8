"""PostgreSQL-dialect migrations -> SQLite statements (sqlglot AST rewrites, never text edits).

Migrations are written for PostgreSQL (what Supabase users have) and run verbatim there; on
SQLite each statement is parsed with sqlglot and rewritten where SQLite can honour it:

- declared types keep their PostgreSQL names (`boolean`, `jsonb`, `timestamptz`, `uuid`,
  `numeric(10,2)`, `text[]`): SQLite accepts any type name and the JSON output relies on them;
- an identity/serial primary key becomes `integer primary key autoincrement` (a rowid alias);
- `default now()` / `gen_random_uuid()` / `true` / `'{}'::jsonb` / `'{a,b}'` become built-in
  SQLite expressions and literals, so the file stays usable from the plain sqlite3 shell;
- `create or replace view` becomes drop + create; `drop ... cascade` loses `cascade`;
  multi-action `alter table` and multi-table `drop` are split; `public.` qualifiers are dropped;
- `auth.users` becomes `_auth_users` (other schemas are table-name prefixes; `create schema` is a
  no-op) and `auth.uid()`/`auth.role()`/`auth.jwt()` the registered `auth_uid()`... functions;
- statements with no meaning on SQLite are skipped: `comment on`, `grant`/`revoke`,
  `create extension`, `set`, `begin`/`commit`, `notify`, non-btree indexes (performance only).

Anything else SQLite cannot honour (functions, triggers, types, policies, `alter column`...) raises
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

from backstack.core import json
from backstack.core.errors import DatabaseError
from backstack.db.pgtypes import canonical_type, type_kind

if TYPE_CHECKING:
    from backstack.db.schema import Schema

UUID_SQL = (
    "lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-' || "
    "substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)))"
)
NOW_TZ_SQL = "strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')"
NOW_SQL = "strftime('%Y-%m-%dT%H:%M:%f', 'now')"
DATE_SQL = "date('now')"
TIME_SQL = "strftime('%H:%M:%f', 'now')"

Unsupported = Callable[[str, exp.Expression], list[str] | None]
ColumnTypes = dict[str, dict[str, str]]  # table -> column -> PostgreSQL type, in column order

_SKIP_COMMANDS = re.compile(
    r"^\s*(create\s+extension|comment\s+on|grant|revoke|notify|set|reset|begin|start\s+transaction|commit|end|"
    r"analyze|vacuum)\b",
    re.IGNORECASE,
)
_NOW_FUNCTIONS = {"now", "transaction_timestamp", "statement_timestamp", "clock_timestamp"}
_UUID_FUNCTIONS = {"gen_random_uuid", "uuid_generate_v4"}
_SERIALS = {exp.DataType.Type.SERIAL, exp.DataType.Type.BIGSERIAL, exp.DataType.Type.SMALLSERIAL}


@dataclass(frozen=True, slots=True)
class Translated:
    """One source statement and the SQLite statements it became (none when skipped)."""

    source: str
    sqlite: tuple[str, ...]


def to_sqlite(
    sql: str, *, on_unsupported: Unsupported | None = None, column_types: ColumnTypes | None = None
) -> str:
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
        except _Refused as refused:
            raise unsupported(index, source, str(refused)) from None
    return result


def column_types_of(schema: Schema) -> ColumnTypes:
    """The `column_types` argument for `translate`, from an engine's current schema."""
    return {name: {c.name: c.type for c in t.columns.values()} for name, t in schema.tables.items()}


def unsupported(index: int, source: str, reason: str) -> DatabaseError:
    return DatabaseError(
        "0A000", f"SQLite cannot run statement {index}: {_head(source)}", reason, status=400
    )


class _Refused(Exception):
    """A statement SQLite cannot honour; the message says why."""


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
        raise _Refused(f"cannot parse: {exc.errors[0]['description'] if exc.errors else exc}") from None
    finally:
        logger.setLevel(level)
    normalized = normalize_identifiers(tree, dialect="postgres")
    assert isinstance(normalized, exp.Expression)
    return normalized


def _statement(source: str, on_unsupported: Unsupported | None, types: ColumnTypes) -> list[str]:
    if _SKIP_COMMANDS.match(_strip_comments(source)):
        return []
    tree = _parse(source)
    original = tree.copy()
    try:
        if isinstance(tree, exp.Insert):
            _insert_literals(tree, types)
        trees = _rewrite(tree)
    except _Refused:
        if on_unsupported is not None:
            handled = on_unsupported(source, original)
            if handled is not None:
                return handled
        raise
    _remember(original, types)
    return [t.sql(dialect="sqlite") for t in trees]


def _remember(tree: exp.Expression, types: ColumnTypes) -> None:
    """Track column types of tables the script creates, alters and drops."""
    if isinstance(tree, exp.Create) and isinstance(tree.this, exp.Schema):
        table = tree.this.this.name
        types[table] = {
            c.name: _pg_type(c.args["kind"]) for c in tree.this.expressions
            if isinstance(c, exp.ColumnDef) and isinstance(c.args.get("kind"), exp.DataType)
        }
    elif isinstance(tree, exp.Alter) and tree.this is not None:
        for action in tree.args.get("actions") or []:
            if isinstance(action, exp.ColumnDef) and isinstance(action.args.get("kind"), exp.DataType):
                types.setdefault(tree.this.name, {})[action.name] = _pg_type(action.args["kind"])
    elif isinstance(tree, exp.Drop):
        for table in tree.args.get("tables") or []:
            types.pop(table.name, None)


def _insert_literals(tree: exp.Insert, types: ColumnTypes) -> None:
    """`'{a,b}'` into a text[] column -> `'["a","b"]'`; `'t'` into a boolean column -> 1."""
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
        return exp.Literal.string(_array_json(item.this, pg_type))
    if kind == "bool":
        return _cast_literal(item, "bool")
    return item


def _rewrite(tree: exp.Expression) -> list[exp.Expression]:
    if isinstance(tree, (exp.Comment, exp.Grant, exp.Transaction, exp.Commit, exp.Set)):
        return []
    if isinstance(tree, exp.Command):
        words = f"{tree.name} {tree.expression}".split()
        raise _Refused(f"{' '.join(words[:2]).upper()} ... is PostgreSQL-only")
    _qualifiers(tree)
    if isinstance(tree, exp.Create):
        return _create(tree)
    if isinstance(tree, exp.Drop):
        return _drop(tree)
    if isinstance(tree, exp.Alter):
        return _alter(tree)
    if isinstance(tree, (exp.Insert, exp.Update, exp.Delete, exp.Select, exp.Union)):
        return [_dml(tree)]
    raise _Refused(f"{type(tree).__name__.lower()} statements are not supported on SQLite")


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


def sqlite_table_name(schema: str, table: str) -> str:
    """The SQLite name of PostgreSQL table `schema.table`: `t` for public, else `_<schema>_<table>`."""
    return table if schema == "public" else f"_{schema}_{table}"


# ------------------------------------------------------------------ create


def _create(tree: exp.Create) -> list[exp.Expression]:
    kind = str(tree.args.get("kind") or "").upper()
    if kind == "TABLE":
        return [_create_table(tree)]
    if kind == "INDEX":
        return _create_index(tree)
    if kind == "VIEW":
        return _create_view(tree)
    if kind == "SCHEMA":
        return []  # a schema is a table-name prefix on SQLite (see sqlite_table_name)
    raise _Refused(f"CREATE {kind or 'this object'} is PostgreSQL-only")


def _create_table(tree: exp.Create) -> exp.Expression:
    schema = tree.this
    if not isinstance(schema, exp.Schema) or tree.expression is not None:
        raise _Refused("CREATE TABLE needs a column list (AS SELECT / LIKE are not supported)")
    table_pk = next((e for e in schema.expressions if _table_pk(e) is not None), None)
    pk_node = _table_pk(table_pk)
    pk_columns = {_name(e) for e in pk_node.expressions} if pk_node is not None else set()
    for column in schema.expressions:
        if isinstance(column, exp.ColumnDef):
            inline_pk = _has_constraint(column, exp.PrimaryKeyColumnConstraint)
            in_pk = inline_pk or column.name in pk_columns
            if _is_identity(column):
                if not (inline_pk or pk_columns == {column.name}):
                    raise _Refused(f"identity/serial column {column.name!r} must be the only primary key column")
                _rowid_alias(column)
                if table_pk is not None:
                    schema.expressions.remove(table_pk)
                    table_pk = None
            else:
                _column(column, not_null=in_pk)
        else:
            _constraint(column)
    return tree


def _table_pk(node: exp.Expression | None) -> exp.PrimaryKey | None:
    """A table-level PRIMARY KEY, bare or named (`constraint t_pk primary key (a, b)`)."""
    if isinstance(node, exp.PrimaryKey):
        return node
    if isinstance(node, exp.Constraint):
        return next((e for e in node.expressions if isinstance(e, exp.PrimaryKey)), None)
    return None


def _name(node: exp.Expression) -> str:
    return node.name if not isinstance(node, exp.Ordered) else node.this.name


def _constraints(column: exp.ColumnDef) -> list[exp.ColumnConstraint]:
    return list(column.args.get("constraints") or [])


def _has_constraint(column: exp.ColumnDef, kind: type[exp.Expression]) -> bool:
    return any(isinstance(c.args.get("kind"), kind) for c in _constraints(column))


def _is_identity(column: exp.ColumnDef) -> bool:
    kind = column.args.get("kind")
    serial = isinstance(kind, exp.DataType) and kind.this in _SERIALS
    return serial or _has_constraint(column, exp.GeneratedAsIdentityColumnConstraint)


def _rowid_alias(column: exp.ColumnDef) -> None:
    """`bigint generated ... as identity primary key` / `bigserial` -> `integer primary key autoincrement`."""
    column.set("kind", exp.DataType(this=exp.DataType.Type.USERDEFINED, kind="integer"))
    keep = [
        c for c in _constraints(column)
        if isinstance(c.args.get("kind"), (exp.NotNullColumnConstraint, exp.Reference))
    ]
    column.set(
        "constraints",
        [
            exp.ColumnConstraint(kind=exp.PrimaryKeyColumnConstraint()),
            exp.ColumnConstraint(kind=exp.AutoIncrementColumnConstraint()),
            *keep,
        ],
    )


def _column(column: exp.ColumnDef, *, not_null: bool = False) -> None:
    """Keep the PostgreSQL type name; rewrite the default and expressions in constraints."""
    kind = column.args.get("kind")
    pg_type = _pg_type(kind) if isinstance(kind, exp.DataType) else "text"
    if isinstance(kind, exp.DataType):
        column.set("kind", exp.DataType(this=exp.DataType.Type.USERDEFINED, kind=pg_type))
    constraints = _constraints(column)
    for constraint in constraints:
        inner = constraint.args.get("kind")
        if isinstance(inner, exp.DefaultColumnConstraint):
            inner.set("this", _default(inner.this, pg_type))
        elif isinstance(inner, exp.GeneratedAsIdentityColumnConstraint):
            raise _Refused("identity column outside a primary key")
        elif isinstance(inner, exp.Expression):
            constraint.set("kind", _expressions(inner))
    if not_null and not _has_constraint(column, exp.NotNullColumnConstraint):
        constraints.append(exp.ColumnConstraint(kind=exp.NotNullColumnConstraint()))
        column.set("constraints", constraints)


def _pg_type(kind: exp.DataType) -> str:
    text = kind.sql(dialect="postgres").lower()
    text = re.sub(r",\s+", ",", text)
    return re.sub(r"^decimal\b", "numeric", text)


def _constraint(node: exp.Expression) -> None:
    for child in list(node.find_all(exp.Ordered)):
        child.replace(_plain_order(child))
    _expressions(node)


def _default(value: exp.Expression, pg_type: str) -> exp.Expression:
    kind = type_kind(canonical_type(pg_type))
    if kind == "array" and isinstance(value, exp.Literal) and value.is_string:
        return exp.Literal.string(_array_json(value.this, pg_type))
    rewritten = _expressions(value, column_type=pg_type)
    if isinstance(rewritten, (exp.Literal, exp.Null, exp.Boolean)):
        return rewritten
    if isinstance(rewritten, exp.Neg) and isinstance(rewritten.this, exp.Literal):
        return rewritten
    return exp.Paren(this=rewritten)


# ------------------------------------------------------------------ expressions


def _expressions(node: exp.Expression, *, column_type: str = "") -> exp.Expression:
    """Rewrite PostgreSQL-only expressions inside `node` to SQLite built-ins."""

    def rewrite(n: exp.Expression) -> exp.Expression:
        return _rewrite_node(n, column_type, rewrite)

    return node.transform(rewrite, copy=False)


def _rewrite_node(
    node: exp.Expression, column_type: str, again: Callable[[exp.Expression], exp.Expression]
) -> exp.Expression:
    if isinstance(node, exp.CurrentTimestamp) or _is_call(node, _NOW_FUNCTIONS):
        kind = canonical_type(column_type)
        return _sql(NOW_SQL if kind.startswith("timestamp without") else NOW_TZ_SQL)
    if isinstance(node, exp.CurrentDate):
        return _sql(DATE_SQL)
    if isinstance(node, exp.CurrentTime):
        return _sql(TIME_SQL)
    if isinstance(node, exp.Uuid) or _is_call(node, _UUID_FUNCTIONS):
        return _sql(UUID_SQL)
    if isinstance(node, exp.Boolean):
        return exp.Literal.number(1 if node.this else 0)
    if _auth_call(node):
        return exp.Anonymous(this=f"auth_{node.expression.name.lower()}", expressions=[])
    if isinstance(node, (exp.Cast, exp.TryCast)):
        return _cast(node, again)
    if isinstance(node, exp.RegexpILike):
        return exp.Anonymous(this="iregexp", expressions=[node.expression.transform(again), node.this.transform(again)])
    inner: exp.Expression | None = None
    if _is_call(node, {"timezone"}) and _utc(node.expressions[0]):
        inner = node.expressions[1]  # timezone('utc', now()): our now() is UTC already
    elif isinstance(node, exp.AtTimeZone) and _utc(node.args.get("zone")):
        inner = node.this
    if inner is not None:
        rewritten: exp.Expression = inner.transform(again, copy=False)
        return rewritten
    if isinstance(node, exp.Array):
        return _array(node, again)
    return node


def _auth_call(node: exp.Expression) -> bool:
    """`auth.uid()`, `auth.role()`, `auth.jwt()`: Supabase's helpers, registered on SQLite connections
    as `auth_uid()`, `auth_role()`, `auth_jwt()`."""
    return (
        isinstance(node, exp.Dot)
        and node.this.name.lower() == "auth"
        and isinstance(node.expression, exp.Anonymous)
        and node.expression.name.lower() in ("uid", "role", "jwt")
        and not node.expression.expressions
    )


def _utc(zone: exp.Expression | None) -> bool:
    while isinstance(zone, exp.Cast):
        zone = zone.this
    return isinstance(zone, exp.Literal) and zone.this.lower() in ("utc", "etc/utc", "z", "gmt")


def _is_call(node: exp.Expression, names: set[str]) -> bool:
    return isinstance(node, exp.Anonymous) and node.name.lower() in names


def _sql(text: str) -> exp.Expression:
    """A SQLite built-in expression kept verbatim (sqlglot would respell `substr` as `SUBSTRING`,
    which SQLite shells older than 3.34 reject)."""
    return exp.Var(this=text)


def _cast(node: exp.Cast, again: Callable[[exp.Expression], exp.Expression]) -> exp.Expression:
    target = node.args["to"]
    pg_type = _pg_type(target) if isinstance(target, exp.DataType) else "text"
    kind = type_kind(canonical_type(pg_type))
    value: exp.Expression = node.this
    if isinstance(value, exp.Literal) and value.is_string:
        return exp.Literal.string(_array_json(value.this, pg_type)) if kind == "array" else _cast_literal(value, kind)
    value = value.transform(again, copy=False)
    if kind == "array":
        return value
    if kind in ("date", "time"):
        return exp.Anonymous(this=kind, expressions=[value])
    sqlite_type = {"int": "INTEGER", "float": "REAL", "numeric": "NUMERIC", "bool": "INTEGER", "text": "TEXT"}.get(kind)
    if sqlite_type is None:
        return value  # json, uuid, timestamps...: stored as text already
    return exp.Cast(this=value, to=exp.DataType.build(sqlite_type, dialect="sqlite"))


def _cast_literal(value: exp.Literal, kind: str) -> exp.Expression:
    text = value.this
    if kind == "bool":
        return exp.Literal.number(1 if text.strip().lower() in ("t", "true", "y", "yes", "on", "1") else 0)
    if kind in ("int", "float", "numeric"):
        try:
            float(text)
        except ValueError:
            raise _Refused(f"invalid input syntax for type {kind}: {text!r}") from None
        return exp.Literal.number(text.strip())
    return value


def _array(node: exp.Array, again: Callable[[exp.Expression], exp.Expression]) -> exp.Expression:
    items = [item.transform(again, copy=False) for item in node.expressions]
    if all(isinstance(i, (exp.Literal, exp.Null)) for i in items):
        values = [None if isinstance(i, exp.Null) else _literal_value(i) for i in items]
        return exp.Literal.string(json.dumps_str(values))
    return exp.Anonymous(this="json_array", expressions=items)


def _literal_value(item: exp.Expression) -> object:
    if isinstance(item, exp.Literal) and not item.is_string:
        number = float(item.this)
        return int(number) if number.is_integer() and "." not in item.this else number
    return item.this if isinstance(item, exp.Literal) else None


def _array_json(literal: str, pg_type: str) -> str:
    """A PostgreSQL array literal (`{a,"b c",NULL}`) as JSON text (`["a","b c",null]`)."""
    text = literal.strip()
    if text.startswith("["):
        return text  # already JSON
    if not (text.startswith("{") and text.endswith("}")):
        raise _Refused(f"malformed array literal: {literal!r}")
    base = type_kind(canonical_type(pg_type.removesuffix("[]")))
    return json.dumps_str([_array_item(item, quoted, base) for item, quoted in _array_items(text[1:-1])])


def _array_items(body: str) -> list[tuple[str, bool]]:
    items: list[tuple[str, bool]] = []
    current: list[str] = []
    quoted = in_quotes = escaped = False
    for ch in body:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            in_quotes, quoted = not in_quotes, True
        elif ch == "," and not in_quotes:
            items.append(("".join(current).strip() if not quoted else "".join(current), quoted))
            current, quoted = [], False
        elif ch == "{" and not in_quotes:
            raise _Refused("multi-dimensional array literals are not supported on SQLite")
        else:
            current.append(ch)
    if current or quoted or items:
        items.append(("".join(current).strip() if not quoted else "".join(current), quoted))
    return items


def _array_item(item: str, quoted: bool, base: str) -> object:
    if not quoted and item.upper() == "NULL":
        return None
    if base == "int":
        return int(item)
    if base in ("float", "numeric"):
        return float(item)
    if base == "bool":
        return item.lower() in ("t", "true", "1", "yes", "on")
    return item


# ------------------------------------------------------------------ index, view, drop, alter, dml


def _plain_order(node: exp.Ordered) -> exp.Expression:
    """An index/conflict column without NULLS FIRST/LAST, which SQLite allows only in ORDER BY."""
    return exp.Ordered(this=node.this, desc=node.args.get("desc")) if node.args.get("desc") else node.this


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
    params.set("columns", [_plain_order(c) if isinstance(c, exp.Ordered) else c for c in params.expressions
                           or params.args.get("columns") or []])
    where = params.args.get("where")
    if where is not None:
        params.set("where", _expressions(where))
    tree.set("concurrently", False)
    return [tree]


def _create_view(tree: exp.Create) -> list[exp.Expression]:
    if tree.args.get("kind") and any(isinstance(p, exp.MaterializedProperty) for p in tree.find_all(exp.Property)):
        raise _Refused("materialized views are PostgreSQL-only")
    body = tree.expression
    if body is not None:
        tree.set("expression", _dml(body))
    if not tree.args.get("replace"):
        return [tree]
    tree.set("replace", False)
    name = tree.this.copy()
    return [exp.Drop(tables=[name], kind="VIEW", exists=True), tree]


def _drop(tree: exp.Drop) -> list[exp.Expression]:
    kind = str(tree.args.get("kind") or "").upper()
    if kind not in ("TABLE", "VIEW", "INDEX"):
        raise _Refused(f"DROP {kind or 'this object'} is PostgreSQL-only")
    tree.set("cascade", False)
    tree.set("restrict", False)
    tree.set("concurrently", False)
    tables = tree.args.get("tables") or []
    if len(tables) <= 1:
        return [tree]
    return [exp.Drop(tables=[t], kind=kind, exists=tree.args.get("exists")) for t in tables]


def _alter(tree: exp.Alter) -> list[exp.Expression]:
    if str(tree.args.get("kind") or "").upper() != "TABLE":
        raise _Refused("only ALTER TABLE is supported on SQLite")
    actions = tree.args.get("actions") or []
    result: list[exp.Expression] = []
    for action in actions:
        result.append(exp.Alter(this=tree.this.copy(), kind="TABLE", actions=[_alter_action(action)]))
    return result


def _alter_action(action: exp.Expression) -> exp.Expression:
    if isinstance(action, exp.ColumnDef):
        if _is_identity(action) or _has_constraint(action, exp.PrimaryKeyColumnConstraint):
            raise _Refused("SQLite cannot add a primary key or identity column to an existing table")
        if _has_constraint(action, exp.UniqueColumnConstraint):
            raise _Refused("SQLite cannot add a UNIQUE column; add the column, then CREATE UNIQUE INDEX")
        _column(action)
        if any(isinstance(c.find(exp.Paren), exp.Paren) for c in _constraints(action)
               if isinstance(c.args.get("kind"), exp.DefaultColumnConstraint)):
            raise _Refused("SQLite cannot add a column whose default is not a constant")
        return action
    if isinstance(action, (exp.Drop, exp.RenameColumn, exp.AlterRename)):
        if isinstance(action, exp.Drop):
            action.set("cascade", False)
        return action
    raise _Refused(f"ALTER TABLE {type(action).__name__} is not supported on SQLite")


def _dml(tree: exp.Expression) -> exp.Expression:
    for conflict in tree.find_all(exp.OnConflict):
        keys = conflict.args.get("conflict_keys") or []
        conflict.set("conflict_keys", [_plain_order(k) if isinstance(k, exp.Ordered) else k for k in keys])
    return _expressions(tree)
