"""Expression rewrites for db.translate.ddl: PostgreSQL built-ins, casts and literals -> SQLite built-ins."""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlglot import exp

from backstack.core import json
from backstack.db.pgtypes import ranges as pgrange
from backstack.db.pgtypes.names import canonical_type, type_kind

UUID_SQL = (
    "lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-' || "
    "substr('89ab', 1 + (abs(random()) % 4), 1) || substr(hex(randomblob(2)), 2) || '-' || hex(randomblob(6)))"
)
NOW_TZ_SQL = "strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now')"
NOW_SQL = "strftime('%Y-%m-%dT%H:%M:%f', 'now')"
DATE_SQL = "date('now')"
TIME_SQL = "strftime('%H:%M:%f', 'now')"


_NOW_FUNCTIONS = {"now", "transaction_timestamp", "statement_timestamp", "clock_timestamp"}
_UUID_FUNCTIONS = {"gen_random_uuid", "uuid_generate_v4"}
# Schemas a translated built-in may be written under: Supabase keeps uuid-ossp and pgcrypto in
# `extensions` (its migrations write `extensions.uuid_generate_v4()`), PostgreSQL's own in `pg_catalog`.
_FUNCTION_SCHEMAS = {"extensions", "pg_catalog", "public"}
_QUALIFIABLE = _NOW_FUNCTIONS | _UUID_FUNCTIONS | {"timezone"}


class Refused(Exception):
    """A statement SQLite cannot honour; the message says why."""


def pg_type_of(kind: exp.DataType) -> str:
    text = kind.sql(dialect="postgres").lower()
    text = re.sub(r",\s+", ",", text)
    return re.sub(r"^decimal\b", "numeric", text)


def plain_order(node: exp.Ordered) -> exp.Expression:
    """An index/conflict column without NULLS FIRST/LAST, which SQLite allows only in ORDER BY."""
    return exp.Ordered(this=node.this, desc=node.args.get("desc")) if node.args.get("desc") else node.this


def rewrite_expressions(node: exp.Expression, *, column_type: str = "") -> exp.Expression:
    """Rewrite PostgreSQL-only expressions inside `node` to SQLite built-ins."""

    def rewrite(n: exp.Expression) -> exp.Expression:
        return _rewrite_node(n, column_type, rewrite)

    return node.transform(rewrite, copy=False)


def _rewrite_node(
    node: exp.Expression, column_type: str, again: Callable[[exp.Expression], exp.Expression]
) -> exp.Expression:
    if _qualified_builtin(node):
        return again(node.expression)
    if isinstance(node, exp.CurrentTimestamp) or _is_call(node, _NOW_FUNCTIONS):
        kind = canonical_type(column_type)
        return _builtin_sql(NOW_SQL if kind.startswith("timestamp without") else NOW_TZ_SQL)
    if isinstance(node, exp.CurrentDate):
        return _builtin_sql(DATE_SQL)
    if isinstance(node, exp.CurrentTime):
        return _builtin_sql(TIME_SQL)
    if isinstance(node, exp.Uuid) or _is_call(node, _UUID_FUNCTIONS):
        return _builtin_sql(UUID_SQL)
    if isinstance(node, exp.Boolean):
        return exp.Literal.number(1 if node.this else 0)
    helper = _supabase_helper(node)
    if helper is not None:
        return exp.Anonymous(this=helper, expressions=[])
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


# Supabase's helper functions, registered on SQLite connections (db.sqlite.functions) under one name.
_SUPABASE_HELPERS = {
    ("auth", "uid"): "auth_uid",
    ("auth", "role"): "auth_role",
    ("auth", "jwt"): "auth_jwt",
    ("realtime", "topic"): "realtime_topic",
}


def _supabase_helper(node: exp.Expression) -> str | None:
    """The SQLite function standing for `auth.uid()`, `auth.role()`, `auth.jwt()` or `realtime.topic()`
    (called without arguments), or None when `node` is not one."""
    if not (
        isinstance(node, exp.Dot) and isinstance(node.expression, exp.Anonymous) and not node.expression.expressions
    ):
        return None
    return _SUPABASE_HELPERS.get((node.this.name.lower(), node.expression.name.lower()))


def _qualified_builtin(node: exp.Expression) -> bool:
    """`extensions.uuid_generate_v4()`, `pg_catalog.now()`: a translated built-in under its schema."""
    return (
        isinstance(node, exp.Dot)
        and isinstance(node.this, exp.Identifier)
        and node.this.name.lower() in _FUNCTION_SCHEMAS
        and _is_call(node.expression, _QUALIFIABLE)
    )


def _utc(zone: exp.Expression | None) -> bool:
    while isinstance(zone, exp.Cast):
        zone = zone.this
    return isinstance(zone, exp.Literal) and zone.this.lower() in ("utc", "etc/utc", "z", "gmt")


def _is_call(node: exp.Expression, names: set[str]) -> bool:
    return isinstance(node, exp.Anonymous) and node.name.lower() in names


def _builtin_sql(text: str) -> exp.Expression:
    """A SQLite built-in expression kept verbatim (sqlglot would respell `substr` as `SUBSTRING`,
    which SQLite shells older than 3.34 reject)."""
    return exp.Var(this=text)


def _cast(node: exp.Cast, again: Callable[[exp.Expression], exp.Expression]) -> exp.Expression:
    target = node.args["to"]
    pg_type = pg_type_of(target) if isinstance(target, exp.DataType) else "text"
    kind = type_kind(canonical_type(pg_type))
    value: exp.Expression = node.this
    if isinstance(value, exp.Literal) and value.is_string:
        if kind == "range":
            return range_literal(value.this, pg_type)
        return exp.Literal.string(array_json(value.this, pg_type)) if kind == "array" else cast_literal(value, kind)
    value = value.transform(again, copy=False)
    if kind == "array":
        return value
    if kind == "range":  # made canonical when the statement runs, as PostgreSQL's cast does
        return exp.Anonymous(this="_bs_range", expressions=[value, exp.Literal.string(canonical_type(pg_type))])
    if kind in ("date", "time"):
        return exp.Anonymous(this=kind, expressions=[value])
    sqlite_type = {"int": "INTEGER", "float": "REAL", "numeric": "NUMERIC", "bool": "INTEGER", "text": "TEXT"}.get(kind)
    if sqlite_type is None:
        return value  # json, uuid, timestamps...: stored as text already
    return exp.Cast(this=value, to=exp.DataType.build(sqlite_type, dialect="sqlite"))


def range_literal(text: str, pg_type: str) -> exp.Expression:
    """A range literal as the canonical text SQLite stores (`'[1,5]'::int4range` -> `'[1,6)'`);
    a malformed one is PostgreSQL's 22P02, raised when the migration is translated."""
    return exp.Literal.string(pgrange.canonical(text, canonical_type(pg_type)))


def cast_literal(value: exp.Literal, kind: str) -> exp.Expression:
    text = value.this
    if kind == "bool":
        return exp.Literal.number(1 if text.strip().lower() in ("t", "true", "y", "yes", "on", "1") else 0)
    if kind in ("int", "float", "numeric"):
        try:
            float(text)
        except ValueError:
            raise Refused(f"invalid input syntax for type {kind}: {text!r}") from None
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


def array_json(literal: str, pg_type: str) -> str:
    """A PostgreSQL array literal (`{a,"b c",NULL}`) as JSON text (`["a","b c",null]`)."""
    text = literal.strip()
    if text.startswith("["):
        return text  # already JSON
    if not (text.startswith("{") and text.endswith("}")):
        raise Refused(f"malformed array literal: {literal!r}")
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
            raise Refused("multi-dimensional array literals are not supported on SQLite")
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
