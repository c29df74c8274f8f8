"""PostgreSQL's read bodies: `json_agg` over a subquery whose columns carry the output keys; embeds
are correlated subqueries (`row_to_json` for to-one, `json_agg` for to-many); CSV is each record's
text form. The database's own JSON functions type the output.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backstack.db.dialect import quote_ident
from backstack.rest.sql.common import csv_header

if TYPE_CHECKING:
    from backstack.rest.plan.resolve import Node
    from backstack.rest.sql.read_port import BodyMode, ReadPort


class PostgresReadSql:
    """The read parts of `EngineSql` on PostgreSQL."""

    unbounded_limit = ""  # OFFSET may stand alone

    def default_nulls(self, descending: bool) -> str | None:
        return None  # PostgreSQL's own default is PostgREST's

    @staticmethod
    def columns(builder: ReadPort, node: Node) -> str:
        """The select list whose column names are the output keys."""
        return ", ".join(f"{v} AS {quote_ident(k)}" for k, v in builder.items(node))

    def embed_value(self, builder: ReadPort, child: Node, parent: Node) -> str:
        to_one = child.rel is not None and child.rel.to_one
        sub = f"{child.alias}_r"
        rows = builder.rows_query(child, parent, self.columns(builder, child))
        if to_one:
            return f"(SELECT row_to_json({sub}) FROM ({rows}) AS {sub})"
        return f"(SELECT coalesce(json_agg({sub}), '[]') FROM ({rows}) AS {sub})"

    def spread_value(self, builder: ReadPort, child: Node, parent: Node, value: str) -> str:
        if child.rel is not None and child.rel.to_one:
            return f"({builder.rows_query(child, parent, value)})"
        sub = f"{child.alias}_s"
        rows = builder.rows_query(child, parent, f"{value} AS v")
        return f"(SELECT coalesce(json_agg({sub}.v), '[]') FROM ({rows}) AS {sub})"

    def body_select(self, builder: ReadPort, root: Node, mode: BodyMode, extra: str) -> tuple[str, str]:
        columns = "NULL AS j" if mode == "none" else self.columns(builder, root)
        page = builder.rows_query(root, None, columns + (", " if columns and extra else "") + extra)
        agg = "json_strip_nulls(json_agg(_r))" if builder.strip_nulls else "json_agg(_r)"
        if mode == "csv":
            header = builder.ctx.text(csv_header(builder.output_keys(root)))
            rows = "string_agg(substring(_r::text, 2, length(_r::text) - 2), chr(10))"
            body = f"{header} || chr(10) || coalesce({rows}, '')"
        else:
            body = {"json": f"coalesce({agg}, '[]')::text", "object": f"({agg} -> 0)::text", "none": "NULL"}[mode]
        return f"{body}, count(*)", f"FROM ({page}) AS _r"
