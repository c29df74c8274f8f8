"""Protocols services call instead of each other: a service receives an implementation from `app.py`.

A service names the capability it needs here (a rate limiter, later a mailer, a blob store) and
never imports the module that provides it, so services stay independent of each other and of the
infrastructure behind them (Redis, SMTP, S3).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from typing_extensions import TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable

# The kernel does not know the database's schema model (db/schema/model.py): the row-policy ports are
# generic in the schema and table types, which app.py names where it wires them
# (`PolicyProvider[Schema, Table]`); unnamed (`RowPolicies`), they take any.
TableT = TypeVar("TableT", contravariant=True, default=Any)
SchemaT = TypeVar("SchemaT", contravariant=True, default=Any)


@dataclass(frozen=True, slots=True)
class RateDecision:
    """The outcome of one counted request: allowed or not, and when the window starts over."""

    allowed: bool
    count: int
    limit: int
    retry_after: float  # seconds until the current window ends


class RateLimiter(Protocol):
    """Counts requests per key in fixed windows; shared by every node when the backend is shared."""

    async def hit(self, key: str, limit: int, window: float) -> RateDecision:
        """Count one request under `key`; allowed while at most `limit` were counted in the `window` seconds."""
        ...

    async def refund(self, key: str) -> None:
        """Take back one hit under `key` (an attempt that turned out legitimate), if its window still runs."""
        ...

    async def close(self) -> None:
        """Release connections (called at shutdown)."""
        ...


class RowPolicies(Protocol[TableT]):
    """Row-level security of one role, for an engine that does not enforce it itself (SQLite).

    Predicates are SQL over one row of the table, written with `{row}` where the row's alias goes
    (`{row}."owner" = auth_uid()`); `None` means unrestricted. Every method raises the ApiError
    PostgreSQL would (42501 `permission denied for table t`) when the role lacks the privilege.
    """

    def using(self, table: TableT, command: str) -> str | None:
        """What existing rows must satisfy to be seen by `command`: select, update or delete.

        For update and delete this already includes the select policies, as PostgreSQL applies
        both when the statement reads the rows it changes (PostgREST's always do)."""
        ...

    def check(self, table: TableT, command: str) -> str | None:
        """What a new row of `command` (insert or update) must satisfy, else 42501 `new row violates
        row-level security policy for table "t"`."""
        ...

    def relation(self, table: TableT) -> str | None:
        """What a read of `table` reads in its place (a parenthesised derived table), or None for the
        table itself: a security-invoker view's body through the role's policies, a security-barrier
        view behind a barrier."""
        ...

    def protect(self, sql: str) -> str:
        """SQLite `sql` with every RLS table it reads replaced by a subquery through its policies.

        For SQL this service did not compile itself: SQL function bodies, `@rpc` Python functions'
        queries, policies' own subqueries."""
        ...


class PolicyProvider(Protocol[SchemaT, TableT]):
    """Gives the data API (and later storage, realtime) the row policies of a caller's role."""

    def for_role(self, schema: SchemaT, role: str) -> RowPolicies[TableT] | None:
        """The policies of `role` over `schema`; None when nothing needs enforcing here (PostgreSQL
        enforces RLS natively; service_role bypasses it)."""
        ...


@dataclass(frozen=True, slots=True)
class RowChange:
    """One captured row change of a table of the `supabase_realtime` publication (db/changes.py)."""

    id: int  # increasing in the order the changes were written (not always the order they committed)
    schema: str
    table: str
    operation: str  # INSERT | UPDATE | DELETE
    record: dict[str, Any] | None  # the new row (None for DELETE), with the data API's JSON types
    old_record: dict[str, Any] | None  # UPDATE/DELETE: the replica identity's columns (the primary key)
    commit_timestamp: str  # ISO 8601


class CapturedTable(NamedTuple):
    """A table whose changes are captured, as delivery sees it (`ChangeFeed.table`)."""

    columns: list[tuple[str, str, str]]  # (name, internal type name such as `int4` or `_text`, TypeKind)
    primary_key: tuple[str, ...]
    rls: bool  # row-level security enabled


class ChangeFeed(Protocol):
    """One worker's reader of the captured row changes, for realtime to deliver (db/changes.py)."""

    poll_seconds: float  # how often `read` is worth calling without a wake-up, while someone subscribes

    async def open(self, wake: Callable[[], None]) -> None:
        """Start at what is committed now; `wake()` is called when changes may be waiting."""
        ...

    async def read(self) -> list[RowChange]:
        """The changes committed since the previous read, each once, in id order."""
        ...

    async def trim(self) -> int:
        """Delete the changes every live reader has read; how many went."""
        ...

    async def close(self) -> None: ...

    async def published(self) -> frozenset[tuple[str, str]]:
        """The (schema, table) pairs whose changes are captured (the `supabase_realtime` publication)."""
        ...

    async def table(self, schema: str, table: str) -> CapturedTable | None:
        """What delivery needs to know of a published table; None: no such table."""
        ...
