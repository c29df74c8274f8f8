"""PostgreSQL's built-in range types on SQLite: input, canonical form, output and operators.

SQLite stores a range column as the text PostgreSQL prints for it (`[1,6)`, `empty`,
`["2000-01-01 13:00:00","2000-01-01 13:30:00")`), so reads answer what PostgreSQL answers. This
module turns any range literal into that text (`canonical`), as PostgreSQL's `range_in` does: bounds
are read by the element type (`int4range`, `int8range`, `numrange`, `daterange`, `tsrange`,
`tstzrange`), a range whose bounds meet without both being inclusive is `empty`, infinite bounds are
exclusive, and the discrete types are normalised to `[lower,upper)` (`[1,5]` -> `[1,6)`,
`(1,2)` -> `empty`). The operators (`@>`, `<@`, `&&`, `<<`, `>>`, `&<`, `&>`, `-|-`) and the
ordering follow rangetypes.c, bound comparison rules included.

Errors are PostgreSQL's: 22P02 `malformed range literal` (with its DETAIL), the element type's own
input errors (22P02, 22007, 22008, 22003), 22000 when the lower bound is above the upper.
Parsing reads each character once (no regular expression), and results are memoised: a filter value
is parsed once, not once per row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from backstack.db.errors import database_error
from backstack.db.pgdatetime import (
    MAX_DATE_YEAR,
    days_from_civil,
    format_date,
    format_timestamp,
    parse_date,
    parse_timestamp,
)

if TYPE_CHECKING:
    from backstack.core.errors import DatabaseError

# An element: (sort key, its text as PostgreSQL prints it). Keys of one element type compare.
Elem = tuple[tuple[Any, ...], str]

_INT_BOUNDS = {"integer": 2**31, "bigint": 2**63}
_NUMERIC_SPECIAL = {"nan": (2, "NaN"), "infinity": (1, "Infinity"), "+infinity": (1, "Infinity"),
                    "-infinity": (-1, "-Infinity"), "inf": (1, "Infinity"), "+inf": (1, "Infinity"),
                    "-inf": (-1, "-Infinity")}
_MAX_NUMERIC_WEIGHT = 131_072  # digits before the point PostgreSQL's numeric holds
_MAX_NUMERIC_SCALE = 16_383  # and after it
_LAST_DAY = days_from_civil(MAX_DATE_YEAR, 12, 31)


def _int(type_name: str) -> Callable[[str], Elem]:
    bound = _INT_BOUNDS[type_name]

    def parse(text: str) -> Elem:
        body = text.strip()
        digits = body[1:] if body[:1] in ("+", "-") else body
        if not digits or not (digits.isascii() and digits.isdigit()):
            raise database_error("22P02", f'invalid input syntax for type {type_name}: "{text}"')
        value = int(body)
        if not -bound <= value < bound:
            raise database_error("22003", f'value "{text}" is out of range for type {type_name}')
        return (0, value), str(value)

    return parse


def _int_step(type_name: str) -> Callable[[Elem], Elem | None]:
    bound = _INT_BOUNDS[type_name]

    def step(elem: Elem) -> Elem:
        value = elem[0][1] + 1
        if value >= bound:
            raise database_error("22003", f"{type_name} out of range")
        return (0, value), str(value)

    return step


def _numeric(text: str) -> Elem:
    body = text.strip()
    special = _NUMERIC_SPECIAL.get(body.lower())
    if special is not None:
        return (special[0], 0), special[1]
    if not _numeric_syntax(body):
        raise database_error("22P02", f'invalid input syntax for type numeric: "{text}"')
    try:
        value = Decimal(body)
    except InvalidOperation:
        raise database_error("22P02", f'invalid input syntax for type numeric: "{text}"') from None
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    if (value and value.adjusted() >= _MAX_NUMERIC_WEIGHT) or -exponent > _MAX_NUMERIC_SCALE:
        raise database_error("22003", "value overflows numeric format")
    printed = format(value, "f")
    return (0, value), printed.removeprefix("-") if not value else printed


def _numeric_syntax(body: str) -> bool:
    """`[+-] (digits [. [digits]] | . digits) [e [+-] digits]`, read once."""
    i, n = (1 if body[:1] in ("+", "-") else 0), len(body)
    start = i
    while i < n and body[i].isascii() and body[i].isdigit():
        i += 1
    whole = i - start
    if i < n and body[i] == ".":
        i += 1
        start = i
        while i < n and body[i].isascii() and body[i].isdigit():
            i += 1
        if whole == 0 and i == start:
            return False
    elif whole == 0:
        return False
    if i < n and body[i] in ("e", "E"):
        i += 1 + (i + 1 < n and body[i + 1] in ("+", "-"))
        start = i
        while i < n and body[i].isascii() and body[i].isdigit():
            i += 1
        if i == start:
            return False
    return i == n


def _date(text: str) -> Elem:
    value = parse_date(text)
    return value, format_date(value)


def _date_step(elem: Elem) -> Elem | None:
    rank, days = elem[0]
    if rank:  # `infinity]` stays inclusive, as in PostgreSQL's daterange_canonical
        return None
    if days + 1 > _LAST_DAY:
        raise database_error("22008", "date out of range")
    value = (0, days + 1)
    return value, format_date(value)


def _timestamp(with_zone: bool) -> Callable[[str], Elem]:
    def parse(text: str) -> Elem:
        value = parse_timestamp(text, with_zone)
        return value, format_timestamp(value, with_zone)

    return parse


@dataclass(frozen=True, slots=True)
class Subtype:
    """How one range type reads its bounds, and (discrete types) the next value of a bound (None:
    a value the canonical form leaves as it is)."""

    parse: Callable[[str], Elem]
    step: Callable[[Elem], Elem | None] | None = None


RANGE_TYPES: dict[str, Subtype] = {
    "int4range": Subtype(_int("integer"), _int_step("integer")),
    "int8range": Subtype(_int("bigint"), _int_step("bigint")),
    "numrange": Subtype(_numeric),
    "daterange": Subtype(_date, _date_step),
    "tsrange": Subtype(_timestamp(False)),
    "tstzrange": Subtype(_timestamp(True)),
}


@dataclass(frozen=True, slots=True)
class Bound:
    """One end of a range; `elem` None for an infinite (unbounded) end."""

    elem: Elem | None
    inclusive: bool
    lower: bool


@dataclass(frozen=True, slots=True)
class Range:
    """A range in canonical form; `lower`/`upper` are meaningless when `empty`."""

    empty: bool
    lower: Bound
    upper: Bound

    def text(self) -> str:
        """PostgreSQL's `range_out`: `empty`, or bounds quoted where they need it."""
        if self.empty:
            return "empty"
        low = _escape(self.lower.elem[1]) if self.lower.elem is not None else ""
        high = _escape(self.upper.elem[1]) if self.upper.elem is not None else ""
        return f"{'[' if self.lower.inclusive else '('}{low},{high}{']' if self.upper.inclusive else ')'}"


_EMPTY = Range(True, Bound(None, False, True), Bound(None, False, False))


def _escape(text: str) -> str:
    if text and not any(ch in '"\\(),[]' or ch.isspace() for ch in text):
        return text
    return '"' + "".join(ch * 2 if ch in '"\\' else ch for ch in text) + '"'


# ---------------------------------------------------------------- input


def subtype(type_name: str) -> Subtype:
    found = RANGE_TYPES.get(type_name)
    if found is None:
        raise database_error("42704", f'type "{type_name}" does not exist')
    return found


@lru_cache(maxsize=1024)
def parse(text: str, type_name: str) -> Range:
    """A range literal of `type_name`, canonical; PostgreSQL's errors for a bad one."""
    sub = subtype(type_name)
    literal = _Literal(text)
    if literal.empty:
        return _EMPTY
    lower = Bound(None if literal.low is None else sub.parse(literal.low), literal.low_inc, True)
    upper = Bound(None if literal.high is None else sub.parse(literal.high), literal.high_inc, False)
    return make_range(sub, lower, upper)


def canonical(text: str, type_name: str) -> str:
    """`text` as PostgreSQL stores and prints it: `[1,5]` -> `[1,6)` for an int4range."""
    return parse(text, type_name).text()


def construct(type_name: str, low: Any, high: Any, flags: Any = "[)") -> str:
    """The range constructor functions: `int4range(1, 5)`, `tstzrange(now(), NULL, '[]')`."""
    sub = subtype(type_name)
    if flags is None:
        raise database_error("22000", "range constructor flags argument must not be NULL")
    if flags not in ("[]", "[)", "(]", "()"):
        raise database_error("42601", "invalid range bound flags",
                             hint='Valid values are "[]", "[)", "(]", and "()".')
    lower = Bound(None if low is None else sub.parse(_sql_text(low)), flags[0] == "[", True)
    upper = Bound(None if high is None else sub.parse(_sql_text(high)), flags[1] == "]", False)
    return make_range(sub, lower, upper).text()


def _sql_text(value: Any) -> str:
    return repr(value) if isinstance(value, float) else str(value)


class _Literal:
    """PostgreSQL's `range_parse`: the flags and the two bound strings (None: infinite)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.empty = self.low_inc = self.high_inc = False
        self.low: str | None = None
        self.high: str | None = None
        i, n = 0, len(text)
        while i < n and text[i].isspace():
            i += 1
        if text[i : i + 5].lower() == "empty":
            i += 5
            while i < n and text[i].isspace():
                i += 1
            if i != n:
                raise self.malformed('Junk after "empty" key word.')
            self.empty = True
            return
        if i >= n or text[i] not in "[(":
            raise self.malformed("Missing left parenthesis or bracket.")
        self.low_inc = text[i] == "["
        self.low, i = self._bound(i + 1)
        if i >= n or text[i] != ",":
            raise self.malformed("Missing comma after lower bound.")
        self.high, i = self._bound(i + 1)
        if i >= n or text[i] not in "])":
            raise self.malformed("Too many commas.")
        self.high_inc = text[i] == "]"
        i += 1
        while i < n and text[i].isspace():
            i += 1
        if i != n:
            raise self.malformed("Junk after right parenthesis or bracket.")
        self.low_inc = self.low_inc and self.low is not None  # infinite bounds are exclusive
        self.high_inc = self.high_inc and self.high is not None

    def _bound(self, i: int) -> tuple[str | None, int]:
        """One bound from `i`: quotes group, a backslash or a doubled quote escapes; empty -> None."""
        text, n = self.text, len(self.text)
        if i < n and text[i] in ",)]":
            return None, i
        out: list[str] = []
        quoted = False
        while i < n and (quoted or text[i] not in ",)]"):
            ch = text[i]
            if ch == "\\":
                if i + 1 >= n:
                    raise self.malformed("Unexpected end of input.")
                out.append(text[i + 1])
                i += 2
                continue
            if ch == '"':
                if quoted and i + 1 < n and text[i + 1] == '"':
                    out.append('"')
                    i += 2
                    continue
                quoted = not quoted
            else:
                out.append(ch)
            i += 1
        if i >= n:
            raise self.malformed("Unexpected end of input.")
        return "".join(out), i

    def malformed(self, detail: str) -> DatabaseError:
        return database_error("22P02", f'malformed range literal: "{self.text}"', detail)


def make_range(sub: Subtype, lower: Bound, upper: Bound) -> Range:
    """PostgreSQL's `make_range`: order check, empty detection, then the discrete canonical form."""
    order = _compare_values(lower, upper)
    if order > 0:
        raise database_error("22000", "range lower bound must be less than or equal to range upper bound")
    if order == 0 and not (lower.inclusive and upper.inclusive):
        return _EMPTY
    if sub.step is None:
        return Range(False, lower, upper)
    if lower.elem is not None and not lower.inclusive:
        following = sub.step(lower.elem)
        lower = lower if following is None else Bound(following, True, True)
    if upper.elem is not None and upper.inclusive:
        following = sub.step(upper.elem)
        upper = upper if following is None else Bound(following, False, False)
    if _compare_values(lower, upper) == 0 and not (lower.inclusive and upper.inclusive):
        return _EMPTY
    return Range(False, lower, upper)


# ---------------------------------------------------------------- comparisons


def _compare_values(a: Bound, b: Bound) -> int:
    """`range_cmp_bound_values`: the bounds' values only, infinite ends beyond every value."""
    if a.elem is None and b.elem is None:
        return 0 if a.lower == b.lower else (-1 if a.lower else 1)
    if a.elem is None:
        return -1 if a.lower else 1
    if b.elem is None:
        return 1 if b.lower else -1
    return (a.elem[0] > b.elem[0]) - (a.elem[0] < b.elem[0])


def compare_bounds(a: Bound, b: Bound) -> int:
    """`range_cmp_bounds`: values, then inclusivity (`(1` is after `[1`, `1)` before `1]`)."""
    result = _compare_values(a, b)
    if result != 0 or a.elem is None or b.elem is None:
        return result
    if not a.inclusive and not b.inclusive:
        return 0 if a.lower == b.lower else (1 if a.lower else -1)
    if not a.inclusive:
        return 1 if a.lower else -1
    if not b.inclusive:
        return -1 if b.lower else 1
    return 0


def compare(r1: Range, r2: Range) -> int:
    """`range_cmp`: the ordering of `=`, `<`, `>` (empty first, then lower, then upper bound)."""
    if r1.empty or r2.empty:
        return int(r2.empty) - int(r1.empty)  # empty sorts first; two empty ranges are equal
    return compare_bounds(r1.lower, r2.lower) or compare_bounds(r1.upper, r2.upper)


def contains(r1: Range, r2: Range) -> bool:
    if r2.empty:
        return True
    if r1.empty:
        return False
    return compare_bounds(r1.lower, r2.lower) <= 0 and compare_bounds(r1.upper, r2.upper) >= 0


def overlaps(r1: Range, r2: Range) -> bool:
    if r1.empty or r2.empty:
        return False
    return ((compare_bounds(r1.lower, r2.lower) >= 0 and compare_bounds(r1.lower, r2.upper) <= 0)
            or (compare_bounds(r2.lower, r1.lower) >= 0 and compare_bounds(r2.lower, r1.upper) <= 0))


def adjacent(sub: Subtype, r1: Range, r2: Range) -> bool:
    if r1.empty or r2.empty:
        return False
    return _bounds_adjacent(sub, r1.upper, r2.lower) or _bounds_adjacent(sub, r2.upper, r1.lower)


def _bounds_adjacent(sub: Subtype, upper: Bound, lower: Bound) -> bool:
    """Nothing lies between `upper` (of one range) and `lower` (of another)."""
    order = _compare_values(upper, lower)
    if order == 0:
        return upper.inclusive != lower.inclusive
    if order > 0 or sub.step is None:
        return False
    gap = make_range(sub, Bound(upper.elem, not upper.inclusive, True), Bound(lower.elem, not lower.inclusive, False))
    return gap.empty


def _both(test: Callable[[Range, Range], bool]) -> Callable[[Subtype, Range, Range], bool]:
    """`test` for two non-empty ranges; false when either is empty."""
    return lambda sub, r1, r2: not (r1.empty or r2.empty) and test(r1, r2)


# PostgREST operator -> its test on (subtype, column's range, filter's range)
OPERATORS: dict[str, Callable[[Subtype, Range, Range], bool]] = {
    "cs": lambda sub, r1, r2: contains(r1, r2),
    "cd": lambda sub, r1, r2: contains(r2, r1),
    "ov": lambda sub, r1, r2: overlaps(r1, r2),
    "sl": _both(lambda r1, r2: compare_bounds(r1.upper, r2.lower) < 0),
    "sr": _both(lambda r1, r2: compare_bounds(r1.lower, r2.upper) > 0),
    "nxr": _both(lambda r1, r2: compare_bounds(r1.upper, r2.upper) <= 0),
    "nxl": _both(lambda r1, r2: compare_bounds(r1.lower, r2.lower) >= 0),
    "adj": adjacent,
}


def test(operator: str, left: str, right: str, type_name: str) -> bool:
    """`left <operator> right` for two range texts of `type_name` (PostgREST's operator names)."""
    return OPERATORS[operator](subtype(type_name), parse(left, type_name), parse(right, type_name))
