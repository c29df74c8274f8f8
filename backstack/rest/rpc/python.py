"""Running `@rpc` Python functions: the database handle they get and the call itself.

The handle runs the function's statements as the caller. PostgreSQL: inside one transaction with
the caller's role and claims (`engine.transaction(caller)`), so RLS applies natively; a stable or
immutable function reads through `engine.fetch_*` (read-only transactions). SQLite: every
statement first goes through the role's `RowPolicies.protect` (nothing for service_role); a
volatile function runs in one writer transaction, a stable one reads on the readers.

Writing from a stable/immutable function (or from a GET) is 25006, as in a read-only transaction.
A sync function runs in a worker thread; its handle hands each statement back to the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from backstack.core.rpc import RpcContext
from backstack.db.errors import database_error

if TYPE_CHECKING:
    from backstack.core.caller import Caller
    from backstack.core.ports import RowPolicies
    from backstack.core.rpc import RpcFunction
    from backstack.db.engine import Connection, Engine


@dataclass(slots=True)
class DatabaseHandle:
    """`ctx.db` for async functions: `fetch_one`, `fetch_all`, `execute` under the caller's policies."""

    engine: Engine
    caller: Caller
    policies: RowPolicies | None
    conn: Connection | None = None  # the function's transaction (volatile functions)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def _sql(self, sql: str) -> str:
        return sql if self.policies is None else self.policies.protect(sql)

    async def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        if self.conn is not None:
            return await self.conn.fetch_one(self._sql(sql), params)
        return await self.engine.fetch_one(self._sql(sql), params, caller=self.caller)

    async def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self.conn is not None:
            return await self.conn.fetch_all(self._sql(sql), params)
        return await self.engine.fetch_all(self._sql(sql), params, caller=self.caller)

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        if self.conn is None:
            raise read_only_error(sql.split(None, 1)[0].upper() if sql.strip() else "statement")
        return await self.conn.execute(self._sql(sql), params)


@dataclass(slots=True)
class SyncDatabaseHandle:
    """`ctx.db` for sync functions (running in a worker thread): each call runs on the event loop."""

    handle: DatabaseHandle
    loop: asyncio.AbstractEventLoop

    @property
    def dialect(self) -> str:
        return self.handle.dialect

    def fetch_one(self, sql: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        return asyncio.run_coroutine_threadsafe(self.handle.fetch_one(sql, params), self.loop).result()

    def fetch_all(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return asyncio.run_coroutine_threadsafe(self.handle.fetch_all(sql, params), self.loop).result()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        return asyncio.run_coroutine_threadsafe(self.handle.execute(sql, params), self.loop).result()


def read_only_error(what: str) -> Exception:
    """25006 (405): a write where only reads are allowed."""
    return database_error("25006", f"cannot execute {what} in a read-only transaction")


async def call_python(
    engine: Engine,
    caller: Caller,
    function: RpcFunction,
    values: dict[str, Any],
    *,
    policies: RowPolicies | None,
    read_only: bool,
) -> Any:
    """Run `function` with `values` as the caller; return what it returned."""
    if read_only:
        return await _invoke(function, DatabaseHandle(engine, caller, policies), values)
    async with engine.transaction(caller) as conn:
        return await _invoke(function, DatabaseHandle(engine, caller, policies, conn), values)


async def _invoke(function: RpcFunction, handle: DatabaseHandle, values: dict[str, Any]) -> Any:
    if function.is_async:
        return await function.fn(RpcContext(handle.caller, handle), **values)
    sync = SyncDatabaseHandle(handle, asyncio.get_running_loop())
    return await asyncio.to_thread(function.fn, RpcContext(handle.caller, sync), **values)
