"""A `postgres_changes` filter, checked against the changed row in Python.

The form Supabase Realtime takes (and the official clients document): `column=operator.value`, with
`eq`, `neq`, `lt`, `lte`, `gt`, `gte`, `in` (`id=in.(1,2,3)`), and on newer servers `like`, `ilike`
(`%` or `*` any run, `_` one character), `is` (`null`, `true`, `false`, `unknown`), `match`,
`imatch` (regular expressions), `isdistinct` (NULL-safe inequality), any of them negated with a
`not.` prefix, several joined with commas meaning AND (`amount=gt.100,status=in.(open,pending)`).

A subscriber's filter runs in the server on every change it is shown, so it must cost little and
never fail: patterns are RE2's (time linear in the value: Python's `re` backtracks, and one
`^(a+)+$` held a worker for minutes), bounded in size; what needs backtracking (backreferences,
lookaround) is refused; `in` takes at most `MAX_IN_VALUES`; a number that is not finite (`NaN`,
`Infinity`) is refused, and a comparison that still cannot be made is unknown, never an error.

Values compare as the column's type: numbers as numbers, booleans as booleans, times as times (a
naive timestamp read as UTC), uuids case-insensitively, anything else as text. The row is the
captured one (the change's `record`, or `old_record` for a DELETE), as PostgreSQL's WAL has it, not
the row as it is now. SQL's three-valued logic holds: a NULL compared is unknown, and neither a
condition nor its `not.` matches it (`is` and `isdistinct` are never unknown).
"""

from __future__ import annotations

import datetime as dt
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import re2

COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": operator.eq,
    "neq": operator.ne,
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}
PATTERNS = frozenset({"like", "ilike", "match", "imatch"})
OPERATORS = frozenset({*COMPARISONS, *PATTERNS, "in", "is", "isdistinct"})
NUMBER_KINDS = frozenset({"int", "float", "numeric"})
TIME_KINDS = frozenset({"timestamp", "date", "time"})
IS_VALUES = {"null": None, "unknown": None, "true": True, "false": False}
MAX_CONDITIONS = 20
MAX_IN_VALUES = 100  # Supabase's limit for `in`
MAX_PATTERN_CHARS = 1000
MAX_PROGRAM_SIZE = 2000  # RE2 instructions: bounds a match's worst case (NFA) per value byte


class FilterError(ValueError):
    """A filter that cannot be applied: the join gets a `system` error naming it."""


@dataclass(frozen=True, slots=True)
class Condition:
    column: str
    operator: str
    negated: bool
    values: tuple[Any, ...]  # comparable values; a compiled pattern for like/ilike/match/imatch
    kind: str
    members: frozenset[Any] = frozenset()  # `in`: the values as a set (one lookup per row, not one per value)

    def holds(self, row: dict[str, Any]) -> bool:
        verdict = self._verdict(row.get(self.column))
        if verdict is None:  # unknown: neither the condition nor its negation matches
            return False
        return verdict != self.negated

    def _verdict(self, value: Any) -> bool | None:
        if self.operator == "is":
            return value is None if self.values[0] is None else value is self.values[0]
        if self.operator == "isdistinct":
            return _distinct(value, self.values[0], self.kind)
        if value is None:
            return None
        if self.operator in PATTERNS:
            text = value if isinstance(value, str) else str(value)
            return self.values[0].search(text) is not None
        try:
            mine = _comparable(value, self.kind)
            if self.operator == "in":
                return mine in self.members
            return COMPARISONS[self.operator](mine, self.values[0])
        except (FilterError, TypeError, ValueError, ArithmeticError):  # another type, NaN, a naive and an aware time
            return None


@dataclass(frozen=True, slots=True)
class RowFilter:
    conditions: tuple[Condition, ...]

    def matches(self, row: dict[str, Any] | None) -> bool:
        return row is not None and all(condition.holds(row) for condition in self.conditions)


def parse_filter(text: str, kinds: dict[str, str]) -> RowFilter:
    """The filter of a binding on a table whose columns have `kinds` (column -> TypeKind)."""
    parts = _split(text, ",")
    if len(parts) > MAX_CONDITIONS:
        raise FilterError(f"at most {MAX_CONDITIONS} conditions")
    return RowFilter(tuple(_condition(part, kinds) for part in parts))


def condition_count(text: str) -> int:
    """How many conditions a filter holds (what it costs per change), without parsing them."""
    return len(_split(text, ","))


def _condition(text: str, kinds: dict[str, str]) -> Condition:
    column, sep, rest = text.partition("=")
    negated = rest.startswith("not.")
    op, dot, raw = rest.removeprefix("not.").partition(".")
    if not sep or not dot or not column:
        raise FilterError(f"the filter {text!r} is not column=operator.value")
    if column not in kinds:
        raise FilterError(f"column {column!r} does not exist")
    if op not in OPERATORS:
        raise FilterError(f"operator {op!r} is not one of {', '.join(sorted(OPERATORS))}")
    kind = kinds[column]
    values = _values(op, raw, kind)
    return Condition(column, op, negated, values, kind, frozenset(values) if op == "in" else frozenset())


def _values(op: str, raw: str, kind: str) -> tuple[Any, ...]:
    if op == "in":
        if not (raw.startswith("(") and raw.endswith(")")):
            raise FilterError("in takes a list: in.(a,b)")
        items = _split(raw[1:-1], ",")
        if len(items) > MAX_IN_VALUES:
            raise FilterError(f"in takes at most {MAX_IN_VALUES} values")
        return tuple(_comparable(_unquoted(item), kind) for item in items)
    if op == "is":
        if raw.lower() not in IS_VALUES:
            raise FilterError("is takes null, true, false or unknown")
        return (IS_VALUES[raw.lower()],)
    if op == "isdistinct":
        return (None if raw.lower() == "null" else _comparable(raw, kind),)
    if op in ("like", "ilike"):
        pattern = "".join(".*" if c in "%*" else "." if c == "_" else re2.escape(c) for c in raw)
        return (_pattern(f"^(?:{pattern})$", op == "ilike", len(raw)),)
    if op in ("match", "imatch"):
        return (_pattern(raw, op == "imatch", len(raw)),)
    return (_comparable(raw, kind),)


def _pattern(pattern: str, case_insensitive: bool, length: int) -> Any:
    """A linear-time RE2 pattern (`.search`), or FilterError: too long, too complex, or one RE2 cannot
    run without backtracking. `.` matches a newline, as in PostgreSQL."""
    if length > MAX_PATTERN_CHARS:
        raise FilterError(f"a pattern takes at most {MAX_PATTERN_CHARS} characters")
    options = re2.Options()
    options.case_sensitive = not case_insensitive
    options.dot_nl = True
    options.never_capture = True
    options.log_errors = False
    try:
        compiled = re2.compile(pattern, options)
    except re2.error as error:
        reason = error.args[0].decode("utf-8", "replace") if error.args and isinstance(error.args[0], bytes) else error
        raise FilterError(f"invalid regular expression: {reason}") from None
    if compiled.programsize > MAX_PROGRAM_SIZE:
        raise FilterError("invalid regular expression: too complex")
    return compiled


def _distinct(value: Any, other: Any, kind: str) -> bool:
    if value is None or other is None:
        return (value is None) != (other is None)
    try:
        return bool(_comparable(value, kind) != other)
    except (FilterError, TypeError, ValueError):
        return True


def _split(text: str, separator: str) -> list[str]:
    """`text` split at `separator` outside parentheses and double quotes."""
    items: list[str] = []
    current: list[str] = []
    depth, quoted, escaped = 0, False, False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif not quoted and char in "()":
            depth += 1 if char == "(" else -1
        elif not quoted and depth == 0 and char == separator:
            items.append("".join(current))
            current = []
            continue
        current.append(char)
    items.append("".join(current))
    return [item.strip() for item in items]


def _unquoted(item: str) -> str:
    if len(item) >= 2 and item[0] == item[-1] == '"':
        return re.sub(r"\\(.)", r"\1", item[1:-1])
    return item


def _comparable(value: Any, kind: str) -> Any:
    """`value` (filter text, or a captured JSON value) in a form that compares as the column's type."""
    if kind in NUMBER_KINDS:
        if isinstance(value, bool):
            raise FilterError("not a number")
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            raise FilterError(f"{value!r} is not a number") from None
        if not number.is_finite():  # NaN compares by raising, and neither the data API nor JSON has it
            raise FilterError(f"{value!r} is not a finite number")
        return number
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
    return value if isinstance(value, str) else str(value)


def _time(text: str, kind: str) -> Any:
    """An ISO 8601 date, time or timestamp; timestamps in UTC (a naive one read as UTC, as the data API
    stores them) so that offsets compare."""
    try:
        if kind == "date":
            return dt.date.fromisoformat(text[:10])
        if kind == "time":
            return dt.time.fromisoformat(text)
        moment = dt.datetime.fromisoformat(text.replace(" ", "T", 1))
        return moment.astimezone(dt.UTC) if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)
    except (ValueError, OverflowError):  # OverflowError: an offset that leaves year 1..9999 in UTC
        raise FilterError(f"{text!r} is not a {kind}") from None
