"""Changes the email flows make to a user: confirming the address, metadata, password, email change.

All run inside the caller's transaction and keep the `User` object in step with the row. JSON
columns are rewritten whole from the values read with the user (a read-modify-write in one
transaction), which is simpler than per-engine JSON patch functions and fine at this write rate.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from backstack.auth.core.user import EMAIL_PROVIDER, User
from backstack.auth.store.users import user_columns, user_from_row
from backstack.core import json

if TYPE_CHECKING:
    from datetime import datetime

    from backstack.auth.store.sql import AuthSql
    from backstack.db.engine import Connection


async def reload(conn: Connection, sql: AuthSql, user_id: str) -> User:
    """The user as stored now (inside the caller's transaction)."""
    row = await conn.fetch_one(sql(f"select {user_columns(sql)} from auth.users u where u.id = ?"), (user_id,))  # noqa: S608 (fixed column list)
    if row is None:
        raise LookupError(user_id)
    return user_from_row(row)


async def confirm_status(conn: Connection, sql: AuthSql, user_id: str) -> int:
    row = await conn.fetch_one(sql("select email_change_confirm_status from auth.users where id = ?"), (user_id,))
    return int(row[0] or 0) if row is not None else 0


async def set_confirm_status(conn: Connection, sql: AuthSql, user_id: str, status: int) -> None:
    await conn.execute(sql("update auth.users set email_change_confirm_status = ? where id = ?"), (status, user_id))


async def _write_user_metadata(conn: Connection, sql: AuthSql, user: User, now: datetime) -> None:
    await conn.execute(
        sql("update auth.users set raw_user_meta_data = ?::text::jsonb, updated_at = ? where id = ?"),
        (json.dumps_str(user.user_metadata), sql.ts(now), user.id),
    )
    user.updated_at = now


async def _write_identity(conn: Connection, sql: AuthSql, identity: dict[str, Any], now: datetime) -> None:
    await conn.execute(
        sql("update auth.identities set identity_data = ?::text::jsonb, updated_at = ? where id = ?"),
        (json.dumps_str(identity["identity_data"]), sql.ts(now), identity["identity_id"]),
    )


def _email_identity(user: User) -> dict[str, Any] | None:
    return next((i for i in user.identities if i.get("provider") == EMAIL_PROVIDER), None)


async def confirm_email(conn: Connection, sql: AuthSql, user: User, now: datetime) -> None:
    """Mark the address confirmed (once) and `email_verified` in the metadata and the email identity."""
    if user.email_confirmed_at is None:
        await conn.execute(
            sql(
                "update auth.users set email_confirmed_at = ?, updated_at = ? "
                "where id = ? and email_confirmed_at is null"
            ),
            (sql.ts(now), sql.ts(now), user.id),
        )
        user.email_confirmed_at = now
    if user.user_metadata.get("email_verified") is False:
        user.user_metadata["email_verified"] = True
        await _write_user_metadata(conn, sql, user, now)
    identity = _email_identity(user)
    if identity is not None and identity["identity_data"].get("email_verified") is not True:
        identity["identity_data"]["email_verified"] = True
        await _write_identity(conn, sql, identity, now)


async def merge_user_metadata(conn: Connection, sql: AuthSql, user: User, data: dict[str, Any], now: datetime) -> None:
    """GoTrue's `UpdateUserMetaData`: keys set, keys with null removed."""
    for key, value in data.items():
        if value is None:
            user.user_metadata.pop(key, None)
        else:
            user.user_metadata[key] = value
    await _write_user_metadata(conn, sql, user, now)


async def set_password(conn: Connection, sql: AuthSql, user: User, password_hash: str, now: datetime) -> None:
    await conn.execute(
        sql("update auth.users set encrypted_password = ?, updated_at = ? where id = ?"),
        (password_hash, sql.ts(now), user.id),
    )
    user.encrypted_password = password_hash
    user.updated_at = now


async def apply_email_change(conn: Connection, sql: AuthSql, user: User, now: datetime) -> None:
    """GoTrue's `ConfirmEmailChange`: the pending address becomes the address, confirmed.

    The email identity follows (created when the user has none, e.g. an anonymous user), and the
    user stops being anonymous.
    """
    new_email = user.new_email
    await conn.execute(
        sql(
            "update auth.users set email = ?, email_change = '', email_change_confirm_status = 0, "
            "email_confirmed_at = coalesce(email_confirmed_at, ?), is_anonymous = false, updated_at = ? where id = ?"
        ),
        (new_email, sql.ts(now), sql.ts(now), user.id),
    )
    user.email, user.new_email, user.is_anonymous = new_email, "", False
    user.email_confirmed_at = user.email_confirmed_at or now
    identity = _email_identity(user)
    if identity is None:
        identity_data = {"sub": user.id, "email": new_email, "email_verified": True, "phone_verified": False}
        await conn.execute(
            sql(
                "insert into auth.identities (id, provider_id, user_id, identity_data, provider, last_sign_in_at, "
                "created_at, updated_at) values (?, ?, ?, ?::text::jsonb, ?, ?, ?, ?)"
            ),
            (str(uuid.uuid4()), user.id, user.id, json.dumps_str(identity_data), EMAIL_PROVIDER,
             sql.ts(now), sql.ts(now), sql.ts(now)),
        )  # fmt: skip
        await _add_provider(conn, sql, user, now)
    else:
        identity["identity_data"]["email"] = new_email
        identity["identity_data"]["email_verified"] = True
        await _write_identity(conn, sql, identity, now)
    user.user_metadata["email"] = new_email
    user.user_metadata["email_verified"] = True
    await _write_user_metadata(conn, sql, user, now)


async def _add_provider(conn: Connection, sql: AuthSql, user: User, now: datetime) -> None:
    """`app_metadata.provider(s)` gain "email" (GoTrue's `UpdateAppMetaDataProviders`)."""
    meta = dict(user.app_metadata)
    providers = [p for p in meta.get("providers", []) if isinstance(p, str)]
    if EMAIL_PROVIDER not in providers:
        providers.append(EMAIL_PROVIDER)
    meta["providers"] = providers
    meta.setdefault("provider", EMAIL_PROVIDER)
    await conn.execute(
        sql("update auth.users set raw_app_meta_data = ?::text::jsonb where id = ?"), (json.dumps_str(meta), user.id)
    )
    user.app_metadata = meta


async def clear_reauthentication(conn: Connection, sql: AuthSql, user_id: str) -> None:
    """The reauthentication nonce was used: no longer pending."""
    await conn.execute(sql("update auth.users set reauthentication_sent_at = null where id = ?"), (user_id,))


_SENT_COLUMNS = frozenset({"confirmation_sent_at", "recovery_sent_at", "reauthentication_sent_at"})


async def mark_sent(conn: Connection, sql: AuthSql, user_id: str, column: str, now: datetime, *, invited: bool) -> None:
    """Record that a mail went out: its `*_sent_at` column (and `invited_at` for an invite)."""
    if column not in _SENT_COLUMNS:
        raise ValueError(f"not a sent-at column: {column}")
    extra = ", invited_at = ?" if invited else ""
    params: list[Any] = [sql.ts(now)]
    if invited:
        params.append(sql.ts(now))
    await conn.execute(sql(f"update auth.users set {column} = ?{extra} where id = ?"), (*params, user_id))  # noqa: S608 (column checked against _SENT_COLUMNS)


async def start_email_change(conn: Connection, sql: AuthSql, user_id: str, new_email: str, now: datetime) -> None:
    """`new_email` becomes the user's pending address; its confirmations start over."""
    await conn.execute(
        sql(
            "update auth.users set email_change = ?, email_change_sent_at = ?, email_change_confirm_status = 0 "
            "where id = ?"
        ),
        (new_email, sql.ts(now), user_id),
    )
