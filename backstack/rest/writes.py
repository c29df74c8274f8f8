"""Running a compiled write (`sql.write_plan.WritePlan`) in one transaction, on either engine.

The plan is its engine's and knows how it runs (`WritePlan.run`: SQLite in one hop to its writer
thread, PostgreSQL as one statement); this module gives it what decides the answer inside the
transaction (`WriteSteps`: singular Accept, a strict `max-affected`, `tx=rollback`). Once committed,
the write's `rows_changed` events go on its `Result` (`rest.changes`). The outcome as PostgREST's
answer to a PATCH / DELETE (`changed_result`) and a write's `Location` are here too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import quote

from backstack.core import json
from backstack.rest import errors
from backstack.rest.result import Result, applied_headers, content_range, text_body
from backstack.rest.sql.write_plan import Outcome, WriteSteps

if TYPE_CHECKING:
    from backstack.core.caller import Caller
    from backstack.db.engine import Engine
    from backstack.db.schema.model import Table
    from backstack.rest.changes import Announcer
    from backstack.rest.request.query import Accept, Preferences
    from backstack.rest.sql.write_plan import WritePlan


__all__ = ["Outcome", "changed_result", "location_headers", "run_write"]


class _Rollback(Exception):
    """Raised inside a transaction to roll it back after the response is built (`tx=rollback`)."""

    def __init__(self, result: Result) -> None:
        super().__init__("rollback")
        self.result = result


def _check(outcome: Outcome, accept: Accept, prefer: Preferences, *, limited: bool) -> None:
    """Raise (so the transaction rolls back) for singular Accept or a strict max-affected breach."""
    if accept.media == "object" and outcome.changed != 1:
        raise errors.singular_row_count(outcome.changed)
    if (
        limited
        and prefer.handling == "strict"
        and prefer.max_affected is not None
        and outcome.changed > prefer.max_affected
    ):
        raise errors.max_affected_exceeded(outcome.changed)


async def run_write(
    engine: Engine,
    caller: Caller,
    plan: WritePlan,
    body: bytes | None,
    prefer: Preferences,
    accept: Accept,
    finish: Callable[[Outcome], Result],
    *,
    limited: bool,
    announce: Announcer | None = None,
) -> Result:
    """Run `plan` in one transaction; `finish(outcome) -> Result`; roll back on error or tx=rollback.

    Once the transaction committed, `announce` (when a `rows_changed` handler listens) adds its events.
    """

    def completed(outcome: Outcome) -> tuple[Result, Outcome]:
        result = finish(outcome)
        if prefer.tx == "rollback":
            raise _Rollback(result)
        return result, outcome

    def check(outcome: Outcome) -> None:
        _check(outcome, accept, prefer, limited=limited)

    steps = WriteSteps(check, completed, _decides_before_commit(accept, prefer, limited=limited))
    try:
        result, outcome = await plan.run(engine, caller, body.decode() if body is not None else None, steps)
    except _Rollback as rollback:
        return rollback.result
    if announce is not None:  # committed: `plan.run` returned without an error
        result.changes = announce.events(outcome.changed, outcome.inserted, outcome.body)
    return result


def _decides_before_commit(accept: Accept, prefer: Preferences, *, limited: bool) -> bool:
    """Whether the outcome may still roll the write back (`_check`, `tx=rollback`); if not, PostgreSQL
    runs the statement as a transaction of its own (`Engine.write_one`, fewer round trips)."""
    return (
        accept.media == "object"
        or prefer.tx == "rollback"
        or (limited and prefer.handling == "strict" and prefer.max_affected is not None)
    )


# ---------------------------------------------------------------- the outcome as the answer


def changed_result(outcome: Outcome, prefer: Preferences, *, first: int | None) -> Result:
    """The answer to PATCH / DELETE: 200 with the rows or 204; Content-Range `0-N/*` (PATCH, `first=0`)
    or `*/*` (DELETE, `first=None`), the total only when a count was asked for."""
    total = outcome.changed if prefer.count else None
    representation = prefer.return_ == "representation"
    lower, upper = (first, first + outcome.changed - 1) if first is not None else (1, 0)
    return Result(
        text_body(outcome.body) if representation else None,
        200 if representation else 204,
        content_range(lower, upper, total),
        applied_headers(prefer),
    )


def location_headers(table: Table, outcome: Outcome) -> dict[str, str]:
    """`Location` of the one row a write made (`Prefer: return=headers-only`): its primary key as filters."""
    if outcome.changed != 1 or outcome.location is None or not table.primary_key:
        return {}
    values = json.loads(outcome.location)
    query = "&".join(
        f"{quote(c, safe='')}=eq.{quote(str(v), safe='')}" for c, v in zip(table.primary_key, values, strict=False)
    )
    return {"Location": f"/{quote(table.name, safe='')}?{query}"}
