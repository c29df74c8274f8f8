"""MFA's SQL: factors, their challenges, and raising or lowering a session's level (`auth.mfa_*`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from backstack.auth.store.sql import read_ts

if TYPE_CHECKING:
    from backstack.auth.store.sql import AuthSql
    from backstack.db.engine import Connection, Engine

TOTP = "totp"
AAL2 = "aal2"


@dataclass(frozen=True, slots=True)
class OpenChallenge:
    """A challenge with what verifying it needs from its factor."""

    created_at: datetime | None
    verified: bool
    secret: str
    last_step: int | None


async def insert_factor(
    engine: Engine, sql: AuthSql, factor_id: str, user_id: str, friendly_name: str, secret: str, now: datetime
) -> None:
    """A new unverified TOTP factor (raises the unique violation of a taken friendly name)."""
    stamp = sql.ts(now)
    async with engine.transaction() as conn:
        await conn.execute(
            sql(
                "insert into auth.mfa_factors (id, user_id, friendly_name, factor_type, status, created_at, "
                "updated_at, secret) values (?, ?, ?, ?::text::auth.factor_type, "
                "?::text::auth.factor_status, ?, ?, ?)"
            ),
            (factor_id, user_id, friendly_name, TOTP, "unverified", stamp, stamp, secret),
        )


async def insert_challenge(
    engine: Engine, sql: AuthSql, challenge_id: str, factor_id: str, ip: str | None, now: datetime
) -> None:
    async with engine.transaction() as conn:
        await conn.execute(
            sql(
                "insert into auth.mfa_challenges (id, factor_id, created_at, ip_address) "
                "values (?, ?, ?, ?::text::inet)"
            ),
            (challenge_id, factor_id, sql.ts(now), ip),
        )
        await conn.execute(
            sql("update auth.mfa_factors set last_challenged_at = ? where id = ?"), (sql.ts(now), factor_id)
        )


async def find_challenge(engine: Engine, sql: AuthSql, challenge_id: str, factor_id: str) -> OpenChallenge | None:
    row = await engine.fetch_one(
        sql(
            "select c.created_at, c.verified_at, f.secret, f.last_totp_step from auth.mfa_challenges c "
            "join auth.mfa_factors f on f.id = c.factor_id where c.id = ? and c.factor_id = ?"
        ),
        (challenge_id, factor_id),
    )
    if row is None:
        return None
    last_step = int(row[3]) if row[3] is not None else None
    return OpenChallenge(read_ts(row[0]), row[1] is not None, str(row[2] or ""), last_step)


async def delete_challenge(engine: Engine, sql: AuthSql, challenge_id: str) -> None:
    async with engine.transaction() as conn:
        await conn.execute(sql("delete from auth.mfa_challenges where id = ?"), (challenge_id,))


async def accept_step(conn: Connection, sql: AuthSql, factor_id: str, step: int, now: datetime) -> bool:
    """Compare-and-set on the factor's last step: of two requests with one code, one wins (True)."""
    changed = await conn.execute(
        sql(
            "update auth.mfa_factors set last_totp_step = ?, status = ?::text::auth.factor_status, "
            "updated_at = ? where id = ? and (last_totp_step is null or last_totp_step < ?)"
        ),
        (step, "verified", sql.ts(now), factor_id, step),
    )
    return changed == 1


async def mark_verified(conn: Connection, sql: AuthSql, challenge_id: str, now: datetime) -> None:
    await conn.execute(sql("update auth.mfa_challenges set verified_at = ? where id = ?"), (sql.ts(now), challenge_id))


async def raise_session(conn: Connection, sql: AuthSql, session_id: str, factor_id: str, now: datetime) -> None:
    """The session becomes aal2 through `factor_id`, `totp` joins its methods, its refresh token rotates."""
    stamp = sql.ts(now)
    await conn.execute(
        sql(
            "update auth.sessions set aal = ?::text::auth.aal_level, factor_id = ?, updated_at = ?, "
            "refresh_token_counter = refresh_token_counter + 1, refreshed_at = ? where id = ?"
        ),
        (AAL2, factor_id, stamp, sql.ts_naive(now), session_id),
    )
    await conn.execute(
        sql(
            "insert into auth.mfa_amr_claims (id, session_id, created_at, updated_at, authentication_method) "
            "values (?, ?, ?, ?, ?) on conflict (session_id, authentication_method) "
            "do update set updated_at = excluded.updated_at"
        ),
        (str(uuid.uuid4()), session_id, stamp, stamp, TOTP),
    )


async def end_aal1_sessions(conn: Connection, sql: AuthSql, user_id: str, keep: str) -> None:
    """The user's other sessions still at aal1 end (the first verification of a factor)."""
    await conn.execute(
        sql("delete from auth.sessions where user_id = ? and id <> ? and (aal is null or aal = 'aal1')"),
        (user_id, keep),
    )


async def delete_factor(conn: Connection, sql: AuthSql, factor_id: str) -> None:
    """Remove a factor; sessions raised to aal2 with it fall back to aal1 (GoTrue's DowngradeSessionsToAAL1)."""
    await conn.execute(
        sql(
            "delete from auth.mfa_amr_claims where authentication_method = ? and session_id in "
            "(select id from auth.sessions where factor_id = ?)"
        ),
        (TOTP, factor_id),
    )
    await conn.execute(
        sql("update auth.sessions set aal = ?::text::auth.aal_level, factor_id = null where factor_id = ?"),
        ("aal1", factor_id),
    )
    await conn.execute(sql("delete from auth.mfa_factors where id = ?"), (factor_id,))
