"""Type names: SQLite declared types normalised to PostgreSQL's format_type spelling, and kinds."""

from __future__ import annotations

import pytest

from backstack.db.pgtypes.names import canonical_type, type_kind

CASES = [
    ("int", "integer", "int"),
    ("INTEGER", "integer", "int"),
    ("int8", "bigint", "int"),
    ("bigserial", "bigint", "int"),
    ("smallint", "smallint", "int"),
    ("bool", "boolean", "bool"),
    ("float8", "double precision", "float"),
    ("real", "real", "float"),
    ("numeric(10, 2)", "numeric(10,2)", "numeric"),
    ("decimal", "numeric", "numeric"),
    ("varchar(20)", "character varying(20)", "text"),
    ("text", "text", "text"),
    ("timestamptz", "timestamp with time zone", "timestamp"),
    ("timestamp", "timestamp without time zone", "timestamp"),
    ("timestamptz(3)", "timestamp(3) with time zone", "timestamp"),
    ("date", "date", "date"),
    ("time", "time without time zone", "time"),
    ("jsonb", "jsonb", "json"),
    ("json", "json", "json"),
    ("uuid", "uuid", "uuid"),
    ("bytea", "bytea", "bytes"),
    ("tsvector", "tsvector", "tsvector"),
    ("text[]", "text[]", "array"),
    ("int []", "integer[]", "array"),
    ('"text[]"', "text[]", "array"),
    ("", "text", "text"),
    ("tstzrange", "tstzrange", "range"),
    ("INT4RANGE", "int4range", "range"),
    ("daterange", "daterange", "range"),
    ("tsrange[]", "tsrange[]", "array"),
    ("point", "point", "other"),
]


@pytest.mark.parametrize(("declared", "canonical", "kind"), CASES, ids=[c[0] or "empty" for c in CASES])
def test_canonical_type_and_kind(declared: str, canonical: str, kind: str) -> None:
    assert canonical_type(declared) == canonical
    assert type_kind(canonical) == kind
