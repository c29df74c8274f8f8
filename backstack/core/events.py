"""The events hooks carry: one dataclass per kind of thing that happens.

Events are plain dataclasses deriving from `core.hooks.Event` (which gives them `next()`); fields a
handler may change are documented as such, everything else is for reading.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from backstack.core.hooks import Event

if TYPE_CHECKING:
    from backstack.core.caller import Caller

Operation = Literal["INSERT", "UPDATE", "DELETE"]


@dataclass(eq=False)
class StartupEvent(Event):
    """The app is starting: its engine is started, no request has been served yet."""

    app: Any


@dataclass(eq=False)
class ShutdownEvent(Event):
    """The app is stopping: in-flight requests are done, the engine is still open."""

    app: Any


@dataclass(eq=False)
class RequestEvent(Event):
    """An HTTP request entering the app (ASGI `scope`, `receive`, `send`).

    Handlers may change `scope` (headers, state), replace `receive`/`send` to observe or rewrite the
    exchange, or answer the request themselves by sending a response and not calling `next()`.
    """

    scope: MutableMapping[str, Any]
    receive: Any
    send: Any


@dataclass(eq=False)
class RowsChanged(Event):
    """Rows of a table were written and the transaction committed (never for a rolled-back write).

    `operation` is what PostgreSQL's row triggers would name (an upsert's rows are INSERTs or UPDATEs);
    `rows` holds the changed rows when the writer had them (e.g. `return=representation`), else None.
    Tagged with the table name and `schema.table`, so `bind(..., tags=["todos"])` sees only `todos`.
    """

    schema: str
    table: str
    operation: Operation
    count: int
    rows: list[dict[str, Any]] | None = None
    caller: Caller | None = None

    def hook_tags(self) -> tuple[str, ...]:
        return table_tags(self.schema, self.table)


def table_tags(schema: str, table: str) -> tuple[str, str]:
    """The tags of a change to `schema.table`, for asking `Hook.listens` before building the event."""
    return (table, f"{schema}.{table}")


@dataclass(eq=False)
class ErrorEvent(Event):
    """An unexpected exception became a 500 response (ApiErrors, the client's fault, do not fire it).

    For reporting (logs, Sentry): `error` is the exception, `request_id` is the id the client saw.
    """

    error: BaseException
    request_id: str
    method: str
    path: str
    extra: dict[str, Any] = field(default_factory=dict)
