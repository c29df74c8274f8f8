"""PostgreSQL type names: one spelling (`format_type`'s) for both engines, and each type's `TypeKind`.

SQLite keeps whatever type name a column was declared with (`timestamptz`, `int8`, `text[]`), and
PostgreSQL reports `format_type` spellings (`timestamp with time zone`, `bigint`, `text[]`). The
data API plans against one vocabulary, so SQLite declared types are normalised here to what
PostgreSQL would report for the same DDL.
"""

from __future__ import annotations

import re

# Coarse type families used to build JSON output and coerce input (SQLite stores few real types).
# One of: "int", "float", "numeric", "bool", "json", "text", "uuid", "timestamp", "date", "time", "bytes",
# "array", "tsvector", "range" (the built-in range types, `db.pgtypes.ranges`), "other".
# `schema.model` re-exports it for the columns it describes.
TypeKind = str

# alias (lower case, no modifiers) -> format_type spelling
_CANONICAL: dict[str, str] = {
    "int": "integer",
    "int4": "integer",
    "integer": "integer",
    "serial": "integer",
    "serial4": "integer",
    "int8": "bigint",
    "bigint": "bigint",
    "bigserial": "bigint",
    "serial8": "bigint",
    "int2": "smallint",
    "smallint": "smallint",
    "smallserial": "smallint",
    "bool": "boolean",
    "boolean": "boolean",
    "float8": "double precision",
    "double precision": "double precision",
    "double": "double precision",
    "float": "double precision",
    "float4": "real",
    "real": "real",
    "decimal": "numeric",
    "numeric": "numeric",
    "varchar": "character varying",
    "character varying": "character varying",
    "char": "character",
    "character": "character",
    "bpchar": "character",
    "timestamptz": "timestamp with time zone",
    "timestamp with time zone": "timestamp with time zone",
    "timestamp": "timestamp without time zone",
    "timestamp without time zone": "timestamp without time zone",
    "datetime": "timestamp without time zone",
    "timetz": "time with time zone",
    "time with time zone": "time with time zone",
    "time": "time without time zone",
    "time without time zone": "time without time zone",
    "blob": "bytea",
}

_KIND: dict[str, TypeKind] = {
    "integer": "int",
    "bigint": "int",
    "smallint": "int",
    "oid": "int",
    "numeric": "numeric",
    "money": "numeric",
    "double precision": "float",
    "real": "float",
    "boolean": "bool",
    "json": "json",
    "jsonb": "json",
    "uuid": "uuid",
    "timestamp with time zone": "timestamp",
    "timestamp without time zone": "timestamp",
    "date": "date",
    "time with time zone": "time",
    "time without time zone": "time",
    "bytea": "bytes",
    "tsvector": "tsvector",
    "text": "text",
    "character varying": "text",
    "character": "text",
    "name": "text",
    "citext": "text",
    "int4range": "range",
    "int8range": "range",
    "numrange": "range",
    "daterange": "range",
    "tsrange": "range",
    "tstzrange": "range",
}

_MODIFIERS = re.compile(r"^(?P<base>[^(\[]*?)\s*(?P<mods>\([^)]*\))?\s*(?P<array>(\[\d*\]\s*)*)$")


def canonical_type(declared: str) -> str:
    """The `format_type` spelling of a declared type: `int8` -> `bigint`, `varchar(20)` ->
    `character varying(20)`, `timestamptz` -> `timestamp with time zone`, `text []` -> `text[]`.

    Unknown names are returned lower-cased and whitespace-normalised.
    """
    text = " ".join(declared.strip().strip('"').lower().split())
    if not text:
        return "text"
    match = _MODIFIERS.match(text)
    if match is None:
        return text
    base = match["base"].strip()
    mods = (match["mods"] or "").replace(" ", "")
    dims = match["array"].count("[")
    name = _CANONICAL.get(base, base)
    if mods and name in ("timestamp with time zone", "timestamp without time zone"):
        name = name.replace("timestamp", f"timestamp{mods}", 1)
        mods = ""
    elif mods and name in ("time with time zone", "time without time zone"):
        name = name.replace("time", f"time{mods}", 1)
        mods = ""
    return f"{name}{mods}" + "[]" * dims


def type_kind(type_name: str) -> TypeKind:
    """The coarse family of a type in `format_type` spelling (see `schema.TypeKind`)."""
    name = type_name.strip().lower()
    if name.endswith("]"):
        return "array"
    base = re.sub(r"\(.*?\)", "", name).strip()
    return _KIND.get(base, _KIND.get(canonical_type(base), "other"))


# format_type spelling -> the internal name (`pg_type.typname`), what Realtime's `columns` carry
_INTERNAL: dict[str, str] = {
    "integer": "int4",
    "bigint": "int8",
    "smallint": "int2",
    "boolean": "bool",
    "double precision": "float8",
    "real": "float4",
    "character varying": "varchar",
    "character": "bpchar",
    "timestamp with time zone": "timestamptz",
    "timestamp without time zone": "timestamp",
    "time with time zone": "timetz",
    "time without time zone": "time",
}


def internal_name(type_name: str) -> str:
    """A type's internal name as `pg_type` has it: `integer` -> `int4`, `text[]` -> `_text`,
    `character varying(20)` -> `varchar` (Supabase Realtime names column types so)."""
    name = canonical_type(type_name)
    array = name.endswith("]")
    base = re.sub(r"\(.*?\)", "", name.split("[", 1)[0]).strip()
    internal = _INTERNAL.get(base, base)
    return f"_{internal}" if array else internal
