"""SQLite's read bodies: `json_group_array` over `json_object(...)` rows (the subquery's order kept),
embeds as correlated subqueries of the same; CSV built line by line as PostgreSQL prints records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backstack.db.dialect import quote_literal
from backstack.rest.plan.resolve import OutField
from backstack.rest.sql.common import csv_header
from backstack.rest.sql.engines.sqlite.values import csv_quote, field_text

if TYPE_CHECKING:
    from backstack.rest.plan.resolve import Node
    from backstack.rest.sql.read_port import BodyMode, ReadPort

_JSON_OBJECT_PAIRS = 60  # SQLite functions take at most 127 arguments


class SqliteReadSql:
    """The read parts of `EngineSql` on SQLite."""

    unbounded_limit = " LIMIT -1"  # SQLite's grammar has no OFFSET without LIMIT

    def default_nulls(self, descending: bool) -> str | None:
        return "first" if descending else "last"  # PostgreSQL's default, made explicit

    @staticmethod
    def row_object(builder: ReadPort, node: Node) -> str:
        """The JSON object for the current row of `node`."""
        pairs = builder.items(node)
        head, rest = pairs[:_JSON_OBJECT_PAIRS], pairs[_JSON_OBJECT_PAIRS:]
        obj = "json_object(" + ", ".join(f"{quote_literal(k)}, {v}" for k, v in head) + ")"
        while rest:
            chunk, rest = rest[:_JSON_OBJECT_PAIRS], rest[_JSON_OBJECT_PAIRS:]
            args = ", ".join(f"{quote_literal(_json_key_path(k))}, {v}" for k, v in chunk)
            obj = f"json_insert({obj}, {args})"
        return f"json_patch('{{}}', {obj})" if builder.strip_nulls else obj

    def embed_value(self, builder: ReadPort, child: Node, parent: Node) -> str:
        if child.rel is not None and child.rel.to_one:
            return f"json(({builder.rows_query(child, parent, self.row_object(builder, child))}))"
        sub = f"{child.alias}_r"
        rows = builder.rows_query(child, parent, f"{self.row_object(builder, child)} AS j")
        return f"json((SELECT json_group_array(json({sub}.j)) FROM ({rows}) AS {sub}))"

    def spread_value(self, builder: ReadPort, child: Node, parent: Node, value: str) -> str:
        if child.rel is not None and child.rel.to_one:
            return f"({builder.rows_query(child, parent, f'json_array({value})')}) -> '$[0]'"
        sub = f"{child.alias}_s"
        rows = builder.rows_query(child, parent, f"json_array({value}) AS v")
        return f"json((SELECT json_group_array({sub}.v -> '$[0]') FROM ({rows}) AS {sub}))"

    def body_select(self, builder: ReadPort, root: Node, mode: BodyMode, extra: str) -> tuple[str, str]:
        if mode == "csv":
            line = " || ',' || ".join(csv_quote(t) for t in self._csv_texts(builder, root)) or "''"
            page = builder.rows_query(root, None, f"{line} AS j{extra and ', ' + extra}")
            header = builder.ctx.param(csv_header(builder.output_keys(root)))
            body = f"{header} || char(10) || coalesce(group_concat(_r.j, char(10)), '')"
        else:
            row = "NULL" if mode == "none" else self.row_object(builder, root)  # HEAD / minimal: count rows only
            page = builder.rows_query(root, None, f"{row} AS j{extra and ', ' + extra}")
            body = {
                "json": "json_group_array(json(_r.j))",
                "object": "json_group_array(json(_r.j)) -> '$[0]'",
                "none": "NULL",
            }[mode]
        return f"{body}, count(*)", f"FROM ({page}) AS _r"

    @staticmethod
    def _csv_texts(builder: ReadPort, node: Node) -> list[str]:
        texts: list[str] = []
        for item in node.items:
            if isinstance(item, OutField):
                texts.append(field_text(builder.ctx, node.alias, item))
            elif item.spread:
                texts.extend(f"('' || ({v}))" for _, v in builder.spread_items(item, node))
            elif item.has_output:
                texts.append(f"('' || {builder.embed_value(item, node)})")
        return texts


def _json_key_path(key: str) -> str:
    return '$."' + key + '"'
