"""PostgreSQL's built-in range types on SQLite: input, canonical form, output and operators.

SQLite stores a range column as the text PostgreSQL prints for it (`[1,6)`, `empty`,
`["2000-01-01 13:00:00","2000-01-01 13:30:00")`), so reads answer what PostgreSQL answers. This
module turns any range literal into that text (`canonical`), as PostgreSQL's `range_in` does:
bounds are read by the element type (`int4range`, `int8range`, `numrange`, `daterange`, `tsrange`,
`tstzrange`: `db.pgtypes.range_bounds`), a range whose bounds meet without both being inclusive is
`empty`, infinite bounds are exclusive, and the discrete types are normalised to `[lower,upper)`
(`[1,5]` -> `[1,6)`, `(1,2)` -> `empty`). The operators (`@>`, `<@`, `&&`, `<<`, `>>`, `&<`, `&>`, `-|-`) and the
ordering follow rangetypes.c, bound comparison rules included.

Errors are PostgreSQL's: 22P02 `malformed range literal` (with its DETAIL), the element type's own
input errors (22P02, 22007, 22008, 22003), 22000 when the lower bound is above the upper.
Parsing reads each character once (no regular expression), and results are memoised: a filter value
is parsed once, not once per row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from backstack.db.errors import database_error
from backstack.db.pgtypes.range_bounds import RANGE_TYPES, Elem, Subtype

if TYPE_CHECKING:
    from backstack.core.errors import DatabaseError


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
        raise database_error("42601", "invalid range bound flags", hint='Valid values are "[]", "[)", "(]", and "()".')
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
    return (compare_bounds(r1.lower, r2.lower) >= 0 and compare_bounds(r1.lower, r2.upper) <= 0) or (
        compare_bounds(r2.lower, r1.lower) >= 0 and compare_bounds(r2.lower, r1.upper) <= 0
    )


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
