"""PostgreSQL `date` and `timestamp [with time zone]` input and output, for the SQLite range types.

A range compares its bounds, so on SQLite `tsrange`, `tstzrange` and `daterange` bounds must be read
as values and printed back the way PostgreSQL prints them (`DateStyle` ISO, `TimeZone` UTC, as on
Supabase): `2000-01-01 13:00:00`, `2000-01-01 11:00:00+00`, `2000-01-02`, `infinity`.

Input is the ISO 8601 subset clients send (`2000-01-01`, `20000101`, `2000-1-1 9:05`,
`2000-01-01T13:00:00.5+02:00`, ` Z`/`UTC`/`GMT`, `+05`/`+0530`/`+05:30:15`), plus `infinity`,
`-infinity` and `epoch`; PostgreSQL's other spellings (`Jan 1 2000`, `BC`, named zones) answer its
22007. Values are days (dates) or microseconds (timestamps) since 1970-01-01 in the proleptic
Gregorian calendar, computed by hand so that PostgreSQL's year range is covered, not Python's.
The scanner reads each character once: no regular expression sees the caller's text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backstack.db.errors import database_error

if TYPE_CHECKING:
    from backstack.core.errors import DatabaseError

US_PER_DAY = 86_400_000_000
MAX_DATE_YEAR = 5_874_897  # PostgreSQL's last year for date, and for timestamp:
MAX_TS_YEAR = 294_276
_MIN_DAYS = -2_440_588  # 4714-11-24 BC, PostgreSQL's first day (Julian day 0)
_NOT_SUPPORTED = ("now", "today", "tomorrow", "yesterday")
_UTC = ("z", "utc", "gmt", "zulu", "ut")
MAX_OFFSET_S = 15 * 3600 + 59 * 60 + 59
_DATESTYLE = 'Perhaps you need a different "datestyle" setting.'


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 (year 0 is 1 BC)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    return era * 146_097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719_468


def civil_from_days(days: int) -> tuple[int, int, int]:
    """(year, month, day) of a day number from `days_from_civil`."""
    days += 719_468
    era = days // 146_097
    doe = days - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    month = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (month <= 2), month, doy - (153 * mp + 2) // 5 + 1


def _month_days(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


class _Scan:
    """A cursor over one value; `fail` is PostgreSQL's 22007 naming it."""

    def __init__(self, text: str, type_name: str) -> None:
        self.raw, self.type_name = text, type_name
        self.text, self.pos = text.strip(), 0

    def fail(self) -> DatabaseError:
        return database_error("22007", f'invalid input syntax for type {self.type_name}: "{self.raw}"')

    def out_of_range(
        self, code: str = "22008", what: str = "date/time field value", hint: str | None = None
    ) -> DatabaseError:
        return database_error(code, f'{what} out of range: "{self.raw}"', hint=hint)

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def digits(self, least: int = 1, most: int = 9) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos].isascii() and self.text[self.pos].isdigit():
            self.pos += 1
        run = self.text[start : self.pos]
        if not least <= len(run) <= most:
            raise self.fail()
        return run

    def spaces(self) -> None:
        while self.peek().isspace():
            self.pos += 1


def _date(scan: _Scan) -> int:
    """`YYYY-M-D` or `YYYYMMDD` -> day number."""
    run = scan.digits(4, 8)
    if scan.peek() == "-":
        scan.pos += 1
        month = scan.digits(1, 2)
        if scan.peek() != "-":
            raise scan.fail()
        scan.pos += 1
        year, day = int(run), int(scan.digits(1, 2))
        month_n = int(month)
    elif len(run) == 8:
        year, month_n, day = int(run[:4]), int(run[4:6]), int(run[6:])
    else:
        raise scan.fail()
    if not 1 <= month_n <= 12 or not 1 <= day <= 31:  # a month/day mix-up, PostgreSQL guesses
        raise scan.out_of_range(hint=_DATESTYLE)
    if year < 1 or day > _month_days(year, month_n):
        raise scan.out_of_range()
    return days_from_civil(year, month_n, day)


def _time(scan: _Scan) -> int:
    """`H:M[:S[.f]]` -> microseconds (rounded half to even, as PostgreSQL's rint)."""
    hour = int(scan.digits(1, 2))
    if scan.peek() != ":":
        raise scan.fail()
    scan.pos += 1
    minute, second, micros = int(scan.digits(1, 2)), 0, 0
    if scan.peek() == ":":
        scan.pos += 1
        second = int(scan.digits(1, 2))
        if scan.peek() == ".":
            scan.pos += 1
            micros = _fraction(scan.digits(0, 4096))
    if minute > 59 or second > 60 or hour > 24 or (hour == 24 and (minute or second or micros)):
        raise scan.out_of_range()
    return ((hour * 60 + minute) * 60 + second) * 1_000_000 + micros


def _fraction(digits: str) -> int:
    whole, rest = int((digits + "000000")[:6]), digits[6:].rstrip("0")
    if rest and (rest[0] > "5" or (rest[0] == "5" and (len(rest) > 1 or whole % 2 == 1))):
        whole += 1
    return whole


def _offset(scan: _Scan) -> int:
    """An optional zone after the time -> seconds east of UTC."""
    scan.spaces()
    sign = scan.peek()
    if sign not in ("+", "-"):
        word = scan.text[scan.pos :].lower()
        if word and word not in _UTC:
            raise scan.fail()
        scan.pos = len(scan.text)
        return 0
    scan.pos += 1
    run = scan.digits(1, 6)
    parts = [run] if len(run) <= 2 else [run[i : i + 2] for i in range(0, len(run), 2)]
    if len(run) > 2 and len(run) % 2:
        raise scan.fail()
    while scan.peek() == ":" and len(parts) < 3 and len(run) <= 2:
        scan.pos += 1
        parts.append(scan.digits(2, 2))
    if scan.peek():
        raise scan.fail()
    hours, minutes, seconds = (int(p) for p in [*parts, "0", "0"][:3])
    if minutes > 59 or seconds > 59:
        raise scan.out_of_range()
    total = hours * 3600 + minutes * 60 + seconds
    if total > MAX_OFFSET_S:
        raise scan.out_of_range("22009", "time zone displacement")
    return -total if sign == "-" else total


def _special(scan: _Scan) -> int | None:
    """-1 / 1 for -infinity / infinity, 0 for epoch, None for an ordinary value."""
    word = scan.text.lower()
    if word in ("infinity", "+infinity"):
        return 1
    if word == "-infinity":
        return -1
    if word == "epoch":
        return 0
    if word in _NOT_SUPPORTED:
        raise database_error("0A000", f'"{word}" as a {scan.type_name} is not supported on SQLite')
    return None


# A value: (rank, number): rank -1 / 1 for -infinity / infinity (number 0), 0 for a finite number.
Value = tuple[int, int]


def parse_date(text: str) -> Value:
    """A `date` (a time part is read and dropped, as PostgreSQL does) -> (rank, day number)."""
    scan = _Scan(text, "date")
    special = _special(scan)
    if special is not None:
        return (special, 0) if special else (0, 0)
    days = _date(scan)
    if scan.peek():
        _after_date(scan)
    if days > days_from_civil(MAX_DATE_YEAR, 12, 31):
        raise scan.out_of_range("22008", "date")
    return 0, days


def parse_timestamp(text: str, with_zone: bool) -> Value:
    """A `timestamp` (a zone given is ignored, as PostgreSQL does) or `timestamptz` (converted
    to UTC) -> (rank, microseconds since 1970-01-01)."""
    scan = _Scan(text, "timestamp with time zone" if with_zone else "timestamp")
    special = _special(scan)
    if special is not None:
        return (special, 0) if special else (0, 0)
    micros = _date(scan) * US_PER_DAY
    offset = _after_date(scan) if scan.peek() else (0, 0)
    micros += offset[0] - (offset[1] * 1_000_000 if with_zone else 0)
    if not _MIN_DAYS * US_PER_DAY <= micros < days_from_civil(MAX_TS_YEAR + 1, 1, 1) * US_PER_DAY:
        raise scan.out_of_range("22008", "timestamp")
    return 0, micros


def _after_date(scan: _Scan) -> tuple[int, int]:
    """`T` or spaces, a time, an optional zone -> (microseconds of the day, zone offset seconds)."""
    if scan.peek() in ("T", "t"):
        scan.pos += 1
    elif not scan.peek().isspace():
        raise scan.fail()
    scan.spaces()
    micros = _time(scan)
    return micros, _offset(scan)


def format_date(value: Value) -> str:
    rank, days = value
    if rank:
        return "infinity" if rank > 0 else "-infinity"
    year, month, day = civil_from_days(days)
    text = f"{_year(year)}-{month:02d}-{day:02d}"
    return text + " BC" if year <= 0 else text


def format_timestamp(value: Value, with_zone: bool) -> str:
    rank, micros = value
    if rank:
        return "infinity" if rank > 0 else "-infinity"
    days, in_day = divmod(micros, US_PER_DAY)
    year, month, day = civil_from_days(days)
    seconds, fraction = divmod(in_day, 1_000_000)
    clock = f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    if fraction:
        clock += f".{fraction:06d}".rstrip("0")
    text = f"{_year(year)}-{month:02d}-{day:02d} {clock}" + ("+00" if with_zone else "")
    return text + " BC" if year <= 0 else text


def _year(year: int) -> str:
    return f"{year if year > 0 else 1 - year:04d}"
