"""Write statements: INSERT (bulk, upsert), UPDATE and DELETE, with their representation.

This module is the entry point: it checks the request against the table, plans the rows written
and the representation, puts the root filters behind the table's row policies, then hands the
statements to the engine's builder (`EngineSql.insert`, `update`, `delete`: on PostgreSQL one
statement, the representation from a CTE; on SQLite DML returning row identities, then the
representation, row policies compiled in), whose `WritePlan` knows how it runs. `WriteOptions` and
`WritePlan` are `sql/write_plan.py`.

The key set of the body (`columns=` or the union of the objects' keys) is an argument, not read
from the body, so compiling stays a pure function of the request shape.

Row policies on SQLite (PostgreSQL enforces RLS itself): UPDATE and DELETE AND the command's USING
(which includes SELECT's) into their WHERE, so hidden rows are skipped, and the request's leaky
filters run only behind it (`ReadBuilder.guarded`); WITH CHECK is `sql/engines/sqlite/policies.py`'s.

Views: PostgreSQL writes through a simple view (automatically updatable, with the base table's
policies for a security_invoker view). SQLite's views are not updatable (an `INSERT ... RETURNING`
into one even answers rows without writing them), so on SQLite every write to a view is refused
before any SQL runs: 400 `55000` `cannot insert into view "v"`, PostgreSQL's words for a view it
cannot write through, with a hint to write to the table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backstack.db.errors import database_error
from backstack.rest import errors
from backstack.rest.plan.resolve import lookup_table, plan_read
from backstack.rest.request.query import ReadQuery
from backstack.rest.sql.context import Ctx
from backstack.rest.sql.filter import condition_sql, leakproof
from backstack.rest.sql.read import ReadBuilder

if TYPE_CHECKING:
    from backstack.core.ports import RowPolicies
    from backstack.db.dialect import Dialect
    from backstack.db.schema.model import Column, Schema, Table
    from backstack.rest.plan.resolve import Node
    from backstack.rest.sql.write_plan import WriteOptions, WritePlan


def _plan(schema: Schema, table: str, query: ReadQuery, dialect: Dialect, schema_name: str) -> Node:
    """The tree of a write: root filters select the rows written, the rest shapes the representation.

    Root paging does not apply to writes (as PostgREST), so it is dropped here; a root `order`
    sorts the representation.
    """
    shaped = ReadQuery(
        select=query.select,
        where=query.where,
        order=query.order,
        limit={p: n for p, n in query.limit.items() if p},
        offset={p: n for p, n in query.offset.items() if p},
    )
    return plan_read(schema, table, shaped, dialect=dialect, schema_name=schema_name)


def check_columns(table: Table, columns: tuple[str, ...]) -> list[Column]:
    """The written columns, or PGRST204 for one the table lacks."""
    missing = next((c for c in columns if c not in table.columns), None)
    if missing is not None:
        raise errors.column_not_found(table.name, missing)
    return [table.columns[c] for c in columns]


def _mutation_where(ctx: Ctx, builder: ReadBuilder, root: Node, operation: str) -> list[str]:
    """The root filters behind the table's row policies for `operation`, over alias `t0`."""
    policy = builder.row_filter(root.table, root.alias, operation)
    per_row = bool(policy)
    request = [(condition_sql(ctx, root, c, builder.exists, per_row=per_row), leakproof(c)) for c in root.where]
    return builder.guarded(request, policy)


def insert_reads_back(table: Table, columns: tuple[str, ...], options: WriteOptions) -> bool:
    """Whether an insert's statement reads back the rows it writes on both engines (an upsert that
    merges, or one answering its rows or Location): then asking it for the rows needs no privilege or
    policy the write does not already need. UPDATE and DELETE always read theirs back."""
    merges = (
        options.resolution == "merge-duplicates"
        and bool(options.on_conflict or table.primary_key)
        and bool(columns)
        and not table.is_view
    )
    return merges or options.location or options.media != "none"


def _writable(table: Table, dialect: Dialect, verb: str) -> None:
    """Refuse a write to a view on SQLite (see the module docstring); `verb` as PostgreSQL words it."""
    if table.is_view and not dialect.writes_through_views:
        raise database_error(
            "55000",
            f'cannot {verb} view "{table.name}"',
            "Views are not updatable on SQLite: backstack writes only to tables there.",
            "Write to the view's table (its row-level security applies), or run on PostgreSQL, where simple "
            "views are automatically updatable.",
        )


def _begin(
    schema: Schema,
    dialect: Dialect,
    table: str,
    query: ReadQuery,
    options: WriteOptions,
    policies: RowPolicies | None,
    verb: str,
    columns: tuple[str, ...] = (),
) -> tuple[list[Column], Node, Ctx, ReadBuilder]:
    """What every write compiles first, in this order (it decides which error a bad request gets): the
    writable table, the written `columns`, the tree, the statement and its reader."""
    tbl = lookup_table(schema, table, options.schema_name)
    _writable(tbl, dialect, verb)
    cols = check_columns(tbl, columns)
    root = _plan(schema, table, query, dialect, options.schema_name)
    ctx = Ctx(dialect, options.schema_name)
    return cols, root, ctx, ReadBuilder(ctx, policies, options.strip_nulls)


def compile_insert(
    schema: Schema,
    dialect: Dialect,
    table: str,
    query: ReadQuery,
    columns: tuple[str, ...],
    options: WriteOptions,
    policies: RowPolicies | None = None,
) -> WritePlan:
    """POST: insert the rows of the body (slot 1: a JSON array of objects) into `columns`."""
    embeds_only = ReadQuery(
        select=query.select,
        where={p: c for p, c in query.where.items() if p},
        order=query.order,
        limit=query.limit,
        offset=query.offset,
    )
    cols, root, ctx, builder = _begin(schema, dialect, table, embeds_only, options, policies, "insert into", columns)
    return ctx.engine_sql.insert(ctx, builder, root, cols, options)


def compile_update(
    schema: Schema,
    dialect: Dialect,
    table: str,
    query: ReadQuery,
    columns: tuple[str, ...],
    options: WriteOptions,
    policies: RowPolicies | None = None,
) -> WritePlan:
    """PATCH: set `columns` from the body object (slot 1) on the rows the root filters select."""
    cols, root, ctx, builder = _begin(schema, dialect, table, query, options, policies, "update", columns)
    body = ctx.param(None)
    conds = _mutation_where(ctx, builder, root, "update")
    return ctx.engine_sql.update(ctx, builder, root, cols, options, body, conds)


def compile_delete(
    schema: Schema,
    dialect: Dialect,
    table: str,
    query: ReadQuery,
    options: WriteOptions,
    policies: RowPolicies | None = None,
    *,
    need_rows: bool = True,
) -> WritePlan:
    """DELETE the rows the root filters select; `need_rows`: the answer needs them (SQLite reads them first)."""
    _, root, ctx, builder = _begin(schema, dialect, table, query, options, policies, "delete from")
    conds = _mutation_where(ctx, builder, root, "delete")
    return ctx.engine_sql.delete(ctx, builder, root, conds, options, need_rows=need_rows)
