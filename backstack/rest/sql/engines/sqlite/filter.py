"""SQLite's WHERE, answering as PostgreSQL would.

SQLite has no PostgreSQL types, so values are parsed here by the column's kind before binding
and a bad one raises PostgreSQL's 22P02. Case-sensitive `like` is a GLOB (pattern translated),
`ilike`/`match`/`imatch` call the functions the engine registers (`ilike`, `regexp`, `iregexp`;
patterns checked first), `in` and `(any)`/`(all)` read a JSON array parameter through
`json_each`, array containment (`cs`/`cd`/`ov`) compares JSON arrays element-wise, jsonb-style
containment walks the needle. On range columns (stored as PostgreSQL's canonical text) the range
operators and comparisons call the engine's range functions (`db.pgtypes.ranges`): the filter
value is read and made canonical here, each row's value inside the function. `sl sr nxr nxl adj`
on other columns are 42883, as on PostgreSQL. Full-text search goes through the FTS5 table
recorded on the column (`sql/fts.py` translates the query).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from backstack.core import json
from backstack.db.dialect import quote_ident, quote_literal
from backstack.db.errors import database_error
from backstack.db.pgtypes import ranges as pgrange
from backstack.db.sqlite import regex as sqlite_regex
from backstack.rest import errors
from backstack.rest.plan.values import (
    coerce,
    element_kind,
    like_pattern,
    like_to_glob,
    parse_array_literal,
    parser,
)
from backstack.rest.sql.common import col_expr
from backstack.rest.sql.fts import to_fts5
from backstack.rest.sql.operators import IS, PG_OPS, RANGE_OPS, SIMPLE, pg_type

if TYPE_CHECKING:
    from backstack.rest.plan.resolve import Node, PFilter
    from backstack.rest.sql.statement import Binding


class SqliteFilterSql:
    """`EngineSql.filter` and `text_search` on SQLite."""

    def filter(self, ctx: Binding, lhs: str, flt: PFilter) -> str:
        op = flt.operator
        if op == "is":
            return f"{lhs} {IS[str(flt.value)]}"
        if flt.col.kind == "range" and not flt.col.path and op in (*RANGE_OPS, *SIMPLE, "in", "isdistinct"):
            return self._range(ctx, lhs, flt)
        if op in ("sl", "sr", "nxr", "nxl", "adj"):  # range-only operators, as PostgreSQL has them
            raise errors.undefined_operator(pg_type(flt), PG_OPS[op])
        if op in ("cs", "cd", "ov"):
            return self._containment(ctx, lhs, flt)
        if op == "in":
            convert = self._parser(flt)
            values = ctx.bind(flt.value, lambda raw: json.dumps_str([convert(v) for v in raw]))
            return f"{self._lhs(lhs, flt)} IN (SELECT value FROM json_each({values}))"
        if flt.quantifier is not None:
            return self._quantified(ctx, lhs, flt)
        return self._compare(op, self._lhs(lhs, flt), ctx.bind(flt.value, self._operand(flt)))

    def text_search(self, ctx: Binding, node: Node, flt: PFilter, per_row: bool) -> str:
        """A MATCH on the column's FTS5 table. `per_row` (rows behind a policy): look up each row in the
        index instead of collecting every match first, whose time grows with hidden matches."""
        index = node.table.fts.get(flt.col.column.name)
        if index is None or flt.col.path:
            raise errors.no_fts_index(node.table.name, flt.col.column.name)
        query = to_fts5(flt.operator, str(flt.value))
        if query is None:
            return "FALSE"
        fts = quote_ident(index)
        match = f"{fts}.{quote_ident(flt.col.column.name)}"
        column = col_expr(ctx, node.alias, flt.col)
        if per_row:
            hits = (
                f"EXISTS (SELECT 1 FROM {fts} WHERE {fts}.rowid = {node.alias}.rowid "
                f"AND {match} MATCH {ctx.param(query)})"
            )
        else:
            hits = f"{node.alias}.rowid IN (SELECT rowid FROM {fts} WHERE {match} MATCH {ctx.param(query)})"
        return f"CASE WHEN {column} IS NULL THEN NULL ELSE {hits} END"  # NULL stays unknown, as to_tsvector(NULL)

    @staticmethod
    def _lhs(lhs: str, flt: PFilter) -> str:
        """JSON and array values compare as minified JSON text."""
        if flt.col.kind in ("json", "array") and not flt.col.path:
            return f"json({lhs})"
        return lhs

    @staticmethod
    def _parser(flt: PFilter) -> Callable[[str], Any]:
        """How a comparison's raw value becomes the bound value, resolved when the statement is compiled:
        parsed by kind; JSON minified, so `json(col) = ?` compares."""
        if flt.col.kind == "json":
            return _minified_json
        if flt.col.path:
            return str
        if flt.col.kind == "array":  # `{a,b}` -> the JSON text the column stores
            convert = parser(flt.col.column, element_kind(flt.col.column.type))
            return lambda raw: json.dumps_str([None if v is None else convert(v) for v in parse_array_literal(raw)])
        return parser(flt.col.column)

    def _operand(self, flt: PFilter) -> Callable[[str], Any]:
        """How a comparison's raw value becomes its parameter (checked: a bad value raises here)."""
        op = flt.operator
        if op == "like":
            return lambda raw: like_to_glob(like_pattern(raw))
        if op == "ilike":
            return lambda raw: _checked_like(like_pattern(raw))
        if op in ("match", "imatch"):
            return _checked_regex
        return self._parser(flt)

    @staticmethod
    def _compare(op: str, lhs: str, rhs: str) -> str:
        if op == "like":
            return f"{lhs} GLOB {rhs}"
        if op == "ilike":
            return f"ilike({rhs}, {lhs})"
        if op == "match":
            return f"regexp({rhs}, {lhs})"
        if op == "imatch":
            return f"iregexp({rhs}, {lhs})"
        if op == "isdistinct":
            return f"{lhs} IS NOT {rhs}"
        return f"{lhs} {SIMPLE[op]} {rhs}"

    def _quantified(self, ctx: Binding, lhs: str, flt: PFilter) -> str:
        """`col=op(any).{a,b}` / `(all)`: test each element of a JSON array parameter."""
        op = flt.operator
        convert = self._operand(flt)
        array = ctx.bind(flt.value, lambda raw: json.dumps_str([convert(v) for v in raw]))
        test = self._compare(op, self._lhs(lhs, flt), "_q.value")
        if flt.quantifier == "any":
            return f"EXISTS (SELECT 1 FROM json_each({array}) AS _q WHERE {test})"
        return f"({lhs} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM json_each({array}) AS _q WHERE NOT ({test})))"

    @staticmethod
    def _range(ctx: Binding, lhs: str, flt: PFilter) -> str:
        """A range column against range values: PostgreSQL's operators and ordering (`db.pgtypes.ranges`).

        Values are made canonical when bound (a bad literal is 22P02 before any row is read), so one
        compiled statement serves every value of its shape, the empty list included."""
        op, type_name = flt.operator, flt.col.column.type
        if flt.quantifier is None and op != "in":
            value = ctx.bind(flt.value, lambda raw: pgrange.canonical(str(raw), type_name))
            return _range_test(op, lhs, value, type_name)
        values = ctx.bind(flt.value, lambda raw: json.dumps_str([pgrange.canonical(v, type_name) for v in raw]))
        test = _range_test("eq" if op == "in" else op, lhs, "_q.value", type_name)
        each = f"json_each({values}) AS _q"
        if flt.quantifier == "all":  # PostgreSQL's `= ALL('{}')` is true, even for NULL
            return (
                f"CASE WHEN json_array_length({values}) = 0 THEN TRUE WHEN {lhs} IS NULL THEN NULL "
                f"ELSE NOT EXISTS (SELECT 1 FROM {each} WHERE NOT ({test})) END"
            )
        return (
            f"CASE WHEN json_array_length({values}) = 0 THEN FALSE WHEN {lhs} IS NULL THEN NULL "
            f"ELSE EXISTS (SELECT 1 FROM {each} WHERE {test}) END"
        )

    @staticmethod
    def _containment(ctx: Binding, lhs: str, flt: PFilter) -> str:
        if flt.col.kind == "json":
            return _json_containment(ctx, lhs, flt)
        if flt.col.kind != "array":
            raise errors.undefined_operator(flt.col.column.type, {"cs": "@>", "cd": "<@", "ov": "&&"}[flt.operator])
        raw = str(flt.value)
        items = json.loads(raw) if raw.startswith("[") else parse_array_literal(raw)
        kind = element_kind(flt.col.column.type)
        values = [None if v is None else coerce(flt.col.column, str(v), kind) for v in items]
        needle = ctx.param(json.dumps_str(values))
        if flt.operator == "cs":
            return (
                f"({lhs} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM json_each({needle}) AS _n "
                f"WHERE _n.value NOT IN (SELECT value FROM json_each({lhs}))))"
            )
        if flt.operator == "cd":
            return (
                f"({lhs} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM json_each({lhs}) AS _n "
                f"WHERE _n.value NOT IN (SELECT value FROM json_each({needle}))))"
            )
        return (
            f"EXISTS (SELECT 1 FROM json_each({lhs}) AS _n WHERE _n.value IN (SELECT value FROM json_each({needle})))"
        )


def _minified_json(raw: str) -> str:
    try:
        return json.dumps_str(json.loads(raw))
    except json.JSONDecodeError:
        raise errors.invalid_text_representation("json", raw) from None


def _checked_regex(pattern: str) -> str:
    """Refuse up front what the SQLite `regexp` function (RE2, linear time) cannot run: 2201B."""
    try:
        sqlite_regex.check_regex(pattern)
    except sqlite_regex.RegexError as exc:
        raise database_error(exc.sqlstate, str(exc)) from None
    return pattern


def _checked_like(pattern: str) -> str:
    """An ILIKE pattern the SQLite `ilike` function can run (bounded length), else 22023 up front."""
    try:
        sqlite_regex.check_like(pattern)
    except sqlite_regex.RegexError as exc:
        raise database_error(exc.sqlstate, str(exc)) from None
    return pattern


def _range_test(op: str, lhs: str, rhs: str, type_name: str) -> str:
    """SQL for `lhs <op> rhs`, both range texts of `type_name` (NULL when `lhs` is NULL, as in SQL)."""
    kind = quote_literal(type_name)
    if op in RANGE_OPS:
        return f"_bs_range_test('{op}', {lhs}, {rhs}, {kind})"
    if op == "isdistinct":
        return f"({lhs} IS NULL OR _bs_range_cmp({lhs}, {rhs}, {kind}) <> 0)"
    return f"_bs_range_cmp({lhs}, {rhs}, {kind}) {SIMPLE[op]} 0"


def _json_containment(ctx: Binding, lhs: str, flt: PFilter) -> str:
    """jsonb `@>` on SQLite: every key/element of the needle is found in the column's value."""
    if flt.operator != "cs":
        if flt.operator == "ov":
            raise errors.undefined_operator("jsonb", "&&", "jsonb")
        raise errors.not_implemented("The 'cd' operator on JSON columns is not supported on SQLite")
    try:
        needle = json.loads(str(flt.value))
    except json.JSONDecodeError:
        raise errors.invalid_text_representation("json", str(flt.value)) from None
    return _contains(ctx, lhs, "'$'", needle, depth=0)


def _contains(ctx: Binding, base: str, path: str, needle: Any, depth: int) -> str:
    """SQL true when the JSON at `base`/`path` contains `needle` (jsonb containment rules)."""
    if isinstance(needle, dict):
        parts = [f"json_type({base}, {path}) = 'object'"]
        for key, value in needle.items():
            if '"' in key:
                raise errors.not_implemented("JSON keys containing '\"' are not supported on SQLite")
            key_path = f"({path} || {ctx.param('.' + chr(34) + key + chr(34))})"
            parts.append(_contains(ctx, base, key_path, value, depth))
        return "(" + " AND ".join(parts) + ")"
    if isinstance(needle, list):
        parts = [f"json_type({base}, {path}) = 'array'"]
        elem = f"_e{depth}"
        for value in needle:
            inner = _contains(ctx, base, f"{elem}.fullkey", value, depth + 1)
            parts.append(f"EXISTS (SELECT 1 FROM json_each({base}, {path}) AS {elem} WHERE {inner})")
        return "(" + " AND ".join(parts) + ")"
    return f"({base} -> {path}) = {ctx.param(json.dumps_str(needle))}"
