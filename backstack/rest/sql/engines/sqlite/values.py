"""SQLite's column values as PostgreSQL would give them: JSON paths, select casts, the JSON and CSV
value of each output field, and the parser's size limits.

The declared column kind decides: booleans (stored 0/1) become `true`/`false`, json and array
columns (stored as text) are embedded as JSON, blobs become `\\x..` hex as PostgreSQL prints bytea.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from backstack.db.dialect import quote_literal
from backstack.rest import errors
from backstack.rest.plan.resolve import CASTS
from backstack.rest.sql.common import col_expr

if TYPE_CHECKING:
    from backstack.db.schema.model import Column, TypeKind
    from backstack.rest.plan.resolve import OutField
    from backstack.rest.request.query import JsonStep
    from backstack.rest.sql.statement import Binding

_TRUE_WORDS = "('t','true','y','yes','on','1')"

# SQLite before 3.46 parses with a fixed stack of 100 entries: five nested embeds, or a few embeds with
# logic trees inside, overflow it, and the engine can only answer that as a 500 (its other parse-time
# limits, e.g. expression depth 1000, likewise). Statements big or deep enough to come
# near them are parsed once on a private, empty in-memory database first: a parse error there means
# the statement cannot run anywhere, and the request is answered 54001 (400) instead. Compiled
# statements are cached per request shape, so this runs once per shape, and only for large ones.
_SQLITE_LIMIT_ERRORS = ("parser stack overflow", "too many", "too large")


def check_parses(sql: str) -> None:
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


# ---------------------------------------------------------------- JSON paths


def path_literal(steps: tuple[JsonStep, ...]) -> str:
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


def json_text(base: str, path: str) -> str:
    """PostgreSQL's `->>` on SQLite: strings unquoted, other values as their JSON text."""
    return (
        f"CASE json_type({base}, {path}) WHEN 'text' THEN {base} ->> {path} "
        f"WHEN 'null' THEN NULL ELSE '' || ({base} -> {path}) END"
    )


# ---------------------------------------------------------------- output values


def cast_value(expr: str, source: TypeKind, cast: str) -> tuple[str, TypeKind]:
    """A select cast (`col::type`, one of `Dialect.select_casts`) as SQLite computes it, and the kind it makes."""
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


def field_text(ctx: Binding, alias: str, item: OutField) -> str:
    """An output field as text (CSV), printed the way PostgreSQL prints a record's field."""
    expr = col_expr(ctx, alias, item.col)
    kind = item.col.kind
    if item.cast is not None:
        expr, kind = cast_value(expr, kind, item.cast)
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


# ---------------------------------------------------------------- a write body's values

_TRUE = "('t', 'true', 'y', 'yes', 'on', '1')"
_FALSE = "('f', 'false', 'n', 'no', 'off', '0')"


def _key_lookups(obj: str, column: Column) -> tuple[str, str, str]:
    """(json_type, ->> value, -> JSON) of key `column.name` in the JSON object `obj`.

    A path (`$."name"`) when the name allows it; SQLite paths cannot spell a `"` in a key, so such
    names are looked up through json_each instead.
    """
    if '"' not in column.name:
        path = quote_literal(f'$."{column.name}"')
        return f"json_type({obj}, {path})", f"{obj} ->> {path}", f"{obj} -> {path}"
    key = quote_literal(column.name)
    each = f"FROM json_each({obj}) AS _kv WHERE _kv.key = {key}"
    as_json = (
        f"(SELECT CASE _kv.type WHEN 'text' THEN json_quote(_kv.value) WHEN 'true' THEN 'true' "
        f"WHEN 'false' THEN 'false' ELSE _kv.value END {each})"
    )
    return f"(SELECT _kv.type {each})", f"(SELECT _kv.value {each})", as_json


def body_value(obj: str, column: Column, missing_default: bool) -> str:
    """The SQL value of key `column` of the JSON object `obj`, converted for the column's kind."""
    jtype, text, as_json = _key_lookups(obj, column)
    if column.kind in ("json", "array"):
        value = f"CASE {jtype} WHEN 'null' THEN NULL ELSE {as_json} END"
    elif column.kind == "bool":
        value = (
            f"CASE {jtype} WHEN 'true' THEN 1 WHEN 'false' THEN 0 "
            f"WHEN 'text' THEN CASE WHEN lower({text}) IN {_TRUE} THEN 1 "
            f"WHEN lower({text}) IN {_FALSE} THEN 0 ELSE {text} END ELSE {text} END"
        )
    elif column.kind == "range":  # stored as PostgreSQL prints it: `[1,5]` -> `[1,6)`; a bad one is 22P02
        value = f"_bs_range({text}, {quote_literal(column.type)})"
    else:
        value = text
    if missing_default:
        default = f"({column.default})" if column.default is not None else "NULL"
        value = f"CASE WHEN {jtype} IS NULL THEN {default} ELSE {value} END"
    return value
