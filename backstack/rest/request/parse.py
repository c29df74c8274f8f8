"""Query string and headers -> the request AST of `request/query.py`; pure, no schema, no I/O.

This module sorts parameters the way PostgREST does: `select`, `columns` and `on_conflict` are
reserved; a key whose last dot-separated segment is `order`, `limit`, `offset`, `and` or `or`
applies to the embed named by the segments before it; every other key is a filter, its last
segment the column and the others the embed path (`books.title=eq.x`; quote a column whose
name holds a dot: `"my.col"=eq.1`). The grammars themselves live in `select.py`,
`filter.py`, `order.py` and `headers.py`.

Embed paths are checked against `select` here (PGRST108), since that needs no schema, and
`rel=is.null` on a selected embed becomes an `EmbedNullFilter`.
"""

from __future__ import annotations

import re
from functools import lru_cache

from backstack.rest import errors
from backstack.rest.request.filter import TermBudget, as_condition, parse_filter, parse_filter_key, parse_logic
from backstack.rest.request.headers import parse_accept, parse_prefer, parse_range, to_int
from backstack.rest.request.order import parse_order
from backstack.rest.request.query import Embed, EmbedPath, ReadQuery, SelectItem, Star
from backstack.rest.request.scan import Cursor
from backstack.rest.request.select import parse_select

__all__ = [
    "parse_accept",
    "parse_columns",
    "parse_limit",
    "parse_on_conflict",
    "parse_prefer",
    "parse_range",
    "parse_read",
]

_RESERVED = frozenset({"select", "columns", "on_conflict"})


# Memos of pure parsers for the parts of a query string that repeat from request to request while
# the filter values change (`select=...`, `id=`): a request reading one row of 100,000 by id parses
# its select list and filter key once, not per request. Results are immutable; errors are not kept.
@lru_cache(maxsize=1024)
def _select(raw: str, max_depth: int) -> tuple[SelectItem, ...]:
    return parse_select(raw, max_depth=max_depth)


_filter_key = lru_cache(maxsize=1024)(parse_filter_key)
_DIGITS = re.compile(r"[0-9]+")


def parse_read(params: list[tuple[str, str]], *, max_terms: int, max_depth: int) -> ReadQuery:
    """Every parameter of a data API request, in order (repeated filters are ANDed).

    Parameters with an empty value are ignored, except `select=` (an empty select).
    RPC argument parameters must be removed by the caller first.
    """
    raw_select = next((value for key, value in params if key == "select"), None)
    select = (Star(),) if raw_select is None else _select(raw_select, max_depth)
    reader = _Reader(ReadQuery(select=select), TermBudget(max_terms), max_depth)
    for key, value in params:
        if value and key not in _RESERVED:
            reader.add(key, value)
    return reader.query


def parse_columns(value: str) -> tuple[str, ...]:
    """`columns="id","name"` (or bare names) -> ("id", "name"), first occurrence kept."""
    return _names(value, "columns parameter")


def parse_on_conflict(value: str) -> tuple[str, ...]:
    """`on_conflict=a,b` (or quoted names) -> ("a", "b")."""
    return _names(value, "on_conflict parameter")


def parse_limit(kind: str, raw: str) -> int:
    """A `limit`/`offset` value: digits only; negative limit 416, negative offset 400."""
    text = raw.strip()
    if _DIGITS.fullmatch(text):
        return to_int(text)
    if text.startswith("-") and _DIGITS.fullmatch(text[1:]):
        raise errors.negative_limit() if kind == "limit" else errors.negative_offset()
    cur = Cursor(raw, f"{kind} parameter")
    cur.skip_ws()
    while cur.peek().isascii() and cur.peek().isdigit():
        cur.pos += 1
    cur.fail("digit")


class _Reader:
    """Files each parameter into the `ReadQuery` under construction."""

    __slots__ = ("budget", "embeds", "max_depth", "query")

    def __init__(self, query: ReadQuery, budget: TermBudget, max_depth: int) -> None:
        self.query = query
        self.budget = budget
        self.max_depth = max_depth
        self.embeds = _EmbedIndex(query.select)

    def add(self, key: str, value: str) -> None:
        head, _, last = key.rpartition(".")
        if last == "order":
            self.query.order[self.embeds.resolve(_path(head))] = parse_order(value)
        elif last in ("limit", "offset"):
            target = self.query.limit if last == "limit" else self.query.offset
            target[self.embeds.resolve(_path(head))] = parse_limit(last, value)
        elif last in ("and", "or"):
            self._logic(head, "and" if last == "and" else "or", value)
        else:
            self._filter(key, value)

    def _logic(self, head: str, operator: str, value: str) -> None:
        segments = _segments(head)
        path = self.embeds.resolve(tuple(name for name in segments if name != "not"))
        logic = parse_logic(
            "and" if operator == "and" else "or",
            "not" in segments,
            value,
            embeds=self.embeds.keys(path),
            budget=self.budget,
            max_depth=self.max_depth,
        )
        self.query.where.setdefault(path, []).append(logic)

    def _filter(self, key: str, value: str) -> None:
        path, field = _filter_key(key)
        path = self.embeds.resolve(path)
        flt = parse_filter(field, value)
        self.budget.spend()
        self.query.where.setdefault(path, []).append(as_condition(flt, self.embeds.keys(path)))


class _EmbedIndex:
    """The embeds of `select` by path, to check paths and spot `rel=is.null`."""

    __slots__ = ("_levels",)

    def __init__(self, select: tuple[SelectItem, ...]) -> None:
        self._levels: dict[EmbedPath, tuple[Embed, ...]] = {(): _embeds_of(select)}

    def keys(self, path: EmbedPath) -> frozenset[str]:
        """The names that address embeds directly under `path`."""
        return frozenset(embed.key for embed in self._levels[path])

    def resolve(self, path: EmbedPath) -> EmbedPath:
        """`path` itself, once each step is known to be a selected embed (else PGRST108)."""
        for depth in range(1, len(path) + 1):
            if path[:depth] not in self._levels:
                parent = self._levels[path[: depth - 1]]
                self._levels[path[:depth]] = _embeds_of(_child(parent, path[depth - 1]).items)
        return path


def _child(embeds: tuple[Embed, ...], key: str) -> Embed:
    for embed in embeds:
        if embed.key == key:
            return embed
    aliased = next((embed.alias for embed in embeds if embed.name == key and embed.alias), None)
    raise errors.not_embedded(key, aliased_as=aliased)


def _embeds_of(items: tuple[SelectItem, ...]) -> tuple[Embed, ...]:
    return tuple(item for item in items if isinstance(item, Embed))


def _path(head: str) -> EmbedPath:
    return tuple(_segments(head))


def _segments(head: str) -> list[str]:
    """`books."a.b".sub` -> ["books", "a.b", "sub"]; "" -> []."""
    if not head:
        return []
    cur = Cursor(head, "tree path")
    names = [cur.name()]
    while cur.take("."):
        names.append(cur.name())
    if not cur.at_end():
        cur.fail('"."', "end of input")
    return names


def _names(value: str, what: str) -> tuple[str, ...]:
    cur = Cursor(value, what)
    names: list[str] = []
    while True:
        cur.skip_ws()
        names.append(cur.name())
        cur.skip_ws()
        if not cur.take(","):
            break
    if not cur.at_end():
        cur.fail('","', "end of input")
    return tuple(dict.fromkeys(names))
