"""The data API without HTTP: run compiled statements on an `Engine`, answer bytes and metadata.

Each function compiles its request (pure, cacheable: `sql.read.compile_read`,
`sql.write.compile_*`), runs it with the caller's identity and turns the row counts into PostgREST's
status and `Content-Range`. The body comes back from the database as one JSON (or CSV) text;
Python passes it through. The only per-row data Python handles is the list of row identities that
SQLite writes pass from the DML to the SELECT that builds their representation.

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

from collections.abc import Hashable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from backstack.core import json
from backstack.core.errors import DatabaseError
from backstack.db.engine import sync_writer
from backstack.rest import errors
from backstack.rest.changes import Announcer, listened_table, rows_for_hook
from backstack.rest.plan.resolve import lookup_table
from backstack.rest.plan.values import check_body_values
from backstack.rest.put import check_put_query, put_key, put_row
from backstack.rest.sql.read import BodyMode, ReadOptions, compile_read
from backstack.rest.sql.statement_cache import Shape, StatementCache, cached, shape_of
from backstack.rest.sql.write import (
    WriteOptions,
    WritePlan,
    compile_delete,
    compile_insert,
    compile_update,
    insert_reads_back,
)

if TYPE_CHECKING:
    from backstack.core.caller import Caller
    from backstack.core.events import Operation, RowsChanged
    from backstack.core.hooks import Hook
    from backstack.core.ports import PolicyProvider, RowPolicies
    from backstack.db.engine import Engine, SyncConnection
    from backstack.db.schema.model import Schema, Table
    from backstack.rest.request.query import Accept, Preferences, Range, ReadQuery

__all__ = ["Result", "StatementCache", "delete", "insert", "put", "read", "update"]


@dataclass
class Result:
    """What the route sends: body bytes (None: no body), status, Content-Range, other headers, and
    the `rows_changed` events of a committed write, for the route to fire."""

    body: bytes | None
    status: int
    content_range: str | None
    headers: dict[str, str] = field(default_factory=dict)
    changes: tuple[RowsChanged, ...] = ()


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
        shape = shape_of(query, sqlite=engine.dialect.is_sqlite)
    return shape.key, shape.query, shape.values


def row_policies(policies: PolicyProvider | None, schema: Schema, caller: Caller) -> RowPolicies | None:
    """The row policies of `caller`'s role (None: nothing to enforce in SQL)."""
    return None if policies is None else policies.for_role(schema, caller.role)


# ---------------------------------------------------------------- ranges


def root_page(query: ReadQuery, range_: Range | None, max_rows: int | None) -> tuple[int, int | None]:
    """(offset, limit) of the top level: the `Range` header intersected with limit/offset, capped."""
    first = query.offset.get((), 0)
    limit = query.limit.get(())
    if limit is not None and limit < 0:
        raise errors.negative_limit()
    if first < 0:
        raise errors.negative_offset()
    last = None if limit is None else first + limit - 1
    if range_ is not None:
        if range_.last is not None and range_.last < range_.first:
            raise errors.range_lower_gt_upper()
        first = max(first, range_.first)
        if range_.last is not None:
            last = range_.last if last is None else min(last, range_.last)
    if last is not None and last < first and limit != 0:
        raise errors.negative_limit()  # an empty intersection: PostgREST's (odd) wording for it
    count = None if last is None else max(0, last - first + 1)
    if max_rows is not None:
        count = max_rows if count is None else min(count, max_rows)
    return first, count


def content_range(lower: int, upper: int, total: int | None) -> str:
    """PostgREST's `Content-Range`: `lower-upper/total`, `*` when empty or total is 0."""
    span = f"{lower}-{upper}" if total != 0 and lower <= upper else "*"
    return f"{span}/{'*' if total is None else total}"


def read_status(offset: int, page: int, total: int | None) -> int:
    if total is None:
        return 200
    if offset > total:
        return 416
    return 206 if page < total else 200


def read_page(row: tuple[Any, ...] | None, offset: int) -> tuple[Any, int, int | None, int]:
    """(body, rows in the page, total or None, status) from a read statement's one row; 416 past the end."""
    body, page, total = row if row is not None else (None, 0, None)
    total = None if total is None else int(total)
    status = read_status(offset, int(page), total)
    if status == 416:
        raise errors.offset_out_of_bounds(offset, total or 0)
    return body, int(page), total, status


def text_body(value: Any) -> bytes | None:
    """A body the database built (text or bytes) as bytes; None stays None."""
    if value is None:
        return None
    return value.encode() if isinstance(value, str) else bytes(value)


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


class _Rollback(Exception):
    """Raised inside a transaction to roll it back after the response is built (`tx=rollback`)."""

    def __init__(self, result: Result) -> None:
        super().__init__("rollback")
        self.result = result


@dataclass(slots=True)
class _Outcome:
    """What a write produced: its body, how many rows changed / were newly inserted, Location."""

    body: Any = None
    changed: int = 0
    inserted: int | None = None
    location: Any = None


def parse_body(body: bytes, *, array: bool) -> tuple[bytes, tuple[str, ...], list[dict[str, Any]]]:
    """The body as a JSON array text (an object is wrapped), the union of its keys, in order, and the rows.

    Empty, invalid, or not object(s) -> PGRST102. `array=False` (PATCH) wants one object.
    """
    try:
        value = json.loads(body) if body.strip() else None
    except json.JSONDecodeError:
        value = None
    if isinstance(value, dict):
        return b"[" + body + b"]", tuple(value), [value]
    if not array or not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise errors.invalid_body("Empty or invalid json")
    keys: dict[str, None] = {}
    for item in value:
        keys.update(dict.fromkeys(item))
    return body, tuple(keys), value


def check_same_keys(rows: list[dict[str, Any]]) -> None:
    """PGRST102 "All object keys must match" for a bulk body whose objects differ in keys (PostgREST
    refuses it before the database sees it; `columns=` names the keys instead)."""
    if len(rows) > 1:
        first = rows[0].keys()
        if any(row.keys() != first for row in rows[1:]):
            raise errors.invalid_body("All object keys must match")


def _write_options(prefer: Preferences, accept: Accept, **extra: Any) -> WriteOptions:
    representation = prefer.return_ == "representation"
    return WriteOptions(
        media=_media(accept) if representation else "none",
        strip_nulls=accept.strip_nulls,
        location=prefer.return_ == "headers-only",
        **extra,
    )


def _check(outcome: _Outcome, accept: Accept, prefer: Preferences, *, limited: bool) -> None:
    """Raise (so the transaction rolls back) for singular Accept or a strict max-affected breach."""
    if accept.media == "object" and outcome.changed != 1:
        raise errors.singular_row_count(outcome.changed)
    if (
        limited
        and prefer.handling == "strict"
        and prefer.max_affected is not None
        and outcome.changed > prefer.max_affected
    ):
        raise errors.max_affected_exceeded(outcome.changed)


async def _run(
    engine: Engine,
    caller: Caller,
    plan: WritePlan,
    body: bytes | None,
    prefer: Preferences,
    accept: Accept,
    finish: Any,
    *,
    limited: bool,
    announce: Announcer | None = None,
) -> Result:
    """Run `plan` in one transaction; `finish(outcome) -> Result`; roll back on error or tx=rollback.

    SQLite runs the whole transaction in one hop to its writer thread (`SyncWriter`), so the writer
    and the file lock other worker processes wait on are held only for the work itself. Once the
    transaction committed, `announce` (when a `rows_changed` handler listens) adds its events.
    """

    def completed(outcome: _Outcome) -> tuple[Result, _Outcome]:
        result: Result = finish(outcome)
        if prefer.tx == "rollback":
            raise _Rollback(result)
        return result, outcome

    try:
        writer = sync_writer(engine)
        if writer is not None:
            text = body.decode() if body is not None else None
            result, outcome = await writer.run_write(
                lambda conn: completed(_run_sqlite(conn, plan, text, accept, prefer, limited=limited)), caller
            )
        else:
            assert plan.main is not None
            params = plan.main.bind(body.decode()) if body is not None else plan.main.params
            if not _decides_before_commit(accept, prefer, limited=limited):
                result, outcome = completed(
                    _postgres_outcome(await engine.write_one(plan.main.sql, params, caller=caller, checked=True))
                )
            else:
                async with engine.transaction(caller) as conn:
                    outcome = _postgres_outcome(await conn.fetch_one(plan.main.sql, params))
                    _check(outcome, accept, prefer, limited=limited)
                    result, outcome = completed(outcome)
    except _Rollback as rollback:
        return rollback.result
    if announce is not None:  # committed: the transaction blocks above have exited without an error
        result.changes = announce.events(outcome.changed, outcome.inserted, outcome.body)
    return result


def _decides_before_commit(accept: Accept, prefer: Preferences, *, limited: bool) -> bool:
    """Whether the outcome may still roll the write back (`_check`, `tx=rollback`); if not, PostgreSQL
    runs the statement as a transaction of its own (`Engine.write_one`, fewer round trips)."""
    return (
        accept.media == "object"
        or prefer.tx == "rollback"
        or (limited and prefer.handling == "strict" and prefer.max_affected is not None)
    )


def _postgres_outcome(row: tuple[Any, ...] | None) -> _Outcome:
    """What PostgreSQL's one write statement answered: (body, page, changed, inserted, location), and
    in a transaction the session check (`Dialect.written_session_check`; `write_one` consumes it)."""
    assert row is not None
    body_text, _page, changed, inserted, location = row[:5]
    return _Outcome(body_text, int(changed), None if inserted is None else int(inserted), location)


def _run_sqlite(
    conn: SyncConnection, plan: WritePlan, text: str | None, accept: Accept, prefer: Preferences, *, limited: bool
) -> _Outcome:
    """On the writer thread: the change (returning row ids), then the statement building the body."""
    if plan.delete_first:
        return _sqlite_delete(conn, plan, accept, prefer, limited=limited)
    merged = 0
    if plan.precount is not None:
        row = conn.fetch_one(plan.precount.sql, plan.precount.bind(text))
        merged = int(row[0]) if row else 0
    rows: list[Any] = []
    if plan.main is not None and plan.counts_only:
        return _Outcome(changed=conn.execute(plan.main.sql, plan.main.params))
    if plan.main is not None:
        if plan.repeat:
            for _ in range(len(json.loads(text or "[]"))):
                rows.extend(conn.fetch_all(plan.main.sql, plan.main.params))
        else:
            rows = _written_rows(conn, plan, text)
    outcome = _Outcome(changed=len(rows), inserted=len(rows) - merged if plan.precount else None)
    _check(outcome, accept, prefer, limited=limited)
    if plan.represent is not None:
        ids = [list(r) for r in rows] if plan.identity else [r[0] for r in rows]
        row = conn.fetch_one(plan.represent.sql, plan.represent.bind(json.dumps_str(ids)))
        if row is not None:
            outcome.body, outcome.location = row[0], row[2]
    return outcome


def _written_rows(conn: SyncConnection, plan: WritePlan, text: str | None) -> list[Any]:
    """The DML's returned identities; after a constraint error, a row failing WITH CHECK is 42501
    instead (PostgreSQL checks policies first, so its answer does not depend on the constraints)."""
    assert plan.main is not None
    try:
        return conn.fetch_all(plan.main.sql, plan.main.bind(text))
    except DatabaseError as error:
        if plan.precheck is not None and error.code.startswith("23"):
            conn.fetch_all(plan.precheck.sql, plan.precheck.bind(text))
        raise


def _sqlite_delete(
    conn: SyncConnection, plan: WritePlan, accept: Accept, prefer: Preferences, *, limited: bool
) -> _Outcome:
    assert plan.represent is not None and plan.main is not None
    row = conn.fetch_one(plan.represent.sql, plan.represent.params)
    assert row is not None
    body_text, count, location, ids = row
    outcome = _Outcome(body_text, int(count), None, location)
    _check(outcome, accept, prefer, limited=limited)
    if outcome.changed:
        conn.execute(plan.main.sql, plan.main.bind(ids))
    return outcome


def _changed(outcome: _Outcome, prefer: Preferences, *, first: int | None) -> Result:
    """The answer to PATCH / DELETE: 200 with the rows or 204; Content-Range `0-N/*` (PATCH, `first=0`)
    or `*/*` (DELETE, `first=None`), the total only when a count was asked for."""
    total = outcome.changed if prefer.count else None
    representation = prefer.return_ == "representation"
    lower, upper = (first, first + outcome.changed - 1) if first is not None else (1, 0)
    return Result(
        text_body(outcome.body) if representation else None,
        200 if representation else 204,
        content_range(lower, upper, total),
        _applied(prefer),
    )


def _announcer(table: Table | None, operation: Operation, caller: Caller, options: WriteOptions) -> Announcer | None:
    """What builds the write's `rows_changed` events, when a handler listens for `table`."""
    return None if table is None else Announcer(table, operation, caller, options.media)


def _applied(prefer: Preferences) -> dict[str, str]:
    applied = prefer.applied()
    return {"Preference-Applied": applied} if applied else {}


def _location(table: Table, outcome: _Outcome) -> dict[str, str]:
    if outcome.changed != 1 or outcome.location is None or not table.primary_key:
        return {}
    values = json.loads(outcome.location)
    query = "&".join(
        f"{quote(c, safe='')}=eq.{quote(str(v), safe='')}" for c, v in zip(table.primary_key, values, strict=False)
    )
    return {"Location": f"/{quote(table.name, safe='')}?{query}"}


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
    _check_preferences(prefer)
    schema = await schema_for(engine, table)
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
    listened = listened_table(changes, schema, table)
    if listened is not None:
        options = rows_for_hook(options, query, reads_back=insert_reads_back(tbl, written, options))
    shape_key, shaped, values = _shape(cache, query, engine, None)
    key = ("insert", engine.dialect.name, table, caller.role, shape_key, written, options)
    plan = cached(
        cache,
        schema,
        key,
        lambda: compile_insert(
            schema, engine.dialect, table, shaped, written, options, row_policies(policies, schema, caller)
        ),
    )
    plan = plan.with_values(values)
    if engine.dialect.is_sqlite:
        check_body_values(tbl, rows, written)

    def finish(outcome: _Outcome) -> Result:
        status = 201
        if prefer.resolution == "merge-duplicates" and outcome.inserted is not None and outcome.inserted <= 0:
            status = 200
        headers = {**_location(tbl, outcome), **_applied(prefer)} if options.location else _applied(prefer)
        body_out = text_body(outcome.body) if prefer.return_ == "representation" else None
        total = outcome.changed if prefer.count else None
        return Result(body_out, status, content_range(1, 0, total), headers)

    announce = _announcer(listened, "INSERT", caller, options)
    return await _run(engine, caller, plan, rows_json, prefer, accept, finish, limited=False, announce=announce)


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
    _check_preferences(prefer)
    schema = await schema_for(engine, table)
    tbl = lookup_table(schema, table)
    _, keys, rows = parse_body(body, array=False)
    options = _write_options(prefer, accept)
    listened = listened_table(changes, schema, table)
    if listened is not None:
        options = rows_for_hook(options, query, reads_back=True)
    shape_key, shaped, values = _shape(cache, query, engine, None)
    key = ("update", engine.dialect.name, table, caller.role, shape_key, keys, options)
    plan = cached(
        cache,
        schema,
        key,
        lambda: compile_update(
            schema, engine.dialect, table, shaped, keys, options, row_policies(policies, schema, caller)
        ),
    )
    plan = plan.with_values(values)
    if engine.dialect.is_sqlite:
        check_body_values(tbl, rows, keys)

    def finish(outcome: _Outcome) -> Result:
        return _changed(outcome, prefer, first=0)

    announce = _announcer(listened, "UPDATE", caller, options)
    return await _run(engine, caller, plan, body, prefer, accept, finish, limited=True, announce=announce)


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
    _check_preferences(prefer)
    schema = await schema_for(engine, table)
    options = _write_options(prefer, accept)
    listened = listened_table(changes, schema, table)
    if listened is not None:
        options = rows_for_hook(options, query, reads_back=True)
    need_rows = (
        options.media != "none" or options.location or accept.media == "object" or prefer.max_affected is not None
    )
    shape_key, shaped, values = _shape(cache, query, engine, None)
    key = ("delete", engine.dialect.name, table, caller.role, shape_key, options, need_rows)
    plan = cached(
        cache,
        schema,
        key,
        lambda: compile_delete(
            schema, engine.dialect, table, shaped, options, row_policies(policies, schema, caller), need_rows=need_rows
        ),
    ).with_values(values)

    def finish(outcome: _Outcome) -> Result:
        return _changed(outcome, prefer, first=None)

    announce = _announcer(listened, "DELETE", caller, options)
    return await _run(engine, caller, plan, None, prefer, accept, finish, limited=True, announce=announce)


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
    return Result(result.body if representation else None, status, None, _applied(prefer), result.changes)
