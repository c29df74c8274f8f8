"""The data API without HTTP: run compiled statements on an `Engine`, answer bytes and metadata.

Each function compiles its request (pure, cacheable: `sql.read.compile_read`,
`sql.write.compile_*`), runs it with the caller's identity (a write: `rest.writes`) and turns the
row counts into PostgREST's status and `Content-Range` (`rest.result`). The body comes back from the
database as one JSON (or CSV) text; Python passes it through.

Row policies: on engines that do not enforce RLS themselves (SQLite), the `PolicyProvider` port
gives the caller's role its `RowPolicies`, which the compilers AND into every statement (see
`sql.read`, `sql.write`); PostgreSQL's provider is None, its RLS runs in the database under the
role the engine sets per transaction. Predicates depend on the role and the schema only, so the
statement cache (keyed by role and schema fingerprint) stays correct.

Schema cache: a table missing from the engine's cached schema makes the engine re-check the
database once (`Engine.recheck_schema`, rate-limited) before the request answers 404 PGRST205, so
a table created by another process a moment ago is found.

Writes return the `rows_changed` events of what they committed on their `Result` (`rest.changes`;
none is built unless a handler listens for the table); the route fires them.

Documented choices: `Prefer: count=planned|estimated` answer the exact count (no planner
statistics are consulted); `Prefer: timezone=` is not applied (timestamps come back as stored);
`Prefer: handling=strict` with an unknown preference is PGRST122.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from backstack.core import json
from backstack.rest import errors
from backstack.rest.changes import Announcer, listened_table, rows_for_hook
from backstack.rest.plan.resolve import lookup_table
from backstack.rest.plan.values import check_body_values
from backstack.rest.put import check_put_query, put_key, put_row
from backstack.rest.request.body import check_same_keys, parse_body
from backstack.rest.result import Result, applied_headers, content_range, read_page, root_page, text_body
from backstack.rest.sql.read import ReadOptions, compile_read
from backstack.rest.sql.statement_cache import Shape, StatementCache, cached, shape_of
from backstack.rest.sql.write import compile_delete, compile_insert, compile_update, insert_reads_back
from backstack.rest.sql.write_plan import WriteOptions
from backstack.rest.writes import Outcome, changed_result, location_headers, run_write

if TYPE_CHECKING:
    from backstack.core.caller import Caller
    from backstack.core.events import Operation, RowsChanged
    from backstack.core.hooks import Hook
    from backstack.core.ports import PolicyProvider, RowPolicies
    from backstack.db.dialect import Dialect
    from backstack.db.engine import Engine
    from backstack.db.schema.model import Schema, Table
    from backstack.rest.request.query import Accept, Preferences, Range, ReadQuery
    from backstack.rest.sql.read_port import BodyMode
    from backstack.rest.sql.write_plan import WritePlan

__all__ = ["Result", "StatementCache", "delete", "insert", "put", "read", "update"]


async def schema_for(engine: Engine, table: str) -> Schema:
    """The cached schema, re-checked once when it lacks `table` (see the module docstring)."""
    schema = await engine.schema()
    if schema.get(table) is None:
        schema = await engine.recheck_schema()
    return schema


def _shape(
    cache: StatementCache | None, query: ReadQuery, engine: Engine, shape: Shape | None
) -> tuple[Hashable, ReadQuery, tuple[Any, ...]]:
    """The request's shape key, the query to compile for it and its values (`shape`, when the caller
    took the query apart already; without a cache: the query itself, compiled with its values)."""
    if cache is None:
        return None, query, ()
    if shape is None:
        shape = shape_of(query, engine.dialect)
    return shape.key, shape.query, shape.values


def row_policies(policies: PolicyProvider | None, schema: Schema, caller: Caller) -> RowPolicies | None:
    """The row policies of `caller`'s role (None: nothing to enforce in SQL)."""
    return None if policies is None else policies.for_role(schema, caller.role)


def _check_preferences(prefer: Preferences) -> None:
    if prefer.handling == "strict" and prefer.invalid:
        raise errors.invalid_preferences(prefer.invalid)


def _media(accept: Accept) -> BodyMode:
    return "csv" if accept.media == "csv" else ("object" if accept.media == "object" else "json")


# ---------------------------------------------------------------- read


async def read(
    engine: Engine,
    caller: Caller,
    table: str,
    query: ReadQuery,
    *,
    prefer: Preferences,
    accept: Accept,
    range_: Range | None,
    head: bool,
    max_rows: int,
    cache: StatementCache | None = None,
    policies: PolicyProvider | None = None,
    shape: Shape | None = None,
) -> Result:
    """GET/HEAD: the page of rows as one JSON array (or object / CSV), with its Content-Range.

    `cache` skips compiling a known request shape (`statement_cache.shape_of`; `shape` when the
    caller has it already, e.g. cached with the parsed query string).
    """
    _check_preferences(prefer)
    schema = await schema_for(engine, table)
    offset, limit = root_page(query, range_, max_rows)
    options = ReadOptions(
        media="none" if head else _media(accept),
        strip_nulls=accept.strip_nulls,
        count_total=prefer.count is not None,
        offset=offset,
        limit=limit,
        max_rows=max_rows,
    )
    shape_key, shaped, values = _shape(cache, query, engine, shape)
    key = ("read", engine.dialect.name, table, caller.role, shape_key, options)
    statement = cached(
        cache,
        schema,
        key,
        lambda: compile_read(schema, engine.dialect, table, shaped, options, row_policies(policies, schema, caller)),
    )
    statement = statement.with_values(values)
    row = await engine.fetch_one(statement.sql, statement.params, caller=caller)
    body, page, total, status = read_page(row, offset)
    if accept.media == "object" and page != 1:
        raise errors.singular_row_count(page)
    headers = {"Preference-Applied": f"count={prefer.count}"} if prefer.count else {}
    return Result(text_body(body), status, content_range(offset, offset + page - 1, total), headers)


# ---------------------------------------------------------------- writes


@dataclass(frozen=True, slots=True)
class _Write:
    """What one write operation brings to the pipeline the four share (`_write`): everything else,
    from the schema lookup to the `rows_changed` events, is the same for all of them."""

    operation: Operation  # the `rows_changed` operation; in lower case, the head of the statement's cache key
    options: WriteOptions  # as the request asks (a `rows_changed` handler may still ask for the rows)
    key: Callable[[WriteOptions], tuple[Hashable, ...]]  # what else the SQL depends on (the cache key's tail)
    compile: Callable[[Dialect, ReadQuery, WriteOptions, RowPolicies | None], WritePlan]  # `sql.write`, on a miss
    finish: Callable[[Outcome], Result]  # the outcome as the answer: status, body, headers
    body: bytes | None = None  # the JSON the plan binds (its slot 1)
    reads_back: bool = True  # whether the statement reads back the rows it writes (`rows_for_hook`)
    limited: bool = True  # whether `Prefer: max-affected` applies
    checked: tuple[Table, list[dict[str, Any]], tuple[str, ...]] | None = None  # body values, as written


async def _write(
    engine: Engine,
    caller: Caller,
    table: str,
    query: ReadQuery,
    prefer: Preferences,
    accept: Accept,
    cache: StatementCache | None,
    policies: PolicyProvider | None,
    changes: Hook[RowsChanged] | None,
    prepare: Callable[[Schema], _Write],
) -> Result:
    """The write pipeline: check the preferences, find the schema, `prepare` the operation (parse its
    body, its options), compile its plan once per shape, check the body's values where the engine does
    not (`Dialect.checks_body_values`), run it as the caller (`writes.run_write`), announce it."""
    _check_preferences(prefer)
    schema = await schema_for(engine, table)
    write = prepare(schema)
    options = write.options
    listened = listened_table(changes, schema, table)
    if listened is not None:
        options = rows_for_hook(options, query, reads_back=write.reads_back)
    shape_key, shaped, values = _shape(cache, query, engine, None)
    key = (write.operation.lower(), engine.dialect.name, table, caller.role, shape_key, *write.key(options))
    plan = cached(
        cache,
        schema,
        key,
        lambda: write.compile(engine.dialect, shaped, options, row_policies(policies, schema, caller)),
    ).with_values(values)
    if write.checked is not None and engine.dialect.checks_body_values:
        check_body_values(*write.checked)
    announce = _announcer(listened, write.operation, caller, options)
    return await run_write(
        engine, caller, plan, write.body, prefer, accept, write.finish, limited=write.limited, announce=announce
    )


def _write_options(prefer: Preferences, accept: Accept, **extra: Any) -> WriteOptions:
    representation = prefer.return_ == "representation"
    return WriteOptions(
        media=_media(accept) if representation else "none",
        strip_nulls=accept.strip_nulls,
        location=prefer.return_ == "headers-only",
        **extra,
    )


def _announcer(table: Table | None, operation: Operation, caller: Caller, options: WriteOptions) -> Announcer | None:
    """What builds the write's `rows_changed` events, when a handler listens for `table`."""
    return None if table is None else Announcer(table, operation, caller, options.media)


async def insert(
    engine: Engine,
    caller: Caller,
    table: str,
    body: bytes,
    *,
    query: ReadQuery,
    columns: tuple[str, ...] | None,
    on_conflict: tuple[str, ...] | None,
    prefer: Preferences,
    accept: Accept,
    cache: StatementCache | None = None,
    policies: PolicyProvider | None = None,
    changes: Hook[RowsChanged] | None = None,
) -> Result:
    """POST: insert one object or an array of them (upsert with `resolution=`), in one transaction.

    `changes`: the `rows_changed` hook, whose events (when it listens for the table) the result carries."""

    def prepare(schema: Schema) -> _Write:
        tbl = lookup_table(schema, table)
        rows_json, keys, rows = parse_body(body, array=True)
        if columns is None:
            check_same_keys(rows)
        options = _write_options(
            prefer,
            accept,
            missing_default=prefer.missing == "default",
            resolution=prefer.resolution,
            on_conflict=on_conflict,
        )
        written = columns if columns is not None else keys
        return _Write(
            "INSERT",
            options,
            key=lambda final: (written, final),
            compile=lambda dialect, shaped, final, rls: compile_insert(
                schema, dialect, table, shaped, written, final, rls
            ),
            finish=lambda outcome: _inserted(outcome, prefer, tbl if options.location else None),
            body=rows_json,
            reads_back=insert_reads_back(tbl, written, options),
            limited=False,
            checked=(tbl, rows, written),
        )

    return await _write(engine, caller, table, query, prefer, accept, cache, policies, changes, prepare)


def _inserted(outcome: Outcome, prefer: Preferences, located: Table | None) -> Result:
    """The answer to POST: 201, or 200 when an upsert inserted nothing new; `Location` of the one row
    written into `located` (`Prefer: return=headers-only`)."""
    status = 201
    if prefer.resolution == "merge-duplicates" and outcome.inserted is not None and outcome.inserted <= 0:
        status = 200
    headers = applied_headers(prefer)
    if located is not None:
        headers = {**location_headers(located, outcome), **headers}
    body = text_body(outcome.body) if prefer.return_ == "representation" else None
    total = outcome.changed if prefer.count else None
    return Result(body, status, content_range(1, 0, total), headers)


async def update(
    engine: Engine,
    caller: Caller,
    table: str,
    body: bytes,
    *,
    query: ReadQuery,
    prefer: Preferences,
    accept: Accept,
    cache: StatementCache | None = None,
    policies: PolicyProvider | None = None,
    changes: Hook[RowsChanged] | None = None,
) -> Result:
    """PATCH: set the body's keys on every row the filters select (no filter: every row)."""

    def prepare(schema: Schema) -> _Write:
        tbl = lookup_table(schema, table)
        _, keys, rows = parse_body(body, array=False)
        return _Write(
            "UPDATE",
            _write_options(prefer, accept),
            key=lambda final: (keys, final),
            compile=lambda dialect, shaped, final, rls: compile_update(
                schema, dialect, table, shaped, keys, final, rls
            ),
            finish=lambda outcome: changed_result(outcome, prefer, first=0),
            body=body,
            checked=(tbl, rows, keys),
        )

    return await _write(engine, caller, table, query, prefer, accept, cache, policies, changes, prepare)


async def delete(
    engine: Engine,
    caller: Caller,
    table: str,
    *,
    query: ReadQuery,
    prefer: Preferences,
    accept: Accept,
    cache: StatementCache | None = None,
    policies: PolicyProvider | None = None,
    changes: Hook[RowsChanged] | None = None,
) -> Result:
    """DELETE every row the filters select (no filter: every row)."""

    def need_rows(options: WriteOptions) -> bool:
        return (
            options.media != "none" or options.location or accept.media == "object" or prefer.max_affected is not None
        )

    def prepare(schema: Schema) -> _Write:
        return _Write(
            "DELETE",
            _write_options(prefer, accept),
            key=lambda final: (final, need_rows(final)),
            compile=lambda dialect, shaped, final, rls: compile_delete(
                schema, dialect, table, shaped, final, rls, need_rows=need_rows(final)
            ),
            finish=lambda outcome: changed_result(outcome, prefer, first=None),
        )

    return await _write(engine, caller, table, query, prefer, accept, cache, policies, changes, prepare)


async def put(
    engine: Engine,
    caller: Caller,
    table: str,
    body: bytes,
    *,
    query: ReadQuery,
    prefer: Preferences,
    accept: Accept,
    cache: StatementCache | None = None,
    policies: PolicyProvider | None = None,
    changes: Hook[RowsChanged] | None = None,
) -> Result:
    """PUT: PostgREST's single-row upsert on the primary key (rules in `rest.put`); an insert with
    `resolution=merge-duplicates`, so its row policies are an upsert's. 201 when the row was new, 200
    when it replaced one (with the representation), 204 without; no Content-Range, as PostgREST."""
    _check_preferences(prefer)
    check_put_query(query)
    schema = await schema_for(engine, table)
    tbl = lookup_table(schema, table)
    key = put_key(tbl, query)
    _, _, rows = parse_body(body, array=True)
    row = put_row(tbl, key, rows)
    upsert = replace(prefer, resolution="merge-duplicates")
    result = await insert(
        engine,
        caller,
        table,
        json.dumps(row),
        query=query,
        columns=tuple(row),
        on_conflict=tbl.primary_key,
        prefer=upsert,
        accept=accept,
        cache=cache,
        policies=policies,
        changes=changes,
    )
    representation = prefer.return_ == "representation"
    status = result.status if representation else 204
    return Result(result.body if representation else None, status, None, applied_headers(prefer), result.changes)
