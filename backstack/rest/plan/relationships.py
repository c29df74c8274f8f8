"""Relationships between tables, derived from foreign keys the way PostgREST derives them.

From every foreign key `child(cols) -> parent(ref_cols)`:
- many-to-one from child to parent and one-to-many back, or one-to-one both ways when the FK
  columns are exactly a primary key or unique constraint of the child;
- many-to-many between two tables through a junction: a table with many-to-one keys to both sides
  whose FK columns are all part of its primary key.

`find_relationship` picks the one an embed (`rel!hint(...)`) means, applying PostgREST's matching
rules (target = table, FK constraint or FK column; hint = constraint, column or junction table) and
its errors: none -> PGRST200, several -> PGRST201 (HTTP 300) listing the candidates.

Computed on demand from the `Schema` (a scan of all foreign keys): compiled statements are cached
by the caller, so this runs once per request shape, not per request.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from backstack.rest import errors

if TYPE_CHECKING:
    from backstack.db.schema.model import ForeignKey, Schema, Table

Cardinality = Literal["many-to-one", "one-to-many", "one-to-one", "many-to-many"]
Pairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Junction:
    """The middle table of a many-to-many: `source_pairs` are (source col, junction col)."""

    table: str
    constraint1: str
    constraint2: str
    source_pairs: Pairs
    target_pairs: Pairs


@dataclass(frozen=True, slots=True)
class Relationship:
    """A path from `table` to `foreign_table`; `pairs` are (table col, foreign col), empty for m2m."""

    table: str
    foreign_table: str
    cardinality: Cardinality
    constraint: str
    pairs: Pairs = ()
    junction: Junction | None = None

    @property
    def to_one(self) -> bool:
        return self.cardinality in ("many-to-one", "one-to-one")

    @property
    def is_self(self) -> bool:
        return self.table == self.foreign_table

    def describe(self) -> dict[str, Any]:
        """The PGRST201 `details` entry for this relationship (PostgREST's wording)."""
        embedding = f"{self.table} with {self.foreign_table}"
        if self.junction is not None:
            j = self.junction
            src = ", ".join(p[1] for p in j.source_pairs)
            tgt = ", ".join(p[1] for p in j.target_pairs)
            relationship = f"{j.table} using {j.constraint1}({src}) and {j.constraint2}({tgt})"
        else:
            cols = ", ".join(p[0] for p in self.pairs)
            fcols = ", ".join(p[1] for p in self.pairs)
            relationship = f"{self.constraint} using {self.table}({cols}) and {self.foreign_table}({fcols})"
        return {"cardinality": self.cardinality, "embedding": embedding, "relationship": relationship}

    def hint_name(self) -> str:
        """What the PGRST201 hint proposes: `'target!constraint'` or `'target!junction'`."""
        via = self.junction.table if self.junction is not None else self.constraint
        return f"{self.foreign_table}!{via}"


def _is_unique(table: Table, columns: tuple[str, ...]) -> bool:
    wanted = set(columns)
    return any(set(key) == wanted for key in table.unique)


def _outgoing(schema: Schema, table: Table, fk: ForeignKey) -> Relationship | None:
    if fk.ref_table not in schema.tables:
        return None
    one = _is_unique(table, fk.columns)
    pairs = tuple(zip(fk.columns, fk.ref_columns, strict=False))
    return Relationship(table.name, fk.ref_table, "one-to-one" if one else "many-to-one", fk.name, pairs)


def _incoming(child: Table, fk: ForeignKey) -> Relationship:
    one = _is_unique(child, fk.columns)
    pairs = tuple(zip(fk.ref_columns, fk.columns, strict=False))
    return Relationship(fk.ref_table, child.name, "one-to-one" if one else "one-to-many", fk.name, pairs)


def _many_to_many(schema: Schema, origin: str, junction: Table) -> list[Relationship]:
    """Junction rows: a many-to-one to `origin` and another to any table, all FK cols in the PK."""
    pk = set(junction.primary_key)
    m2o = [fk for fk in junction.foreign_keys if not _is_unique(junction, fk.columns) and fk.ref_table in schema.tables]
    found: list[Relationship] = []
    for fk1 in m2o:
        if fk1.ref_table != origin:
            continue
        for fk2 in m2o:
            if fk2.name == fk1.name or not (set(fk1.columns) | set(fk2.columns)) <= pk:
                continue
            j = Junction(
                junction.name,
                fk1.name,
                fk2.name,
                tuple(zip(fk1.ref_columns, fk1.columns, strict=False)),
                tuple(zip(fk2.ref_columns, fk2.columns, strict=False)),
            )
            found.append(Relationship(origin, fk2.ref_table, "many-to-many", fk1.name, (), j))
    return found


def relationships_from(schema: Schema, origin: str) -> list[Relationship]:
    """Every relationship starting at table `origin`."""
    table = schema.tables.get(origin)
    if table is None:
        return []
    rels = [r for fk in table.foreign_keys if (r := _outgoing(schema, table, fk)) is not None]
    for other in schema.tables.values():
        rels.extend(_incoming(other, fk) for fk in other.foreign_keys if fk.ref_table == origin)
    for other in schema.tables.values():
        rels.extend(_many_to_many(schema, origin, other))
    return rels


def _single_col(rel: Relationship, side: int) -> str | None:
    if rel.junction is not None or len(rel.pairs) != 1:
        return None
    return rel.pairs[0][side]


def _matches(rel: Relationship, target: str, hint: str | None) -> bool:
    if rel.is_self:
        return _matches_self(rel, target, hint)
    if hint is None:
        return (
            target == rel.foreign_table
            or (rel.junction is None and target == rel.constraint)
            or target == _single_col(rel, 0)
        )
    if target != rel.foreign_table:
        return False
    if rel.junction is not None:
        return hint == rel.junction.table
    return hint in (rel.constraint, _single_col(rel, 0), _single_col(rel, 1))


def _matches_self(rel: Relationship, target: str, hint: str | None) -> bool:
    """A self FK gives a one-to-many (named by the table) and a many-to-one (named by the column)."""
    if hint is None:
        return (target == rel.foreign_table and rel.cardinality == "one-to-many") or (
            rel.cardinality == "many-to-one" and target == _single_col(rel, 0)
        )
    if rel.junction is not None:
        return target == rel.foreign_table and hint == rel.junction.table
    return target == rel.foreign_table and rel.cardinality == "one-to-many" and hint == _single_col(rel, 1)


def find_relationship(schema: Schema, origin: str, target: str, hint: str | None, schema_name: str) -> Relationship:
    """The one relationship `origin?select=target!hint(...)` means, or PGRST200 / PGRST201."""
    rels = relationships_from(schema, origin)
    found = [r for r in rels if _matches(r, target, hint)]
    if len(found) == 1:
        return found[0]
    if not found:
        error = errors.no_relationship(origin, target, schema_name, hint)
        if hint is None:
            close = difflib.get_close_matches(target, sorted({r.foreign_table for r in rels}), n=1, cutoff=0.75)
            if close and close[0] != target:
                error.hint = f"Perhaps you meant '{close[0]}' instead of '{target}'."
        raise error
    found.sort(key=lambda r: (r.constraint, r.junction.table if r.junction else ""))  # catalog order, both engines
    raise errors.ambiguous_relationship(origin, target, [r.describe() for r in found], [r.hint_name() for r in found])
