"""Read statements: one SELECT whose single row is (body, rows in page, total count).

The body is built by the database, as the engine spells it (`EngineSql.body_select`, `embed_value`:
on PostgreSQL `json_agg` over a subquery whose columns carry the output keys, on SQLite
`json_group_array` over `json_object(...)` rows). Order and paging are applied in the
subquery, and both aggregates keep the subquery's order (tested). The total (`Prefer: count=exact`)
is a scalar subquery over the same WHERE, reusing its numbered parameters.

`!inner` embeds and `rel=not.is.null` become `EXISTS (...)` on the parent, so the page, the count
and the embed itself agree on which parents stay.

Row policies (SQLite; PostgreSQL enforces RLS itself): every FROM the builder writes (the root,
each embed, m2m junctions, `!inner` and order-by subqueries, the count) gets the role's SELECT
predicate on its alias, so no path reads a row the policies hide. The policy also runs before any
expression the caller controls, as PostgreSQL's security barrier does (`guarded`): SQLite orders
WHERE terms as it likes, so a caller's `like`, `match`, `fts`, JSON path or `!inner` test sits in
`CASE WHEN <policy> THEN <test> END` and never sees a hidden row (no error, no time that depends
on one). Plain comparisons of a column with a bound value (`eq`, `lt`, `in`, `is`...), which
PostgreSQL marks LEAKPROOF, stay outside, where indexes can serve them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from backstack.rest.plan.resolve import Node, OutField, plan_read
from backstack.rest.sql.common import col_expr, column_ref, field_value
from backstack.rest.sql.context import Ctx
from backstack.rest.sql.filter import condition_sql, leakproof

if TYPE_CHECKING:
    from backstack.core.ports import RowPolicies
    from backstack.db.dialect import Dialect
    from backstack.db.schema.model import Schema, Table
    from backstack.rest.request.query import ReadQuery
    from backstack.rest.sql.read_port import BodyMode, RootSource
    from backstack.rest.sql.statement import Statement

Term = tuple[str, bool]  # a WHERE term of the request, and whether it is leakproof


class ReadOptions(NamedTuple):
    """What shapes a read besides the query: media, counting, the root page, the row cap.

    A named tuple: it is made for every read and is part of the statement-cache key; built, hashed
    and compared it costs ~0.6 us, the frozen dataclass it was ~1.4 us."""

    media: BodyMode = "json"
    strip_nulls: bool = False
    count_total: bool = False  # `Prefer: count=exact` (not `count`: a tuple method)
    offset: int = 0
    limit: int | None = None
    max_rows: int | None = None
    schema_name: str = "public"


class ReadBuilder:
    """Compiles a resolved `Node` tree into SQL for one dialect (the engines' `ReadPort`)."""

    def __init__(self, ctx: Ctx, policies: RowPolicies | None = None, strip_nulls: bool = False) -> None:
        self.ctx = ctx
        self.policies = policies
        self.strip_nulls = strip_nulls
        self.root_source: RootSource | None = None
        self._sources: dict[tuple[int, int], tuple[str, list[str]]] = {}

    def fresh(self) -> ReadBuilder:
        """Another statement's builder: same engine, schema, policies and options, nothing bound yet."""
        return ReadBuilder(self.ctx.fresh(), self.policies, self.strip_nulls)

    # ------------------------------------------------------------ rows of a node

    def row_filter(self, table: Table, alias: str, command: str = "select") -> list[str]:
        """The row policy of `command` on `table` over `alias` (SQLite; PostgreSQL enforces its own)."""
        if self.policies is None:
            return []
        predicate = self.policies.using(table, command)
        return [] if predicate is None else [predicate.replace("{row}", alias)]

    def relation(self, table: Table) -> str:
        """The FROM item of `table`: itself, or what the policies read in its place (a security-invoker
        view's body through the caller's policies)."""
        replaced = self.policies.relation(table) if self.policies is not None else None
        return self.ctx.table(table) if replaced is None else replaced

    @staticmethod
    def guarded(request: list[Term], policy: list[str]) -> list[str]:
        """WHERE terms where `policy` passes a row before any leaky request term sees it.

        `request` pairs each of the caller's conditions with whether it is leakproof (see
        `sql.filter.leakproof`); the others run only inside `CASE WHEN <policy> THEN ...`.
        """
        if not policy:
            return [sql for sql, _ in request]
        terms = [sql for sql, leakproof in request if leakproof] + policy
        leaky = [f"({sql})" for sql, leakproof in request if not leakproof]
        if leaky:
            terms.append(f"CASE WHEN {' AND '.join(policy)} THEN {' AND '.join(leaky)} ELSE 0 END")
        return terms

    def source(self, node: Node, parent: Node | None) -> tuple[str, list[str]]:
        """FROM and WHERE terms selecting the rows of `node` (under the current row of `parent`).

        Memoised: a page and its count share one WHERE and its parameters.
        """
        key = (id(node), id(parent))
        if key not in self._sources:
            self._sources[key] = self._source(node, parent)
        return self._sources[key]

    def _source(self, node: Node, parent: Node | None) -> tuple[str, list[str]]:
        if parent is None and self.root_source is not None:
            inner = [self.exists(c, node) for c in node.children if c.inner]
            return self.root_source.from_sql, [*self.root_source.conds, *inner]
        ctx = self.ctx
        from_sql = f"{self.relation(node.table)} AS {node.alias}"
        joins: list[str] = []
        policy: list[str] = []
        rel = node.rel
        if rel is not None and parent is not None:
            if rel.junction is not None:
                j = rel.junction
                jalias = f"{node.alias}j"
                on = " AND ".join(
                    f"{column_ref(jalias, jc)} = {column_ref(node.alias, tc)}" for tc, jc in j.target_pairs
                )
                assert node.junction is not None
                jref = self.relation(node.junction)
                from_sql += f" JOIN {jref} AS {jalias} ON {on}"
                joins += [f"{column_ref(jalias, jc)} = {column_ref(parent.alias, sc)}" for sc, jc in j.source_pairs]
                policy += self.row_filter(node.junction, jalias)
            else:
                joins += [f"{column_ref(node.alias, fc)} = {column_ref(parent.alias, c)}" for c, fc in rel.pairs]
        policy += self.row_filter(node.table, node.alias)
        per_row = bool(policy)
        request = [(condition_sql(ctx, node, c, self.exists, per_row=per_row), leakproof(c)) for c in node.where]
        request += [(self.exists(c, node), False) for c in node.children if c.inner]
        return from_sql, joins + self.guarded(request, policy)

    def exists(self, node: Node, parent: Node) -> str:
        from_sql, conds = self.source(node, parent)
        return f"EXISTS (SELECT 1 FROM {from_sql}{_where(conds)})"

    def order_by(self, node: Node, parent: Node | None) -> str:
        if parent is None and self.root_source is not None and not node.order:
            return self.root_source.order_sql
        terms: list[str] = []
        for term in node.order:
            if term.via is None:
                expr = col_expr(self.ctx, node.alias, term.col)
            else:
                from_sql, conds = self.source(term.via, node)
                inner = col_expr(self.ctx, term.via.alias, term.col)
                expr = f"(SELECT {inner} FROM {from_sql}{_where(conds)} LIMIT 1)"
            terms.append(expr + self._direction(term.descending, term.nulls))
        return " ORDER BY " + ", ".join(terms) if terms else ""

    def _direction(self, descending: bool, nulls: str | None) -> str:
        out = " DESC" if descending else " ASC"
        if nulls is None:
            nulls = self.ctx.engine_sql.default_nulls(descending)
        if nulls is not None:
            out += f" NULLS {nulls.upper()}"
        return out

    def paging(self, node: Node, parent: Node | None) -> str:
        if parent is None and self.root_source is not None:
            return ""
        out = ""
        if node.limit is not None:
            out += f" LIMIT {int(node.limit)}"
        elif node.offset:
            out += self.ctx.engine_sql.unbounded_limit
        if node.offset:
            out += f" OFFSET {int(node.offset)}"
        return out

    def rows_query(self, node: Node, parent: Node | None, columns: str) -> str:
        from_sql, conds = self.source(node, parent)
        tail = self.order_by(node, parent) + self.paging(node, parent)
        return f"SELECT {columns} FROM {from_sql}{_where(conds)}{tail}"

    # ------------------------------------------------------------ output objects

    def items(self, node: Node) -> list[tuple[str, str]]:
        """(key, value) pairs of `node`'s output object, evaluated in `node`'s row scope."""
        out: list[tuple[str, str]] = []
        for item in node.items:
            if isinstance(item, OutField):
                out.append((item.key, field_value(self.ctx, node.alias, item)))
            elif item.spread:
                out.extend(self.spread_items(item, node))
            elif item.has_output:
                out.append((item.key, self.embed_value(item, node)))
        return out

    def embed_value(self, child: Node, parent: Node) -> str:
        """The embed's JSON (object or null for to-one, array for to-many), in `parent`'s scope."""
        return self.ctx.engine_sql.embed_value(self, child, parent)

    def spread_items(self, child: Node, parent: Node) -> list[tuple[str, str]]:
        """`...rel(cols)`: the embed's keys in the parent; to-many spreads give arrays per key."""
        engine = self.ctx.engine_sql
        return [(key, engine.spread_value(self, child, parent, value)) for key, value in self.items(child)]

    def output_keys(self, node: Node) -> list[str]:
        keys: list[str] = []
        for item in node.items:
            if isinstance(item, OutField):
                keys.append(item.key)
            elif item.spread:
                keys.extend(self.output_keys(item))
            elif item.has_output:
                keys.append(item.key)
        return keys

    # ------------------------------------------------------------ the whole statement

    def body_select(self, root: Node, mode: BodyMode, extra: str = "") -> tuple[str, str]:
        """(`body, page_count`, `FROM (<page>) AS _r`) for the root; `extra` adds page columns."""
        return self.ctx.engine_sql.body_select(self, root, mode, extra)

    def count_query(self, root: Node) -> str:
        from_sql, conds = self.source(root, None)
        return f"(SELECT count(*) FROM {from_sql}{_where(conds)})"


def _where(conds: list[str]) -> str:
    return " WHERE " + " AND ".join(conds) if conds else ""


def compile_read(
    schema: Schema,
    dialect: Dialect,
    table: str,
    query: ReadQuery,
    options: ReadOptions,
    policies: RowPolicies | None = None,
) -> Statement:
    """The read statement; its one row is (body text or NULL, rows in the page, total or NULL).

    A pure function of its arguments (`policies` depend on the role and schema only), so the
    result can be cached by request shape and role.
    """
    root = plan_read(schema, table, query, dialect=dialect, schema_name=options.schema_name, max_rows=options.max_rows)
    root.offset, root.limit = options.offset, options.limit
    ctx = Ctx(dialect, options.schema_name)
    builder = ReadBuilder(ctx, policies, options.strip_nulls)
    select, from_sql = builder.body_select(root, options.media)
    total = builder.count_query(root) if options.count_total else "NULL"
    return ctx.statement(f"SELECT {select}, {total} {from_sql}")
