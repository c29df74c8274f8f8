"""The `order=` grammar: `col.desc.nullslast,data->>k,rel(col).asc`.

term := (name "(" field ")" | field) ["." ("asc" | "desc")] ["." ("nullsfirst" | "nullslast")]
"""

from __future__ import annotations

from typing import Literal

from backstack.rest import errors
from backstack.rest.request.query import Field, OrderTerm
from backstack.rest.request.scan import Cursor

_DIRECTIONS: tuple[str, ...] = ('"asc"', '"desc"', '"nullsfirst"', '"nullslast"')
_NULLS: tuple[str, ...] = ('"nullsfirst"', '"nullslast"')
MAX_TERMS = 1664  # as many as a select list may hold; SQLite refuses more than 2000 (a 500 otherwise)


def parse_order(raw: str) -> tuple[OrderTerm, ...]:
    """Every comma-separated term, in order (the clients merge repeated `.order()` calls)."""
    cur = Cursor(raw, "order")
    terms = [_term(cur)]
    while cur.take(","):
        terms.append(_term(cur))
        if len(terms) > MAX_TERMS:
            raise errors.statement_too_complex(f"order= has more than {MAX_TERMS} terms")
    if not cur.at_end():
        cur.fail('","', "end of input")
    return tuple(terms)


def _term(cur: Cursor) -> OrderTerm:
    cur.skip_ws()
    name = cur.name()
    relation: str | None = None
    cur.skip_ws()
    if cur.take("("):
        cur.skip_ws()
        relation, name = name, cur.name()
        field = Field(name, cur.json_path())
        cur.skip_ws()
        cur.expect(")", '"->"')
    else:
        field = Field(name, cur.json_path())
    descending, nulls = _modifiers(cur)
    cur.skip_ws()
    return OrderTerm(field, descending, nulls, relation)


def _modifiers(cur: Cursor) -> tuple[bool, Literal["first", "last"] | None]:
    """`.asc`/`.desc` then `.nullsfirst`/`.nullslast`, each optional, in that order."""
    descending = False
    nulls: Literal["first", "last"] | None = None
    expecting = _DIRECTIONS
    while cur.take("."):
        start = cur.pos
        word = cur.word()
        if expecting is _DIRECTIONS and word in ("asc", "desc"):
            descending, expecting = word == "desc", _NULLS
        elif word in ("nullsfirst", "nullslast"):
            nulls, expecting = ("first" if word == "nullsfirst" else "last"), ()
        else:
            cur.pos = start
            cur.fail(*expecting)
        if not expecting:
            break
    cur.skip_ws()
    if not (cur.at_end() or cur.peek() == ","):
        cur.fail('"."', '","', "end of input")
    return descending, nulls
