"""Auth statements written once, in PostgreSQL spelling, and adapted to the engine they run on.

Templates use `?` placeholders, `auth.<table>` names and `::type` casts. On PostgreSQL `?` becomes
`$1..$n` and the rest stays. On SQLite (no schemas, no casts) `auth.<table>` becomes `_auth_<table>`
and casts are dropped: uuids, JSON and timestamps are stored as text there. So a template never
holds `?` or `::` inside a string literal. Values cross the boundary through `ts` / `read_ts`
(asyncpg wants `datetime` objects, SQLite gets fixed-width ISO-8601 text that sorts by time).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backstack.db.dialect import Dialect

_TABLE = re.compile(r"\bauth\.([a-z_]+)")
_CAST = re.compile(r"::[a-z_]+")
_SQLITE_TS = "%Y-%m-%dT%H:%M:%S.%f+00:00"


class AuthSql:
    """Compiles templates for one dialect and converts values to and from its column types."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self.is_sqlite = dialect.is_sqlite

    def __call__(self, template: str) -> str:
        """The statement `template` stands for on this engine (cached: templates are constants)."""
        return _compile(template, self.is_sqlite)

    def pick(self, *, postgres: str, sqlite: str) -> str:
        """A fragment whose spelling differs beyond names and casts (JSON aggregation)."""
        return sqlite if self.is_sqlite else postgres

    def ts(self, value: datetime | None) -> datetime | str | None:
        """A `timestamptz` parameter."""
        if value is None or not self.is_sqlite:
            return value
        return value.astimezone(UTC).strftime(_SQLITE_TS)

    def ts_naive(self, value: datetime) -> datetime | str:
        """A `timestamp without time zone` parameter (GoTrue keeps `sessions.refreshed_at` so), in UTC."""
        if self.is_sqlite:
            return value.astimezone(UTC).strftime(_SQLITE_TS)
        return value.astimezone(UTC).replace(tzinfo=None)


def read_ts(value: Any) -> datetime | None:
    """A timestamp read back from either engine (datetime, ISO text, or naive UTC) as an aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if not isinstance(value, datetime):
        raise TypeError(f"not a timestamp: {value!r}")
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


@lru_cache(maxsize=256)
def _compile(template: str, is_sqlite: bool) -> str:
    if is_sqlite:
        return _CAST.sub("", _TABLE.sub(r"_auth_\1", template))
    parts = template.split("?")
    out = [parts[0]]
    for index, part in enumerate(parts[1:], start=1):
        out.append(f"${index}{part}")
    return "".join(out)
