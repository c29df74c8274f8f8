"""A `postgres_changes` filter (`column=op.value`), checked against the changed row in Python.

Supabase Realtime takes one filter per binding with `eq`, `neq`, `lt`, `lte`, `gt`, `gte` and `in`
(`id=in.(1,2,3)`), and compares the value as the column's type: numbers as numbers, booleans as
booleans, times as times. The row is the captured one (the change's `record`, or `old_record` for a
DELETE), as PostgreSQL's WAL has it, not the row as it is now. A NULL never matches (SQL's rule).
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "neq": operator.ne,
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}
NUMBER_KINDS = frozenset({"int", "float", "numeric"})
TIME_KINDS = frozenset({"timestamp", "date", "time"})


class FilterError(ValueError):
    """A filter that cannot be applied: the join gets a `system` error naming it."""


@dataclass(frozen=True, slots=True)
class RowFilter:
    column: str
    operator: str  # one of OPERATORS, or "in"
    values: tuple[Any, ...]  # already in the column's comparable form
    kind: str

    def matches(self, row: dict[str, Any] | None) -> bool:
        if row is None or self.column not in row:
            return False
        value = row[self.column]
        if value is None:
            return False
        try:
            mine = _comparable(value, self.kind)
        except (FilterError, TypeError, ValueError):
            return False
        if self.operator == "in":
            return mine in self.values
        try:
            return OPERATORS[self.operator](mine, self.values[0])
        except TypeError:  # e.g. a naive and an aware time of day
            return False


def parse_filter(text: str, kinds: dict[str, str]) -> RowFilter:
    """`column=op.value` for a table whose columns have `kinds` (column -> TypeKind)."""
    column, sep, rest = text.partition("=")
    op, dot, raw = rest.partition(".")
    if not sep or not dot or not column:
        raise FilterError(f"the filter {text!r} is not column=operator.value")
    if column not in kinds:
        raise FilterError(f"column {column!r} does not exist")
    kind = kinds[column]
    if op == "in":
        if not (raw.startswith("(") and raw.endswith(")")):
            raise FilterError("in takes a list: in.(a,b)")
        values = tuple(_comparable(item, kind) for item in _items(raw[1:-1]))
    elif op in OPERATORS:
        values = (_comparable(raw, kind),)
    else:
        raise FilterError(f"operator {op!r} is not one of eq, neq, lt, lte, gt, gte, in")
    return RowFilter(column, op, values, kind)


def _items(inner: str) -> list[str]:
    """The items of `in.(...)`: comma separated, double quotes around an item that holds a comma."""
    items, current, quoted, escaped = [], [], False, False
    for char in inner:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            items.append("".join(current))
            current = []
        else:
            current.append(char)
    items.append("".join(current))
    return [item.strip() for item in items]


def _comparable(value: Any, kind: str) -> Any:
    """`value` (filter text, or a captured JSON value) in a form that compares as the column's type."""
    if kind in NUMBER_KINDS:
        if isinstance(value, bool):
            raise FilterError("not a number")
        try:
            return Decimal(str(value))
        except InvalidOperation:
            raise FilterError(f"{value!r} is not a number") from None
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).lower()
        if text in ("true", "t", "yes", "on", "1"):
            return True
        if text in ("false", "f", "no", "off", "0"):
            return False
        raise FilterError(f"{value!r} is not a boolean")
    if kind in TIME_KINDS and isinstance(value, str):
        return _time(value, kind)
    if kind == "uuid":
        return str(value).lower()
    if isinstance(value, str):
        return value
    return str(value).lower() if isinstance(value, bool) else str(value)


def _time(text: str, kind: str) -> Any:
    """An ISO 8601 date, time or timestamp; timestamps in UTC (a naive one read as UTC, as the data API
    stores them) so that offsets compare."""
    try:
        if kind == "date":
            return dt.date.fromisoformat(text[:10])
        if kind == "time":
            return dt.time.fromisoformat(text)
        moment = dt.datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        raise FilterError(f"{text!r} is not a {kind}") from None
    return moment.astimezone(dt.UTC) if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
