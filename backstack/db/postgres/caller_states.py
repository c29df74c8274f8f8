"""Which `SessionState` a statement runs under: the caller's role (when it exists), claims and
read-only, or the pristine state for internal work.

Kept apart from the engine because it is pure bookkeeping over what the database said at start
(its default isolation, login user and settings) and at each reload (the roles that exist); the
`SessionState` itself and how it is applied are `db/postgres/session.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from backstack.core import json
from backstack.db.postgres.session import DEFAULTS, ISOLATION_LEVELS, SessionState, pristine, state_of

if TYPE_CHECKING:
    from backstack.core.caller import Caller

CALLER_STATES = 1024  # callers whose state is remembered (`CallerStates.of`); cleared when full


class CallerStates:
    """The session states of callers, remembered per Caller object (the authenticator reuses one
    per token): a JSON dump and a dataclass less per request."""

    def __init__(self) -> None:
        self._cache: dict[tuple[int, bool], tuple[Caller, SessionState, str]] = {}
        self._roles: frozenset[str] = frozenset()
        self._isolation = "read committed"  # the database's default, read at start
        self._login_user = ""
        self._defaults = ""  # the connections' statement timeout and search path, as `CHECK` reads them
        self.pristine = pristine(self._isolation)

    async def load_defaults(self, conn: Any) -> None:
        """Read the database's default isolation, the login user and the connections' settings."""
        defaults = await conn.fetchrow("select current_setting('default_transaction_isolation'), current_user")
        assert defaults is not None
        isolation, self._login_user = defaults
        self._isolation = isolation if isolation in ISOLATION_LEVELS else "read committed"
        self.pristine = pristine(self._isolation)
        self._defaults = await conn.fetchval(DEFAULTS)
        self._cache.clear()

    def set_roles(self, roles: frozenset[str]) -> None:
        """The roles a caller may run as (read at each reload)."""
        self._roles = roles
        self._cache.clear()  # a state names the caller's role only when it exists

    def of(self, caller: Caller | None, *, read_only: bool) -> tuple[SessionState, str]:
        """A caller's session state and what `CHECK` reads while it holds. The cache entry holds
        the caller itself, so its `id` cannot be reused by another while cached."""
        if caller is None:
            return self.pristine, ""
        key = (id(caller), read_only)
        entry = self._cache.get(key)
        if entry is not None and entry[0] is caller:
            return entry[1], entry[2]
        state = self.state(caller, read_only=read_only)
        expected = state.expected(self._login_user, self._defaults)
        if len(self._cache) >= CALLER_STATES:
            self._cache.clear()
        self._cache[key] = (caller, state, expected)
        return state, expected

    def state(self, caller: Caller | None, *, read_only: bool) -> SessionState:
        """The session state a statement of `caller` runs under (see `db/postgres/session.py`)."""
        if caller is None:
            return self.pristine
        return SessionState(
            caller.role if caller.role in self._roles else None,
            json.dumps_str(caller.claims),
            caller.role,
            caller.uid or "",
            read_only,
            "read committed" if read_only else self._isolation,
        )

    def begin_sql(self, conn: Any, caller: Caller | None) -> str:
        """`BEGIN` plus the identity the transaction runs under, as one simple-protocol round trip.

        A caller's identity is set transaction-locally (the session's, whoever it was, comes back at
        the end); internal work puts the pristine state back at session level when it is not known
        to be there, so it holds after the commit."""
        begin = f"begin isolation level {self._isolation} read write"
        if caller is not None:
            return f"{begin}; {self.state(caller, read_only=False).local_sql()}"
        if state_of(conn) == self.pristine:
            return begin
        return f"{begin}; {self.pristine.apply_sql()}"
