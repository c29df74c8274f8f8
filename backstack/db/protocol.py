"""The Engine protocol both databases implement (and the connection protocols it lends).

The data API compiles its own SQL (one statement per request whose result is a JSON text), so an
engine only runs statements: reads on a reader connection, writes in a transaction on the writer
(SQLite) or a pooled connection (PostgreSQL). Driver exceptions never leave this package: they are
translated into `core.errors.DatabaseError` (SQLSTATE in `code`) or `core.errors.Unavailable`.

It sits below the engines (`sqlite/`, `postgres/`) that implement it and `script.py` / `migrate.py`
that run on any engine; services import it through `engine.py`, which adds `connect`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast, runtime_checkable

if TYPE_CHECKING:
    from backstack.core.caller import Caller
    from backstack.db.dialect import Dialect
    from backstack.db.schema.model import Schema

T = TypeVar("T")
Row = tuple[Any, ...]
Params = Sequence[Any]


class Connection(Protocol):
    """A connection inside a transaction."""

    async def fetch_one(self, sql: str, params: Params = ()) -> Row | None: ...

    async def fetch_all(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run a statement; return the number of rows it changed."""
        ...


class SyncConnection(Protocol):
    """A connection inside a transaction, used from the engine's own writer thread (`run_write`)."""

    def fetch_one(self, sql: str, params: Params = ()) -> Row | None: ...

    def fetch_all(self, sql: str, params: Params = ()) -> list[Row]: ...

    def execute(self, sql: str, params: Params = ()) -> int: ...


@runtime_checkable
class SyncWriter(Protocol):
    """An engine that can run a whole write transaction in one hop to its writer thread (SQLite).

    Several awaits inside `transaction()` each cost a thread hop and an event-loop turn while the
    writer (and the file lock other processes wait on) is held; `run_write` holds it only for the
    work itself. `fn` runs on the writer thread: it must not touch the event loop.
    """

    async def run_write(self, fn: Callable[[SyncConnection], T], caller: Caller | None = None) -> T: ...


def sync_writer(engine: object) -> SyncWriter | None:
    """`engine` when it is a `SyncWriter`, else None.

    A check of the class, not `isinstance(engine, SyncWriter)`: on Python 3.11 a runtime protocol
    check of an object that is not one walks every attribute (~35 us measured, on every write)."""
    return cast("SyncWriter", engine) if callable(getattr(type(engine), "run_write", None)) else None


class Engine(Protocol):
    """A database the services run statements on."""

    dialect: Dialect

    async def start(self) -> None:
        """Open connections/pools, apply internal setup; idempotent."""
        ...

    async def close(self) -> None: ...

    async def fetch_one(self, sql: str, params: Params = (), *, caller: Caller | None = None) -> Row | None:
        """Run a read-only statement on a reader and return its first row."""
        ...

    async def fetch_all(self, sql: str, params: Params = (), *, caller: Caller | None = None) -> list[Row]: ...

    async def write_one(
        self, sql: str, params: Params = (), *, caller: Caller | None = None, checked: bool = False
    ) -> Row | None:
        """Run one data-changing statement as a transaction of its own; return its first row.

        For a write whose outcome needs no decision before the commit: fewer round trips than
        `transaction()` on PostgreSQL (see `db/postgres/engine.py`). `checked`: the statement's last
        column is `dialect.written_session_check(...)` (None on SQLite: no such column); the engine
        reads it and leaves it out of the row."""
        ...

    def transaction(self, caller: Caller | None = None) -> AbstractAsyncContextManager[Connection]:
        """A write transaction: commits when the block exits normally, rolls back on any exception."""
        ...

    async def schema(self) -> Schema:
        """The cached schema; reloaded when the database schema changes (by anyone)."""
        ...

    async def reload_schema(self) -> Schema:
        """Introspect now and replace the cache."""
        ...

    async def recheck_schema(self) -> Schema:
        """For a table missing from the cache: reload if the database's schema changed meanwhile.

        Cheap (a version or fingerprint read), and rate-limited per engine, so a flood of requests
        for a table that truly does not exist does not reload the schema each time.
        """
        ...

    async def execute_script(self, sql: str) -> None:
        """Run several statements in one transaction (migrations, seed)."""
        ...

    async def health(self) -> dict[str, Any]:
        """`{"status": "ok"|"unavailable", ...}` plus pool figures; never raises."""
        ...
