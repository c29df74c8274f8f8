"""Filter values as text -> what SQLite should compare, parsed the way PostgreSQL parses its input.

PostgreSQL parses `id=eq.abc` when it casts the text to the column type and answers 22P02; SQLite
would silently compare an integer column with a string. These parsers accept what PostgreSQL's
input functions accept (whitespace, signs, `t`/`yes`/`on` for booleans, any UUID spelling) and raise
PostgreSQL's error otherwise. Also here: LIKE pattern translation and PostgreSQL array literals.
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from backstack.core import json
from backstack.db.pgtypes.names import type_kind
from backstack.rest import errors

if TYPE_CHECKING:
    from backstack.db.schema.model import Column, Table, TypeKind

_INT = re.compile(r"^\s*[+-]?\d+\s*$")
_NUMBER = re.compile(r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$")  # no overlapping runs: linear
_SPECIAL_FLOATS = {
    "nan": float("nan"),
    "infinity": float("inf"),
    "+infinity": float("inf"),
    "-infinity": float("-inf"),
    "inf": float("inf"),
    "+inf": float("inf"),
    "-inf": float("-inf"),
}
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")
_INT_RANGES = {"smallint": 2**15, "integer": 2**31, "bigint": 2**63}
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def coerce(column: Column, raw: str, kind: TypeKind | None = None) -> Any:
    """`raw` as the Python value SQLite should compare with `column` (or one of its elements)."""
    return parser(column, kind)(raw)


def parser(column: Column, kind: TypeKind | None = None) -> Callable[[str], Any]:
    """`coerce` for `column` (its elements, of `kind`) with the type resolved once: compiled statements
    keep it for their run-time values, so a request pays for parsing its value only."""
    kind = kind or column.kind
    return _parser(column.type, kind, kind != column.kind)


@functools.lru_cache(maxsize=1024)
def _parser(type_name: str, kind: TypeKind, element: bool) -> Callable[[str], Any]:
    name = re.sub(r"\(.*?\)", "", type_name).strip()
    if element:
        name = name.removesuffix("[]")
    if kind == "int":
        int_type = name if name in _INT_RANGES else "integer"
        return lambda raw: _int(raw, int_type)
    if kind in ("float", "numeric"):
        number_type = (
            name
            if kind == "float" and name in ("real", "double precision")
            else ("double precision" if kind == "float" else "numeric")
        )
        return lambda raw: _number(raw, number_type)
    if kind == "bool":
        return _bool
    if kind == "uuid":
        return _uuid
    return _as_is


def _as_is(raw: str) -> str:
    return raw


def _int(raw: str, type_name: str) -> int:
    if not (raw.isascii() and raw.isdigit()) and not _INT.match(raw):  # plain digits need no pattern
        raise errors.invalid_text_representation(type_name, raw)
    value = int(raw)
    bound = _INT_RANGES[type_name]
    if not -bound <= value < bound:
        raise errors.out_of_range(type_name, raw)
    return value


def _number(raw: str, type_name: str) -> int | float:
    special = _SPECIAL_FLOATS.get(raw.strip().lower())
    if special is not None:
        return special
    if not _NUMBER.match(raw):
        raise errors.invalid_text_representation(type_name, raw)
    if _INT.match(raw) and type_name == "numeric":
        return int(raw)
    return float(raw)


def _uuid(raw: str) -> str:
    if _CANONICAL_UUID.fullmatch(raw):  # already the spelling `str(UUID)` gives
        return raw
    try:
        return str(uuid.UUID(raw.strip()))
    except ValueError:
        raise errors.invalid_text_representation("uuid", raw) from None


def _bool(raw: str) -> int:
    """PostgreSQL's boolin: the words, `1`/`0`, and unambiguous prefixes, case-insensitive."""
    word = raw.strip().lower()
    if word:
        if any(w.startswith(word) for w in _TRUE) and word not in ("o",):
            return 1
        if any(w.startswith(word) for w in _FALSE) and word not in ("o",):
            return 0
    raise errors.invalid_text_representation("boolean", raw)


_BODY_CHECKED = frozenset({"int", "float", "numeric", "bool", "uuid"})


def check_body_values(table: Table, rows: list[dict[str, Any]], columns: tuple[str, ...]) -> None:
    """SQLite: refuse the body values PostgreSQL's `json_populate_record` refuses (22P02 / 22003).

    SQLite's columns take any value, so without this `{"priority": "high"}` would be stored in an
    integer column. A JSON scalar is checked as the text PostgreSQL would parse (`true`, `1.5`);
    objects and arrays never fit these kinds. Other kinds (text, json, dates) are stored as sent,
    except that a string holding NUL is refused in any column, as PostgreSQL's text cannot hold it.
    """
    written = [table.columns[name] for name in columns if name in table.columns]
    for row in rows:
        for column in written:
            value = row.get(column.name)
            if isinstance(value, str) and "\x00" in value:
                raise errors.nul_in_text()
            if value is None or column.kind not in _BODY_CHECKED:
                continue
            if isinstance(value, bool):
                text = "true" if value else "false"
            elif isinstance(value, dict | list):
                text = json.dumps_str(value)  # never parses as these kinds: 22P02 naming the JSON
            else:
                text = str(value)
            coerce(column, text)


def element_kind(type_name: str) -> TypeKind:
    """The kind of the elements of an array type (`integer[]` -> int)."""
    return type_kind(type_name.strip().removesuffix("[]").removesuffix("[]"))


# ---------------------------------------------------------------- LIKE


def like_pattern(value: str) -> str:
    """PostgREST's `*` wildcard alias -> `%`."""
    return value.replace("*", "%")


def like_to_glob(pattern: str) -> str:
    """A LIKE pattern (`%`, `_`, backslash escapes) as a GLOB: case-sensitive matching on SQLite."""
    out: list[str] = []
    chars = iter(pattern)
    for ch in chars:
        if ch == "\\":
            out.append(_glob_literal(next(chars, "\\")))
        elif ch == "%":
            out.append("*")
        elif ch == "_":
            out.append("?")
        else:
            out.append(_glob_literal(ch))
    return "".join(out)


def _glob_literal(ch: str) -> str:
    return f"[{ch}]" if ch in "*?[" else ch


# ---------------------------------------------------------------- array literals


def parse_array_literal(text: str) -> list[str | None]:
    """`{a,"b c",NULL}` -> ["a", "b c", None] (one dimension; quotes and backslash escapes)."""
    body = text.strip()
    if not (body.startswith("{") and body.endswith("}")):
        raise errors.malformed_array(text)
    body = body[1:-1]
    items: list[str | None] = []
    if not body.strip():
        return items
    i, n = 0, len(body)
    while i <= n:
        item, i, quoted = _array_item(body, i, text)
        items.append(None if not quoted and item.upper() == "NULL" else item)
        if i < n and body[i] != ",":
            raise errors.malformed_array(text)
        i += 1
    return items


def _array_item(body: str, i: int, text: str) -> tuple[str, int, bool]:
    while i < len(body) and body[i].isspace():
        i += 1
    if i < len(body) and body[i] == '"':
        out: list[str] = []
        i += 1
        while i < len(body) and body[i] != '"':
            if body[i] == "\\":
                i += 1
            if i < len(body):
                out.append(body[i])
            i += 1
        if i >= len(body):
            raise errors.malformed_array(text)
        i += 1
        while i < len(body) and body[i].isspace():
            i += 1
        return "".join(out), i, True
    end = i
    while end < len(body) and body[end] != ",":
        if body[end] in '{}"':
            raise errors.malformed_array(text)
        end += 1
    return body[i:end].strip(), end, False
