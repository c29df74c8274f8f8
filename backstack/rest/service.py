"""The data API without HTTP: run compiled statements on an `Engine`, answer bytes and metadata.

`DataService` is built once per app with everything it uses (engine, row policies, statement
cache, `max_rows`, the `rows_changed` hook); each of its methods takes one request model
(`ReadRequest`, `WriteRequest`: what the route parsed) and the caller. A method compiles its
request (pure, cacheable: `sql.read.compile_read`, `sql.write.compile_*`), runs it with the
caller's identity (a write: `rest.writes`) and turns the row counts into PostgREST's status and
`Content-Range` (`rest.result`). The body comes back from the database as one JSON (or CSV) text;
Python passes it through.

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

__all__ = ["DataService", "ReadRequest", "Result", "StatementCache", "WriteRequest"]


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


# ---------------------------------------------------------------- the request models


@dataclass(slots=True)
class ReadRequest:
    """A GET or HEAD on a table, as the route parsed it. Not frozen: it is built on every read (the hot
    path), and a frozen dataclass's `__init__` costs five times as much."""

    table: str
    query: ReadQuery
    prefer: Preferences
    accept: Accept
    range_: Range | None = None  # the Range header
    head: bool = False  # HEAD: the headers GET would send, no body
    shape: Shape | None = None  # the query's shape, when the route cached it with the parsed query string


@dataclass(slots=True)
class WriteRequest:
    """A POST, PATCH, PUT or DELETE on a table, as the route parsed it (not frozen: see `ReadRequest`)."""

    table: str
    query: ReadQuery
    prefer: Preferences
    accept: Accept
    body: bytes = b""  # the JSON body (DELETE has none)
    columns: tuple[str, ...] | None = None  # POST's `columns=`: the keys written (else the body's)
    on_conflict: tuple[str, ...] | None = None  # POST's `on_conflict=`: the upsert's unique columns
    shape: Shape | None = None  # as `ReadRequest.shape`


@dataclass(frozen=True, slots=True)
class _Write:
    """What one write operation brings to the pipeline the four share (`DataService._write`): everything
    else, from the schema lookup to the `rows_changed` events, is the same for all of them."""

    operation: Operation  # the `rows_changed` operation; in lower case, the head of the statement's cache key
    options: WriteOptions  # as the request asks (a `rows_changed` handler may still ask for the rows)
    key: Callable[[WriteOptions], tuple[Hashable, ...]]  # what else the SQL depends on (the cache key's tail)
    compile: Callable[[Dialect, ReadQuery, WriteOptions, RowPolicies | None], WritePlan]  # `sql.write`, on a miss
    finish: Callable[[Outcome], Result]  # the outcome as the answer: status, body, headers
    body: bytes | None = None  # the JSON the plan binds (its slot 1)
    reads_back: bool = True  # whether the statement reads back the rows it writes (`rows_for_hook`)
    limited: bool = True  # whether `Prefer: max-affected` applies
    checked: tuple[Table, list[dict[str, Any]], tuple[str, ...]] | None = None  # body values, as written


# ---------------------------------------------------------------- the service


class DataService:
    """Reads and writes the tables of one app, as the caller (built once, in `routes.build_rest_app`)."""

    __slots__ = ("engine", "max_rows", "policies", "rows_changed", "statements")

    def __init__(
        self,
        engine: Engine,
        *,
        max_rows: int,
        policies: PolicyProvider | None = None,
        statements: StatementCache | None = None,
        rows_changed: Hook[RowsChanged] | None = None,
    ) -> None:
        self.engine = engine
        self.max_rows = max_rows  # most rows one read returns (`Settings.max_rows`)
        self.policies = policies  # row policies compiled into SQL (SQLite); None where the engine enforces RLS
        self.statements = statements  # one compile per request shape; None: compile each request, values inline
        self.rows_changed = rows_changed  # the app's hook: a write's `Result.changes` carries its events

    async def read(self, request: ReadRequest, caller: Caller) -> Result:
        """GET/HEAD: the page of rows as one JSON array (or object / CSV), with its Content-Range."""
        engine, table, prefer, accept, max_rows = (
            self.engine,
            request.table,
            request.prefer,
            request.accept,
            self.max_rows,
        )
        _check_preferences(prefer)
        schema = await schema_for(engine, table)
        offset, limit = root_page(request.query, request.range_, max_rows)
        options = ReadOptions(
            media="none" if request.head else _media(accept),
            strip_nulls=accept.strip_nulls,
            count_total=prefer.count is not None,
            offset=offset,
            limit=limit,
            max_rows=max_rows,
        )
        shape_key, shaped, values = _shape(self.statements, request.query, engine, request.shape)
        key = ("read", engine.dialect.name, table, caller.role, shape_key, options)
        statement = cached(
            self.statements,
            schema,
            key,
            lambda: compile_read(
                schema, engine.dialect, table, shaped, options, row_policies(self.policies, schema, caller)
            ),
        )
        statement = statement.with_values(values)
        row = await engine.fetch_one(statement.sql, statement.params, caller=caller)
        body, page, total, status = read_page(row, offset)
        if accept.media == "object" and page != 1:
            raise errors.singular_row_count(page)
        headers = {"Preference-Applied": f"count={prefer.count}"} if prefer.count else {}
        return Result(text_body(body), status, content_range(offset, offset + page - 1, total), headers)

    async def insert(self, request: WriteRequest, caller: Caller) -> Result:
        """POST: insert one object or an array of them (upsert with `resolution=`), in one transaction."""
        table, prefer, columns = request.table, request.prefer, request.columns

        def prepare(schema: Schema) -> _Write:
            tbl = lookup_table(schema, table)
            rows_json, keys, rows = parse_body(request.body, array=True)
            if columns is None:
                check_same_keys(rows)
            options = _write_options(
                prefer,
                request.accept,
                missing_default=prefer.missing == "default",
                resolution=prefer.resolution,
                on_conflict=request.on_conflict,
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

        return await self._write(request, caller, prepare)

    async def update(self, request: WriteRequest, caller: Caller) -> Result:
        """PATCH: set the body's keys on every row the filters select (no filter: every row)."""
        table, body = request.table, request.body

        def prepare(schema: Schema) -> _Write:
            tbl = lookup_table(schema, table)
            _, keys, rows = parse_body(body, array=False)
            return _Write(
                "UPDATE",
                _write_options(request.prefer, request.accept),
                key=lambda final: (keys, final),
                compile=lambda dialect, shaped, final, rls: compile_update(
                    schema, dialect, table, shaped, keys, final, rls
                ),
                finish=lambda outcome: changed_result(outcome, request.prefer, first=0),
                body=body,
                checked=(tbl, rows, keys),
            )

        return await self._write(request, caller, prepare)

    async def delete(self, request: WriteRequest, caller: Caller) -> Result:
        """DELETE every row the filters select (no filter: every row)."""
        table, prefer, accept = request.table, request.prefer, request.accept

        def need_rows(options: WriteOptions) -> bool:
            return (
                options.media != "none"
                or options.location
                or accept.media == "object"
                or prefer.max_affected is not None
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

        return await self._write(request, caller, prepare)

    async def put(self, request: WriteRequest, caller: Caller) -> Result:
        """PUT: PostgREST's single-row upsert on the primary key (rules in `rest.put`); an insert with
        `resolution=merge-duplicates`, so its row policies are an upsert's. 201 when the row was new, 200
        when it replaced one (with the representation), 204 without; no Content-Range, as PostgREST."""
        prefer = request.prefer
        _check_preferences(prefer)
        check_put_query(request.query)
        schema = await schema_for(self.engine, request.table)
        tbl = lookup_table(schema, request.table)
        key = put_key(tbl, request.query)
        _, _, rows = parse_body(request.body, array=True)
        row = put_row(tbl, key, rows)
        upsert = replace(
            request,
            body=json.dumps(row),
            columns=tuple(row),
            on_conflict=tbl.primary_key,
            prefer=replace(prefer, resolution="merge-duplicates"),
        )
        result = await self.insert(upsert, caller)
        representation = prefer.return_ == "representation"
        status = result.status if representation else 204
        return Result(result.body if representation else None, status, None, applied_headers(prefer), result.changes)

    async def _write(self, request: WriteRequest, caller: Caller, prepare: Callable[[Schema], _Write]) -> Result:
        """The write pipeline: check the preferences, find the schema, `prepare` the operation (parse its
        body, its options), compile its plan once per shape, check the body's values where the engine does
        not (`Dialect.checks_body_values`), run it as the caller (`writes.run_write`), announce it."""
        engine, table, query, prefer = self.engine, request.table, request.query, request.prefer
        _check_preferences(prefer)
        schema = await schema_for(engine, table)
        write = prepare(schema)
        options = write.options
        listened = listened_table(self.rows_changed, schema, table)
        if listened is not None:
            options = rows_for_hook(options, query, reads_back=write.reads_back)
        shape_key, shaped, values = _shape(self.statements, query, engine, request.shape)
        key = (write.operation.lower(), engine.dialect.name, table, caller.role, shape_key, *write.key(options))
        plan = cached(
            self.statements,
            schema,
            key,
            lambda: write.compile(engine.dialect, shaped, options, row_policies(self.policies, schema, caller)),
        ).with_values(values)
        if write.checked is not None and engine.dialect.checks_body_values:
            check_body_values(*write.checked)
        announce = _announcer(listened, write.operation, caller, options)
        return await run_write(
            engine,
            caller,
            plan,
            write.body,
            prefer,
            request.accept,
            write.finish,
            limited=write.limited,
            announce=announce,
        )


# ---------------------------------------------------------------- the writes' parts


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
