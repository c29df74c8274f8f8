"""The `select=` grammar: columns, aliases, casts, JSON paths, aggregates, embeds and spreads.

    item  := "*" | "..." name embed_params "(" items ")"
           | [alias ":"] name embed_params "(" items ")"
           | [alias ":"] "count()" ["::" cast]
           | [alias ":"] name json_path ["::" cast] ["." agg "()"] ["::" cast]
    items := [item ("," item)*]

Whitespace around tokens is ignored. Embeds recurse at most `max_depth` levels.
"""

from __future__ import annotations

from typing import Literal

from backstack.rest import errors
from backstack.rest.request.query import Embed, Field, SelectField, SelectItem, Star
from backstack.rest.request.scan import Cursor

_AGGREGATES = frozenset({"sum", "avg", "count", "max", "min"})
MAX_TARGET_LIST = 1664  # PostgreSQL's limit on one select list (54011); SQLite's parser gives up a little later
MAX_EMBEDS = 100  # each embed is a correlated subquery: hundreds take PostgreSQL seconds just to plan
_ITEM_END = ('","', '")"', "end of input")


def parse_select(raw: str, *, max_depth: int) -> tuple[SelectItem, ...]:
    """`*,name,books!inner(title,author:authors(*))` -> the select tree."""
    cur = Cursor(raw, "select parameter")
    items = _items(cur, depth=0, max_depth=max_depth)
    if not cur.at_end():
        cur.fail(*_ITEM_END)
    if _embeds(items) > MAX_EMBEDS:
        raise errors.too_many_embeds(MAX_EMBEDS)
    return items


def _embeds(items: tuple[SelectItem, ...]) -> int:
    return sum(1 + _embeds(item.items) for item in items if isinstance(item, Embed))


def _items(cur: Cursor, *, depth: int, max_depth: int) -> tuple[SelectItem, ...]:
    cur.skip_ws()
    if cur.at_end() or cur.peek() == ")":
        return ()
    items = [_item(cur, depth, max_depth)]
    while cur.take(","):
        items.append(_item(cur, depth, max_depth))
        if len(items) > MAX_TARGET_LIST:
            raise errors.target_list_too_long(MAX_TARGET_LIST)
    return tuple(items)


def _item(cur: Cursor, depth: int, max_depth: int) -> SelectItem:
    cur.skip_ws()
    if cur.take("..."):
        cur.skip_ws()
        item: SelectItem = _embed(cur, cur.name(), None, depth, max_depth, spread=True)
    elif cur.take("*"):
        item = Star()
    else:
        item = _named(cur, depth, max_depth)
    cur.skip_ws()
    if not (cur.at_end() or cur.peek() in (",", ")")):
        cur.fail(*_ITEM_END)
    return item


def _named(cur: Cursor, depth: int, max_depth: int) -> SelectItem:
    alias, name, quoted = _alias_and_name(cur)
    if not quoted and name == "count" and cur.take("()"):
        return SelectField(None, alias, aggregate="count", aggregate_cast=_cast(cur))
    if cur.peek() in ("!", "("):
        return _embed(cur, name, alias, depth, max_depth, spread=False)
    field = Field(name, cur.json_path())
    cur.skip_ws()
    cast = _cast(cur)
    aggregate = _aggregate(cur)
    aggregate_cast = _cast(cur) if aggregate else None
    return SelectField(field, alias, cast, aggregate, aggregate_cast)


def _alias_and_name(cur: Cursor) -> tuple[str | None, str, bool]:
    """`alias:name` or `name`; also says whether the name was quoted (`"count"` is a column)."""
    quoted = cur.peek() == '"'
    name = cur.name()
    cur.skip_ws()
    if cur.peek() != ":" or cur.startswith("::"):
        return None, name, quoted
    cur.pos += 1
    cur.skip_ws()
    quoted = cur.peek() == '"'
    target = cur.name()
    cur.skip_ws()
    return name, target, quoted


def _embed(cur: Cursor, name: str, alias: str | None, depth: int, max_depth: int, *, spread: bool) -> Embed:
    if depth + 1 > max_depth:
        raise errors.too_deep(max_depth)
    hint, join = _embed_params(cur)
    cur.skip_ws()
    cur.expect("(", '"!"')
    items = _items(cur, depth=depth + 1, max_depth=max_depth)
    cur.skip_ws()
    cur.expect(")", '","')
    return Embed(name, items, alias, hint, join, spread)


def _embed_params(cur: Cursor) -> tuple[str | None, Literal["left", "inner"]]:
    """Up to two `!param`s: `left`/`inner` pick the join, anything else is the hint."""
    hint: str | None = None
    join: Literal["left", "inner"] | None = None
    for _ in range(2):
        cur.skip_ws()
        if not cur.take("!"):
            break
        param = cur.name()
        if param in ("left", "inner"):
            join = join or ("inner" if param == "inner" else "left")
        else:
            hint = hint or param
    return hint, join or "left"


def _cast(cur: Cursor) -> str | None:
    if not cur.take("::"):
        return None
    cur.skip_ws()
    cast = cur.identifier("cast type (letters, digits, _ or space)")
    cur.skip_ws()
    return cast


def _aggregate(cur: Cursor) -> str | None:
    """`.sum()`, `.avg()`, `.count()`, `.max()`, `.min()` after a column."""
    if not cur.take("."):
        return None
    start = cur.pos
    name = cur.word()
    if name not in _AGGREGATES:
        cur.pos = start
        cur.fail('"sum"', '"avg"', '"count"', '"max"', '"min"')
    cur.expect("()")
    cur.skip_ws()
    return name
