"""What compiling a write produces and is asked for: `WriteOptions` in, `WritePlan` out, and the
SQL pieces both dialects' builders share (WHERE, ON CONFLICT).

The statements themselves are `sql/write_postgres.py` and `sql/write_sqlite.py`; `sql/write.py`
is the entry point that picks one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from backstack.db.dialect import quote_ident
from backstack.rest import errors

if TYPE_CHECKING:
    from backstack.db.schema.model import Column, Table
    from backstack.rest.sql.common import Statement
    from backstack.rest.sql.read import BodyMode

Resolution = Literal["merge-duplicates", "ignore-duplicates"]


@dataclass(frozen=True, slots=True)
class WriteOptions:
    """How the write answers: its body (or none), Location, and insert-only preferences."""

    media: BodyMode = "none"
    strip_nulls: bool = False
    location: bool = False
    missing_default: bool = False
    resolution: Resolution | None = None
    on_conflict: tuple[str, ...] | None = None
    schema_name: str = "public"


@dataclass(frozen=True, slots=True)
class WritePlan:
    """The compiled statements of one write; how `rest/writes.py` runs them depends on the dialect.

    PostgreSQL: `main` (slot 1 = body JSON for insert/update) -> one row
    (body, page_count, changed_count, inserted_count, location_json).
    SQLite: `main` is the DML returning identities (slot 1 = body JSON; `repeat` = run once per
    row, for rows without any column); `represent` (slot 1 = identities JSON) -> one row
    (body, count, location_json, identities JSON); `precount` (slot 1 = body) counts rows an upsert
    will merge; for DELETE `represent` runs first and `main` takes its identities.
    """

    main: Statement | None
    represent: Statement | None = None
    precount: Statement | None = None
    repeat: bool = False
    delete_first: bool = False
    identity: tuple[str, ...] = ()
    counts_only: bool = False  # SQLite: `main` returns nothing, run it for its row count
    # SQLite: run when `main` fails on a constraint (23xxx), slot 1 = body: raises 42501 for a proposed
    # row failing WITH CHECK, as PostgreSQL checks policies before constraints
    precheck: Statement | None = None

    def with_values(self, values: Sequence[Any]) -> WritePlan:
        """The plan for one request's filter values (`Statement.with_values`)."""
        if not values:
            return self

        def bound(statement: Statement | None) -> Statement | None:
            return None if statement is None else statement.with_values(values)

        return replace(
            self,
            main=bound(self.main),
            represent=bound(self.represent),
            precount=bound(self.precount),
            precheck=bound(self.precheck),
        )


def where_sql(conds: list[str]) -> str:
    """` WHERE a AND b`, or nothing for no condition."""
    return " WHERE " + " AND ".join(conds) if conds else ""


def conflict_target(table: Table, options: WriteOptions, sqlite: bool) -> tuple[str, ...]:
    """The upsert's conflict columns (none: not an upsert); 42703 / 42P10 when they cannot be one."""
    if options.resolution is None:
        return ()
    target = options.on_conflict or table.primary_key
    for name in target:
        if name not in table.columns:
            raise errors.undefined_column(table.name, name)
    if sqlite and target and not any(set(key) == set(target) for key in table.unique):
        raise errors.no_conflict_constraint()
    return target


def on_conflict_sql(target: tuple[str, ...], columns: list[Column], options: WriteOptions) -> str:
    """` ON CONFLICT (...) DO NOTHING | DO UPDATE SET ...` for `target`, or nothing."""
    if not target:
        return ""
    head = f" ON CONFLICT ({', '.join(quote_ident(c) for c in target)})"
    if options.resolution == "ignore-duplicates" or not columns:
        return head + " DO NOTHING"
    sets = ", ".join(f"{quote_ident(c.name)} = excluded.{quote_ident(c.name)}" for c in columns)
    return f"{head} DO UPDATE SET {sets}"
