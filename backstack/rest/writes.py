"""Running a compiled write (`sql.write_plan.WritePlan`) in one transaction, on either engine.

SQLite runs the whole transaction in one hop to its writer thread (`SyncWriter`): the DML
returning row identities, then the statement building the representation from them (the only
per-row data Python handles). PostgreSQL runs one statement answering body, counts and Location,
as a transaction of its own (`Engine.write_one`) unless the outcome may still roll it back
(singular Accept, a strict `max-affected`, `tx=rollback`). Once committed, the write's
`rows_changed` events go on its `Result` (`rest.changes`). The outcome as PostgREST's answer to a
PATCH / DELETE (`changed_result`) and a write's `Location` are here too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from backstack.core import json
from backstack.core.errors import DatabaseError
from backstack.db.engine import sync_writer
from backstack.rest import errors
from backstack.rest.result import Result, applied_headers, content_range, text_body

if TYPE_CHECKING:
    from backstack.core.caller import Caller
    from backstack.db.engine import Engine, SyncConnection
    from backstack.db.schema.model import Table
    from backstack.rest.changes import Announcer
    from backstack.rest.request.query import Accept, Preferences
    from backstack.rest.sql.write_plan import WritePlan


class _Rollback(Exception):
    """Raised inside a transaction to roll it back after the response is built (`tx=rollback`)."""

    def __init__(self, result: Result) -> None:
        super().__init__("rollback")
        self.result = result


@dataclass(slots=True)
class Outcome:
    """What a write produced: its body, how many rows changed / were newly inserted, Location."""

    body: Any = None
    changed: int = 0
    inserted: int | None = None
    location: Any = None


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

    SQLite runs the whole transaction in one hop to its writer thread (`SyncWriter`), so the writer
    and the file lock other worker processes wait on are held only for the work itself. Once the
    transaction committed, `announce` (when a `rows_changed` handler listens) adds its events.
    """

    def completed(outcome: Outcome) -> tuple[Result, Outcome]:
        result = finish(outcome)
        if prefer.tx == "rollback":
            raise _Rollback(result)
        return result, outcome

    try:
        writer = sync_writer(engine)
        if writer is not None:
            text = body.decode() if body is not None else None
            result, outcome = await writer.run_write(
                lambda conn: completed(_run_sqlite(conn, plan, text, accept, prefer, limited=limited)), caller
            )
        else:
            assert plan.main is not None
            params = plan.main.bind(body.decode()) if body is not None else plan.main.params
            if not _decides_before_commit(accept, prefer, limited=limited):
                result, outcome = completed(
                    _postgres_outcome(await engine.write_one(plan.main.sql, params, caller=caller, checked=True))
                )
            else:
                async with engine.transaction(caller) as conn:
                    outcome = _postgres_outcome(await conn.fetch_one(plan.main.sql, params))
                    _check(outcome, accept, prefer, limited=limited)
                    result, outcome = completed(outcome)
    except _Rollback as rollback:
        return rollback.result
    if announce is not None:  # committed: the transaction blocks above have exited without an error
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


def _postgres_outcome(row: tuple[Any, ...] | None) -> Outcome:
    """What PostgreSQL's one write statement answered: (body, page, changed, inserted, location), and
    in a transaction the session check (`Dialect.written_session_check`; `write_one` consumes it)."""
    assert row is not None
    body_text, _page, changed, inserted, location = row[:5]
    return Outcome(body_text, int(changed), None if inserted is None else int(inserted), location)


def _run_sqlite(
    conn: SyncConnection, plan: WritePlan, text: str | None, accept: Accept, prefer: Preferences, *, limited: bool
) -> Outcome:
    """On the writer thread: the change (returning row ids), then the statement building the body."""
    if plan.delete_first:
        return _sqlite_delete(conn, plan, accept, prefer, limited=limited)
    merged = 0
    if plan.precount is not None:
        row = conn.fetch_one(plan.precount.sql, plan.precount.bind(text))
        merged = int(row[0]) if row else 0
    rows: list[Any] = []
    if plan.main is not None and plan.counts_only:
        return Outcome(changed=conn.execute(plan.main.sql, plan.main.params))
    if plan.main is not None:
        if plan.repeat:
            for _ in range(len(json.loads(text or "[]"))):
                rows.extend(conn.fetch_all(plan.main.sql, plan.main.params))
        else:
            rows = _written_rows(conn, plan, text)
    outcome = Outcome(changed=len(rows), inserted=len(rows) - merged if plan.precount else None)
    _check(outcome, accept, prefer, limited=limited)
    if plan.represent is not None:
        ids = [list(r) for r in rows] if plan.identity else [r[0] for r in rows]
        row = conn.fetch_one(plan.represent.sql, plan.represent.bind(json.dumps_str(ids)))
        if row is not None:
            outcome.body, outcome.location = row[0], row[2]
    return outcome


def _written_rows(conn: SyncConnection, plan: WritePlan, text: str | None) -> list[Any]:
    """The DML's returned identities; after a constraint error, a row failing WITH CHECK is 42501
    instead (PostgreSQL checks policies first, so its answer does not depend on the constraints)."""
    assert plan.main is not None
    try:
        return conn.fetch_all(plan.main.sql, plan.main.bind(text))
    except DatabaseError as error:
        if plan.precheck is not None and error.code.startswith("23"):
            conn.fetch_all(plan.precheck.sql, plan.precheck.bind(text))
        raise


def _sqlite_delete(
    conn: SyncConnection, plan: WritePlan, accept: Accept, prefer: Preferences, *, limited: bool
) -> Outcome:
    assert plan.represent is not None and plan.main is not None
    row = conn.fetch_one(plan.represent.sql, plan.represent.params)
    assert row is not None
    body_text, count, location, ids = row
    outcome = Outcome(body_text, int(count), None, location)
    _check(outcome, accept, prefer, limited=limited)
    if outcome.changed:
        conn.execute(plan.main.sql, plan.main.bind(ids))
    return outcome


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
