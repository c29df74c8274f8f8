"""Resolve a request AST (`rest.request.query`) against the schema: the tree of tables the SQL is built from.

Every name is checked here, so the SQL builders never see an unknown table, column, relationship,
cast or FTS configuration: unknown table -> PGRST205, unknown column -> 42703 (`column t.c does not
exist`, PostgREST <= 13), bad embed -> PGRST200/201, filters or orders on an embed that is not
selected -> PGRST108, related order on a to-many embed -> PGRST118, aggregates -> PGRST123.

The result is a `Node` tree: the root table, then one child per embed, each with its resolved
output fields, conditions, order and paging. SQL aliases (`t0`, `t1`, ...) are assigned here so
that conditions and orders can point at any node of the tree.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from backstack.rest import errors
from backstack.rest.plan.relationships import Relationship, find_relationship
from backstack.rest.request.query import (
    Embed,
    EmbedNullFilter,
    Filter,
    Logic,
    SelectField,
    Star,
)

if TYPE_CHECKING:
    from backstack.db.dialect import Dialect
    from backstack.db.schema.model import Column, Schema, Table, TypeKind
    from backstack.rest.request.query import (
        Condition,
        EmbedPath,
        Field,
        JsonStep,
        OrderTerm,
        Placeholder,
        ReadQuery,
        SelectItem,
    )

# Casts a select may ask for (`col::int`): request spelling -> (PostgreSQL type, output kind).
CASTS: dict[str, tuple[str, TypeKind]] = {
    "text": ("text", "text"),
    "varchar": ("varchar", "text"),
    "char": ("char", "text"),
    "int": ("integer", "int"),
    "int2": ("smallint", "int"),
    "int4": ("integer", "int"),
    "int8": ("bigint", "int"),
    "integer": ("integer", "int"),
    "smallint": ("smallint", "int"),
    "bigint": ("bigint", "int"),
    "numeric": ("numeric", "numeric"),
    "decimal": ("numeric", "numeric"),
    "real": ("real", "float"),
    "float": ("double precision", "float"),
    "float4": ("real", "float"),
    "float8": ("double precision", "float"),
    "double": ("double precision", "float"),
    "bool": ("boolean", "bool"),
    "boolean": ("boolean", "bool"),
    "json": ("json", "json"),
    "jsonb": ("jsonb", "json"),
    "date": ("date", "date"),
    "time": ("time", "time"),
    "timestamp": ("timestamp", "timestamp"),
    "timestamptz": ("timestamptz", "timestamp"),
    "uuid": ("uuid", "uuid"),
}
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
FTS_OPERATORS = frozenset({"fts", "plfts", "phfts", "wfts"})
RANGE_OPERATORS = frozenset({"sl", "sr", "nxr", "nxl", "adj"})


@dataclass(frozen=True, slots=True)
class Col:
    """A resolved column reference, optionally followed by a JSON path."""

    table: Table
    column: Column
    path: tuple[JsonStep, ...] = ()

    @property
    def kind(self) -> TypeKind:
        """The type family of the value: a `->` path is JSON, a `->>` path is text."""
        if not self.path:
            return self.column.kind
        return "json" if self.path[-1].arrow == "->" else "text"


@dataclass(frozen=True, slots=True)
class OutField:
    """One key of the output object: `key` <- `col` [cast]."""

    key: str
    col: Col
    cast: str | None = None  # a key of CASTS, or (PostgreSQL) a validated identifier

    @property
    def kind(self) -> TypeKind:
        if self.cast is None:
            return self.col.kind
        return CASTS[self.cast][1] if self.cast in CASTS else "other"


@dataclass(frozen=True, slots=True)
class PFilter:
    """A leaf condition on a resolved column; `value` as the parser decoded it."""

    col: Col
    operator: str
    value: str | tuple[str, ...] | Placeholder
    negated: bool = False
    quantifier: Literal["any", "all"] | None = None
    fts_config: str | None = None


@dataclass(frozen=True, slots=True)
class PLogic:
    operator: Literal["and", "or"]
    conditions: tuple[PCondition, ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class PEmbedNull:
    """Keep parent rows whose embed `node` is (not) empty."""

    node: Node
    is_null: bool


PCondition = PFilter | PLogic | PEmbedNull


@dataclass(frozen=True, slots=True)
class POrder:
    """An order term; `via` is the to-one embed whose column orders the parent (`order=rel(col)`)."""

    col: Col
    descending: bool = False
    nulls: Literal["first", "last"] | None = None
    via: Node | None = None


@dataclass(eq=False, slots=True)
class Node:
    """One table of the request: the root, or an embed under its parent."""

    table: Table
    alias: str
    key: str
    rel: Relationship | None = None
    items: list[OutField | Node] = field(default_factory=list)
    where: list[PCondition] = field(default_factory=list)
    order: list[POrder] = field(default_factory=list)
    limit: int | None = None
    offset: int = 0
    inner: bool = False
    spread: bool = False
    name: str = ""  # the embed's name as written (before the alias)
    junction: Table | None = None  # many-to-many: the table joining parent and this node

    @property
    def children(self) -> list[Node]:
        return [item for item in self.items if isinstance(item, Node)]

    @property
    def has_output(self) -> bool:
        """`rel()` with nothing inside is only there to filter; it adds no key."""
        return bool(self.items)


@dataclass(slots=True)
class _Aliases:
    count: int = 0

    def next(self) -> str:
        alias = f"t{self.count}"
        self.count += 1
        return alias


# ---------------------------------------------------------------- tables and columns


def lookup_table(schema: Schema, name: str, schema_name: str = "public") -> Table:
    """The table named in the URL, or PGRST205 with PostgREST's "Perhaps you meant" hint."""
    table = schema.get(name)
    if table is not None:
        return table
    close = difflib.get_close_matches(name, sorted(schema.tables), n=1, cutoff=0.75)
    raise errors.table_not_found(schema_name, name, close[0] if close else None)


def resolve_field(table: Table, fld: Field) -> Col:
    """`fld` on `table`, or 42703; a JSON path on a non-JSON column is PostgreSQL's 42883."""
    column = table.columns.get(fld.name)
    if column is None:
        raise errors.undefined_column(table.name, fld.name)
    if fld.path and column.kind not in ("json", "array"):
        raise errors.undefined_operator(column.type, fld.path[0].arrow)
    return Col(table, column, fld.path)


def resolve_cast(cast: str | None, dialect: Dialect) -> str | None:
    """A select cast, normalised; one the dialect cannot run -> PGRST127, unknown -> PostgreSQL's 42704."""
    if cast is None:
        return None
    name = cast.strip().lower()
    allowed = dialect.select_casts
    if allowed is not None:
        if name not in allowed:
            raise errors.not_implemented(f"Casting to '{cast}' is not supported on {dialect.label}")
        return name
    if name in CASTS:
        return name
    if not _IDENT.match(cast):
        raise errors.undefined_type(cast)
    return cast


# ---------------------------------------------------------------- select tree


def plan_read(
    schema: Schema,
    table_name: str,
    query: ReadQuery,
    *,
    dialect: Dialect,
    schema_name: str = "public",
    max_rows: int | None = None,
) -> Node:
    """The whole resolved tree for `query` on `table_name`."""
    table = lookup_table(schema, table_name, schema_name)
    aliases = _Aliases()
    root = Node(table, aliases.next(), table.name, name=table.name)
    _add_items(schema, root, query.select, aliases, dialect, schema_name)
    for path, conditions in query.where.items():
        node = find_node(root, path)
        node.where.extend(resolve_condition(node, c) for c in conditions)
    for path, terms in query.order.items():
        node = find_node(root, path)
        node.order = [_resolve_order(node, t) for t in terms]
    _apply_paging(root, query, max_rows)
    return root


def _add_items(
    schema: Schema, node: Node, items: tuple[SelectItem, ...], aliases: _Aliases, dialect: Dialect, schema_name: str
) -> None:
    for item in items:
        if isinstance(item, Star):
            node.items.extend(OutField(c.name, Col(node.table, c)) for c in node.table.columns.values())
        elif isinstance(item, SelectField):
            node.items.append(_select_field(node.table, item, dialect))
        else:
            node.items.append(_embed(schema, node, item, aliases, dialect, schema_name))


def _select_field(table: Table, item: SelectField, dialect: Dialect) -> OutField:
    if item.aggregate is not None or item.field is None:
        raise errors.aggregates_not_allowed()
    col = resolve_field(table, item.field)
    return OutField(item.alias or item.field.output_name, col, resolve_cast(item.cast, dialect))


def _embed(schema: Schema, parent: Node, item: Embed, aliases: _Aliases, dialect: Dialect, schema_name: str) -> Node:
    rel = find_relationship(schema, parent.table.name, item.name, item.hint, schema_name)
    table = schema.tables[rel.foreign_table]
    junction = schema.tables[rel.junction.table] if rel.junction is not None else None
    child = Node(
        table,
        aliases.next(),
        item.key,
        rel,
        inner=item.join == "inner",
        spread=item.spread,
        name=item.name,
        junction=junction,
    )
    _add_items(schema, child, item.items, aliases, dialect, schema_name)
    return child


def find_node(root: Node, path: EmbedPath) -> Node:
    """The node addressed by an embed path (`("books", "reviews")`), or PGRST108."""
    node = root
    for key in path:
        match = next((c for c in node.children if c.key == key), None)
        if match is None:
            aliased = next((c for c in node.children if c.name == key and c.key != key), None)
            raise errors.not_embedded(key, aliased_as=aliased.key if aliased else None)
        node = match
    return node


# ---------------------------------------------------------------- conditions and order


def resolve_condition(node: Node, cond: Condition) -> PCondition:
    """A parsed condition resolved against `node` (its columns and its embeds)."""
    if isinstance(cond, Logic):
        return PLogic(cond.operator, tuple(resolve_condition(node, c) for c in cond.conditions), cond.negated)
    if isinstance(cond, EmbedNullFilter):
        return PEmbedNull(find_node(node, (cond.embed,)), cond.is_null)
    embed = _embed_target(node, cond)
    if embed is not None:
        return embed
    col = resolve_field(node.table, cond.field)
    if cond.fts_config is not None and not _IDENT.match(cond.fts_config):
        raise errors.parse_error("filter", cond.fts_config, "the text search configuration must be a name")
    return PFilter(col, cond.operator, cond.value, cond.negated, cond.quantifier, cond.fts_config)


def _embed_target(node: Node, cond: Filter) -> PEmbedNull | None:
    """`rel=is.null` / `rel=not.is.null` / `rel=is.not_null`; another operator on an embed -> PGRST120."""
    name = cond.field.name
    if cond.field.path or name in node.table.columns:
        return None
    child = next((c for c in node.children if c.key == name), None)
    if child is None:
        return None
    if cond.operator != "is" or cond.value not in ("null", "not_null"):
        raise errors.bad_embed_operator(name)
    is_null = (cond.value == "null") != cond.negated
    return PEmbedNull(child, is_null)


def _resolve_order(node: Node, term: OrderTerm) -> POrder:
    if term.relation is None:
        return POrder(resolve_field(node.table, term.field), term.descending, term.nulls)
    via = next((c for c in node.children if c.key == term.relation), None)
    if via is None:
        raise errors.not_embedded(term.relation)
    if via.rel is None or not via.rel.to_one:
        raise errors.related_order_not_to_one(node.table.name, term.relation)
    return POrder(resolve_field(via.table, term.field), term.descending, term.nulls, via)


def _apply_paging(root: Node, query: ReadQuery, max_rows: int | None) -> None:
    for path, limit in query.limit.items():
        if limit < 0:
            raise errors.negative_limit()
        find_node(root, path).limit = limit
    for path, offset in query.offset.items():
        if offset < 0:
            raise errors.negative_offset()
        find_node(root, path).offset = offset
    if max_rows is not None:
        _cap(root, max_rows)


def _cap(node: Node, max_rows: int) -> None:
    """PostgREST applies max-rows to every level of the tree."""
    node.limit = max_rows if node.limit is None else min(node.limit, max_rows)
    for child in node.children:
        _cap(child, max_rows)


def walk(node: Node) -> list[Node]:
    """`node` and all its descendants, depth first."""
    out = [node]
    for child in node.children:
        out.extend(walk(child))
    return out
