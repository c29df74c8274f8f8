"""Users in `auth.users` (+ their identities and factors): how a `User` (core/user.py) is read and inserted.

Identities and factors are decoded into their GoTrue JSON shape as they are read. A user is always read
together with its identities in one statement (a correlated JSON aggregate), because every answer
that carries a user carries them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from backstack.auth.core.user import AUDIENCE, User, rfc3339
from backstack.auth.store.sql import AuthSql, read_ts
from backstack.core import json
from backstack.core.errors import DatabaseError

if TYPE_CHECKING:
    from backstack.db.engine import Connection, Engine, Row

INSTANCE_ID = "00000000-0000-0000-0000-000000000000"  # what Supabase writes into auth.users.instance_id

USER_COLUMNS = (
    "u.id, u.aud, u.role, u.email, u.encrypted_password, u.email_confirmed_at, u.invited_at, u.phone, "
    "u.phone_confirmed_at, u.confirmation_sent_at, u.recovery_sent_at, u.email_change, u.email_change_sent_at, "
    "u.phone_change, u.phone_change_sent_at, u.reauthentication_sent_at, u.last_sign_in_at, "
    "u.raw_app_meta_data::text, u.raw_user_meta_data::text, u.created_at, u.updated_at, u.banned_until, "
    "u.deleted_at, u.is_anonymous, {identities}, {factors}"
)
USER_WIDTH = 26  # number of columns USER_COLUMNS selects

_IDENTITY_FIELDS = (
    "'identity_id', i.id, 'id', i.provider_id, 'user_id', i.user_id, 'identity_data', {data}, "
    "'provider', i.provider, 'last_sign_in_at', i.last_sign_in_at, 'created_at', i.created_at, "
    "'updated_at', i.updated_at, 'email', i.email"
)

# The user's MFA factors (GoTrue puts them in every user object; the secret never leaves the table).
_FACTOR_FIELDS = (
    "'id', f.id, 'friendly_name', f.friendly_name, 'factor_type', f.factor_type, 'status', f.status, "
    "'created_at', f.created_at, 'updated_at', f.updated_at, 'last_challenged_at', f.last_challenged_at"
)


@lru_cache(maxsize=8)
def user_columns(sql: AuthSql) -> str:
    """The select list of a user row with its identities and factors, for this engine."""
    identity = sql.json_object(_IDENTITY_FIELDS.format(data=sql.json_column("i.identity_data")))
    factor = sql.json_object(_FACTOR_FIELDS)
    of_user = {"where": "user_id = u.id", "order": "created_at"}
    return USER_COLUMNS.format(
        identities=sql.json_list(identity, table="auth.identities", alias="i", **of_user),
        factors=sql.json_list(factor, table="auth.mfa_factors", alias="f", **of_user),
    )


def user_from_row(row: Row, start: int = 0) -> User:
    """The `User` in `row[start:start + USER_WIDTH]`, as selected by `user_columns`."""
    r = row[start : start + USER_WIDTH]
    return User(
        id=str(r[0]),
        aud=r[1] or "",
        role=r[2] or "",
        email=r[3] or "",
        encrypted_password=r[4],
        email_confirmed_at=read_ts(r[5]),
        invited_at=read_ts(r[6]),
        phone=r[7] or "",
        phone_confirmed_at=read_ts(r[8]),
        confirmation_sent_at=read_ts(r[9]),
        recovery_sent_at=read_ts(r[10]),
        new_email=r[11] or "",
        email_change_sent_at=read_ts(r[12]),
        new_phone=r[13] or "",
        phone_change_sent_at=read_ts(r[14]),
        reauthentication_sent_at=read_ts(r[15]),
        last_sign_in_at=read_ts(r[16]),
        app_metadata=_json_object(r[17]),
        user_metadata=_json_object(r[18]),
        created_at=read_ts(r[19]) or datetime.fromtimestamp(0, UTC),
        updated_at=read_ts(r[20]) or datetime.fromtimestamp(0, UTC),
        banned_until=read_ts(r[21]),
        deleted_at=read_ts(r[22]),
        is_anonymous=bool(r[23]),
        identities=[_identity_json(i) for i in json.loads(r[24] or "[]")],
        factors=[factor_json(f) for f in json.loads(r[25] or "[]")],
    )


def _json_object(text: str | None) -> dict[str, Any]:
    value = json.loads(text) if text else {}
    return value if isinstance(value, dict) else {}


def _identity_json(raw: dict[str, Any]) -> dict[str, Any]:
    """One identity as GoTrue encodes it: ids as text, timestamps RFC 3339, `email` omitted when empty."""
    out: dict[str, Any] = {
        "identity_id": str(raw["identity_id"]),
        "id": raw["id"],
        "user_id": str(raw["user_id"]),
        "identity_data": raw.get("identity_data") or {},
        "provider": raw["provider"],
    }
    last = read_ts(raw.get("last_sign_in_at"))
    if last is not None:
        out["last_sign_in_at"] = rfc3339(last)
    for key in ("created_at", "updated_at"):
        stamp = read_ts(raw.get(key))
        out[key] = rfc3339(stamp) if stamp is not None else None
    if raw.get("email"):
        out["email"] = raw["email"]
    return out


def factor_json(raw: dict[str, Any]) -> dict[str, Any]:
    """One MFA factor as GoTrue encodes it in a user: `friendly_name` omitted when empty."""
    out: dict[str, Any] = {"id": str(raw["id"])}
    if raw.get("friendly_name"):
        out["friendly_name"] = raw["friendly_name"]
    out["factor_type"] = raw["factor_type"]
    out["status"] = raw["status"]
    for key in ("created_at", "updated_at"):
        stamp = read_ts(raw.get(key))
        out[key] = rfc3339(stamp) if stamp is not None else None
    last = read_ts(raw.get("last_challenged_at"))
    out["last_challenged_at"] = rfc3339(last) if last is not None else None
    return out


# ------------------------------------------------------------------ reads


async def find_by_email(engine: Engine, sql: AuthSql, email: str) -> User | None:
    """The (non-SSO) user with this lower-cased address in the default audience."""
    statement = sql(
        f"select {user_columns(sql)} from auth.users u where u.email = ? and u.aud = ? and u.is_sso_user = false"  # noqa: S608 (fixed column list)
    )
    row = await engine.fetch_one(statement, (email, AUDIENCE))
    return user_from_row(row) if row is not None else None


async def find_by_id(engine: Engine, sql: AuthSql, user_id: str) -> User | None:
    row = await engine.fetch_one(sql(f"select {user_columns(sql)} from auth.users u where u.id = ?"), (user_id,))  # noqa: S608 (fixed column list)
    return user_from_row(row) if row is not None else None


# ------------------------------------------------------------------ writes


_INSERT_USER = (
    "insert into auth.users (instance_id, id, aud, role, email, encrypted_password, email_confirmed_at, "
    "confirmation_sent_at, last_sign_in_at, raw_app_meta_data, raw_user_meta_data, created_at, updated_at, "
    "is_sso_user, is_anonymous) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?::text::jsonb, ?::text::jsonb, ?, ?, false, ?)"
)
_INSERT_IDENTITY = (
    "insert into auth.identities (id, provider_id, user_id, identity_data, provider, last_sign_in_at, "
    "created_at, updated_at) values (?, ?, ?, ?::text::jsonb, ?, ?, ?, ?)"
)


async def insert_user(conn: Connection, sql: AuthSql, user: User) -> None:
    """Store a new user and its identities (inside the caller's transaction)."""
    await conn.execute(
        sql(_INSERT_USER),
        (
            INSTANCE_ID,
            user.id,
            user.aud,
            user.role,
            user.email or None,
            user.encrypted_password,
            sql.ts(user.email_confirmed_at),
            sql.ts(user.confirmation_sent_at),
            sql.ts(user.last_sign_in_at),
            json.dumps_str(user.app_metadata),
            json.dumps_str(user.user_metadata),
            sql.ts(user.created_at),
            sql.ts(user.updated_at),
            user.is_anonymous,
        ),
    )
    for identity in user.identities:
        await conn.execute(
            sql(_INSERT_IDENTITY),
            (
                identity["identity_id"],
                identity["id"],
                user.id,
                json.dumps_str(identity["identity_data"]),
                identity["provider"],
                sql.ts(read_ts(identity.get("last_sign_in_at"))),
                sql.ts(read_ts(identity["created_at"])),
                sql.ts(read_ts(identity["updated_at"])),
            ),
        )


async def record_sign_in(conn: Connection, sql: AuthSql, user: User, now: datetime, new_hash: str | None) -> None:
    """Set `last_sign_in_at` (and store an upgraded password hash) inside the caller's transaction."""
    if new_hash is None:
        await conn.execute(sql("update auth.users set last_sign_in_at = ? where id = ?"), (sql.ts(now), user.id))
    else:
        await conn.execute(
            sql("update auth.users set last_sign_in_at = ?, encrypted_password = ?, updated_at = ? where id = ?"),
            (sql.ts(now), new_hash, sql.ts(now), user.id),
        )
        user.encrypted_password = new_hash
        user.updated_at = now
    user.last_sign_in_at = now


async def insert_new(engine: Engine, sql: AuthSql, user: User) -> User:
    """Store a new user; the already-registered one when another request registered the address first."""
    try:
        async with engine.transaction() as conn:
            await insert_user(conn, sql, user)
    except DatabaseError as exc:
        if exc.code != "23505":
            raise
        existing = await find_by_email(engine, sql, user.email)
        if existing is None:
            raise
        return existing
    return user
