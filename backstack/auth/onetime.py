"""One-time tokens: the codes and links sent by email, kept only as hashes (GoTrue's `one_time_tokens`).

A mailed secret is a short numeric code (`new_otp`); the mail carries it and a link whose `token`
is the code's hash. The table keeps that hash only, computed as GoTrue does
(`crypto.GenerateTokenHash`: hex SHA-224 of the address followed by the code), so rows are
interchangeable with Supabase's and a database leak does not hand out working links. A user has
at most one live token per kind (`unique (user_id, token_type)`): a new mail replaces the last.

A token is redeemed by deleting its row inside the transaction that acts on it: the delete's row
count decides which of two concurrent redemptions wins, so a token works once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from backstack.auth.sql import AuthSql, read_ts

if TYPE_CHECKING:
    from collections.abc import Sequence

    from backstack.db.engine import Connection, Engine

CONFIRMATION = "confirmation_token"
RECOVERY = "recovery_token"
EMAIL_CHANGE_CURRENT = "email_change_token_current"
EMAIL_CHANGE_NEW = "email_change_token_new"
REAUTHENTICATION = "reauthentication_token"


def new_otp(length: int) -> str:
    """A random numeric code of `length` digits (leading zeros kept), from the OS's CSPRNG."""
    length = max(6, min(length, 10))
    return f"{secrets.randbelow(10**length):0{length}d}"


def token_hash(address: str, otp: str) -> str:
    """GoTrue's token hash of a code sent to `address`."""
    return hashlib.sha224((address + otp).encode()).hexdigest()


def same_hash(a: str, b: str) -> bool:
    """Constant-time comparison of two token hashes."""
    return hmac.compare_digest(a.encode(), b.encode())


@dataclass(frozen=True, slots=True)
class OneTimeToken:
    id: str
    user_id: str
    token_type: str
    token_hash: str
    relates_to: str
    created_at: datetime

    def expired(self, now: datetime, lifetime: int) -> bool:
        return now > self.created_at + timedelta(seconds=lifetime)


_COLUMNS = "id, user_id, token_type::text, token_hash, relates_to, created_at"


def _row(row: Sequence[object]) -> OneTimeToken:
    created = read_ts(row[5]) or datetime.fromtimestamp(0, UTC)
    return OneTimeToken(str(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]), created)


async def store(
    conn: Connection, sql: AuthSql, user_id: str, token_type: str, relates_to: str, hashed: str, now: datetime
) -> None:
    """Make `hashed` the user's live token of `token_type` (inside the caller's transaction)."""
    await clear(conn, sql, user_id, token_type)
    stamp = sql.ts_naive(now)
    await conn.execute(
        sql(
            "insert into auth.one_time_tokens "
            "(id, user_id, token_type, token_hash, relates_to, created_at, updated_at) "
            "values (?, ?, ?::text::auth.one_time_token_type, ?, ?, ?, ?)"
        ),
        (str(uuid.uuid4()), user_id, token_type, hashed, relates_to, stamp, stamp),
    )


async def clear(conn: Connection, sql: AuthSql, user_id: str, token_type: str) -> None:
    await conn.execute(
        sql("delete from auth.one_time_tokens where user_id = ? and token_type = ?::text::auth.one_time_token_type"),
        (user_id, token_type),
    )


async def find_by_hash(engine: Engine, sql: AuthSql, hashed: str, types: Sequence[str]) -> OneTimeToken | None:
    """The live token with this hash among `types` (a link's `token` / `token_hash`)."""
    if not hashed:
        return None
    rows = await engine.fetch_all(
        sql(f"select {_COLUMNS} from auth.one_time_tokens where token_hash = ?"), (hashed,)
    )
    for row in rows:
        found = _row(row)
        if found.token_type in types and same_hash(found.token_hash, hashed):
            return found
    return None


async def find_by_code(
    engine: Engine, sql: AuthSql, address: str, otp: str, types: Sequence[str]
) -> OneTimeToken | None:
    """The live token among `types` that the code `otp`, sent to `address`, stands for."""
    return matching_code(await live_for_address(engine, sql, address, types), address, otp)


async def live_for_address(engine: Engine, sql: AuthSql, address: str, types: Sequence[str]) -> list[OneTimeToken]:
    """The tokens among `types` sent to `address` (the ones a code typed with that address may stand for)."""
    rows = await engine.fetch_all(
        sql(f"select {_COLUMNS} from auth.one_time_tokens where relates_to = ?"), (address,)
    )
    return [found for found in map(_row, rows) if found.token_type in types]


def matching_code(tokens: Sequence[OneTimeToken], address: str, otp: str) -> OneTimeToken | None:
    """The first of `tokens` that the code `otp`, sent to `address`, stands for (hashes compared in constant time)."""
    expected = token_hash(address, otp)
    match: OneTimeToken | None = None
    for found in tokens:
        if same_hash(found.token_hash, expected) and match is None:
            match = found
    return match


async def burn(engine: Engine, sql: AuthSql, token: OneTimeToken) -> None:
    """Delete a token that took too many guesses (a new mail issues a new one)."""
    async with engine.transaction() as conn:
        await redeem(conn, sql, token)


async def redeem(conn: Connection, sql: AuthSql, token: OneTimeToken) -> bool:
    """Delete the token (inside the caller's transaction); False when another request redeemed it first."""
    changed = await conn.execute(
        sql("delete from auth.one_time_tokens where id = ? and token_hash = ?"), (token.id, token.token_hash)
    )
    return changed == 1
