"""The element types of PostgreSQL's built-in ranges, for `db.pgtypes.ranges` on SQLite: each reads a bound
as PostgreSQL's input function does (`int4in`, `int8in`, `numeric_in`, `date_in`, `timestamp_in`,
`timestamptz_in`), with its errors, into a sort key and the text its output function prints; the
discrete types also give the next value, for the canonical `[lower,upper)` form.

Numbers are scanned by hand (no regular expression sees the caller's text); `numeric` keeps its
scale as PostgreSQL does (`1.50` stays `1.50`, `2e1` is `20`) and has its limits (131072 digits
before the point, 16383 after: 22003). Dates and timestamps are `db.pgtypes.datetimes`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from backstack.db.errors import database_error
from backstack.db.pgtypes.datetimes import (
    MAX_DATE_YEAR,
    days_from_civil,
    format_date,
    format_timestamp,
    parse_date,
    parse_timestamp,
)

# An element: (sort key, its text as PostgreSQL prints it). Keys of one element type compare.
Elem = tuple[tuple[Any, ...], str]

_INT_BOUNDS = {"integer": 2**31, "bigint": 2**63}
_NUMERIC_SPECIAL = {
    "nan": (2, "NaN"),
    "infinity": (1, "Infinity"),
    "+infinity": (1, "Infinity"),
    "-infinity": (-1, "-Infinity"),
    "inf": (1, "Infinity"),
    "+inf": (1, "Infinity"),
    "-inf": (-1, "-Infinity"),
}
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
        if len(digits.lstrip("0")) > 19:  # out of range for both; int() of a huge string would be slow
            raise database_error("22003", f'value "{text}" is out of range for type {type_name}')
        value = int(digits.lstrip("0") or "0") * (-1 if body[0] == "-" else 1)
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
    except InvalidOperation:  # the syntax is right: an exponent beyond what Decimal holds
        raise database_error("22003", "value overflows numeric format") from None
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
