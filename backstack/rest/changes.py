"""`rows_changed` for the data API: the events a committed write fires, and firing them.

The service builds the events once its transaction committed (a write that failed, or was rolled
back by `Prefer: tx=rollback`, builds none) and returns them on its `Result`; the route fires them
before it sends the response, where the request id is at hand. Nothing here runs unless a handler
listens for the table (`Hook.listens`): with none bound, a write pays one length check.

Choices (docs/hooks.md, "rows_changed"):
- operations are named as PostgreSQL's row triggers (and so Supabase's webhooks and realtime) name
  them: an upsert's new rows are an INSERT, its merged rows an UPDATE. One event per request, except
  a bulk upsert that both inserted and merged: INSERT then UPDATE, each with its count and no rows
  (the representation does not say which row was which);
- a write that changed no row fires nothing (webhooks fire per row);
- `rows` come from the body the database built: the representation when the client asked for it
  (JSON), else every column of the changed rows when the statement reads them back anyway
  (`rows_for_hook`), else None;
- a handler that raises is logged with the request id; the write stays committed and is answered as
  usual (the client cannot retry a commit, so an error answer would only mislead it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from backstack.core import json
from backstack.core.events import RowsChanged, table_tags
from backstack.rest.plan.resolve import lookup_table
from backstack.rest.request.query import Embed

if TYPE_CHECKING:
    from collections.abc import Sequence

    from backstack.core.caller import Caller
    from backstack.core.events import Operation
    from backstack.core.hooks import Hook
    from backstack.db.schema.model import Schema, Table
    from backstack.rest.request.query import ReadQuery
    from backstack.rest.sql.read_port import BodyMode
    from backstack.rest.sql.write_plan import WriteOptions

logger = logging.getLogger("backstack.rest")


def listened_table(hook: Hook[RowsChanged] | None, schema: Schema, name: str) -> Table | None:
    """The table a write changes when a `rows_changed` handler listens for it, else None (no work)."""
    if hook is None or not len(hook):
        return None
    table = lookup_table(schema, name)
    return table if hook.listens(table_tags(table.schema, table.name)) else None


def rows_for_hook(options: WriteOptions, query: ReadQuery, *, reads_back: bool) -> WriteOptions:
    """`options` asking the database for the changed rows (JSON, every column) when the hook can have
    them without changing what the write needs: the client did not ask for a body, the statement
    reads back the rows it writes anyway (`reads_back`: PostgreSQL's RETURNING, so the caller already
    needs to be allowed to read them), and `select=` embeds no other table."""
    if options.media != "none" or not reads_back or any(isinstance(item, Embed) for item in query.select):
        return options
    return replace(options, media="json", strip_nulls=False)


@dataclass(frozen=True, slots=True)
class Announcer:
    """What the events of one write need besides its outcome: the table, operation, caller, and the
    shape of the body the database built (`media`: "json" an array, "object" one row, else no rows)."""

    table: Table
    operation: Operation
    caller: Caller
    media: BodyMode

    def events(self, changed: int, inserted: int | None, body: Any) -> tuple[RowsChanged, ...]:
        """The events of a committed write that changed `changed` rows; `inserted` (upserts only) says
        how many of them were new."""
        if changed <= 0:
            return ()
        if inserted is None or inserted == changed:
            return (self._event(self.operation, changed, self._rows(body)),)
        if inserted <= 0:
            return (self._event("UPDATE", changed, self._rows(body)),)
        return self._event("INSERT", inserted, None), self._event("UPDATE", changed - inserted, None)

    def _event(self, operation: Operation, count: int, rows: list[dict[str, Any]] | None) -> RowsChanged:
        return RowsChanged(
            schema=self.table.schema,
            table=self.table.name,
            operation=operation,
            count=count,
            rows=rows,
            caller=self.caller,
        )

    def _rows(self, body: Any) -> list[dict[str, Any]] | None:
        if body is None or self.media not in ("json", "object"):
            return None
        value = json.loads(body if isinstance(body, str | bytes) else bytes(body))
        return [value] if isinstance(value, dict) else list(value)


async def fire(hook: Hook[RowsChanged], events: Sequence[RowsChanged], request_id: str) -> None:
    """Trigger `events` in order; a handler's exception is logged, never raised (the write committed)."""
    for event in events:
        try:
            await hook.trigger(event)
        except Exception:
            logger.exception(
                "rows_changed handler failed for %s on %s.%s; the write stays committed",
                event.operation,
                event.schema,
                event.table,
                extra={"request_id": request_id},
            )
