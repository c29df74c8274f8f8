"""Which rows of a table a caller may read, asked through the data API's own read path.

Realtime delivers a row change only to subscribers who may read the row (Supabase runs the row
through RLS as the subscriber). Asking the data API (`DataService.read`) means the same grants and
the same row-level security decide, on both engines: PostgreSQL's own RLS under the caller's role
and claims, SQLite's policies compiled into the statement. One read per call: `select=*` of the
rows named by primary key (`pk=in.(...)`, or `or=(and(...),...)` for a composite key), at most
`CHUNK` at a time; an empty list asks only whether the caller may read the table at all (`limit=0`).

The row asked about is the one captured, but the data API reads rows as they are now: a row counts
as readable when the caller reads it now holding the captured values (in every column it can read).
A row changed since (a hidden draft published with other content before its first change was
delivered) does not: that version was never shown to the caller's policies, and the later change
carries what they allow.

Column privileges (PostgreSQL's `grant select (a, b)`): realtime must not send, nor filter on, a
column the data API would refuse. `select=*` succeeding means every column is readable; when it is
refused, each column is asked alone (`limit=0`) and the readable ones are read (none: the table is
not readable). Those answers are kept `COLUMNS_SECONDS` per role and table: privileges are a role's,
whatever its claims, and change only with a migration.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from backstack.core import json
from backstack.core.errors import ApiError
from backstack.rest.request.parse import parse_read
from backstack.rest.request.query import Accept, Preferences
from backstack.rest.service import ReadRequest

if TYPE_CHECKING:
    from backstack.core.caller import Caller
    from backstack.rest.service import DataService

CHUNK = 100
COLUMNS_SECONDS = 1.0
_REFUSED = frozenset({401, 403, 404})  # no grant, no such table (for this caller): nothing is visible


class RowVisibility:
    """The realtime service's `Visible` port, over a `DataService`."""

    def __init__(self, data: DataService, *, max_terms: int, max_depth: int) -> None:
        self.data, self.max_terms, self.max_depth = data, max_terms, max_depth
        self._columns: dict[tuple[str, str], tuple[float, frozenset[str]]] = {}  # (role, table) -> (when, readable)

    async def __call__(
        self, caller: Caller, schema: str, table: str, keys: Sequence[dict[str, Any]]
    ) -> tuple[frozenset[str], list[bool]] | None:
        """(the columns `caller` may read, for each captured row (`keys`: at least its primary key)
        whether it may read that row as captured); None: it may not read the table."""
        found = (await self.data.engine.schema()).get(table)
        if found is None or found.schema != schema:
            return None
        names = tuple(found.columns)
        key_columns = found.primary_key or names[:1]
        try:
            return frozenset(names), await self._rows(caller, table, "*", key_columns, keys)
        except ApiError as error:
            if error.status not in _REFUSED:
                raise
        readable = await self._readable(caller, table, names)  # some columns may be readable
        if not readable:
            return None
        if keys and not set(key_columns) <= readable:  # rows it cannot name are rows it cannot see
            return readable, [False] * len(keys)
        try:
            select = ",".join(_name(name) for name in names if name in readable)
            return readable, await self._rows(caller, table, select, key_columns, keys)
        except ApiError as error:
            if error.status in _REFUSED:
                return None
            raise

    async def _rows(
        self, caller: Caller, table: str, select: str, key_columns: Sequence[str], keys: Sequence[dict[str, Any]]
    ) -> list[bool]:
        """Whether the caller reads each captured row (`keys`) as it is now, reading `select`; ApiError
        when refused."""
        if not keys:
            await self._read(caller, table, [("select", select), ("limit", "0")])
            return []
        now: dict[str, dict[str, Any]] = {}
        for start in range(0, len(keys), CHUNK):
            named = [{column: key[column] for column in key_columns} for key in keys[start : start + CHUNK]]
            rows = await self._read(caller, table, [("select", select), _where(named)])
            now.update((_identity(row, key_columns), row) for row in rows)
        return [_unchanged(key, now.get(_identity(key, key_columns))) for key in keys]

    async def _readable(self, caller: Caller, table: str, names: Sequence[str]) -> frozenset[str]:
        """The columns the caller's role may read, each asked alone (`select=*` was refused)."""
        cached = self._columns.get((caller.role, table))
        if cached is not None and time.monotonic() - cached[0] < COLUMNS_SECONDS:
            return cached[1]
        readable: set[str] = set()
        for name in names:
            try:
                await self._read(caller, table, [("select", _name(name)), ("limit", "0")])
            except ApiError as error:
                if error.status not in _REFUSED and error.status != 400:  # 400: a name the parser refuses
                    raise
                continue
            readable.add(name)
        self._columns[(caller.role, table)] = (time.monotonic(), frozenset(readable))
        return frozenset(readable)

    async def _read(self, caller: Caller, table: str, params: list[tuple[str, str]]) -> list[dict[str, Any]]:
        query = parse_read(params, max_terms=max(self.max_terms, 2 * CHUNK + 1), max_depth=self.max_depth)
        result = await self.data.read(ReadRequest(table, query, Preferences(), Accept()), caller)
        rows = json.loads(result.body or b"[]")
        return rows if isinstance(rows, list) else []


def _where(keys: Sequence[dict[str, Any]]) -> tuple[str, str]:
    """The filter naming `keys` (all with the same columns), in PostgREST's query language."""
    columns = list(keys[0])
    if len(columns) == 1:
        column = columns[0]
        return column, "in.(" + ",".join(_quoted(key[column]) for key in keys) + ")"
    terms = ("and(" + ",".join(f"{c}.eq.{_quoted(key[c])}" for c in columns) + ")" for key in keys)
    return "or", "(" + ",".join(terms) + ")"


def _name(column: str) -> str:
    """A column name as a double-quoted PostgREST identifier."""
    return '"' + column.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _quoted(value: Any) -> str:
    """A value as a double-quoted PostgREST literal (commas, dots and parentheses kept as they are)."""
    text = value if isinstance(value, str) else json.dumps_str(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unchanged(captured: dict[str, Any], now: dict[str, Any] | None) -> bool:
    """Whether the row read now holds the captured values (in the columns both have: a key alone
    compares only the key)."""
    if now is None:
        return False
    return all(_same(captured[column], value) for column, value in now.items() if column in captured)


def _same(captured: Any, now: Any) -> bool:
    """Equal values; a time written with another UTC offset (a writer whose session was in another
    time zone: the capture formats it as that session does) is the same instant."""
    if captured == now:
        return True
    if not (isinstance(captured, str) and isinstance(now, str)) or len(captured) < 20 or captured[10:11] != "T":
        return False
    try:
        return dt.datetime.fromisoformat(captured) == dt.datetime.fromisoformat(now)
    except ValueError:
        return False


def _identity(row: dict[str, Any], columns: Sequence[str]) -> str:
    return json.dumps_str([row.get(column) for column in columns])
