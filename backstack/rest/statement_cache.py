"""A per-app LRU of compiled statements: a request shape is planned and compiled once.

Compiling is a pure function of (schema, request AST, options), so the statement for a shape can
be reused until the schema changes; the key carries the schema fingerprint for that reason.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from backstack.db.schema import Schema

T = TypeVar("T")


class StatementCache:
    """An LRU of compiled statements, one per app (never module-global).

    The caller gives a key that identifies the request shape (e.g. the raw query string); the
    cache adds the schema fingerprint, dialect, table, caller role and every option that changes
    the SQL, so a hit is always the statement `compile_*` would build again. A schema without a
    fingerprint is never cached.
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
