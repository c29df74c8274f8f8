"""Read statements: one SELECT whose single row is (body, rows in page, total count).

The body is built by the database: on PostgreSQL `json_agg` over a subquery whose columns carry the
output keys (embeds are correlated subqueries: `row_to_json` for to-one, `json_agg` for to-many);
on SQLite `json_group_array` over `json_object(...)` rows. Order and paging are applied in the
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

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple

from backstack.db.dialect import quote_ident, quote_literal
from backstack.rest.plan.resolve import Node, OutField, plan_read
from backstack.rest.sql.common import (
    Ctx,
    Statement,
    col_expr,
    column_ref,
    csv_header,
    csv_quote,
    field_text,
    field_value,
)
from backstack.rest.sql.filter import condition_sql, leakproof

if TYPE_CHECKING:
    from backstack.core.ports import RowPolicies
    from backstack.db.dialect import Dialect
    from backstack.db.schema.model import Schema, Table
    from backstack.rest.request.query import ReadQuery

BodyMode = Literal["json", "object", "csv", "none"]
Term = tuple[str, bool]  # a WHERE term of the request, and whether it is leakproof
_JSON_OBJECT_PAIRS = 60  # SQLite functions take at most 127 arguments


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


@dataclass(slots=True)
class RootSource:
    """Replaces the root's FROM and WHERE (writes: the changed rows); the root's own filters and
    paging then do not apply (the write applied them), its `order` replaces `order_sql`."""

    from_sql: str
    order_sql: str = ""
    conds: tuple[str, ...] = ()


class ReadBuilder:
    """Compiles a resolved `Node` tree into SQL for one dialect."""

    def __init__(self, ctx: Ctx, policies: RowPolicies | None = None, strip_nulls: bool = False) -> None:
        self.ctx = ctx
        self.policies = policies
        self.strip_nulls = strip_nulls
        self.root_source: RootSource | None = None
        self._sources: dict[tuple[int, int], tuple[str, list[str]]] = {}

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
        if nulls is None and self.ctx.sqlite:
            nulls = "first" if descending else "last"  # PostgreSQL's default, made explicit
        if nulls is not None:
            out += f" NULLS {nulls.upper()}"
        return out

    def paging(self, node: Node, parent: Node | None) -> str:
        if parent is None and self.root_source is not None:
            return ""
        out = ""
        if node.limit is not None:
            out += f" LIMIT {int(node.limit)}"
        elif node.offset and self.ctx.sqlite:
            out += " LIMIT -1"
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

    def row_object(self, node: Node) -> str:
        """SQLite: the JSON object for the current row of `node`."""
        pairs = self.items(node)
        head, rest = pairs[:_JSON_OBJECT_PAIRS], pairs[_JSON_OBJECT_PAIRS:]
        obj = "json_object(" + ", ".join(f"{quote_literal(k)}, {v}" for k, v in head) + ")"
        while rest:
            chunk, rest = rest[:_JSON_OBJECT_PAIRS], rest[_JSON_OBJECT_PAIRS:]
            args = ", ".join(f"{quote_literal(_json_key_path(k))}, {v}" for k, v in chunk)
            obj = f"json_insert({obj}, {args})"
        return f"json_patch('{{}}', {obj})" if self.strip_nulls else obj

    def pg_columns(self, node: Node) -> str:
        """PostgreSQL: the select list whose column names are the output keys."""
        return ", ".join(f"{v} AS {quote_ident(k)}" for k, v in self.items(node))

    def embed_value(self, child: Node, parent: Node) -> str:
        """The embed's JSON (object or null for to-one, array for to-many), in `parent`'s scope."""
        to_one = child.rel is not None and child.rel.to_one
        sub = f"{child.alias}_r"
        if self.ctx.sqlite:
            if to_one:
                return f"json(({self.rows_query(child, parent, self.row_object(child))}))"
            rows = self.rows_query(child, parent, f"{self.row_object(child)} AS j")
            return f"json((SELECT json_group_array(json({sub}.j)) FROM ({rows}) AS {sub}))"
        rows = self.rows_query(child, parent, self.pg_columns(child))
        if to_one:
            return f"(SELECT row_to_json({sub}) FROM ({rows}) AS {sub})"
        return f"(SELECT coalesce(json_agg({sub}), '[]') FROM ({rows}) AS {sub})"

    def spread_items(self, child: Node, parent: Node) -> list[tuple[str, str]]:
        """`...rel(cols)`: the embed's keys in the parent; to-many spreads give arrays per key."""
        to_one = child.rel is not None and child.rel.to_one
        sub = f"{child.alias}_s"
        out: list[tuple[str, str]] = []
        for key, value in self.items(child):
            if self.ctx.sqlite:
                if to_one:
                    out.append((key, f"({self.rows_query(child, parent, f'json_array({value})')}) -> '$[0]'"))
                else:
                    rows = self.rows_query(child, parent, f"json_array({value}) AS v")
                    out.append((key, f"json((SELECT json_group_array({sub}.v -> '$[0]') FROM ({rows}) AS {sub}))"))
            elif to_one:
                out.append((key, f"({self.rows_query(child, parent, value)})"))
            else:
                rows = self.rows_query(child, parent, f"{value} AS v")
                out.append((key, f"(SELECT coalesce(json_agg({sub}.v), '[]') FROM ({rows}) AS {sub})"))
        return out

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
        if self.ctx.sqlite:
            return self._sqlite_body(root, mode, extra)
        return self._pg_body(root, mode, extra)

    def _sqlite_body(self, root: Node, mode: BodyMode, extra: str) -> tuple[str, str]:
        if mode == "csv":
            line = " || ',' || ".join(csv_quote(t) for t in self._csv_texts(root)) or "''"
            page = self.rows_query(root, None, f"{line} AS j{extra and ', ' + extra}")
            header = self.ctx.param(csv_header(self.output_keys(root)))
            body = f"{header} || char(10) || coalesce(group_concat(_r.j, char(10)), '')"
        else:
            row = "NULL" if mode == "none" else self.row_object(root)  # HEAD / minimal: count rows only
            page = self.rows_query(root, None, f"{row} AS j{extra and ', ' + extra}")
            body = {
                "json": "json_group_array(json(_r.j))",
                "object": "json_group_array(json(_r.j)) -> '$[0]'",
                "none": "NULL",
            }[mode]
        return f"{body}, count(*)", f"FROM ({page}) AS _r"

    def _csv_texts(self, node: Node) -> list[str]:
        texts: list[str] = []
        for item in node.items:
            if isinstance(item, OutField):
                texts.append(field_text(self.ctx, node.alias, item))
            elif item.spread:
                texts.extend(f"('' || ({v}))" for _, v in self.spread_items(item, node))
            elif item.has_output:
                texts.append(f"('' || {self.embed_value(item, node)})")
        return texts

    def _pg_body(self, root: Node, mode: BodyMode, extra: str) -> tuple[str, str]:
        columns = "NULL AS j" if mode == "none" else self.pg_columns(root)
        page = self.rows_query(root, None, columns + (", " if columns and extra else "") + extra)
        agg = "json_strip_nulls(json_agg(_r))" if self.strip_nulls else "json_agg(_r)"
        if mode == "csv":
            header = self.ctx.text(csv_header(self.output_keys(root)))
            rows = "string_agg(substring(_r::text, 2, length(_r::text) - 2), chr(10))"
            body = f"{header} || chr(10) || coalesce({rows}, '')"
        else:
            body = {"json": f"coalesce({agg}, '[]')::text", "object": f"({agg} -> 0)::text", "none": "NULL"}[mode]
        return f"{body}, count(*)", f"FROM ({page}) AS _r"

    def count_query(self, root: Node) -> str:
        from_sql, conds = self.source(root, None)
        return f"(SELECT count(*) FROM {from_sql}{_where(conds)})"


def _where(conds: list[str]) -> str:
    return " WHERE " + " AND ".join(conds) if conds else ""


def _json_key_path(key: str) -> str:
    return '$."' + key + '"'


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
