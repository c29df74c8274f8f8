"""Horizontal filters: `col=[not.]op.value`, filter keys `rel.col->k`, and `or=(...)` logic trees.

A filter value at the top level runs to the end of the parameter (`eq.a,b` compares with "a,b");
inside a logic tree it stops at `,` or `)` unless double-quoted (`name.eq."a,b"`), or is a
`{...}` array literal. Every leaf spends one term of the request's `TermBudget`, and trees
check their depth before descending, so hostile inputs fail fast without deep recursion.
"""

from __future__ import annotations

import re
from typing import Literal

from backstack.core.errors import ApiError
from backstack.rest import errors
from backstack.rest.request.query import (
    Condition,
    EmbedNullFilter,
    EmbedPath,
    Field,
    Filter,
    Logic,
    Operator,
)
from backstack.rest.request.scan import FIELD_NAME, Cursor

OPERATORS: dict[str, Operator] = {
    op: op
    for op in (
        "eq", "neq", "gt", "gte", "lt", "lte", "like", "ilike", "match", "imatch", "in", "is",
        "isdistinct", "fts", "plfts", "phfts", "wfts", "cs", "cd", "ov", "sl", "sr", "nxr", "nxl", "adj",
    )
}  # fmt: skip
_QUANTIFIABLE = frozenset({"eq", "gt", "gte", "lt", "lte", "like", "ilike", "match", "imatch"})
_FTS = frozenset({"fts", "plfts", "phfts", "wfts"})
_IS_VALUES = frozenset({"null", "not_null", "true", "false", "unknown"})
_OPERATOR_LABEL = "operator (eq, gt, ...)"
_TREE_RAW = re.compile(r"[^,)]*")
_ARRAY_RAW = re.compile(r"[^,{}\"]*")
_GROUP_START = re.compile(r"(not\.)?(and|or)[ \t]*\(")


class TermBudget:
    """How many more filter terms this request may carry (PGRST100 once spent)."""

    __slots__ = ("left", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.left = limit

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise errors.too_many_terms(self.limit)


# ---------------------------------------------------------------- top-level filters


def parse_filter_key(key: str) -> tuple[EmbedPath, Field]:
    """`rel.sub.col->k` -> (("rel", "sub"), Field("col", ...)); `"my.col"` is one column."""
    cur = Cursor(key, "tree path")
    names = [cur.name()]
    while cur.take("."):
        names.append(cur.name())
    path = cur.json_path()
    cur.skip_ws()
    if not cur.at_end():
        cur.fail('"."', '"->"', "end of input")
    return tuple(names[:-1]), Field(names[-1], path)


def parse_filter(field: Field, value: str) -> Filter:
    """The value side of `col=value`: `[not.]op[(any|all)|(config)].value`."""
    cur = Cursor(value, "filter")
    flt = _op_expr(cur, field, in_tree=False)
    cur.skip_ws()
    if not cur.at_end():
        cur.fail("end of input")
    return flt


def as_condition(flt: Filter, embeds: frozenset[str]) -> Condition:
    """`rel=is.null` / `rel=not.is.null` on a selected embed becomes an `EmbedNullFilter`."""
    field = flt.field
    if flt.operator == "is" and flt.value == "null" and not field.path and field.name in embeds:
        return EmbedNullFilter(field.name, is_null=not flt.negated)
    return flt


# ---------------------------------------------------------------- logic trees


def parse_logic(
    operator: Literal["and", "or"],
    negated: bool,
    value: str,
    *,
    embeds: frozenset[str],
    budget: TermBudget,
    max_depth: int,
) -> Logic:
    """`or=(a.eq.1,and(b.gt.2,c.lt.3))` -> a `Logic` tree; `value` is the `(...)` part."""
    prefix = ("not." if negated else "") + operator
    cur = Cursor(value, "logic tree", shift=len(prefix))
    tree = _Tree(cur, embeds, budget, max_depth)
    logic = tree.group(operator, negated, depth=1)
    if not cur.at_end():
        cur.fail("end of input")
    return logic


class _Tree:
    """One logic tree being read; `group` recurses at most `max_depth` times."""

    __slots__ = ("budget", "cur", "embeds", "max_depth")

    def __init__(self, cur: Cursor, embeds: frozenset[str], budget: TermBudget, max_depth: int) -> None:
        self.cur = cur
        self.embeds = embeds
        self.budget = budget
        self.max_depth = max_depth

    def group(self, operator: Literal["and", "or"], negated: bool, depth: int) -> Logic:
        if depth > self.max_depth:
            raise errors.too_deep(self.max_depth)
        cur = self.cur
        cur.skip_ws()
        cur.expect("(")
        conditions = [self.condition(depth)]
        while cur.take(","):
            conditions.append(self.condition(depth))
        cur.expect(")", '","')
        cur.skip_ws()
        return Logic(operator, tuple(conditions), negated)

    def condition(self, depth: int) -> Condition:
        cur = self.cur
        cur.skip_ws()
        start = _GROUP_START.match(cur.text, cur.pos)
        if start:
            cur.pos = start.end() - 1
            operator: Literal["and", "or"] = "and" if start.group(2) == "and" else "or"
            return self.group(operator, bool(start.group(1)), depth + 1)
        if cur.at_end() or cur.peek() in ",)":
            cur.fail(FIELD_NAME, "negation operator (not)", "logic operator (and, or)")
        return self.leaf()

    def leaf(self) -> Condition:
        cur = self.cur
        field = Field(cur.name(), cur.json_path())
        cur.skip_ws()
        cur.expect(".", '"->"')
        if not field.path:
            _reject_embedded_column(cur, field.name)
        flt = _op_expr(cur, field, in_tree=True)
        cur.skip_ws()
        self.budget.spend()
        return as_condition(flt, self.embeds)


def _reject_embedded_column(cur: Cursor, name: str) -> None:
    """`rel.col.eq.x` inside or=(): PostgREST has no such syntax; say what to use instead."""
    start = cur.pos
    if _at_operator(cur):
        return
    try:
        column = cur.name()
        cur.json_path()
        nested = cur.take(".") and _at_operator(cur)
    except ApiError:
        nested = False
    cur.pos = start
    if not nested:
        return
    raise errors.parse_error(
        cur.what,
        cur.text,
        f'"{name}.{column}" looks like a column of the embedded resource "{name}"; inside or=/and= '
        f"only columns of the filtered resource are allowed: use {name}.or=(...) to filter the embed, "
        f"or {name}.not.is.null in the tree to test whether it matched",
        column=start + 1 + cur.shift,
    )


def _at_operator(cur: Cursor) -> bool:
    """Whether `not.`, or an operator followed by `.` or `(`, comes next (the cursor stays)."""
    start = cur.pos
    word = cur.word()
    follows = cur.peek()
    cur.pos = start
    return (word in OPERATORS or word == "not") and follows in (".", "(")


# ---------------------------------------------------------------- operator expressions


def _op_expr(cur: Cursor, field: Field, *, in_tree: bool) -> Filter:
    negated = cur.take("not.")
    start = cur.pos
    word = cur.word()
    op = OPERATORS.get(word)
    if op is None:
        cur.pos = start
        if negated:
            cur.fail(_OPERATOR_LABEL)
        cur.fail('"not"', _OPERATOR_LABEL)
    if op == "in":
        cur.expect(".")
        return Filter(field, op, _list(cur), negated)
    if op == "is":
        cur.expect(".")
        return Filter(field, op, _is_value(cur, in_tree), negated)
    if op in _FTS and cur.take("("):
        config = cur.identifier("fts configuration")
        cur.expect(")")
        cur.expect(".")
        return Filter(field, op, _single(cur, in_tree), negated, fts_config=config)
    if op in _QUANTIFIABLE and cur.peek() == "(":
        quantifier = _quantifier(cur)
        cur.expect(".")
        return Filter(field, op, _array(cur), negated, quantifier=quantifier)
    cur.expect(".")
    return Filter(field, op, _single(cur, in_tree), negated)


def _quantifier(cur: Cursor) -> Literal["any", "all"]:
    cur.expect("(")
    word = cur.word()
    if word not in ("any", "all"):
        cur.pos -= len(word)
        cur.fail('"any"', '"all"')
    cur.expect(")")
    return "any" if word == "any" else "all"


def _single(cur: Cursor, in_tree: bool) -> str:
    """A plain value: the rest of the parameter, or inside a tree up to `,`/`)`."""
    if not in_tree:
        value = cur.text[cur.pos :]
        cur.pos = len(cur.text)
        return value
    if cur.peek() == '"':
        start = cur.pos
        value = cur.quoted()
        if cur.at_end() or cur.peek() in ",)":
            return value
        cur.pos = start
    elif cur.peek() == "{":
        end = cur.text.find("}", cur.pos)
        inner_open = cur.text.find("{", cur.pos + 1, end) if end >= 0 else -1
        if end >= 0 and inner_open < 0:
            value = cur.text[cur.pos : end + 1]
            cur.pos = end + 1
            return value
    return _raw(cur)


def _raw(cur: Cursor) -> str:
    match = _TREE_RAW.match(cur.text, cur.pos)
    assert match is not None
    cur.pos = match.end()
    return match.group()


def _is_value(cur: Cursor, in_tree: bool) -> str:
    start = cur.pos
    value = (_raw(cur) if in_tree else _single(cur, in_tree=False)).lower()
    if value not in _IS_VALUES:
        cur.pos = start
        cur.fail('"null"', '"not_null"', '"true"', '"false"', '"unknown"')
    return value


def _list(cur: Cursor) -> tuple[str, ...]:
    """`(a,"b,c",null)`: quotes protect `,` and `)`; `()` is the empty list."""
    cur.skip_ws()
    cur.expect("(")
    cur.skip_ws()
    if cur.take(")"):
        cur.skip_ws()
        return ()
    items = [_list_item(cur)]
    while cur.take(","):
        items.append(_list_item(cur))
    cur.expect(")", '","')
    cur.skip_ws()
    return tuple(items)


def _list_item(cur: Cursor) -> str:
    if cur.peek() == '"':
        start = cur.pos
        value = cur.quoted()
        if cur.peek() in (",", ")"):
            return value
        cur.pos = start
    return _raw(cur)


def _array(cur: Cursor) -> tuple[str, ...]:
    """A PostgreSQL array literal `{a,"b c",NULL}` (as `like(any).{a*,b*}` takes) -> its elements."""
    cur.expect("{")
    if cur.take("}"):
        return ()
    items = [_array_item(cur)]
    while cur.take(","):
        items.append(_array_item(cur))
    cur.expect("}", '","')
    return tuple(items)


def _array_item(cur: Cursor) -> str:
    cur.skip_ws()
    if cur.peek() == '"':
        value = cur.quoted()
        cur.skip_ws()
        return value
    match = _ARRAY_RAW.match(cur.text, cur.pos)
    assert match is not None
    cur.pos = match.end()
    if cur.peek() in ("{", '"'):
        cur.fail('","', '"}"')
    return match.group().strip()
