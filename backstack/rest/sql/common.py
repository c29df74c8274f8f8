"""Building blocks of the data API's SQL: bound parameters, table references, column expressions
and the JSON / CSV value of each output field, for both dialects.

Rules every builder follows: values are bound parameters (numbered, `?N` on SQLite and `$N` on
PostgreSQL, so one fragment can be reused, e.g. the WHERE of a page and of its count); identifiers
go through `dialect.quote_ident`; the only literals spliced in are built here from validated names
(JSON path keys, through `quote_literal`).

On PostgreSQL the database's own JSON functions type the output. On SQLite the declared column
kind decides: booleans (stored 0/1) become `true`/`false`, json and array columns (stored as text)
are embedded as JSON, blobs become `\\x..` hex as PostgreSQL prints bytea.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from backstack.db.dialect import quote_ident, quote_literal
from backstack.rest import errors
from backstack.rest.plan.resolve import CASTS
from backstack.rest.request.query import Placeholder

if TYPE_CHECKING:
    from backstack.db.dialect import Dialect
    from backstack.db.schema.model import Table, TypeKind
    from backstack.rest.plan.resolve import Col, OutField
    from backstack.rest.request.query import JsonStep

_TRUE_WORDS = "('t','true','y','yes','on','1')"


@dataclass(frozen=True, slots=True)
class Deferred:
    """A parameter made from the request's `index`-th filter value at run time (`Statement.with_values`)."""

    index: int
    convert: Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class Statement:
    """SQL text and its parameters; `params[0]` may be a slot filled at run time (`bind`), and a
    statement compiled from a request's shape holds `Deferred` parameters (`with_values`)."""

    sql: str
    params: tuple[Any, ...] = ()

    def bind(self, first: Any) -> tuple[Any, ...]:
        """The parameters with the run-time value (request body, list of row ids) in slot 1."""
        return (first, *self.params[1:])

    def with_values(self, values: Sequence[Any]) -> Statement:
        """This statement for one request: each `Deferred` converted from that request's values
        (conversion errors are the ones compiling with the values would raise)."""
        if not values:  # a shape without values compiles to no `Deferred`
            return self
        return Statement(
            self.sql, tuple([p.convert(values[p.index]) if type(p) is Deferred else p for p in self.params])
        )


@dataclass(slots=True)
class Ctx:
    """One statement being built: its dialect and the parameters bound so far."""

    dialect: Dialect
    schema_name: str = "public"
    params: list[Any] = field(default_factory=list)

    @property
    def sqlite(self) -> bool:
        return self.dialect.is_sqlite

    def param(self, value: Any) -> str:
        """Bind `value`; return its placeholder."""
        self.params.append(value)
        return self.placeholder(len(self.params))

    def bind(self, value: Any, convert: Callable[[Any], Any] = str) -> str:
        """Bind a filter's value as `convert` makes it; a `Placeholder` is converted at run time."""
        if isinstance(value, Placeholder):
            self.params.append(Deferred(value.index, convert))
            return self.placeholder(len(self.params))
        return self.param(convert(value))

    def placeholder(self, index: int) -> str:
        return f"?{index}" if self.sqlite else f"${index}"

    def text(self, value: Any, convert: Callable[[Any], Any] = str) -> str:
        """A text parameter (typed `text` on PostgreSQL, where asyncpg needs to know)."""
        return self.bind(value, convert) if self.sqlite else f"{self.bind(value, convert)}::text"

    def table(self, table: Table) -> str:
        """The table reference: bare on SQLite (one schema), schema-qualified on PostgreSQL."""
        if self.sqlite:
            return quote_ident(table.name)
        return f"{quote_ident(table.schema)}.{quote_ident(table.name)}"

    def statement(self, sql: str) -> Statement:
        if self.sqlite:
            check_sqlite_parses(sql)
        return Statement(sql, tuple(self.params))


# SQLite before 3.46 parses with a fixed stack of 100 entries: five nested embeds, or a few embeds with
# logic trees inside, overflow it, and the engine can only answer that as a 500 (its other parse-time
# limits, e.g. expression depth 1000, likewise). Statements big or deep enough to come
# near them are parsed once on a private, empty in-memory database first: a parse error there means
# the statement cannot run anywhere, and the request is answered 54001 (400) instead. Compiled
# statements are cached per request shape, so this runs once per shape, and only for large ones.
_SQLITE_LIMIT_ERRORS = ("parser stack overflow", "too many", "too large")


def check_sqlite_parses(sql: str) -> None:
    """Raise 54001 if SQLite's parser refuses `sql` for its size or depth (see the note above)."""
    if sql.count("(") < 20 and len(sql) < 20_000:
        return
    probe = sqlite3.connect(":memory:")
    try:
        probe.execute(sql)  # prepared on a database with no tables: fails at parsing or at the first name
    except sqlite3.Error as error:
        message = str(error)
        if any(limit in message for limit in _SQLITE_LIMIT_ERRORS):
            raise errors.statement_too_complex(f"SQLite: {message}") from None
    finally:
        probe.close()


def column_ref(alias: str, name: str) -> str:
    return f"{alias}.{quote_ident(name)}"


# ---------------------------------------------------------------- JSON paths


def sqlite_path(steps: tuple[JsonStep, ...]) -> str:
    """A SQLite JSON path literal for `->a->0`: `'$."a"[0]'` (negative indexes count from the end)."""
    out = ["$"]
    for step in steps:
        if isinstance(step.key, int):
            out.append(f"[{step.key}]" if step.key >= 0 else f"[#{step.key}]")
        elif '"' in step.key:
            raise errors.not_implemented("JSON path keys containing '\"' are not supported on SQLite")
        else:
            out.append(f'."{step.key}"')
    return quote_literal("".join(out))


def _pg_path(base: str, steps: tuple[JsonStep, ...]) -> str:
    for step in steps:
        key = str(step.key) if isinstance(step.key, int) else quote_literal(step.key)
        base = f"{base} {step.arrow} {key}"
    return base


def sqlite_json_text(base: str, path: str) -> str:
    """PostgreSQL's `->>` on SQLite: strings unquoted, other values as their JSON text."""
    return (
        f"CASE json_type({base}, {path}) WHEN 'text' THEN {base} ->> {path} "
        f"WHEN 'null' THEN NULL ELSE '' || ({base} -> {path}) END"
    )


def col_expr(ctx: Ctx, alias: str, col: Col) -> str:
    """The SQL value of `col` in the row `alias` (a JSON path yields JSON or text, as in PostgreSQL)."""
    base = column_ref(alias, col.column.name)
    if not col.path:
        return base
    if ctx.sqlite:
        path = sqlite_path(col.path)
        if col.path[-1].arrow == "->":
            return f"({base} -> {path})"
        return f"({sqlite_json_text(base, path)})"
    if col.column.kind == "array":
        base = f"to_jsonb({base})"
    return f"({_pg_path(base, col.path)})"


# ---------------------------------------------------------------- output values


def sqlite_json_value(expr: str, kind: TypeKind) -> str:
    """`expr` as json_object() should see it, so the output has PostgreSQL's JSON types."""
    if kind == "bool":
        return f"CASE WHEN {expr} IS NULL THEN NULL WHEN {expr} THEN json('true') ELSE json('false') END"
    if kind in ("json", "array"):
        return f"json({expr})"
    if kind == "bytes":
        return f"CASE WHEN typeof({expr}) = 'blob' THEN '\\x' || lower(hex({expr})) ELSE {expr} END"
    return expr


def _sqlite_cast(expr: str, source: TypeKind, cast: str) -> tuple[str, TypeKind]:
    target = CASTS[cast][1]
    if target == "text":
        if source == "bool":
            return f"CASE WHEN {expr} IS NULL THEN NULL WHEN {expr} THEN 'true' ELSE 'false' END", "text"
        return f"('' || {expr})", "text"
    if target == "int":  # PostgreSQL rounds (9.5::int = 10) where SQLite's CAST truncates
        return f"CAST(CASE WHEN typeof({expr}) = 'real' THEN round({expr}) ELSE {expr} END AS INTEGER)", "int"
    if target in ("float", "numeric"):
        return f"CAST({expr} AS {'REAL' if target == 'float' else 'NUMERIC'})", target
    if target == "bool":
        return (
            f"CASE WHEN {expr} IS NULL THEN NULL WHEN typeof({expr}) IN ('integer', 'real') THEN {expr} <> 0 "
            f"WHEN lower({expr}) IN {_TRUE_WORDS} THEN 1 ELSE 0 END",
            "bool",
        )
    return expr, "json"


def field_value(ctx: Ctx, alias: str, item: OutField) -> str:
    """An output field: on SQLite ready for json_object(), on PostgreSQL a typed column."""
    expr = col_expr(ctx, alias, item.col)
    if not ctx.sqlite:
        if item.cast is None:
            return expr
        type_name = CASTS[item.cast][0] if item.cast in CASTS else quote_ident(item.cast)
        return f"CAST({expr} AS {type_name})"
    kind = item.col.kind
    if item.cast is not None:
        expr, kind = _sqlite_cast(expr, kind, item.cast)
    return sqlite_json_value(expr, kind)


def field_text(ctx: Ctx, alias: str, item: OutField) -> str:
    """An output field as text (SQLite CSV), printed the way PostgreSQL prints a record's field."""
    expr = col_expr(ctx, alias, item.col)
    kind = item.col.kind
    if item.cast is not None:
        expr, kind = _sqlite_cast(expr, kind, item.cast)
    if kind == "bool":
        return f"CASE WHEN {expr} IS NULL THEN NULL WHEN {expr} THEN 't' ELSE 'f' END"
    if kind == "bytes":
        return f"CASE WHEN typeof({expr}) = 'blob' THEN '\\x' || lower(hex({expr})) ELSE {expr} END"
    return f"('' || {expr})"


def csv_quote(text_expr: str) -> str:
    """Quote a CSV field as PostgreSQL's record output does (empty, `"`, `\\`, `,`, `()`, spaces)."""
    special = "'*[\",()\\ ' || char(9, 10, 11, 12, 13) || ']*'"
    return (
        f"CASE WHEN ({text_expr}) IS NULL THEN '' "
        f"WHEN ({text_expr}) = '' OR ({text_expr}) GLOB {special} "
        f"THEN '\"' || replace(replace({text_expr}, '\\', '\\\\'), '\"', '\"\"') || '\"' "
        f"ELSE {text_expr} END"
    )


def csv_header(keys: list[str]) -> str:
    """The CSV header line: the output keys, quoted when they need it."""
    return ",".join(_csv_name(k) for k in keys)


def _csv_name(key: str) -> str:
    if key == "" or re.search(r'[",()\\\s]', key):
        return '"' + key.replace("\\", "\\\\").replace('"', '""') + '"'
    return key
