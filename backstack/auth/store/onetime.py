"""One-time tokens: the codes and links sent by email, kept only as hashes (GoTrue's `one_time_tokens`).

A mailed secret is a short numeric code (`new_otp`); the mail carries it and a link whose `token`
is the code's hash (`TokenHasher`). The table keeps that hash only, never the code. A user has at
most one live token per kind (`unique (user_id, token_type)`): a new mail replaces the last.

The hash is keyed, unlike GoTrue's (`crypto.GenerateTokenHash`: plain hex SHA-224 of the address
followed by the code). With a plain hash anyone who knows a victim's address turns each guess of
the 6-digit code into a link token, and links are looked up by hash: guesses sent as `token_hash`
would skip the per-code attempt count and the per-address limit that typed codes take. Ours is hex
HMAC-SHA224 (the same 56 characters, so `{{ .TokenHash }}` and the clients' `verifyOtp({token_hash})`
are unchanged) under a key derived from the project's JWT secret with HKDF and a label of its own:
no link token can be computed without the server. Rotating the JWT secret voids the links in flight.

Every typed code takes an attempt on each live token of its address before it is compared
(`check_code`): the count is a column of the token row, raised by one atomic `UPDATE ... RETURNING`,
so the cap (`CODE_ATTEMPTS`) holds across workers and nodes on both engines, and a token that
reached it is burned (deleted): even the right code then fails until a new mail is sent.

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

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from backstack.auth.core import errors
from backstack.auth.store.sql import AuthSql, read_ts

if TYPE_CHECKING:
    from collections.abc import Sequence

    from backstack.db.engine import Connection, Engine

CONFIRMATION = "confirmation_token"
RECOVERY = "recovery_token"
EMAIL_CHANGE_CURRENT = "email_change_token_current"
EMAIL_CHANGE_NEW = "email_change_token_new"
REAUTHENTICATION = "reauthentication_token"
CODE_ATTEMPTS = 5  # verification attempts one mailed code survives (the 5th may be right; then it is burned)
_HASH_KEY_LABEL = b"backstack auth: one-time token hash v1"


def new_otp(length: int) -> str:
    """A random numeric code of `length` digits (leading zeros kept), from the OS's CSPRNG."""
    length = max(6, min(length, 10))
    return f"{secrets.randbelow(10**length):0{length}d}"


class TokenHasher:
    """The link token and stored hash of a code sent to an address: hex HMAC-SHA224 under a server key.

    The key is derived from the project's JWT secret (HKDF-SHA256, a label of its own), so it is the
    same in every worker and node and is never the JWT secret itself.
    """

    def __init__(self, secret: str) -> None:
        self._key = _derive_key(secret) if secret else None

    def __call__(self, address: str, otp: str) -> str:
        if self._key is None:
            raise errors.AuthError(500, "unexpected_failure", "The server has no JWT secret configured")
        message = address.encode() + b"\x00" + otp.encode()  # unambiguous split of address and code
        return hmac.new(self._key, message, hashlib.sha224).hexdigest()


def _derive_key(secret: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HASH_KEY_LABEL).derive(secret.encode())


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
_ATTEMPT = "update auth.one_time_tokens set attempts = attempts + 1 where id = ? returning attempts"


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
    rows = await engine.fetch_all(sql(f"select {_COLUMNS} from auth.one_time_tokens where token_hash = ?"), (hashed,))  # noqa: S608 (fixed column list)
    for row in rows:
        found = _row(row)
        if found.token_type in types and same_hash(found.token_hash, hashed):
            return found
    return None


async def check_code(
    engine: Engine, sql: AuthSql, hasher: TokenHasher, address: str, otp: str, types: Sequence[str]
) -> OneTimeToken | None:
    """The live token among `types` that the code `otp`, sent to `address`, stands for.

    Each live token of the address takes one attempt first; one past `CODE_ATTEMPTS` is burned
    instead of compared. Counting before comparing keeps parallel guesses within the count.
    """
    live = await live_for_address(engine, sql, address, types)
    usable = [token for token in live if await _attempt(engine, sql, token)]
    return matching_code(usable, hasher(address, otp))


async def _attempt(engine: Engine, sql: AuthSql, token: OneTimeToken) -> bool:
    """Count one attempt on `token` in its row; False (and the token burned) once it had its attempts."""
    async with engine.transaction() as conn:
        row = await conn.fetch_one(sql(_ATTEMPT), (token.id,))
        if row is None:
            return False  # redeemed or burned meanwhile
        if int(str(row[0])) <= CODE_ATTEMPTS:
            return True
        await redeem(conn, sql, token)
    return False


async def live_for_address(engine: Engine, sql: AuthSql, address: str, types: Sequence[str]) -> list[OneTimeToken]:
    """The tokens among `types` sent to `address` (the ones a code typed with that address may stand for)."""
    rows = await engine.fetch_all(sql(f"select {_COLUMNS} from auth.one_time_tokens where relates_to = ?"), (address,))  # noqa: S608 (fixed column list)
    return [found for found in map(_row, rows) if found.token_type in types]


def matching_code(tokens: Sequence[OneTimeToken], expected: str) -> OneTimeToken | None:
    """The first of `tokens` whose hash is `expected` (every hash compared, in constant time)."""
    match: OneTimeToken | None = None
    for found in tokens:
        if same_hash(found.token_hash, expected) and match is None:
            match = found
    return match


async def redeem(conn: Connection, sql: AuthSql, token: OneTimeToken) -> bool:
    """Delete the token (inside the caller's transaction); False when another request redeemed it first."""
    changed = await conn.execute(
        sql("delete from auth.one_time_tokens where id = ? and token_hash = ?"), (token.id, token.token_hash)
    )
    return changed == 1


async def has_token(conn: Connection, sql: AuthSql, user_id: str, token_type: str) -> bool:
    """Whether the user has a live token of `token_type` (inside the caller's transaction)."""
    row = await conn.fetch_one(
        sql("select 1 from auth.one_time_tokens where user_id = ? and token_type = ?::text::auth.one_time_token_type"),
        (user_id, token_type),
    )
    return row is not None
