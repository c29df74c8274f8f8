"""Delivers captured row changes to this worker's `postgres_changes` subscribers.

Each worker reads the outbox itself (`ChangeFeed`: woken by PostgreSQL's NOTIFY, or polling SQLite)
rather than hearing changes over the realtime bus: the database is the one place every node shares
for sure, and a worker that lost its connection reads what it missed once it is back.

A batch of changes is delivered in three steps:
1. each change is offered to the bindings of its table (event and filter decide: `subscriptions`);
2. who may see it is asked of the data API's own read path (`Visible`: grants, and row-level
   security on both engines), once per caller group and table per batch, not once per subscriber
   per change: subscribers with the same role and claims are one group. Every change of a table
   without RLS goes to whoever may read the table. With RLS, INSERT and UPDATE are delivered when
   the caller may read the row by its primary key (the row as it is when asked, as Supabase's check
   reads it: a row deleted before the check is not delivered), and DELETE to whoever may read the
   table, its old row cut to the primary key. An RLS table without a primary key delivers only DELETEs;
3. one frame per channel and change, naming every binding of the channel that took it (`ids`).
Pushing never waits: a socket that falls behind is closed by its own bounded queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from backstack.core import json
from backstack.realtime import errors
from backstack.realtime.changes.filters import FilterError, parse_filter
from backstack.realtime.changes.payload import change_data, key_of
from backstack.realtime.changes.subscriptions import Subscription, Subscriptions
from backstack.realtime.protocol import Frame

if TYPE_CHECKING:
    from backstack.core.caller import Caller
    from backstack.core.ports import ChangeFeed, RowChange
    from backstack.realtime.channel import ChangeBinding, Channel

log = logging.getLogger("backstack.realtime")

# (caller, schema, table, primary keys) -> for each key whether the caller may read that row, or
# None when it may not read the table at all; an empty key list asks only the latter.
Visible = Callable[["Caller", str, str, Sequence[dict[str, Any]]], Awaitable[list[bool] | None]]
CallerKey = tuple[str, str]
TRIM_SECONDS = 30.0
RETRY_SECONDS = 1.0
CLOSE_SECONDS = 5.0


class ChangeDispatcher:
    def __init__(self, feed: ChangeFeed, visible: Visible) -> None:
        self.feed, self.visible = feed, visible
        self.subscriptions = Subscriptions()
        self.delivered = 0  # frames pushed, for health
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.feed.open(self._wake.set)
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):  # the database may be gone already: the reader ages out
            await asyncio.wait_for(self.feed.close(), CLOSE_SECONDS)

    # ------------------------------------------------------------ bindings

    async def subscribe(self, channel: Channel) -> str | None:
        """Take the channel's bindings; None when all can be served, else the `system` error to send
        (then none is kept: the clients treat the channel's changes as failed)."""
        published = await self.feed.published()
        subscriptions = []
        for binding in channel.config.changes:
            found = await self._subscription(channel, binding, published)
            if isinstance(found, str):
                return found
            subscriptions.append(found)
        self.subscriptions.add(channel, subscriptions)
        return None

    def unsubscribe(self, channel: Channel) -> None:
        self.subscriptions.remove(channel)

    async def _subscription(
        self, channel: Channel, binding: ChangeBinding, published: frozenset[tuple[str, str]]
    ) -> Subscription | str:
        unavailable = errors.changes_unavailable(binding.reply())
        if binding.every_table:
            if binding.filter is not None or binding.select is not None:
                return f"{unavailable}: a filter or select needs a table"
            if not any(schema == binding.schema for schema, _ in published):
                return unavailable
            return Subscription(channel, binding, None)
        if (binding.schema, binding.table) not in published:
            return unavailable
        columns = await self.feed.columns(binding.schema, binding.table or "")
        kinds = {name: kind for name, _, kind in columns or ()}
        missing = [column for column in binding.select or () if column not in kinds]
        if missing:
            return f"{unavailable}: select names unknown columns {', '.join(missing)}"
        try:
            row_filter = None if binding.filter is None else parse_filter(binding.filter, kinds)
        except FilterError as error:
            return f"{unavailable}: {error}"
        return Subscription(channel, binding, row_filter)

    # ------------------------------------------------------------ delivery

    async def _run(self) -> None:
        trimmed = time.monotonic()
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.feed.poll_seconds)
            self._wake.clear()
            try:
                changes = await self.feed.read()
                if changes and len(self.subscriptions):
                    await self.deliver(changes)
                if time.monotonic() - trimmed >= TRIM_SECONDS:
                    trimmed = time.monotonic()
                    await self.feed.trim()
            except Exception:  # a database hiccup: read again shortly, never stop the worker's delivery
                log.warning("realtime: reading row changes failed; retrying", exc_info=True)
                await asyncio.sleep(RETRY_SECONDS)

    async def deliver(self, changes: list[RowChange]) -> None:
        """Push each change to the channels whose bindings take it and whose caller may see it."""
        offered = [(change, subs) for change in changes if (subs := self.subscriptions.offered(change))]
        if not offered:
            return
        group = _Groups()
        allowed = await self._allowed(offered, group)
        for index, (change, subs) in enumerate(offered):
            targets: dict[str, tuple[Channel, list[ChangeBinding]]] = {}
            for sub in subs:
                if allowed.get((group.of(sub.channel.caller), index), False):
                    targets.setdefault(sub.channel.owner, (sub.channel, []))[1].append(sub.binding)
            if not targets:
                continue
            table = await self._table(change.schema, change.table)
            if table is None:
                continue
            shaped: dict[tuple[str, ...] | None, dict[str, Any]] = {}  # one `data` per column choice
            frames: dict[tuple[str, tuple[int, ...], tuple[str, ...] | None], Frame] = {}  # shared: encoded once
            for channel, bindings in targets.values():
                select = _select(bindings)
                ids = tuple(binding.id for binding in bindings)
                frame = frames.get((channel.topic, ids, select))
                if frame is None:
                    data = shaped.get(select)
                    if data is None:
                        data = shaped[select] = change_data(change, *table, select)
                    frame = Frame(channel.topic, "postgres_changes", {"ids": list(ids), "data": data})
                    frames[(channel.topic, ids, select)] = frame
                channel.push(frame)
            self.delivered += len(targets)

    async def _allowed(
        self, offered: list[tuple[RowChange, list[Subscription]]], group: _Groups
    ) -> dict[tuple[CallerKey, int], bool]:
        """(caller group, index in `offered`) -> may see it; asked once per group and table."""
        groups: dict[tuple[CallerKey, str, str], tuple[Caller, list[int]]] = {}
        for index, (change, subs) in enumerate(offered):
            for sub in subs:
                caller = sub.channel.caller
                indices = groups.setdefault((group.of(caller), change.schema, change.table), (caller, []))[1]
                if not indices or indices[-1] != index:
                    indices.append(index)
        allowed: dict[tuple[CallerKey, int], bool] = {}
        for (key, schema, table), (caller, indices) in groups.items():
            verdicts = await self._verdicts(caller, schema, table, [offered[i][0] for i in indices])
            allowed.update(((key, i), verdict) for i, verdict in zip(indices, verdicts, strict=True))
        return allowed

    async def _verdicts(self, caller: Caller, schema: str, table: str, changes: list[RowChange]) -> list[bool]:
        """Whether `caller` may see each change of one table (see the module docstring)."""
        info = await self.feed.primary_key(schema, table)
        if info is None:
            return [False] * len(changes)
        primary_key, rls = info
        rows = [i for i, change in enumerate(changes) if change.operation != "DELETE"]
        keys = [key_of(changes[i].record, primary_key) for i in rows] if rls and primary_key else []
        readable = await self.visible(caller, schema, table, [key for key in keys if key is not None])
        if readable is None:  # no grant: nothing of the table
            return [False] * len(changes)
        verdicts = [True] * len(changes)  # without RLS, every row of a readable table; DELETE: the key only
        if rls:
            answers = iter(readable)
            for i, key in zip(rows, keys or [None] * len(rows), strict=True):
                verdicts[i] = key is not None and next(answers)
        return verdicts

    async def _table(self, schema: str, table: str) -> tuple[list[tuple[str, str, str]], tuple[str, ...], bool] | None:
        columns = await self.feed.columns(schema, table)
        info = await self.feed.primary_key(schema, table)
        if columns is None or info is None:
            return None
        return columns, info[0], info[1]


def _select(bindings: list[ChangeBinding]) -> tuple[str, ...] | None:
    """The columns a channel gets: every column when one of its bindings asked for all, else the union."""
    if any(binding.select is None for binding in bindings):
        return None
    return tuple(sorted({column for binding in bindings for column in binding.select or ()}))


class _Groups:
    """Subscribers with the same role and claims see the same rows: one group, one question. A
    channel's `Caller` is one object per token, so its group is worked out once per batch (the
    object is held for the batch: its id cannot be reused by another caller meanwhile)."""

    def __init__(self) -> None:
        self._keys: dict[int, tuple[CallerKey, Caller]] = {}

    def of(self, caller: Caller) -> CallerKey:
        found = self._keys.get(id(caller))
        if found is None:
            found = self._keys[id(caller)] = ((caller.role, json.dumps_str(caller.claims)), caller)
        return found[0]
