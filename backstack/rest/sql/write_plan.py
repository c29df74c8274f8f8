"""What compiling a write produces and is asked for: `WriteOptions` in, a `WritePlan` out (each
engine's own: `sql/engines/*/write.py`), the `Outcome` running it gives, and the SQL pieces both
engines' builders share (WHERE, ON CONFLICT).

`sql/write.py` is the entry point; `rest/writes.py` runs a plan through `WritePlan.run`, giving it
the `WriteSteps` that decide the answer inside the write's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, Protocol, TypeVar

from backstack.db.dialect import quote_ident
from backstack.rest import errors

if TYPE_CHECKING:
    from backstack.core.caller import Caller
    from backstack.db.engine import Engine
    from backstack.db.schema.model import Column, Table
    from backstack.rest.sql.read_port import BodyMode

T = TypeVar("T")
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


@dataclass(slots=True)
class Outcome:
    """What a write produced: its body, how many rows changed / were newly inserted, Location."""

    body: Any = None
    changed: int = 0
    inserted: int | None = None
    location: Any = None


@dataclass(frozen=True, slots=True)
class WriteSteps(Generic[T]):
    """What the data API does with a write's outcome inside the write's transaction (`rest/writes.py`).

    `check` raises for an outcome the request refuses (singular Accept, a strict `max-affected`);
    `answer` makes the response and may raise to roll back (`tx=rollback`); `may_roll_back` says
    whether either can, or the write may commit on its own (PostgreSQL's `Engine.write_one`).
    """

    check: Callable[[Outcome], None]
    answer: Callable[[Outcome], T]
    may_roll_back: bool


class WritePlan(Protocol):
    """The compiled statements of one write, for one engine, and how that engine runs them."""

    def with_values(self, values: Sequence[Any]) -> WritePlan:
        """The plan for one request's filter values (`Statement.with_values`)."""
        ...

    async def run(self, engine: Engine, caller: Caller, body: str | None, steps: WriteSteps[T]) -> T:
        """Run the write in one transaction as `caller` (`body`: the request's JSON, slot 1), and
        `steps.answer` its outcome there; an error, or `steps` raising, rolls it back."""
        ...


def where_sql(conds: list[str]) -> str:
    """` WHERE a AND b`, or nothing for no condition."""
    return " WHERE " + " AND ".join(conds) if conds else ""


def conflict_target(table: Table, options: WriteOptions) -> tuple[str, ...]:
    """The upsert's conflict columns (none: not an upsert); 42703 for one the table lacks."""
    if options.resolution is None:
        return ()
    target = options.on_conflict or table.primary_key
    for name in target:
        if name not in table.columns:
            raise errors.undefined_column(table.name, name)
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
