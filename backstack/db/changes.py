"""The captured row changes of the `supabase_realtime` publication: read after an id, trim up to one.

The engines write them (db.postgres.capture, db.sqlite.capture: triggers into an outbox table, in
the writing transaction); this is the one reader, the same on both engines, behind the
`core.ports.ChangeOutbox` port the realtime service will receive from app.py.

Ids come from a sequence (PostgreSQL) or AUTOINCREMENT (SQLite), in the order rows were written.
On SQLite writers are serialised, so that is also the commit order; on PostgreSQL two concurrent
transactions may commit in the other order, so a reader must not take "nothing above id N yet" as
"nothing below N will appear" (the dispatcher, next, has to allow for such late ids).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backstack.core import json
from backstack.core.ports import RowChange
from backstack.db.catalog.publication import PG_CHANGES, SQLITE_CHANGES

if TYPE_CHECKING:
    from backstack.db.protocol import Engine, Row


class EngineChangeOutbox:
    """`core.ports.ChangeOutbox` over an engine's outbox table."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        sqlite = engine.dialect.is_sqlite
        self.table = SQLITE_CHANGES if sqlite else PG_CHANGES
        first, second = engine.dialect.placeholder(1), engine.dialect.placeholder(2)
        as_text = "{}" if sqlite else "{}::text"
        stamp = "commit_timestamp" if sqlite else "to_jsonb(commit_timestamp) #>> '{}'"  # ISO 8601, as rows print it
        columns = f"id, schema_name, table_name, operation, {as_text.format('record')}, "
        columns += f"{as_text.format('old_record')}, {stamp}"
        self._read = f"SELECT {columns} FROM {self.table} WHERE id > {first} ORDER BY id LIMIT {second}"  # noqa: S608
        self._trim = f"DELETE FROM {self.table} WHERE id <= {first}"  # noqa: S608 (our outbox)

    async def changes_after(self, after_id: int, limit: int = 1000) -> list[RowChange]:
        return [_change(row) for row in await self.engine.fetch_all(self._read, (after_id, limit))]

    async def last_id(self) -> int:
        row = await self.engine.fetch_one(f"SELECT coalesce(max(id), 0) FROM {self.table}")  # noqa: S608
        return int(row[0]) if row else 0

    async def trim(self, up_to_id: int) -> int:
        async with self.engine.transaction() as conn:
            return await conn.execute(self._trim, (up_to_id,))


def _change(row: Row) -> RowChange:
    identifier, schema, table, operation, record, old_record, stamp = row
    return RowChange(int(identifier), schema, table, operation, _json(record), _json(old_record), str(stamp))


def _json(text: Any) -> dict[str, Any] | None:
    return None if text is None else dict(json.loads(text))
