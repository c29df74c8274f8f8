"""PostgREST's single-row upsert (`PUT /t?pk=eq.v`): which request is one, and which payload row it puts.

PostgREST's rules (its `MutationSingleUpsert`): the root filters must be exactly the primary key
columns, each an unnegated `eq` without quantifier or JSON path, and no logic tree (else 405
PGRST105, a table without a primary key included); `limit`/`offset` at the root are 400 PGRST114;
the Range header is ignored. The payload (an object or an array) is filtered by the URL's key, and
exactly one row must remain (else 400 PGRST115): PostgREST does that in its INSERT's WHERE, here it
is done before compiling so the insert stays a plain upsert on the primary key, with the row
policies of an upsert (INSERT's check, UPDATE's USING and check).

A URL value and a payload value are the same key when they are equal as the column's type would
see them: numbers as decimals, booleans by PostgreSQL's spellings, UUIDs case-insensitively, the
rest as text.
"""

from __future__ import annotations

import uuid
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from backstack.rest import errors
from backstack.rest.request.query import Filter, ReadQuery

if TYPE_CHECKING:
    from backstack.db.schema.model import Column, Table

_TRUE = frozenset({"t", "true", "y", "yes", "on", "1"})
_FALSE = frozenset({"f", "false", "n", "no", "off", "0"})


def check_put_query(query: ReadQuery) -> None:
    """PGRST114 for a root `limit` / `offset` (checked before the table is looked up, as PostgREST)."""
    if () in query.limit or () in query.offset:
        raise errors.put_limit_not_allowed()


def put_key(table: Table, query: ReadQuery) -> dict[str, list[str]]:
    """The URL's primary key values per column; PGRST105 unless the root filters are exactly the key."""
    conditions = query.where.get((), [])
    key: dict[str, list[str]] = {}
    for condition in conditions:
        if not _is_plain_eq(condition):
            raise errors.invalid_put_filters()
        assert isinstance(condition, Filter) and isinstance(condition.value, str)
        key.setdefault(condition.field.name, []).append(condition.value)
    if not table.primary_key or set(key) != set(table.primary_key):
        raise errors.invalid_put_filters()
    return key


def put_row(table: Table, key: dict[str, list[str]], rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The one payload row whose primary key equals the URL's; PGRST115 unless exactly one does."""
    matching = [
        row
        for row in rows
        if all(
            all(_same(table.columns[name], wanted, row.get(name)) for wanted in values) for name, values in key.items()
        )
    ]
    if len(matching) != 1:
        raise errors.put_pk_mismatch()
    return matching[0]


def _is_plain_eq(condition: object) -> bool:
    return (
        isinstance(condition, Filter)
        and condition.operator == "eq"
        and not condition.negated
        and condition.quantifier is None
        and not condition.field.path
        and isinstance(condition.value, str)
    )


def _same(column: Column, url: str, value: Any) -> bool:
    """Whether payload `value` is the key `url` names, compared as the column's type compares."""
    if value is None or isinstance(value, dict | list):
        return False
    if column.kind == "bool":
        return _bool(url) is not None and _bool(url) == _bool(value)
    if isinstance(value, bool):
        return False
    if column.kind in ("int", "numeric", "float"):
        return _decimal(url) is not None and _decimal(url) == _decimal(value)
    if column.kind == "uuid":
        return _uuid(url) is not None and _uuid(url) == _uuid(value)
    return str(value) == url


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    return True if text in _TRUE else (False if text in _FALSE else None)


def _decimal(value: Any) -> Decimal | None:
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None
