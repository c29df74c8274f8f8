"""Auth statements written once, in PostgreSQL spelling, and adapted to the engine they run on.

Templates use `?` placeholders, `auth.<table>` names and `::type` casts. On PostgreSQL `?` becomes
`$1..$n` and the rest stays. On SQLite (no schemas, no casts) `auth.<table>` becomes `_auth_<table>`
and casts are dropped: uuids, JSON and timestamps are stored as text there. So a template never
holds `?` or `::` inside a string literal. Values cross the boundary through `ts` / `read_ts`
(asyncpg wants `datetime` objects, SQLite gets fixed-width ISO-8601 text that sorts by time).

What differs beyond names and casts (JSON built by the database, epoch seconds) is asked of the
engine's `AuthSql` by what it means (`json_object`, `json_list`, ...), never by which engine it is.
The engine is chosen once, by `sql_for(dialect)`: another engine is one more `AuthSql` subclass
and its entry in `_BY_ENGINE`.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from backstack.db.dialect import Dialect, DialectName

_TABLE = re.compile(r"\bauth\.([a-z_]+)")
_CAST = re.compile(r"::[a-z_]+")
_TEXT_TS = "%Y-%m-%dT%H:%M:%S.%f+00:00"


class AuthSql(ABC):
    """Compiles templates for one engine, spells what differs there, and converts values to and
    from its column types. Stateless: one instance per engine (`sql_for`)."""

    @abstractmethod
    def __call__(self, template: str) -> str:
        """The statement `template` stands for on this engine (cached: templates are constants)."""

    @abstractmethod
    def ts(self, value: datetime | None) -> datetime | str | None:
        """A `timestamptz` parameter."""

    @abstractmethod
    def ts_naive(self, value: datetime) -> datetime | str:
        """A `timestamp without time zone` parameter (GoTrue keeps `sessions.refreshed_at` so), in UTC."""

    @abstractmethod
    def json_object(self, pairs: str) -> str:
        """A JSON object built from `pairs` (`'key', value, ...`)."""

    @abstractmethod
    def json_array(self, items: str) -> str:
        """A JSON array built from `items` (`value, ...`)."""

    @abstractmethod
    def json_column(self, column: str) -> str:
        """A jsonb column's value as a JSON value inside `json_object` (not as a string of JSON)."""

    @abstractmethod
    def epoch_seconds(self, column: str) -> str:
        """A timestamp column as whole seconds since the epoch (an integer)."""

    @abstractmethod
    def json_list(self, element: str, *, table: str, alias: str, where: str, order: str) -> str:
        """A scalar subquery: the JSON text of the array of `element` (over `alias`), one per row of
        `table` whose column `where` names equals the outer value it names (`"user_id = u.id"`), in
        `order` (a column of `table`, optionally `desc`); `[]` when there is none."""


class PostgresAuthSql(AuthSql):
    """PostgreSQL: the templates as written, `?` numbered; timestamps as `datetime` objects."""

    def __call__(self, template: str) -> str:
        return _numbered(template)

    def ts(self, value: datetime | None) -> datetime | str | None:
        return value

    def ts_naive(self, value: datetime) -> datetime | str:
        return value.astimezone(UTC).replace(tzinfo=None)

    def json_object(self, pairs: str) -> str:
        return f"json_build_object({pairs})"

    def json_array(self, items: str) -> str:
        return f"json_build_array({items})"

    def json_column(self, column: str) -> str:
        return column

    def epoch_seconds(self, column: str) -> str:
        return f"extract(epoch from {column})::bigint"

    def json_list(self, element: str, *, table: str, alias: str, where: str, order: str) -> str:
        return (
            f"(select coalesce(json_agg({element} order by {alias}.{order}), '[]'::json)::text "  # noqa: S608 (fixed fragments)
            f"from {table} {alias} where {alias}.{where})"
        )


class SqliteAuthSql(AuthSql):
    """SQLite: `_auth_<table>` names, no casts; timestamps as fixed-width ISO-8601 text in UTC."""

    def __call__(self, template: str) -> str:
        return _without_schemas(template)

    def ts(self, value: datetime | None) -> datetime | str | None:
        return None if value is None else _text_ts(value)

    def ts_naive(self, value: datetime) -> datetime | str:
        return _text_ts(value)

    def json_object(self, pairs: str) -> str:
        return f"json_object({pairs})"

    def json_array(self, items: str) -> str:
        return f"json_array({items})"

    def json_column(self, column: str) -> str:
        return f"json({column})"  # stored as text: parsed, so it nests as JSON

    def epoch_seconds(self, column: str) -> str:
        return f"cast(strftime('%s', {column}) as integer)"

    def json_list(self, element: str, *, table: str, alias: str, where: str, order: str) -> str:
        # json_group_array has no ORDER BY: it aggregates the rows in the order the subquery gives them
        return (
            f"(select json_group_array({element}) "  # noqa: S608 (fixed fragments)
            f"from (select * from {table} where {where} order by {order}) {alias})"
        )


_BY_ENGINE: dict[DialectName, AuthSql] = {"postgres": PostgresAuthSql(), "sqlite": SqliteAuthSql()}


def sql_for(dialect: Dialect) -> AuthSql:
    """The `AuthSql` of the engine `dialect` names (the one place auth's store asks which engine)."""
    return _BY_ENGINE[dialect.name]


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


def _text_ts(value: datetime) -> str:
    return value.astimezone(UTC).strftime(_TEXT_TS)


@lru_cache(maxsize=256)
def _numbered(template: str) -> str:
    parts = template.split("?")
    out = [parts[0]]
    for index, part in enumerate(parts[1:], start=1):
        out.append(f"${index}{part}")
    return "".join(out)


@lru_cache(maxsize=256)
def _without_schemas(template: str) -> str:
    return _CAST.sub("", _TABLE.sub(r"_auth_\1", template))
