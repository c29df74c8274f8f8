"""The caller's identity as session state of a pooled PostgreSQL connection, so a read costs one round trip.

Why: a transaction per read (`BEGIN` + `set_config(..., true)`, the statement, `COMMIT`) costs three
round trips, and asyncpg cannot send them in one: a simple-protocol message returns no typed rows,
and the extended protocol runs one statement per exchange. PostgreSQL plans and checks a statement
as the role in force when it runs, so the role must be set before it, in an earlier message. So each
pooled connection remembers the `SessionState` last applied to it at session level
(`set_config(..., false)`): the role, `request.jwt.claims` and `.claim.role`/`.claim.sub`, read-only
and the isolation level. A read whose caller's state is the one in place is one round trip (the
statement, in its own implicit transaction); another caller's costs one more (`apply_sql` first).

Nothing may leak to the next caller, so the remembered state is only trusted while it is known to hold:
- Every state sets all six settings, so applying one replaces whatever the previous caller had, and
  applying one first clears what else a session keeps (`RESET`: other settings such as `search_path`
  and `statement_timeout`, a `SET SESSION AUTHORIZATION`, LISTENs, cursors WITH HOLD, temp tables,
  advisory locks), in the same round trip: user code may leave any of them, and the pool does not
  reset a connection on release. A caller's explicit transaction clears them as well.
- A read runs wrapped (`checked`): its last column is `CHECK`, the settings as they are once the
  statement has run (for a read of all rows, once every row was made: a filter may run user code
  after the last row it lets through). User code reached by the statement (a function in a view or a policy) could
  change them at session level; a mismatch with `expected` forgets the state (the next use applies
  its own). SQL that cannot be wrapped (not a plain SELECT) runs in a transaction instead, as before.
- A data API write (`write_one(..., checked=True)`) carries the same check as its last column, but
  only where no code of the project's can run after that column is made: no trigger or rule on the table
  (AFTER triggers fire once the statement ends, deferred ones at commit; a rule writes another table),
  no deferrable trigger in the database (reached code may queue one for commit), no foreign key cascading into
  another table, no partitions or inheritance children, a plain table (`Dialect.written_session_check`,
  looked up by the statement itself under its lock on the table); elsewhere the column is NULL and the
  state is forgotten. A repeated write of one caller is then one round trip, as a read is.
- Any error or cancellation forgets the state, and so does every explicit transaction and every other
  write (their triggers run after anything the statement itself could report): the next use applies its own.
- Settings made at session level inside a statement that fails are rolled back by PostgreSQL
  with it, so an error never leaves half a state.

Known gaps (tests marked xfail in tests/db/test_postgres_session.py; the fix is a guard at the start of
the next statement, not only a check at the end of this one): code of the project's that sets a value at
session level and then masks it with a transaction-local one (`set_config(..., true)`) passes the check
and its session value returns after the commit, for the same caller's next request (reads and writes);
and a deferred trigger created by other DDL while a write runs, on a table that write's code reaches,
is not seen by the write's catalog lookup. Both need code written to do it; neither reaches another
caller: a different caller's state is always applied afresh (`RESET` first).

`PRISTINE` (no role switched, no claims, read-write, the database's isolation level) is what internal
work (auth, migrations, introspection) runs under; it is trusted after internal reads, not after an
internal transaction or write: a trigger of the project's (on auth.users, say) may run in them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import asyncpg

from backstack.db.dialect import SESSION_CHECK, quote_literal

DEFAULTS = "select concat_ws(chr(31), current_setting('statement_timeout'), current_setting('search_path'))"
ISOLATION_LEVELS = frozenset({"read committed", "repeatable read", "serializable", "read uncommitted"})
_SEP = "\x1f"

# What user code can leave on a session besides the six settings, cleared whenever a state is applied
# (a multi-statement simple query: still one round trip). `SET SESSION AUTHORIZATION DEFAULT` is always
# allowed; `RESET ALL` leaves the transaction's own isolation and read-only mode alone.
RESET = (
    "reset all; set session authorization default; unlisten *; close all; discard temp; select pg_advisory_unlock_all()"
)

CHECK = SESSION_CHECK  # the settings a state sets, read back at the end of a statement


@dataclass(frozen=True, slots=True)
class SessionState:
    """What a request needs in force: `role` None keeps the connecting user."""

    role: str | None
    claims: str
    claim_role: str
    claim_sub: str
    read_only: bool
    isolation: str

    def apply_sql(self) -> str:
        """One simple-protocol query clearing the session (`RESET`), then setting all six at session level."""
        values = (
            ("request.jwt.claims", self.claims),
            ("request.jwt.claim.role", self.claim_role),
            ("request.jwt.claim.sub", self.claim_sub),
            ("role", self.role or "none"),
            ("default_transaction_read_only", "on" if self.read_only else "off"),
            ("default_transaction_isolation", self.isolation),
        )
        settings = ", ".join(f"set_config('{name}', {quote_literal(value)}, false)" for name, value in values)
        return f"{RESET}; select {settings}"

    def local_sql(self) -> str:
        """The identity part as transaction-local settings, after clearing the session (`RESET`), inside an
        explicit transaction: the previous caller's leftovers must not apply to this one either."""
        values = (
            ("request.jwt.claims", self.claims),
            ("request.jwt.claim.role", self.claim_role),
            ("request.jwt.claim.sub", self.claim_sub),
            ("role", self.role or "none"),
        )
        settings = ", ".join(f"set_config('{name}', {quote_literal(value)}, true)" for name, value in values)
        return f"{RESET}; select {settings}"

    def expected(self, login_user: str, defaults: str) -> str:
        """What `CHECK` reads while this state holds; `defaults`: the connection's own statement timeout
        and search path (`DEFAULTS`), which user code may not change for the caller's later reads."""
        return _SEP.join(
            (
                self.role or login_user,
                self.claims,
                self.claim_role,
                self.claim_sub,
                "on" if self.read_only else "off",
                self.isolation,
                defaults,
            )
        )


def pristine(isolation: str) -> SessionState:
    """The connecting user's own session: what internal (caller-less) work runs under."""
    return SessionState(None, "", "", "", False, isolation)


_INTO = re.compile(r"\binto\b", re.IGNORECASE)


@lru_cache(maxsize=4096)
def checked(sql: str, *, one: bool = False) -> str | None:
    """`sql` with `CHECK` appended as its last column, or None when it is not a plain SELECT.

    `one` (the first row only): the executor stops once that row is made, so `CHECK` computed with it
    comes after everything the statement ran. Every row: a filter may run user code for rows after
    the last one it lets through, so the rows are materialized and counted first (`_n`): no row is
    made, nor its `CHECK` computed, before the whole statement has run. SELECT INTO, several
    statements and anything but SELECT are not wrapped.
    """
    head = sql.lstrip()[:7].lower()
    if head not in ("select ", "select\n", "select\t") or ";" in sql or _INTO.search(sql):
        return None
    if one:
        return f"SELECT _q.*, {CHECK} FROM (\n{sql}\n) AS _q"  # noqa: S608 (wraps the statement being run)
    return (
        f"WITH _q AS MATERIALIZED (\n{sql}\n) "  # noqa: S608 (wraps the statement being run)
        f"SELECT _q.*, {CHECK} FROM _q, (SELECT count(*) FROM _q) AS _n"
    )


class SessionConnection(asyncpg.Connection):
    """An asyncpg connection remembering the `SessionState` in force on it (None: not known)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.backstack_state: SessionState | None = None

    def remember(self, state: SessionState | None) -> None:
        """Record the state now in force (callable through the pool's proxy, which forwards it)."""
        self.backstack_state = state


def state_of(conn: Any) -> SessionState | None:
    """The state remembered on `conn` (a pool proxy or the connection itself)."""
    return getattr(conn, "backstack_state", None)


def remember(conn: Any, state: SessionState | None) -> None:
    """Record `state` on `conn`; a connection of another class (or a released proxy) is left alone."""
    try:
        method = conn.remember
    except (AttributeError, asyncpg.InterfaceError):
        return
    method(state)
