"""The captured row changes of the `supabase_realtime` publication, read by each worker's dispatcher.

The engines write them (db.postgres.capture, db.sqlite.capture: triggers into an outbox table, in
the writing transaction). Every realtime worker of every node reads them for its own sockets
(`ChangeReader`, behind the `core.ports.ChangeFeed` port), so nothing depends on a message bus
being up: a worker that was cut off reads what it missed once it is back.

Reading each change exactly once after it commits:
- SQLite serialises writers, so ids are in commit order: a reader keeps the last id it read.
- PostgreSQL gives ids at insert time, and two transactions may commit in the other order: an id
  below the last one read can still appear. Each change carries its transaction id (`txid`), and
  each read takes the statement's snapshot: every transaction below the snapshot's `xmin` has ended,
  so its changes are all visible to that read. The reader keeps `low`, the `xmin` of its previous
  read, reads the changes of transactions from `low` up (skipping the ids it already handed out),
  then moves `low` to the new `xmin`. A late change is read by the first read after its commit;
  none is read twice. A write transaction left open holds `low` back, and each read re-scans the
  changes captured since it began (they are skipped, not delivered again).

Trimming what every reader has read: each reader reports its safe point (`safe`: SQLite the last id,
PostgreSQL `low`) in a readers table every `REPORT_SECONDS`; `trim` deletes the changes below the
lowest safe point of the readers heard from in the last `LIVE_SECONDS`. A node that died stops
holding the outbox back after that; a reader that starts begins at what is committed then.
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING, Any

from backstack.core import json
from backstack.core.ports import CapturedTable, RowChange
from backstack.db.catalog.publication import (
    NOTIFY_CHANNEL,
    PG_CHANGES,
    PG_READERS,
    PUBLICATION,
    PUBLISHED,
    SQLITE_CHANGES,
    SQLITE_READERS,
)
from backstack.db.pgtypes.names import internal_name

if TYPE_CHECKING:
    from collections.abc import Callable

    from backstack.db.protocol import Engine, Row

PAGE = 500  # changes per statement
REPORT_SECONDS = 5.0
LIVE_SECONDS = 60.0
FORGET_SECONDS = 3600.0  # a reader silent this long is deleted from the readers table
PUBLISHED_SECONDS = 1.0  # how long the list of published tables is reused (joins come in bursts)

_SQLITE_COLUMNS = "id, schema_name, table_name, operation, record, old_record, commit_timestamp"
_PG_STAMP = "to_char(c.commit_timestamp at time zone 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"
_PG_COLUMNS = f"c.id, c.schema_name, c.table_name, c.operation, c.record::text, c.old_record::text, {_PG_STAMP}"


async def captured(engine: Engine, after_id: int = 0) -> list[RowChange]:
    """The changes in the outbox with an id above `after_id`, oldest first: for inspection and tests."""
    if engine.dialect.is_sqlite:
        sql = f"SELECT {_SQLITE_COLUMNS} FROM {SQLITE_CHANGES} WHERE id > ? ORDER BY id"  # noqa: S608
    else:
        sql = f"SELECT {_PG_COLUMNS} FROM {PG_CHANGES} AS c WHERE c.id > $1 ORDER BY c.id"  # noqa: S608
    return [_change(row) for row in await engine.fetch_all(sql, (after_id,))]


class ChangeReader:
    """`core.ports.ChangeFeed` on an engine: this worker's reader of the outbox (see the module docstring)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.reader = uuid.uuid4().hex
        self._reads = _reads(engine)
        self.poll_seconds = self._reads.poll_seconds
        self._reported = 0.0
        self._published: tuple[float, frozenset[tuple[str, str]]] = (0.0, frozenset())

    async def open(self, wake: Callable[[], None]) -> None:
        """Start at what is committed now (nothing older is delivered); `wake` is called whenever
        changes may be waiting (PostgreSQL's NOTIFY), besides the reads every `poll_seconds`."""
        await self._reads.start(self.engine)
        listen = getattr(self.engine, "notify_on", None)  # PostgreSQL's LISTEN; SQLite is polled
        if listen is not None:
            await listen(NOTIFY_CHANNEL, wake)
        await self._report()

    async def read(self) -> list[RowChange]:
        """The changes committed since the previous read, each once, in id order."""
        changes = await self._reads.read(self.engine)
        if time.monotonic() - self._reported >= REPORT_SECONDS:
            await self._report()
        return changes

    async def trim(self) -> int:
        """Delete the changes every live reader has read, and the readers long silent; how many changes went."""
        async with self.engine.transaction() as conn:
            gone = await conn.execute(self._reads.trim_sql, self._reads.trim_params())
            await conn.execute(self._reads.forget_sql, self._reads.forget_params())
        return gone

    async def close(self) -> None:
        """Leave the readers table: this reader no longer holds the outbox back."""
        async with self.engine.transaction() as conn:
            await conn.execute(self._reads.leave_sql, (self.reader,))

    async def published(self) -> frozenset[tuple[str, str]]:
        """The (schema, table) pairs of the publication, reused for `PUBLISHED_SECONDS`."""
        at, tables = self._published
        if time.monotonic() - at < PUBLISHED_SECONDS:
            return tables
        rows = await self.engine.fetch_all(self._reads.published_sql, self._reads.published_params)
        tables = frozenset((str(schema), str(table)) for schema, table in rows)
        self._published = (time.monotonic(), tables)
        return tables

    async def table(self, schema: str, table: str) -> CapturedTable | None:
        """The table's columns (types by the internal names Realtime sends), primary key and RLS; None: unknown."""
        found = (await self.engine.schema()).get(table)
        if found is None or found.schema != schema:
            return None
        columns = [(c.name, internal_name(c.type), c.kind) for c in found.columns.values()]
        return CapturedTable(columns, found.primary_key, found.rls_enabled)

    async def _report(self) -> None:
        async with self.engine.transaction() as conn:
            await conn.execute(self._reads.report_sql, self._reads.report_params(self.reader))
        self._reported = time.monotonic()


class _SqliteReads:
    """Ids are in commit order: the safe point is the last id read."""

    # Other processes' writes are seen by polling: one indexed lookup (~20 us) every 5 ms while this worker
    # has change subscribers (W6 of make bench: p50 18 ms with 25 ms), once a second otherwise.
    poll_seconds = 0.005
    published_sql = f"SELECT 'public', tbl FROM {PUBLISHED}"  # noqa: S608 (our catalog)
    published_params: tuple[Any, ...] = ()
    trim_sql = (
        f"DELETE FROM {SQLITE_CHANGES} WHERE id <= "  # noqa: S608 (our outbox)
        f"(SELECT min(safe) FROM {SQLITE_READERS} WHERE seen_at > ?)"
    )
    forget_sql = f"DELETE FROM {SQLITE_READERS} WHERE seen_at < ?"  # noqa: S608
    leave_sql = f"DELETE FROM {SQLITE_READERS} WHERE reader = ?"  # noqa: S608
    report_sql = (
        f"INSERT INTO {SQLITE_READERS} (reader, safe, seen_at) VALUES (?, ?, ?) "  # noqa: S608
        "ON CONFLICT (reader) DO UPDATE SET safe = excluded.safe, seen_at = excluded.seen_at"
    )
    _read_sql = f"SELECT {_SQLITE_COLUMNS} FROM {SQLITE_CHANGES} WHERE id > ? ORDER BY id LIMIT {PAGE}"  # noqa: S608

    def __init__(self) -> None:
        self.last = 0

    async def start(self, engine: Engine) -> None:
        row = await engine.fetch_one(f"SELECT coalesce(max(id), 0) FROM {SQLITE_CHANGES}")  # noqa: S608
        self.last = int(row[0]) if row else 0

    async def read(self, engine: Engine) -> list[RowChange]:
        changes: list[RowChange] = []
        while True:
            rows = await engine.fetch_all(self._read_sql, (self.last,))
            changes.extend(_change(row) for row in rows)
            if rows:
                self.last = int(rows[-1][0])
            if len(rows) < PAGE:
                return changes

    def report_params(self, reader: str) -> tuple[Any, ...]:
        return reader, self.last, time.time()

    def trim_params(self) -> tuple[Any, ...]:
        return (time.time() - LIVE_SECONDS,)

    def forget_params(self) -> tuple[Any, ...]:
        return (time.time() - FORGET_SECONDS,)


class _PostgresReads:
    """Transactions may commit out of id order: read by transaction id from the last snapshot's xmin."""

    poll_seconds = 1.0  # NOTIFY wakes the reader; the poll only covers a LISTEN connection being reopened
    published_sql = "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = $1"
    published_params: tuple[Any, ...] = (PUBLICATION,)
    trim_sql = (
        f"DELETE FROM {PG_CHANGES} WHERE txid < (SELECT min(safe) FROM {PG_READERS} "  # noqa: S608 (our outbox)
        "WHERE seen_at > now() - make_interval(secs => $1))"
    )
    forget_sql = f"DELETE FROM {PG_READERS} WHERE seen_at < now() - make_interval(secs => $1)"  # noqa: S608
    leave_sql = f"DELETE FROM {PG_READERS} WHERE reader = $1"  # noqa: S608
    report_sql = (
        f"INSERT INTO {PG_READERS} (reader, safe, seen_at) VALUES ($1, $2::text::xid8, now()) "  # noqa: S608
        "ON CONFLICT (reader) DO UPDATE SET safe = excluded.safe, seen_at = excluded.seen_at"
    )
    # One statement, one snapshot: its xmin and the changes it sees (a row of NULLs when there are none).
    _read_sql = (
        f"SELECT pg_snapshot_xmin(pg_current_snapshot())::text, c.txid::text, {_PG_COLUMNS} "  # noqa: S608
        f"FROM (SELECT 1) AS one LEFT JOIN LATERAL (SELECT * FROM {PG_CHANGES} "
        f"WHERE txid >= $1::text::xid8 AND id > $2 ORDER BY id LIMIT {PAGE}) AS c ON true ORDER BY c.id"
    )

    def __init__(self) -> None:
        self.low = 0  # every transaction below it had ended at the previous read
        self.handed: dict[int, int] = {}  # ids read with a txid >= low -> their txid

    async def start(self, engine: Engine) -> None:
        await self.read(engine)  # what is committed now is where this reader starts: not delivered

    async def read(self, engine: Engine) -> list[RowChange]:
        changes: list[RowChange] = []
        after, new_low = 0, None
        while True:
            rows = await engine.fetch_all(self._read_sql, (str(self.low), after))
            if new_low is None:
                new_low = int(rows[0][0])  # the first page's snapshot: later pages only see more
            found = [row for row in rows if row[2] is not None]
            for row in found:
                if int(row[2]) not in self.handed:
                    self.handed[int(row[2])] = int(row[1])
                    changes.append(_change(row[2:]))
            if len(found) < PAGE:
                break
            after = int(found[-1][2])
        self.low = max(self.low, new_low)
        self.handed = {id_: txid for id_, txid in self.handed.items() if txid >= self.low}
        return changes

    def report_params(self, reader: str) -> tuple[Any, ...]:
        return reader, str(self.low)

    def trim_params(self) -> tuple[Any, ...]:
        return (LIVE_SECONDS,)

    def forget_params(self) -> tuple[Any, ...]:
        return (FORGET_SECONDS,)


def _reads(engine: Engine) -> _SqliteReads | _PostgresReads:
    return _SqliteReads() if engine.dialect.is_sqlite else _PostgresReads()


def _change(row: Row) -> RowChange:
    identifier, schema, table, operation, record, old_record, stamp = row
    stamp = str(stamp).replace("+00:00", "Z")  # SQLite stores +00:00; Realtime sends Z
    return RowChange(int(identifier), schema, table, operation, _json(record), _json(old_record), stamp)


def _json(text: Any) -> dict[str, Any] | None:
    return None if text is None else dict(json.loads(text))
