"""How SQLite runs a write: the whole transaction in one hop to its writer thread (`SyncWriter`),
so the writer and the file lock other worker processes wait on are held only for the work itself:
the DML returning row identities, then the statement building the representation from them (the
only per-row data Python handles). DELETE reads its rows first, then deletes exactly those.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, TypeVar

from backstack.core import json
from backstack.core.errors import DatabaseError
from backstack.db.engine import sync_writer
from backstack.rest.sql.write_plan import Outcome

if TYPE_CHECKING:
    from backstack.core.caller import Caller
    from backstack.db.engine import Engine, SyncConnection
    from backstack.rest.sql.statement import Statement
    from backstack.rest.sql.write_plan import WriteSteps

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SqliteWritePlan:
    """The statements of one write on SQLite.

    `main` is the DML returning identities (slot 1 = body JSON; `repeat` = run once per row, for rows
    without any column); `represent` (slot 1 = identities JSON) -> one row (body, count, location_json,
    identities JSON); `precount` (slot 1 = body) counts rows an upsert will merge; for DELETE
    (`delete_first`) `represent` runs first and `main` takes its identities.
    """

    main: Statement | None
    represent: Statement | None = None
    precount: Statement | None = None
    repeat: bool = False
    delete_first: bool = False
    identity: tuple[str, ...] = ()
    counts_only: bool = False  # `main` returns nothing, run it for its row count
    # run when `main` fails on a constraint (23xxx), slot 1 = body: raises 42501 for a proposed row
    # failing WITH CHECK, as PostgreSQL checks policies before constraints
    precheck: Statement | None = None

    def with_values(self, values: Sequence[Any]) -> SqliteWritePlan:
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

    async def run(self, engine: Engine, caller: Caller, body: str | None, steps: WriteSteps[T]) -> T:
        writer = sync_writer(engine)
        assert writer is not None, "SQLite runs its writes on its writer thread"
        return await writer.run_write(lambda conn: steps.answer(self._outcome(conn, body, steps.check)), caller)

    def _outcome(self, conn: SyncConnection, text: str | None, check: Callable[[Outcome], None]) -> Outcome:
        """On the writer thread: the change (returning row ids), then the statement building the body."""
        if self.delete_first:
            return self._delete(conn, check)
        merged = 0
        if self.precount is not None:
            row = conn.fetch_one(self.precount.sql, self.precount.bind(text))
            merged = int(row[0]) if row else 0
        rows: list[Any] = []
        if self.main is not None and self.counts_only:
            return Outcome(changed=conn.execute(self.main.sql, self.main.params))
        if self.main is not None:
            if self.repeat:
                for _ in range(len(json.loads(text or "[]"))):
                    rows.extend(conn.fetch_all(self.main.sql, self.main.params))
            else:
                rows = self._written_rows(conn, text)
        outcome = Outcome(changed=len(rows), inserted=len(rows) - merged if self.precount else None)
        check(outcome)
        if self.represent is not None:
            ids = [list(r) for r in rows] if self.identity else [r[0] for r in rows]
            row = conn.fetch_one(self.represent.sql, self.represent.bind(json.dumps_str(ids)))
            if row is not None:
                outcome.body, outcome.location = row[0], row[2]
        return outcome

    def _written_rows(self, conn: SyncConnection, text: str | None) -> list[Any]:
        """The DML's returned identities; after a constraint error, a row failing WITH CHECK is 42501
        instead (PostgreSQL checks policies first, so its answer does not depend on the constraints)."""
        assert self.main is not None
        try:
            return conn.fetch_all(self.main.sql, self.main.bind(text))
        except DatabaseError as error:
            if self.precheck is not None and error.code.startswith("23"):
                conn.fetch_all(self.precheck.sql, self.precheck.bind(text))
            raise

    def _delete(self, conn: SyncConnection, check: Callable[[Outcome], None]) -> Outcome:
        assert self.represent is not None and self.main is not None
        row = conn.fetch_one(self.represent.sql, self.represent.params)
        assert row is not None
        body_text, count, location, ids = row
        outcome = Outcome(body_text, int(count), None, location)
        check(outcome)
        if outcome.changed:
            conn.execute(self.main.sql, self.main.bind(ids))
        return outcome
