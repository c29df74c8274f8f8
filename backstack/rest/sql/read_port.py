"""The read builder as the engines call back into it (`ReadPort`; `sql.read.ReadBuilder` is the one
implementation), with what they give it: the body's media (`BodyMode`) and, for a write's
representation, the rows to read in place of the root's table (`RootSource`).

Below the engines (`EngineSql.embed_value`, `body_select`, `insert`... take a `ReadPort`), so an
engine never imports the builders that choose it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

if TYPE_CHECKING:
    from backstack.core.ports import RowPolicies
    from backstack.rest.plan.resolve import Node
    from backstack.rest.sql.statement import Binding

BodyMode = Literal["json", "object", "csv", "none"]


@dataclass(slots=True)
class RootSource:
    """Replaces the root's FROM and WHERE (writes: the changed rows); the root's own filters and
    paging then do not apply (the write applied them), its `order` replaces `order_sql`."""

    from_sql: str
    order_sql: str = ""
    conds: tuple[str, ...] = ()


class ReadPort(Protocol):
    """What an engine asks of the read builder: the statement's binding, the row policies, the rows
    of a node, its output object, and the whole body."""

    root_source: RootSource | None

    @property
    def ctx(self) -> Binding: ...

    @property
    def policies(self) -> RowPolicies | None: ...

    @property
    def strip_nulls(self) -> bool: ...

    def fresh(self) -> ReadPort:
        """Another statement's builder: same engine, schema, policies and options, nothing bound yet."""
        ...

    def rows_query(self, node: Node, parent: Node | None, columns: str) -> str:
        """`SELECT columns FROM <node's rows under parent's row> ORDER BY ... LIMIT ...`."""
        ...

    def items(self, node: Node) -> list[tuple[str, str]]:
        """(key, value) pairs of `node`'s output object, evaluated in `node`'s row scope."""
        ...

    def spread_items(self, child: Node, parent: Node) -> list[tuple[str, str]]:
        """`...rel(cols)`: the embed's keys in the parent; to-many spreads give arrays per key."""
        ...

    def embed_value(self, child: Node, parent: Node) -> str:
        """The embed's JSON (object or null for to-one, array for to-many), in `parent`'s scope."""
        ...

    def output_keys(self, node: Node) -> list[str]:
        """The keys of `node`'s output object, in order (the CSV header)."""
        ...

    def body_select(self, root: Node, mode: BodyMode, extra: str = "") -> tuple[str, str]:
        """(`body, page_count`, `FROM (<page>) AS _r`) for the root; `extra` adds page columns."""
        ...
