"""A per-app LRU of compiled statements: a request shape is planned and compiled once.

Compiling is a pure function of (schema, request AST, options), so the statement for a shape can
be reused until the schema changes; the key carries the schema fingerprint for that reason.

The shape is the request's AST with its filter values taken out (`shape_of`): `?id=eq.1` and
`?id=eq.2` share one compiled statement, whose parameters are made from each request's own values
at run time (`Statement.with_values`). A value the SQL itself depends on stays in the shape
(`sql.filter.shape_parameters` says which), so a shape never stands for two different statements.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from weakref import WeakValueDictionary

from backstack.rest.request.query import Filter, Logic, Placeholder, ReadQuery
from backstack.rest.sql.filter import shape_parameters

if TYPE_CHECKING:
    from backstack.db.dialect import Dialect
    from backstack.db.schema.model import Schema
    from backstack.rest.request.query import Condition

T = TypeVar("T")
_MISSING = object()


class StatementCache:
    """An LRU of compiled statements, one per app (never module-global).

    The caller gives a key that identifies the request shape (`shape_of`) together with the
    dialect, table, caller role and every option that changes the SQL; the cache adds the schema
    fingerprint, so a hit is always the statement `compile_*` would build again. A schema without
    a fingerprint is never cached.
    """

    def __init__(self, size: int = 1024) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, schema: Schema, key: Hashable | None, build: Callable[[], T]) -> T:
        if key is None or not schema.fingerprint:
            return build()
        full = (schema.fingerprint, key)
        value = self._items.get(full, _MISSING)
        if value is not _MISSING:
            self._items.move_to_end(full)
            return value  # type: ignore[no-any-return]
        value = build()
        self._items[full] = value
        if len(self._items) > self.size:
            self._items.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._items)


def cached(cache: StatementCache | None, schema: Schema, key: Hashable | None, build: Callable[[], T]) -> T:
    return build() if cache is None else cache.get(schema, key, build)


@dataclass(frozen=True, slots=True, eq=False, weakref_slot=True)
class ShapeKey:
    """The hashable shape of a request, interned (`shape_of`): equal shapes are one object, so the
    cache compares keys by identity instead of walking two request ASTs field by field."""

    parts: tuple[Hashable, ...]


# The live shape keys by their parts. Weak: a key lives as long as a cache (parsed queries,
# statements) holds it, and an equal shape made while it lives gets the same object.
_SHAPE_KEYS: WeakValueDictionary[tuple[Hashable, ...], ShapeKey] = WeakValueDictionary()


def _shape_key(parts: tuple[Hashable, ...]) -> ShapeKey:
    key = _SHAPE_KEYS.get(parts)
    if key is None:
        key = _SHAPE_KEYS[parts] = ShapeKey(parts)
    return key


@dataclass(frozen=True, slots=True)
class Shape:
    """A request taken apart: its `key`, the query to compile for it (`Placeholder`s for the values),
    and the values in their order (bind them into whatever statement the key finds)."""

    key: ShapeKey
    query: ReadQuery
    values: tuple[Any, ...]


def shape_of(query: ReadQuery, dialect: Dialect) -> Shape:
    """The shape of `query`: its filter values taken out where the SQL does not depend on them."""
    values: list[Any] = []

    def strip(cond: Condition) -> Condition:
        if isinstance(cond, Logic):
            return Logic(cond.operator, tuple(strip(c) for c in cond.conditions), cond.negated)
        if isinstance(cond, Filter) and shape_parameters(cond.operator, cond.value, dialect):
            values.append(cond.value)
            return Filter(
                cond.field, cond.operator, Placeholder(len(values) - 1), cond.negated, cond.quantifier, cond.fts_config
            )
        return cond

    where = {path: [strip(c) for c in conds] for path, conds in query.where.items()}
    shaped = ReadQuery(query.select, where, query.order, query.limit, query.offset)
    parts = (
        query.select,
        tuple((path, tuple(conds)) for path, conds in where.items()),
        tuple(query.order.items()),
        tuple(query.limit.items()),
        tuple(query.offset.items()),
    )
    return Shape(_shape_key(parts), shaped, tuple(values))
