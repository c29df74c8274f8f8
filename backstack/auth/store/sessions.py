"""Sessions: creating one at sign-in, finding one by its refresh token, advancing and ending it.

A session row holds the refresh-token state (`refresh_token_hmac_key`, `refresh_token_counter`,
see core/tokens.py) and its authentication methods live in `auth.mfa_amr_claims`, as in GoTrue. The
refresh path reads the session, its user, the user's identities and the session's methods in one
indexed statement (`lookup`), then moves the counter with one compare-and-set update (`advance`):
`... where id = ? and refresh_token_counter = ?`. The compare-and-set is what makes concurrent
refreshes of one token safe on both engines without holding a lock across the two steps: exactly
one request moves the counter; the others see one changed row fewer, read again and take the
reuse path (they are handed the token the winner minted).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from backstack.auth.core.session import Session, SessionWithUser
from backstack.auth.core.tokens import new_hmac_key
from backstack.auth.store.sql import AuthSql, read_ts
from backstack.auth.store.users import user_columns, user_from_row
from backstack.core import json

if TYPE_CHECKING:
    from backstack.auth.core.user import User
    from backstack.db.engine import Connection, Engine

_SESSION_COLUMNS = (
    "s.id, s.created_at, s.not_after, s.refreshed_at, s.aal::text, s.refresh_token_hmac_key, "
    "s.refresh_token_counter, {amr}"
)


@lru_cache(maxsize=8)
def _session_columns(sql: AuthSql) -> str:
    """The session's columns, with its methods (`mfa_amr_claims`) as JSON pairs `[method, epoch seconds]`
    newest first: the Python sort in `_amr` is stable, so methods of one second keep this order."""
    pair = sql.json_array(f"c.authentication_method, {sql.epoch_seconds('c.updated_at')}")
    amr = sql.json_list(
        pair, table="auth.mfa_amr_claims", alias="c", where="session_id = s.id", order="updated_at desc"
    )
    return _SESSION_COLUMNS.format(amr=amr)


def _amr(text: str | None) -> list[dict[str, Any]]:
    """`[{"method": ..., "timestamp": ...}]`, most recent first (GoTrue orders them so)."""
    pairs = json.loads(text) if text else []
    entries = [{"method": method, "timestamp": int(stamp or 0)} for method, stamp in pairs]
    entries.sort(key=lambda e: e["timestamp"], reverse=True)
    return entries


async def lookup(engine: Engine, sql: AuthSql, session_id: str) -> SessionWithUser | None:
    """The session `session_id` with its user (one primary-key lookup, on a reader)."""
    columns = _session_columns(sql)
    statement = sql(
        f"select {columns}, {user_columns(sql)} from auth.sessions s join auth.users u on u.id = s.user_id "  # noqa: S608 (fixed column lists)
        "where s.id = ?"
    )
    row = await engine.fetch_one(statement, (session_id,))
    if row is None:
        return None
    user = user_from_row(row, 8)
    session = Session(
        id=str(row[0]),
        user_id=user.id,
        created_at=read_ts(row[1]) or datetime.fromtimestamp(0, UTC),
        not_after=read_ts(row[2]),
        refreshed_at=read_ts(row[3]),
        aal=row[4] or "aal1",
        hmac_key=row[5],
        counter=int(row[6]) if row[6] is not None else None,
        amr=_amr(row[7]),
    )
    return SessionWithUser(session, user)


async def find_user_with_session(
    engine: Engine, sql: AuthSql, user_id: str, session_id: str | None
) -> tuple[User | None, bool]:
    """The user `user_id` and whether its session `session_id` still exists (one statement)."""
    statement = sql(
        f"select {user_columns(sql)}, exists(select 1 from auth.sessions s where s.id = ?::uuid and s.user_id = u.id) "  # noqa: S608 (fixed column list)
        "from auth.users u where u.id = ?"
    )
    row = await engine.fetch_one(statement, (session_id, user_id))
    if row is None:
        return None, False
    return user_from_row(row), bool(row[-1])


_INSERT_SESSION = (
    "insert into auth.sessions (id, user_id, created_at, updated_at, aal, user_agent, ip, refresh_token_hmac_key, "
    "refresh_token_counter) values (?, ?, ?, ?, ?::text::auth.aal_level, ?, ?::text::inet, ?, 0)"
)
_INSERT_AMR = (
    "insert into auth.mfa_amr_claims (id, session_id, created_at, updated_at, authentication_method) "
    "values (?, ?, ?, ?, ?)"
)


async def create(
    conn: Connection,
    sql: AuthSql,
    user: User,
    *,
    method: str,
    now: datetime,
    user_agent: str | None,
    ip: str | None,
) -> Session:
    """A new session for `user`, signed in by `method` (inside the caller's transaction)."""
    session = Session(
        id=str(uuid.uuid4()),
        user_id=user.id,
        created_at=now,
        not_after=None,
        refreshed_at=None,
        aal="aal1",
        hmac_key=new_hmac_key(),
        counter=0,
        amr=[{"method": method, "timestamp": int(now.timestamp())}],
    )
    stamp = sql.ts(now)
    await conn.execute(
        sql(_INSERT_SESSION),
        (session.id, user.id, stamp, stamp, session.aal, user_agent, ip, session.hmac_key),
    )
    await conn.execute(sql(_INSERT_AMR), (str(uuid.uuid4()), session.id, stamp, stamp, method))
    return session


async def advance(
    engine: Engine, sql: AuthSql, session: Session, now: datetime, user_agent: str | None, ip: str | None
) -> bool:
    """Move the session's counter one step if nobody else did meanwhile; False when someone did."""
    statement = sql(
        "update auth.sessions set refresh_token_counter = refresh_token_counter + 1, refreshed_at = ?, "
        "updated_at = ?, user_agent = ?, ip = ?::text::inet where id = ? and refresh_token_counter = ?"
    )
    params = (sql.ts_naive(now), sql.ts(now), user_agent, ip, session.id, session.counter)
    async with engine.transaction() as conn:
        changed = await conn.execute(statement, params)
    if changed != 1:
        return False
    session.counter = (session.counter or 0) + 1
    session.refreshed_at = now
    return True


async def end(engine: Engine, sql: AuthSql, session_id: str) -> None:
    """Delete one session (its refresh tokens and methods go with it, by cascade)."""
    async with engine.transaction() as conn:
        await conn.execute(sql("delete from auth.sessions where id = ?"), (session_id,))


async def end_for_user(engine: Engine, sql: AuthSql, user_id: str, *, keep: str | None = None) -> None:
    """Delete every session of `user_id`, or every one but `keep`."""
    async with engine.transaction() as conn:
        if keep is None:
            await conn.execute(sql("delete from auth.sessions where user_id = ?"), (user_id,))
        else:
            await conn.execute(sql("delete from auth.sessions where user_id = ? and id <> ?"), (user_id, keep))
