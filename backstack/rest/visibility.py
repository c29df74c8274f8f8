"""Which rows of a table a caller may read, asked through the data API's own read path.

Realtime delivers a row change only to subscribers who may read the row (Supabase runs the row
through RLS as the subscriber). Asking the data API (`DataService.read`) means the same grants and
the same row-level security decide, on both engines: PostgreSQL's own RLS under the caller's role
and claims, SQLite's policies compiled into the statement. One read per call: the rows are named
by primary key (`pk=in.(...)`, or `or=(and(...),...)` for a composite key), at most `CHUNK` at a
time; an empty list asks only whether the caller may read the table at all (`limit=0`).
"""

from __future__ import annotations

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
_REFUSED = frozenset({401, 403, 404})  # no grant, no such table (for this caller): nothing is visible


class RowVisibility:
    """The realtime service's `Visible` port, over a `DataService`."""

    def __init__(self, data: DataService, *, max_terms: int, max_depth: int) -> None:
        self.data, self.max_terms, self.max_depth = data, max_terms, max_depth

    async def __call__(
        self, caller: Caller, schema: str, table: str, keys: Sequence[dict[str, Any]]
    ) -> list[bool] | None:
        """For each primary key, whether `caller` may read that row; None: it may not read the table."""
        found = (await self.data.engine.schema()).get(table)
        if found is None or found.schema != schema:
            return None
        columns = found.primary_key or tuple(found.columns)[:1]
        seen: set[str] = set()
        try:
            if not keys:
                await self._read(caller, table, [("select", columns[0]), ("limit", "0")])
                return []
            for start in range(0, len(keys), CHUNK):
                chunk = keys[start : start + CHUNK]
                rows = await self._read(caller, table, [("select", ",".join(columns)), _where(chunk)])
                seen.update(_identity(row, columns) for row in rows)
        except ApiError as error:
            if error.status in _REFUSED:
                return None
            raise
        return [_identity(key, columns) in seen for key in keys]

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


def _quoted(value: Any) -> str:
    """A value as a double-quoted PostgREST literal (commas, dots and parentheses kept as they are)."""
    text = value if isinstance(value, str) else json.dumps_str(value)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _identity(row: dict[str, Any], columns: Sequence[str]) -> str:
    return json.dumps_str([row.get(column) for column in columns])
