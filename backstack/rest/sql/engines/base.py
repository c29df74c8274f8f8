"""`EngineSql`: what the data API's SQL builders ask of the engine they compile for.

The builders (`sql/filter.py`, `sql/read.py`, `sql/write.py`) hold what every engine shares: the
tree walk, row policies, parameters, ordering, the statement's outline. Whatever is spelt
differently on an engine is one of these methods, implemented once per engine (`engines/postgres/`,
`engines/sqlite/`) and chosen once per statement from `Dialect.name` (`engines.engine_sql`, kept on
`Ctx.engine_sql`). A write's plan is the engine's too, and knows how it runs (`WritePlan.run`).

The engines are below the builders: what they are given is typed by the layers under them, the
statement's parameters as a `Binding` (`sql/statement.py`, whose `Spelling` is the statement-level
part of `EngineSql`) and the read builder as a `ReadPort` (`sql/read_port.py`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from backstack.rest.sql.statement import Spelling

if TYPE_CHECKING:
    from backstack.db.schema.model import Column
    from backstack.rest.plan.resolve import Node, PFilter
    from backstack.rest.sql.read_port import BodyMode, ReadPort
    from backstack.rest.sql.statement import Binding
    from backstack.rest.sql.write_plan import WriteOptions, WritePlan


class EngineSql(Spelling, Protocol):
    """One engine's spelling of the data API's SQL (statement-level: `Spelling`'s placeholders, table
    names, JSON paths, output values)."""

    # ------------------------------------------------------------ paging and order (the rest of statements: `Spelling`)

    unbounded_limit: str
    """The LIMIT clause an OFFSET without a limit needs ("" where OFFSET may stand alone)."""

    def default_nulls(self, descending: bool) -> str | None:
        """Where NULLs sort when the request does not say ("first"/"last"), or None: the engine's own."""
        ...

    # ------------------------------------------------------------ WHERE

    def filter(self, ctx: Binding, lhs: str, flt: PFilter) -> str:
        """A filter (not full-text search) on the column expression `lhs`."""
        ...

    def text_search(self, ctx: Binding, node: Node, flt: PFilter, per_row: bool) -> str:
        """A full-text search filter (`fts`, `plfts`, `phfts`, `wfts`) on the rows of `node`."""
        ...

    # ------------------------------------------------------------ reads

    def embed_value(self, builder: ReadPort, child: Node, parent: Node) -> str:
        """The embed's JSON (object or null for to-one, array for to-many), in `parent`'s scope."""
        ...

    def spread_value(self, builder: ReadPort, child: Node, parent: Node, value: str) -> str:
        """One key of a spread embed (`...rel(cols)`) whose value is `value` in `child`'s rows."""
        ...

    def body_select(self, builder: ReadPort, root: Node, mode: BodyMode, extra: str) -> tuple[str, str]:
        """(`body, page_count`, `FROM (<page>) AS _r`) for the root; `extra` adds page columns."""
        ...

    # ------------------------------------------------------------ writes

    def insert(
        self, ctx: Binding, builder: ReadPort, root: Node, columns: list[Column], options: WriteOptions
    ) -> WritePlan:
        """INSERT the body's rows (slot 1: a JSON array of objects) into `columns`."""
        ...

    def update(
        self,
        ctx: Binding,
        builder: ReadPort,
        root: Node,
        columns: list[Column],
        options: WriteOptions,
        body: str,
        conds: list[str],
    ) -> WritePlan:
        """UPDATE the rows `conds` select with the body object (`body`, slot 1)."""
        ...

    def delete(
        self, ctx: Binding, builder: ReadPort, root: Node, conds: list[str], options: WriteOptions, *, need_rows: bool
    ) -> WritePlan:
        """DELETE the rows `conds` select; `need_rows`: the answer needs them (body, count, Location)."""
        ...
