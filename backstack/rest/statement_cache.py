"""A per-app LRU of compiled statements: a request shape is planned and compiled once.

Compiling is a pure function of (schema, request AST, options), so the statement for a shape can
be reused until the schema changes; the key carries the schema fingerprint for that reason.

The shape is the request's AST with its filter values taken out (`shape_of`): `?id=eq.1` and
`?id=eq.2` share one compiled statement, whose parameters are made from each request's own values
at run time (`Statement.with_values`). A value the SQL itself depends on stays in the shape
(`sql_filter.shape_parameters` says which), so a shape never stands for two different statements.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, TypeVar

from backstack.rest.query import Filter, Logic, Placeholder, ReadQuery
from backstack.rest.sql_filter import shape_parameters

if TYPE_CHECKING:
    from backstack.db.schema import Schema
    from backstack.rest.query import Condition

T = TypeVar("T")


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
        if full in self._items:
            self._items.move_to_end(full)
            return self._items[full]  # type: ignore[no-any-return]
        value = build()
        self._items[full] = value
        if len(self._items) > self.size:
            self._items.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._items)


def cached(cache: StatementCache | None, schema: Schema, key: Hashable | None, build: Callable[[], T]) -> T:
    return build() if cache is None else cache.get(schema, key, build)


def shape_of(query: ReadQuery, *, sqlite: bool) -> tuple[Hashable, ReadQuery, tuple[Any, ...]]:
    """(hashable shape, the query with `Placeholder`s for its values, the values in their order).

    Compile the second on a cache miss; bind the third into whatever statement the first finds.
    """
    values: list[Any] = []

    def strip(cond: Condition) -> Condition:
        if isinstance(cond, Logic):
            return Logic(cond.operator, tuple(strip(c) for c in cond.conditions), cond.negated)
        if isinstance(cond, Filter) and shape_parameters(cond.operator, cond.value, sqlite=sqlite):
            values.append(cond.value)
            return Filter(cond.field, cond.operator, Placeholder(len(values) - 1), cond.negated,
                          cond.quantifier, cond.fts_config)
        return cond

    where = {path: [strip(c) for c in conds] for path, conds in query.where.items()}
    shaped = ReadQuery(query.select, where, query.order, query.limit, query.offset)
    key = (query.select, tuple((path, tuple(conds)) for path, conds in where.items()),
           tuple(query.order.items()), tuple(query.limit.items()), tuple(query.offset.items()))
    return key, shaped, tuple(values)
