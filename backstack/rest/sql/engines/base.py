"""`EngineSql`: what the data API's SQL builders ask of the engine they compile for.

The builders (`sql/filter.py`, `sql/read.py`, `sql/write.py`) hold what every engine shares: the
tree walk, row policies, parameters, ordering, the statement's outline. Whatever is spelt
differently on an engine is one of these methods, implemented once per engine (`engines/postgres/`,
`engines/sqlite/`) and chosen once per statement from `Dialect.name` (`engines.engine_sql`, kept on
`Ctx.engine_sql`). A write's plan is the engine's too, and knows how it runs (`WritePlan.run`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from backstack.db.schema.model import Column, Table
    from backstack.rest.plan.resolve import Col, Node, OutField, PFilter
    from backstack.rest.sql.context import Ctx
    from backstack.rest.sql.read import BodyMode, ReadBuilder
    from backstack.rest.sql.write_plan import WriteOptions, WritePlan


class EngineSql(Protocol):
    """One engine's spelling of the data API's SQL."""

    # ------------------------------------------------------------ statements and values

    unbounded_limit: str
    """The LIMIT clause an OFFSET without a limit needs ("" where OFFSET may stand alone)."""

    def placeholder(self, index: int) -> str:
        """The placeholder of the 1-based parameter `index` (numbered: a fragment may be reused)."""
        ...

    def text(self, placeholder: str) -> str:
        """A bound parameter typed as text where the driver needs to know."""
        ...

    def table(self, table: Table) -> str:
        """The reference to `table` in a FROM or DML."""
        ...

    def check_parses(self, sql: str) -> None:
        """Raise 54001 for a statement the engine's parser cannot take for its size or depth."""
        ...

    def json_path(self, base: str, col: Col) -> str:
        """The value of `col`'s JSON path (`->a->>b`; never empty) in column expression `base`."""
        ...

    def field_value(self, expr: str, item: OutField) -> str:
        """An output field (`expr` is its column expression) as the body's JSON builder takes it."""
        ...

    def default_nulls(self, descending: bool) -> str | None:
        """Where NULLs sort when the request does not say ("first"/"last"), or None: the engine's own."""
        ...

    # ------------------------------------------------------------ WHERE

    def filter(self, ctx: Ctx, lhs: str, flt: PFilter) -> str:
        """A filter (not full-text search) on the column expression `lhs`."""
        ...

    def text_search(self, ctx: Ctx, node: Node, flt: PFilter, per_row: bool) -> str:
        """A full-text search filter (`fts`, `plfts`, `phfts`, `wfts`) on the rows of `node`."""
        ...

    # ------------------------------------------------------------ reads

    def embed_value(self, builder: ReadBuilder, child: Node, parent: Node) -> str:
        """The embed's JSON (object or null for to-one, array for to-many), in `parent`'s scope."""
        ...

    def spread_value(self, builder: ReadBuilder, child: Node, parent: Node, value: str) -> str:
        """One key of a spread embed (`...rel(cols)`) whose value is `value` in `child`'s rows."""
        ...

    def body_select(self, builder: ReadBuilder, root: Node, mode: BodyMode, extra: str) -> tuple[str, str]:
        """(`body, page_count`, `FROM (<page>) AS _r`) for the root; `extra` adds page columns."""
        ...

    # ------------------------------------------------------------ writes

    def insert(
        self, ctx: Ctx, builder: ReadBuilder, root: Node, columns: list[Column], options: WriteOptions
    ) -> WritePlan:
        """INSERT the body's rows (slot 1: a JSON array of objects) into `columns`."""
        ...

    def update(
        self,
        ctx: Ctx,
        builder: ReadBuilder,
        root: Node,
        columns: list[Column],
        options: WriteOptions,
        body: str,
        conds: list[str],
    ) -> WritePlan:
        """UPDATE the rows `conds` select with the body object (`body`, slot 1)."""
        ...

    def delete(
        self, ctx: Ctx, builder: ReadBuilder, root: Node, conds: list[str], options: WriteOptions, *, need_rows: bool
    ) -> WritePlan:
        """DELETE the rows `conds` select; `need_rows`: the answer needs them (body, count, Location)."""
        ...
