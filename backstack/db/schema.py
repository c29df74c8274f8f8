"""The schema model both engines introspect into: tables, views, columns, keys and foreign keys.

Introspection itself lives with each engine (`sqlite.py`, `postgres.py`); this module holds the
engine-neutral, immutable result that the data API plans against. A `Schema` is replaced, never
mutated, when the database changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Coarse type families used to build JSON output and coerce input (SQLite stores few real types).
# One of: "int", "float", "numeric", "bool", "json", "text", "uuid", "timestamp", "date", "time", "bytes",
# "array", "tsvector", "other".
TypeKind = str


@dataclass(frozen=True, slots=True)
class Column:
    """One column as declared: `type` is the PostgreSQL spelling (`integer`, `jsonb`, `text[]`...)."""

    name: str
    type: str
    kind: TypeKind
    nullable: bool = True
    default: str | None = None  # the default expression, in the engine's own SQL
    generated: bool = False  # identity / generated / rowid alias: may be omitted on insert


@dataclass(frozen=True, slots=True)
class ForeignKey:
    """`columns` of `table` reference `ref_columns` of `ref_table`; `name` is the constraint name."""

    name: str
    table: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Table:
    """A table or view visible through the data API."""

    schema: str
    name: str
    columns: dict[str, Column]
    primary_key: tuple[str, ...] = ()
    unique: tuple[tuple[str, ...], ...] = ()  # every unique constraint/index, the PK included
    foreign_keys: tuple[ForeignKey, ...] = ()
    is_view: bool = False
    # SQLite only: text column -> the FTS5 table indexing it (external content, rowid = table rowid).
    fts: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Schema:
    """Every exposed table by name, plus a fingerprint that changes whenever the schema does."""

    tables: dict[str, Table]
    fingerprint: str = ""

    def get(self, name: str) -> Table | None:
        return self.tables.get(name)
