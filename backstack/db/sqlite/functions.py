"""SQL functions registered on every SQLite connection: what PostgreSQL has built in and SQLite lacks.

- `regexp(pattern, value)` / `iregexp(pattern, value)`: `~` and `~*` (PostgREST `match`/`imatch`);
  `value REGEXP pattern` works too.
- `like_cs(pattern, value)` / `ilike(pattern, value)`: PostgreSQL `LIKE` (case-sensitive, where
  SQLite's is not) and `ILIKE` (Unicode case-insensitive), with `%`, `_` and backslash escapes.
  All four match in linear time with RE2 (`db.sqlite.regex`), and a call whose worst case would pass the
  statement's deadline is not started (57014): one call cannot outlive the statement timeout.
- `gen_random_uuid()`, `now()`: for statements only; stored DEFAULTs use built-ins (`db.translate.ddl`) so the
  file stays usable from the plain sqlite3 shell.
- `auth_uid()`, `auth_role()`, `auth_jwt()`, `auth_email()`: the caller of the running statement
  (policies read them); `current_setting(name [, missing_ok])` answers PostgREST's settings from the
  same caller: `request.jwt.claims` (JSON), `request.jwt.claim.<claim>`, `role`; then the settings
  the statement was run with (`Job.settings`, what `set_config(name, value, true)` would have set on
  PostgreSQL); anything else is 42704 unless `missing_ok`, as on PostgreSQL.
- `realtime_topic()`: Supabase's `realtime.topic()`, the topic Realtime Authorization is asking about
  (the `realtime.topic` setting; NULL in any other statement, as on PostgreSQL).
- `_bs_rls_violation(table, policy, kind)`: raises 42501 `new row violates row-level security
  policy ...` (the policy service's WITH CHECK and upsert USING checks call it for a failing row).
- `backstack_raise(sqlstate, message)`: fails the statement with that PostgreSQL error; the catalog
  statements of db.translate.policies check with it what PostgreSQL would refuse (a duplicate policy...).
- Range types (`db.pgtypes.ranges`): `_bs_range(text, type)` is the canonical text PostgreSQL would store
  (what writes to a range column go through), `_bs_range_test(op, left, right, type)` PostgREST's
  range operators (`cs`, `cd`, `ov`, `sl`, `sr`, `nxr`, `nxl`, `adj`), `_bs_range_cmp(left, right,
  type)` the range ordering (-1, 0, 1), and `int4range(lo, hi [, flags])`... the constructors. A bad
  literal fails the statement with PostgreSQL's error (22P02 malformed range literal...).

Each connection has one `ConnState`; the engine sets its `job` around every statement, which is how
the auth functions see the caller and how the progress handler enforces the statement timeout.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from backstack.core import json
from backstack.core.errors import ApiError
from backstack.db.errors import TIMEOUT_MESSAGE, database_error
from backstack.db.pgtypes import ranges as pgrange
from backstack.db.pgtypes.range_bounds import RANGE_TYPES
from backstack.db.sqlite.regex import Matcher, RegexError, RegexTooSlow, like_matcher, regex_matcher

if TYPE_CHECKING:
    from backstack.core.caller import Caller

PROGRESS_STEPS = 1000  # VM instructions between two statement-timeout checks


@dataclass(slots=True)
class Job:
    """One statement (or script) running on a connection."""

    caller: Caller | None = None
    deadline: float = 0.0  # time.monotonic() after which the statement is interrupted; 0 = never
    cancelled: bool = False
    settings: Mapping[str, str] | None = None  # `current_setting` names -> values, for this statement


@dataclass(slots=True)
class ConnState:
    """A connection plus what its registered functions and progress handler read."""

    conn: sqlite3.Connection
    job: Job | None = None
    # raised inside a function: sqlite3 itself only reports "user-defined function raised exception"
    error: ApiError | None = None
    extra: list[tuple[str, int, Callable[..., Any], bool]] = field(default_factory=list)
    generation: int = 0  # the engine's schema generation the connection's planner statistics belong to

    def progress(self) -> int:
        job = self.job
        if job is None:
            return 0
        return int(job.cancelled or (job.deadline > 0 and time.monotonic() > job.deadline))


def install(state: ConnState) -> None:
    """Register the functions and the statement-timeout progress handler on `state.conn`."""
    conn = state.conn
    conn.set_progress_handler(state.progress, PROGRESS_STEPS)
    det = {"deterministic": True}
    conn.create_function("regexp", 2, _matching(state, regex_matcher, False), **det)
    conn.create_function("iregexp", 2, _matching(state, regex_matcher, True), **det)
    conn.create_function("like_cs", 2, _matching(state, like_matcher, False), **det)
    conn.create_function("ilike", 2, _matching(state, like_matcher, True), **det)
    conn.create_function("gen_random_uuid", 0, lambda: str(uuid.uuid4()))
    conn.create_function("now", 0, _now)
    conn.create_function("auth_uid", 0, lambda: _caller_uid(state))
    conn.create_function("auth_role", 0, lambda: _caller_role(state))
    conn.create_function("auth_jwt", 0, lambda: _caller_claims(state))
    conn.create_function("auth_email", 0, lambda: _caller_claim(state, "email"))
    conn.create_function("current_setting", 1, lambda name: _setting(state, name, False))
    conn.create_function("current_setting", 2, lambda name, missing_ok: _setting(state, name, bool(missing_ok)))
    conn.create_function("realtime_topic", 0, lambda: _realtime_topic(state))
    conn.create_function("_bs_rls_violation", 3, lambda table, policy, kind: _rls_violation(state, table, policy, kind))
    conn.create_function("backstack_raise", 2, lambda sqlstate, message: _raise(state, sqlstate, message))
    _install_ranges(state)
    for name, narg, fn, deterministic in state.extra:
        conn.create_function(name, narg, fn, deterministic=deterministic)


def _matching(
    state: ConnState, matcher: Callable[[str, bool], Matcher], case_insensitive: bool
) -> Callable[[Any, Any], int | None]:
    """`fn(pattern, value)` for SQL; keeps the ApiError it fails with, for the engine to report."""

    def call(pattern: Any, value: Any) -> int | None:
        if pattern is None or value is None:
            return None
        job = state.job
        remaining = job.deadline - time.monotonic() if job is not None and job.deadline > 0 else None
        try:
            return int(matcher(str(pattern), case_insensitive).test(str(value), remaining))
        except RegexError as exc:
            state.error = database_error(exc.sqlstate, str(exc))
            raise
        except RegexTooSlow:
            state.error = database_error("57014", TIMEOUT_MESSAGE)
            raise

    return call


def _install_ranges(state: ConnState) -> None:
    conn, det = state.conn, {"deterministic": True}
    conn.create_function("_bs_range", 2, _reporting(state, _range_text), **det)
    conn.create_function("_bs_range_test", 4, _reporting(state, _range_test), **det)
    conn.create_function("_bs_range_cmp", 3, _reporting(state, _range_cmp), **det)
    for type_name in RANGE_TYPES:
        constructor = _reporting(state, _constructor(type_name))
        conn.create_function(type_name, 2, constructor, **det)
        conn.create_function(type_name, 3, constructor, **det)


def _reporting(state: ConnState, fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` for SQL: the ApiError it raises is kept for the engine to report (sqlite3 cannot carry it)."""

    def call(*args: Any) -> Any:
        try:
            return fn(*args)
        except ApiError as exc:
            state.error = exc
            raise

    return call


def _range_text(value: Any, type_name: Any) -> str | None:
    return None if value is None else pgrange.canonical(str(value), str(type_name))


def _range_test(operator: Any, left: Any, right: Any, type_name: Any) -> int | None:
    if left is None or right is None:
        return None
    return int(pgrange.test(str(operator), str(left), str(right), str(type_name)))


def _range_cmp(left: Any, right: Any, type_name: Any) -> int | None:
    if left is None or right is None:
        return None
    kind = str(type_name)
    return pgrange.compare(pgrange.parse(str(left), kind), pgrange.parse(str(right), kind))


def _constructor(type_name: str) -> Callable[..., str]:
    def construct(low: Any, high: Any, flags: Any = "[)") -> str:
        return pgrange.construct(type_name, low, high, flags)

    return construct


def _raise(state: ConnState, sqlstate: Any, message: Any) -> None:
    """Fail the statement with a PostgreSQL error; its status depends on the caller (42501: 401 or 403)."""
    job = state.job
    anonymous = job is None or job.caller is None or job.caller.is_anonymous
    state.error = database_error(str(sqlstate), str(message), anonymous=anonymous)
    raise ValueError(message)


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _caller_uid(state: ConnState) -> str | None:
    job = state.job
    return job.caller.uid if job and job.caller else None


def _caller_role(state: ConnState) -> str | None:
    job = state.job
    return job.caller.role if job and job.caller else None


def _caller_claims(state: ConnState) -> str | None:
    job = state.job
    return json.dumps_str(job.caller.claims) if job and job.caller else None


def _caller_claim(state: ConnState, claim: str) -> str | None:
    job = state.job
    value = job.caller.claims.get(claim) if job and job.caller else None
    if value is None or isinstance(value, str):
        return value
    return json.dumps_str(value)


def _setting(state: ConnState, name: Any, missing_ok: bool) -> str | None:
    """PostgreSQL's `current_setting` for the settings PostgREST sets per request."""
    key = str(name)
    job = state.job
    caller = job.caller if job else None
    if key == "request.jwt.claims":
        return json.dumps_str(caller.claims) if caller else None
    if key.startswith("request.jwt.claim."):
        return _caller_claim(state, key.removeprefix("request.jwt.claim."))
    if key == "role":
        return caller.role if caller else None
    if job is not None and job.settings is not None and key in job.settings:
        return job.settings[key]
    if missing_ok:
        return None
    state.error = database_error("42704", f'unrecognized configuration parameter "{key}"')
    raise ValueError(key)


def _realtime_topic(state: ConnState) -> str | None:
    """`nullif(current_setting('realtime.topic', true), '')`, as Supabase defines `realtime.topic()`."""
    job = state.job
    settings = job.settings if job is not None else None
    return (settings.get("realtime.topic") or None) if settings is not None else None


def _rls_violation(state: ConnState, table: Any, policy: Any, kind: Any) -> None:
    """Raise PostgreSQL's WITH CHECK (`kind` check) or upsert USING (`kind` using) violation."""
    named = f' "{policy}"' if policy is not None else ""
    using = " (USING expression)" if kind == "using" else ""
    _raise(state, "42501", f'new row violates row-level security policy{named}{using} for table "{table}"')
