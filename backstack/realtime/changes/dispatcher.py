"""Delivers captured row changes to this worker's `postgres_changes` subscribers.

Each worker reads the outbox itself (`ChangeFeed`: woken by PostgreSQL's NOTIFY, or polling SQLite)
rather than hearing changes over the realtime bus: the database is the one place every node shares
for sure, and a worker that lost its connection reads what it missed once it is back.

A batch of changes is delivered in four steps:
1. each change is offered to the bindings of its table that take its event (`subscriptions`);
2. who may see it, and which of its columns, is asked of the data API's own read path (`Visible`:
   grants, column privileges, and row-level security on both engines), once per caller group and
   table per batch, not once per subscriber per change: subscribers with the same role and claims
   are one group. Every change of a table without RLS goes to whoever may read the table. With RLS,
   INSERT and UPDATE are delivered when the caller may read the row by its primary key (the row as it
   is when asked, as Supabase's check reads it: a row deleted before the check is not delivered) and
   it still holds the captured values (a row changed since is not: its next change is asked), and
   DELETE to whoever may read the table, its old row cut to the primary key. An RLS table without a
   primary key delivers only DELETEs;
3. only then each binding's filter, on the rows cut to what its caller may see (`seen_rows`): a
   filter is the subscriber's own expression, and it must never run on what the subscriber may not
   read (its verdict, its errors or its time would tell). This is why filters do not spare the
   question of step 2: a group is asked about every change its bindings' events take;
4. one frame per channel and change, naming every binding of the channel that took it (`ids`).
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
from backstack.realtime.changes.payload import Row, change_data, key_of, seen_rows
from backstack.realtime.changes.subscriptions import Holder, Subscription, Subscriptions, holder
from backstack.realtime.protocol import Frame

if TYPE_CHECKING:
    from backstack.core.caller import Caller
    from backstack.core.ports import ChangeFeed, RowChange
    from backstack.realtime.channel import ChangeBinding, Channel

log = logging.getLogger("backstack.realtime")

# (caller, schema, table, captured rows) -> (the columns the caller may read, for each row whether it
# may read it as captured: by its primary key, still holding those values), or None when it may not
# read the table at all; an empty list asks only that.
Visible = Callable[["Caller", str, str, Sequence[dict[str, Any]]], Awaitable[tuple[frozenset[str], list[bool]] | None]]
CallerKey = tuple[str, str]
TRIM_SECONDS = 30.0
IDLE_SECONDS = 1.0  # how often a worker without change subscribers reads the outbox
QUESTIONS_AT_ONCE = 4  # caller groups asked concurrently (PostgreSQL: pooled connections; a few, not the pool)
RETRY_SECONDS = 1.0
CLOSE_SECONDS = 5.0


class ChangeDispatcher:
    def __init__(self, feed: ChangeFeed, visible: Visible) -> None:
        self.feed, self.visible = feed, visible
        self.subscriptions = Subscriptions()
        self.delivered = 0  # frames pushed, for health
        self._wake = asyncio.Event()
        self._reading = asyncio.Lock()  # one read of the feed at a time: the loop's, or a join catching up
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
        async with self._reading:  # what was committed before this join goes to the earlier subscribers only
            await self._read_and_deliver()
            self.subscriptions.add(channel, subscriptions)
        self._wake.set()  # a loop idling (no subscriber: a read a second) polls at the feed's pace again
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
        if await self.visible(channel.caller, binding.schema, binding.table or "", []) is None:
            # Supabase would accept and then send its events as "Error 401: Unauthorized": saying so at
            # join tells the developer at once and sends nothing about the table's writes
            return f"{unavailable}: permission denied for table {binding.table}"
        found = await self.feed.table(binding.schema, binding.table or "")
        kinds = {name: kind for name, _, kind in found.columns} if found is not None else {}
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
                # subscribed: as often as the feed is worth reading; else just to move on and let trimming happen
                wait = self.feed.poll_seconds if len(self.subscriptions) else max(self.feed.poll_seconds, IDLE_SECONDS)
                await asyncio.wait_for(self._wake.wait(), wait)
            self._wake.clear()
            try:
                async with self._reading:
                    await self._read_and_deliver()
                if time.monotonic() - trimmed >= TRIM_SECONDS:
                    trimmed = time.monotonic()
                    await self.feed.trim()
            except Exception:  # a database hiccup: read again shortly, never stop the worker's delivery
                log.warning("realtime: reading row changes failed; retrying", exc_info=True)
                await asyncio.sleep(RETRY_SECONDS)

    async def _read_and_deliver(self) -> None:
        changes = await self.feed.read()
        if changes and len(self.subscriptions):
            await self.deliver(changes)

    async def deliver(self, changes: list[RowChange]) -> None:
        """Push each change to the channels whose caller may see it and whose bindings take it."""
        offered = [(change, subs) for change in changes if (subs := self.subscriptions.offered(change))]
        if not offered:
            return
        group = _Groups()
        sights = await self._sights(offered, group)
        for index, (change, subs) in enumerate(offered):
            table = await self.feed.table(change.schema, change.table)
            if table is None:
                continue
            columns, primary_key, rls = table
            seen: dict[frozenset[str], tuple[Row | None, Row | None]] = {}  # the rows, per readable columns
            targets: dict[Holder, tuple[Channel, frozenset[str], list[ChangeBinding]]] = {}
            for sub in subs:
                # asked after every await above: a channel whose token changed meanwhile is not in a group
                readable = sights.get((group.of(sub.channel.caller), index))
                if readable is None:
                    continue
                rows = seen.get(readable)
                if rows is None:
                    rows = seen[readable] = seen_rows(change, primary_key, rls, readable)
                if _filter_matches(sub, change, rows):
                    targets.setdefault(holder(sub.channel), (sub.channel, readable, []))[2].append(sub.binding)
            # one `data` per (readable columns, column choice); one frame per topic, ids and data: encoded once
            shaped: dict[tuple[frozenset[str], tuple[str, ...] | None], dict[str, Any]] = {}
            frames: dict[tuple[str, tuple[int, ...], frozenset[str], tuple[str, ...] | None], Frame] = {}
            for channel, readable, bindings in targets.values():
                select = _select(bindings)
                ids = tuple(binding.id for binding in bindings)
                frame = frames.get((channel.topic, ids, readable, select))
                if frame is None:
                    data = shaped.get((readable, select))
                    if data is None:
                        data = change_data(change, columns, seen[readable], readable, select)
                        shaped[(readable, select)] = data
                    frame = Frame(channel.topic, "postgres_changes", {"ids": list(ids), "data": data})
                    frames[(channel.topic, ids, readable, select)] = frame
                channel.push(frame)
            self.delivered += len(targets)

    async def _sights(
        self, offered: list[tuple[RowChange, list[Subscription]]], group: _Groups
    ) -> dict[tuple[CallerKey, int], frozenset[str]]:
        """(caller group, index in `offered`) -> the columns it may read of that change, for the changes
        it may see; asked once per group and table. A group whose question fails sees nothing of the
        table this time (logged): the other groups are still served."""
        groups: dict[tuple[CallerKey, str, str], tuple[Caller, list[int]]] = {}
        for index, (change, subs) in enumerate(offered):
            for sub in subs:
                caller = sub.channel.caller
                indices = groups.setdefault((group.of(caller), change.schema, change.table), (caller, []))[1]
                if not indices or indices[-1] != index:
                    indices.append(index)
        sights: dict[tuple[CallerKey, int], frozenset[str]] = {}
        gate = asyncio.Semaphore(QUESTIONS_AT_ONCE)

        async def ask(key: CallerKey, schema: str, table: str, caller: Caller, indices: list[int]) -> None:
            async with gate:
                try:
                    found = await self._sight(caller, schema, table, [offered[i][0] for i in indices])
                except Exception:  # one caller's failing question must not cost the others their changes
                    where = f"{schema}.{table}"
                    log.warning("realtime: asking who sees %s as %s failed", where, caller.role, exc_info=True)
                    return
            for i, readable in zip(indices, found, strict=True):
                if readable is not None:
                    sights[(key, i)] = readable

        await asyncio.gather(*(ask(key, s, t, caller, indices) for (key, s, t), (caller, indices) in groups.items()))
        return sights

    async def _sight(
        self, caller: Caller, schema: str, table: str, changes: list[RowChange]
    ) -> list[frozenset[str] | None]:
        """For each change of one table, the columns `caller` may read of it, or None: it may not see
        the change (see the module docstring)."""
        info = await self.feed.table(schema, table)
        if info is None:
            return [None] * len(changes)
        _, primary_key, rls = info
        rows = [i for i, change in enumerate(changes) if change.operation != "DELETE"]
        # the captured rows, asked whole: a row counts only if it still holds what would be sent
        keys = [changes[i].record if key_of(changes[i].record, primary_key) else None for i in rows]
        keys = keys if rls and primary_key else []
        answer = await self.visible(caller, schema, table, [key for key in keys if key is not None])
        if answer is None or not answer[0]:  # no grant: nothing of the table
            return [None] * len(changes)
        readable, found = answer
        sights: list[frozenset[str] | None] = [readable] * len(changes)  # without RLS, every row; DELETE: the key
        if rls:
            answers = iter(found)
            for i, key in zip(rows, keys or [None] * len(rows), strict=True):
                sights[i] = readable if key is not None and next(answers) else None
        return sights


def _filter_matches(sub: Subscription, change: RowChange, rows: tuple[Row | None, Row | None]) -> bool:
    """A binding's filter on the rows its caller may see; one that fails does not match (and never
    stops the delivery of the change to anyone else)."""
    try:
        return sub.filter_matches(change.operation, *rows)
    except Exception:  # filters.py makes comparisons total: this is the last guard
        log.warning("realtime: a postgres_changes filter failed on %s.%s", change.schema, change.table, exc_info=True)
        return False


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
