"""Statements that call a SQL function and shape its result, for both engines.

A function's result is shaped like a read when it has columns (SETOF a table, RETURNS TABLE, OUT
arguments, a row type): `rest.plan.resolve` resolves `select`, filters, `order`, `limit` and embeds against
the result's table (the real one for `SETOF t`, so embeds follow its foreign keys; a stand-in made
of the result columns otherwise), and `CallReadBuilder` compiles them with the function call as the
root's FROM. Scalars, sets of scalars and void have fixed statements.

- PostgreSQL: the arguments travel as one JSON object converted by `json_to_record` (PostgREST's
  way: PostgreSQL's own input functions, errors and array/JSON handling), the call uses named
  notation, `VARIADIC` where declared: `... FROM json_to_record($1::json) AS _a("n" integer),
  LATERAL "public"."fn"("n" := _a."n") AS _c`.
- SQLite: the body's statements (from the catalog, arguments as `:name`) have each argument
  replaced by a numbered parameter, or by its default's SQL when not given; the last statement is
  the result, wrapped as `(WITH _f(cols) AS (<last>) SELECT * FROM _f)` so its columns carry the
  declared names. Parameters are `Slot`s until run time, so a compiled statement is cached by shape
  and bound per call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import sqlglot
from sqlglot import exp

from backstack.db.dialect import quote_ident
from backstack.db.pgtypes.names import type_kind
from backstack.db.schema.model import Schema, Table
from backstack.db.sqlite.json_values import json_value
from backstack.db.sqlite.writes import split_statements
from backstack.rest.plan.resolve import plan_read
from backstack.rest.sql.context import Ctx
from backstack.rest.sql.filter import condition_sql, leakproof
from backstack.rest.sql.read import ReadBuilder
from backstack.rest.sql.statement import Statement

if TYPE_CHECKING:
    from backstack.core.ports import RowPolicies
    from backstack.db.dialect import Dialect
    from backstack.db.schema.functions import SqliteFunction
    from backstack.db.schema.model import Function
    from backstack.rest.plan.resolve import Node
    from backstack.rest.request.query import ReadQuery
    from backstack.rest.sql.read import ReadOptions

Shape = Literal["rows", "object", "scalar", "scalars", "void"]
ARGS = "\x00args"  # the PostgreSQL slot holding the arguments' JSON object
_RESULT = "\x00rpc"  # the stand-in table's key in the planning schema (never a real table name)
_WRITES = (exp.Insert, exp.Update, exp.Delete)


@dataclass(frozen=True, slots=True)
class Slot:
    """A parameter filled at run time with the argument `name` (or, for ARGS, the JSON object)."""

    name: str


@dataclass(frozen=True, slots=True)
class CallPlan:
    """What running a function takes: SQLite statements to run first, the main statement, its shape.

    `shape` says how to read the main statement's row: `rows`/`object` -> (body, page, total) as a
    read; `scalar` -> the value (JSON text on PostgreSQL; the raw value on SQLite); `scalars` -> a
    JSON array; `void` -> nothing. `writes`: a SQLite body changes data, so it runs on the writer.
    `raw_row`: a SQLite body ending in INSERT/UPDATE/DELETE ... RETURNING, whose one row Python reads.
    """

    shape: Shape
    main: Statement
    before: tuple[Statement, ...] = ()
    writes: bool = False
    raw_row: bool = False


def shape_of(function: Function) -> Shape:
    """How the result is sent: rows (a set), object (one row), scalar, scalars (a set of them), void."""
    if function.returns == "void":
        return "void"
    if function.result_columns:
        return "rows" if function.returns_set else "object"
    return "scalars" if function.returns_set else "scalar"


def bind(statement: Statement, values: dict[str, Any]) -> tuple[Any, ...]:
    """The statement's parameters with each `Slot` replaced by its argument value."""
    return tuple(values[p.name] if isinstance(p, Slot) else p for p in statement.params)


# ---------------------------------------------------------------- rows and objects through the read builder


class CallReadBuilder(ReadBuilder):
    """A `ReadBuilder` whose root rows come from the function call instead of a table.

    The root gets the request's filters and `!inner` conditions but no row policy: the function
    decided what it returns (PostgreSQL runs it as the caller; SQLite protects its body). Leaky
    filters (see `sql.filter.leakproof`) read the result through an optimisation barrier, so they
    never reach the body's tables before their policies. Embeds below it are ordinary reads.
    """

    def __init__(self, ctx: Ctx, call_from: str, policies: RowPolicies | None, strip_nulls: bool) -> None:
        super().__init__(ctx, policies, strip_nulls)
        self.call_from = call_from
        self._root: tuple[str, list[str]] | None = None

    def source(self, node: Node, parent: Node | None) -> tuple[str, list[str]]:
        if parent is not None:
            return super().source(node, parent)
        if self._root is None:
            per_row = self.policies is not None
            request = [
                (condition_sql(self.ctx, node, c, self.exists, per_row=per_row), leakproof(c)) for c in node.where
            ]
            request += [(self.exists(c, node), False) for c in node.children if c.inner]
            call_from = self.call_from
            if self.policies is not None and not all(safe for _, safe in request):
                # SQLite would push these terms into the protected body, before its policies
                call_from = f"(SELECT * FROM {call_from} LIMIT -1 OFFSET 0)"
            self._root = (f"{call_from} AS {node.alias}", [sql for sql, _ in request])
        return self._root


def result_table(schema: Schema, function: Function) -> tuple[Schema, str]:
    """The schema to plan against and the key of the result's table in it."""
    if function.result_table is not None and function.result_table in schema.tables:
        return schema, function.result_table
    columns = {c.name: c for c in function.result_columns}
    stand_in = Table(function.schema, function.name, columns)
    return Schema({**schema.tables, _RESULT: stand_in}, schema.fingerprint, schema.functions), _RESULT


def compile_rows(
    schema: Schema,
    ctx: Ctx,
    function: Function,
    call_from: str,
    query: ReadQuery,
    options: ReadOptions,
    policies: RowPolicies | None,
) -> Statement:
    """The read statement over the function's result: one row (body, rows in page, total or NULL)."""
    planning, key = result_table(schema, function)
    root = plan_read(
        planning, key, query, dialect=ctx.dialect, schema_name=options.schema_name, max_rows=options.max_rows
    )
    root.offset, root.limit = options.offset, options.limit
    builder = CallReadBuilder(ctx, call_from, policies, options.strip_nulls)
    select, from_sql = builder.body_select(root, options.media)
    total = builder.count_query(root) if options.count_total else "NULL"
    return ctx.statement(f"SELECT {select}, {total} {from_sql}")


# ---------------------------------------------------------------- PostgreSQL


def postgres_call(function: Function, given: tuple[str, ...], *, whole_body: bool) -> tuple[str, str]:
    """(`FROM` items providing the arguments, the call expression); `$1` is the arguments' JSON."""
    name = f"{quote_ident(function.schema)}.{quote_ident(function.name)}"
    if whole_body:
        return "", f"{name}($1::{function.arguments[0].type})"
    chosen = [a for a in function.arguments if a.name in given]
    if not chosen:
        return "", f"{name}()"
    record = ", ".join(f"{quote_ident(a.name)} {a.type}" for a in chosen)
    args = ", ".join(
        f"{'VARIADIC ' if a.variadic else ''}{quote_ident(a.name)} := _a.{quote_ident(a.name)}" for a in chosen
    )
    return f"json_to_record($1::json) AS _a({record})", f"{name}({args})"


def compile_postgres(
    schema: Schema,
    dialect: Dialect,
    function: Function,
    given: tuple[str, ...],
    *,
    whole_body: bool,
    query: ReadQuery,
    options: ReadOptions,
) -> CallPlan:
    """The one statement calling `function` on PostgreSQL, shaped by its result kind."""
    ctx = Ctx(dialect, options.schema_name)
    args_from, call = postgres_call(function, given, whole_body=whole_body)
    if "$1" in call or args_from:
        ctx.param(Slot(ARGS))
    lateral = f"{args_from}, LATERAL " if args_from else ""
    shape = shape_of(function)
    if shape in ("rows", "object"):
        # a row-type function that found no row returns a row of NULLs: that is "no row" (null), as on SQLite
        where = " WHERE NOT (_c IS NULL)" if shape == "object" else ""
        call_from = f"(SELECT _c.* FROM {lateral}{call} AS _c{where})"
        return CallPlan(shape, compile_rows(schema, ctx, function, call_from, query, options, None))
    if shape == "scalar":
        from_sql = f" FROM {args_from}" if args_from else ""
        return CallPlan(shape, ctx.statement(f"SELECT to_json({call})::text{from_sql}"))
    if shape == "scalars":
        sql = f"SELECT coalesce(json_agg(_c.v), '[]')::text FROM {lateral}{call} AS _c(v)"
        return CallPlan(shape, ctx.statement(sql))
    return CallPlan(shape, ctx.statement(f"SELECT count(*) FROM {lateral}{call} AS _c"))


# ---------------------------------------------------------------- SQLite


def compile_sqlite(
    schema: Schema,
    dialect: Dialect,
    function: SqliteFunction,
    given: tuple[str, ...],
    *,
    query: ReadQuery,
    options: ReadOptions,
    policies: RowPolicies | None,
    protect: bool,
) -> CallPlan:
    """The statements running `function`'s body on SQLite; its last statement is the result."""
    statements = split_statements(function.body)
    if protect and policies is not None:
        statements = [policies.protect(s) for s in statements]
    defaults = dict(function.defaults)
    trees = [sqlglot.parse_one(s, read="sqlite") for s in statements]
    writes = any(isinstance(t, _WRITES) or t.find(*_WRITES) is not None for t in trees)
    before = tuple(_numbered(Ctx(dialect), t, given, defaults) for t in trees[:-1]) if writes else ()
    shape = shape_of(function)
    if not trees:
        return CallPlan("void", Statement("SELECT 0"), before, writes)
    last = trees[-1]
    is_select = isinstance(last, (exp.Select, exp.Union))
    if shape == "void" or not is_select or shape == "scalar":
        return CallPlan(shape, _numbered(Ctx(dialect), last, given, defaults), before, writes, raw_row=not is_select)
    ctx = Ctx(dialect, options.schema_name)
    body = _numbered(ctx, last, given, defaults).sql
    if shape == "scalars":
        value = json_value('"_f"."v"', type_kind(function.returns))
        sql = f'SELECT json_group_array({value}) FROM (WITH "_f"("v") AS ({body}) SELECT * FROM "_f") AS "_f"'
        return CallPlan(shape, ctx.statement(sql), before, writes)
    names = ", ".join(quote_ident(c.name) for c in function.result_columns)
    call_from = f'(WITH "_f"({names}) AS ({body}) SELECT * FROM "_f")'
    return CallPlan(shape, compile_rows(schema, ctx, function, call_from, query, options, policies), before, writes)


def _numbered(ctx: Ctx, tree: exp.Expr, given: tuple[str, ...], defaults: dict[str, str]) -> Statement:
    """`tree` with each `:arg` replaced by a numbered parameter (a `Slot`) or its default's SQL."""
    slots: dict[str, str] = {}

    def replace(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.Placeholder) or not node.name:
            return node
        name = node.name
        if name in given:
            if name not in slots:
                slots[name] = ctx.param(Slot(name))
            return exp.Var(this=slots[name])
        default = defaults.get(name)
        return exp.Paren(this=sqlglot.parse_one(default, read="sqlite")) if default is not None else exp.Null()

    sql = tree.copy().transform(replace, copy=False).sql(dialect="sqlite")
    statement = Statement(sql, tuple(ctx.params))
    return statement
