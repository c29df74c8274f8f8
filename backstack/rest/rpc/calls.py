"""How a database function is compiled, run and answered on each engine: the one place rpc/ asks
which engine it is on (`calls_for`).

PostgreSQL runs the function itself: its arguments go as one JSON parameter, GET/HEAD and stable
functions in a read-only transaction, the rest in a read-write one, and the statement builds the
JSON answer. SQLite runs the function's translated body (`db.schema.functions.SqliteFunction`): a
body that writes runs on the writer in one transaction (or fails with 25006 on GET before anything
runs), the rest on a reader, and a raw row or scalar becomes JSON here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from backstack.core import json
from backstack.db.engine import sync_writer
from backstack.db.errors import database_error
from backstack.db.pgtypes.names import type_kind
from backstack.db.schema.functions import SqliteFunction
from backstack.rest import errors
from backstack.rest.result import text_body
from backstack.rest.rpc.args import sqlite_values
from backstack.rest.rpc.sql import ARGS, CallPlan, bind, compile_postgres, compile_sqlite

if TYPE_CHECKING:
    from backstack.core.caller import Caller
    from backstack.core.ports import RowPolicies
    from backstack.db.dialect import Dialect
    from backstack.db.engine import Engine, SyncConnection
    from backstack.db.schema.model import Function, Schema
    from backstack.rest.request.query import Accept, ReadQuery
    from backstack.rest.sql.read import ReadOptions


class DatabaseCalls(Protocol):
    """One engine's way to run a database function."""

    def compile(
        self,
        schema: Schema,
        function: Function,
        given: tuple[str, ...],
        *,
        whole_body: bool,
        query: ReadQuery,
        options: ReadOptions,
        policies: RowPolicies | None,
        protect: bool,
    ) -> CallPlan: ...

    def bind_values(self, function: Function, values: dict[str, Any], whole_body: bool) -> dict[str, Any]: ...

    async def run(
        self, caller: Caller, plan: CallPlan, values: dict[str, Any], read_only: bool, accept: Accept
    ) -> tuple[Any, ...] | None: ...

    def value(self, plan: CallPlan, row: tuple[Any, ...] | None, function: Function) -> bytes: ...


def calls_for(engine: Engine) -> DatabaseCalls:
    """The way `engine` runs database functions."""
    return SqliteCalls(engine) if engine.dialect.name == "sqlite" else PostgresCalls(engine)


class _EngineCalls:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect: Dialect = engine.dialect


class PostgresCalls(_EngineCalls):
    def compile(
        self,
        schema: Schema,
        function: Function,
        given: tuple[str, ...],
        *,
        whole_body: bool,
        query: ReadQuery,
        options: ReadOptions,
        policies: RowPolicies | None,
        protect: bool,
    ) -> CallPlan:
        return compile_postgres(
            schema, self.dialect, function, given, whole_body=whole_body, query=query, options=options
        )

    def bind_values(self, function: Function, values: dict[str, Any], whole_body: bool) -> dict[str, Any]:
        payload = next(iter(values.values())) if whole_body else values
        return {ARGS: json.dumps_str(payload)}

    async def run(
        self, caller: Caller, plan: CallPlan, values: dict[str, Any], read_only: bool, accept: Accept
    ) -> tuple[Any, ...] | None:
        params = bind(plan.main, values)
        if read_only:
            row = await self.engine.fetch_one(plan.main.sql, params, caller=caller)
            check_singular(plan, row, accept)
            return row
        async with self.engine.transaction(caller) as conn:
            row = await conn.fetch_one(plan.main.sql, params)
            check_singular(plan, row, accept)
            return row

    def value(self, plan: CallPlan, row: tuple[Any, ...] | None, function: Function) -> bytes:
        """The statement made the JSON: a scalar, a set of scalars or one row."""
        return text_body(row[0] if row else None) or (b"[]" if plan.shape == "scalars" else b"null")


class SqliteCalls(_EngineCalls):
    def compile(
        self,
        schema: Schema,
        function: Function,
        given: tuple[str, ...],
        *,
        whole_body: bool,
        query: ReadQuery,
        options: ReadOptions,
        policies: RowPolicies | None,
        protect: bool,
    ) -> CallPlan:
        if not isinstance(function, SqliteFunction):
            raise errors.not_implemented(f"{function.language} functions cannot run on SQLite")
        return compile_sqlite(
            schema, self.dialect, function, given, query=query, options=options, policies=policies, protect=protect
        )

    def bind_values(self, function: Function, values: dict[str, Any], whole_body: bool) -> dict[str, Any]:
        return sqlite_values(function, values)

    async def run(
        self, caller: Caller, plan: CallPlan, values: dict[str, Any], read_only: bool, accept: Accept
    ) -> tuple[Any, ...] | None:
        if plan.writes:
            if read_only:
                raise database_error("25006", "cannot execute INSERT, UPDATE or DELETE in a read-only transaction")
            writer = sync_writer(self.engine)
            assert writer is not None
            return await writer.run_write(lambda conn: _write(conn, plan, values, accept), caller)
        row = await self.engine.fetch_one(plan.main.sql, bind(plan.main, values), caller=caller)
        check_singular(plan, row, accept)
        return row

    def value(self, plan: CallPlan, row: tuple[Any, ...] | None, function: Function) -> bytes:
        """A set of scalars comes as JSON; a scalar or one raw row (DML ... RETURNING) is made JSON here."""
        if plan.shape == "scalars":
            return text_body(row[0] if row else None) or b"[]"
        if row is None:
            return b"null"
        if plan.shape == "scalar":
            return json.dumps(json_value(row[0], type_kind(function.returns)))
        return json.dumps({c.name: json_value(v, c.kind) for c, v in zip(function.result_columns, row, strict=False)})


def check_singular(plan: CallPlan, row: tuple[Any, ...] | None, accept: Accept) -> None:
    if accept.media == "object" and plan.shape == "rows" and not plan.raw_row:
        page = int(row[1]) if row is not None else 0
        if page != 1:
            raise errors.singular_row_count(page)


def _write(conn: SyncConnection, plan: CallPlan, values: dict[str, Any], accept: Accept) -> tuple[Any, ...] | None:
    for statement in plan.before:
        conn.execute(statement.sql, bind(statement, values))
    row = conn.fetch_one(plan.main.sql, bind(plan.main, values))
    check_singular(plan, row, accept)
    return row


def json_value(value: Any, kind: str) -> Any:
    """A value SQLite returned, as PostgreSQL's JSON would show it (booleans, JSON and arrays, bytea)."""
    if value is None:
        return None
    if kind == "bool":
        return bool(value)
    if kind == "numeric" and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind in ("json", "array") and isinstance(value, str):
        return json.loads(value)
    if kind == "bytes" and isinstance(value, bytes):
        return "\\x" + value.hex()
    return value
