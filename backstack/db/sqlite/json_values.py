"""A SQLite column value as `json_object()` must see it for the JSON to carry PostgreSQL's types.

SQLite stores booleans as 0/1, JSON and arrays as text and bytea as blobs; wrapped this way they come out
as `true`/`false`, nested JSON and `\\x...` hex, as PostgreSQL's `to_json` prints them. Shared by the data
API's SQLite compiler (rest/sql/engines/sqlite/) and change capture (db/sqlite/capture.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backstack.db.pgtypes.names import TypeKind


def json_value(expr: str, kind: TypeKind) -> str:
    """`expr` as json_object() should see it, so the output has PostgreSQL's JSON types."""
    if kind == "bool":
        return f"CASE WHEN {expr} IS NULL THEN NULL WHEN {expr} THEN json('true') ELSE json('false') END"
    if kind in ("json", "array"):
        return f"json({expr})"
    if kind == "bytes":
        return f"CASE WHEN typeof({expr}) = 'blob' THEN '\\x' || lower(hex({expr})) ELSE {expr} END"
    return expr
