"""The typed form of a data API request, produced by `request.parse` and consumed by `plan.resolve`.

Names here are unresolved: nothing is checked against the schema until planning. An embed path
is the tuple of embed names (their alias when aliased) from the root, e.g. `("books", "reviews")`;
the root resource is `()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

Arrow = Literal["->", "->>"]
EmbedPath = tuple[str, ...]


@dataclass(frozen=True, slots=True)
class JsonStep:
    """One `->key` / `->>key` step; `key` is an int for array indexes (`->0`)."""

    arrow: Arrow
    key: str | int


@dataclass(frozen=True, slots=True)
class Field:
    """A column reference, optionally followed by a JSON path: `data->a->>b`."""

    name: str
    path: tuple[JsonStep, ...] = ()

    @property
    def output_name(self) -> str:
        """The key PostgREST gives this field in the output: the last path key, else the column."""
        return str(self.path[-1].key) if self.path else self.name


# ---------------------------------------------------------------- select


@dataclass(frozen=True, slots=True)
class Star:
    """`*`: every column of the resource."""


@dataclass(frozen=True, slots=True)
class SelectField:
    """`alias:col->path::cast` or an aggregate `col.sum()` / `count()` (field None for bare count())."""

    field: Field | None
    alias: str | None = None
    cast: str | None = None
    aggregate: str | None = None  # sum, avg, max, min, count
    aggregate_cast: str | None = None  # `col.sum()::int`


@dataclass(frozen=True, slots=True)
class Embed:
    """`alias:rel!hint!inner(items)`, or a spread `...rel(items)`."""

    name: str
    items: tuple[SelectItem, ...]
    alias: str | None = None
    hint: str | None = None
    join: Literal["left", "inner"] = "left"
    spread: bool = False

    @property
    def key(self) -> str:
        """The name that addresses this embed in filters (`books.title=...`) and in the output."""
        return self.alias or self.name


SelectItem = Star | SelectField | Embed


# ---------------------------------------------------------------- filters

Operator = Literal[
    "eq",
    "neq",
    "gt",
    "gte",
    "lt",
    "lte",
    "like",
    "ilike",
    "match",
    "imatch",
    "in",
    "is",
    "isdistinct",
    "fts",
    "plfts",
    "phfts",
    "wfts",
    "cs",
    "cd",
    "ov",
    "sl",
    "sr",
    "nxr",
    "nxl",
    "adj",
]


@dataclass(frozen=True, slots=True)
class Placeholder:
    """A filter's value taken out of the request's shape: the `index`-th value of the request.

    The statement cache compiles a shape once (`rest.sql.statement_cache.shape_of`); the compilers turn
    a placeholder into a parameter converted at run time (`rest.sql.statement.Binding.bind`). It stands for a
    non-empty value and refuses every other use, so a compiler that would branch on the value
    fails loudly instead of caching SQL that holds for one value only.
    """

    index: int

    def __str__(self) -> str:
        raise TypeError("a Placeholder has no value at compile time")

    def __iter__(self) -> Iterator[str]:
        raise TypeError("a Placeholder has no value at compile time")


@dataclass(frozen=True, slots=True)
class Filter:
    """`field=[not.]op[(any|all)][(config)].value`.

    `value` is the raw text after the operator, with these decoded forms:
    - `in`: a tuple of strings (quotes and escapes removed); `null` stays the string "null".
    - `any`/`all` quantifier: a tuple of strings from the `{a,b}` list.
    - `is`: one of "null", "not_null", "true", "false", "unknown" (lower-cased).
    - `cs`/`cd`/`ov`: the raw literal text (`{a,b}`, `[1,5)` or JSON), decoded by the planner per column type.
    - everything else: the string as sent (`*` in like/ilike is left for the planner to turn into `%`).
    """

    field: Field
    operator: Operator
    value: str | tuple[str, ...] | Placeholder
    negated: bool = False
    quantifier: Literal["any", "all"] | None = None
    fts_config: str | None = None


@dataclass(frozen=True, slots=True)
class Logic:
    """`or=(...)`, `and=(...)`, `not.or=(...)` and nested `and(...)` inside them."""

    operator: Literal["and", "or"]
    conditions: tuple[Condition, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class EmbedNullFilter:
    """`rel=is.null` / `rel=not.is.null`: keep parents whose embed is (not) empty."""

    embed: str
    is_null: bool


Condition = Filter | Logic | EmbedNullFilter


# ---------------------------------------------------------------- order


@dataclass(frozen=True, slots=True)
class OrderTerm:
    """`col.desc.nullslast`, or `rel(col).asc` to order by a to-one embed's column."""

    field: Field
    descending: bool = False
    nulls: Literal["first", "last"] | None = None
    relation: str | None = None


# ---------------------------------------------------------------- whole request


@dataclass(slots=True)
class ReadQuery:
    """Everything that shapes the rows: select tree, filters, order and paging per embed path."""

    select: tuple[SelectItem, ...] = (Star(),)
    where: dict[EmbedPath, list[Condition]] = field(default_factory=dict)
    order: dict[EmbedPath, tuple[OrderTerm, ...]] = field(default_factory=dict)
    limit: dict[EmbedPath, int] = field(default_factory=dict)
    offset: dict[EmbedPath, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Preferences:
    """The `Prefer` header, parsed (last token wins; unknown tokens kept for handling=strict)."""

    return_: Literal["minimal", "headers-only", "representation"] | None = None
    count: Literal["exact", "planned", "estimated"] | None = None
    resolution: Literal["merge-duplicates", "ignore-duplicates"] | None = None
    missing: Literal["default", "null"] | None = None
    tx: Literal["commit", "rollback"] | None = None
    handling: Literal["strict", "lenient"] | None = None
    max_affected: int | None = None
    timezone: str | None = None
    params: str | None = None
    invalid: tuple[str, ...] = ()

    def applied(self) -> str:
        """The `Preference-Applied` header value for the preferences we honour."""
        parts = []
        if self.return_:
            parts.append(f"return={self.return_}")
        if self.count:
            parts.append(f"count={self.count}")
        if self.resolution:
            parts.append(f"resolution={self.resolution}")
        if self.missing:
            parts.append(f"missing={self.missing}")
        if self.tx:
            parts.append(f"tx={self.tx}")
        if self.handling:
            parts.append(f"handling={self.handling}")
        if self.max_affected is not None:
            parts.append(f"max-affected={self.max_affected}")
        return ", ".join(parts)


MediaType = Literal["json", "object", "csv", "openapi"]


@dataclass(frozen=True, slots=True)
class Accept:
    """What the client asked back: a JSON array, a single object (`.single()`), or CSV."""

    media: MediaType = "json"
    strip_nulls: bool = False


@dataclass(frozen=True, slots=True)
class Range:
    """A `Range: a-b` header (items); `last` None for an open range `a-`."""

    first: int
    last: int | None
