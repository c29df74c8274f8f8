"""The filter operators' SQL spellings, shared by the PostgreSQL filter builder
(`sql/engines/postgres/filter.py`) and the SQLite one (`sql/engines/sqlite/filter.py`), which words
its errors as PostgreSQL does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backstack.rest.plan.resolve import PFilter

SIMPLE = {"eq": "=", "neq": "<>", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
PG_OPS = {
    **SIMPLE,
    "like": "LIKE",
    "ilike": "ILIKE",
    "match": "~",
    "imatch": "~*",
    "cs": "@>",
    "cd": "<@",
    "ov": "&&",
    "sl": "<<",
    "sr": ">>",
    "nxr": "&<",
    "nxl": "&>",
    "adj": "-|-",
}
PG_FTS = {"fts": "to_tsquery", "plfts": "plainto_tsquery", "phfts": "phraseto_tsquery", "wfts": "websearch_to_tsquery"}
IS = {"null": "IS NULL", "not_null": "IS NOT NULL", "true": "IS TRUE", "false": "IS FALSE", "unknown": "IS NULL"}
PG_IS = {**IS, "unknown": "IS UNKNOWN"}
RANGE_OPS = frozenset({"cs", "cd", "ov", "sl", "sr", "nxr", "nxl", "adj"})


def pg_type(flt: PFilter) -> str:
    """The type a filter value is cast to: the column's, or text/jsonb behind a JSON path."""
    if flt.col.path:
        return "jsonb" if flt.col.kind == "json" else "text"
    if flt.col.column.kind == "json":
        return "jsonb"
    return flt.col.column.type
