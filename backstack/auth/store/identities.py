"""Identities in `auth.identities`, and the provider bookkeeping on `auth.users` that follows them."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from backstack.core import json

if TYPE_CHECKING:
    from backstack.auth.store.sql import AuthSql
    from backstack.db.engine import Connection, Engine


async def find_identity_user(engine: Engine, sql: AuthSql, provider: str, provider_id: str) -> tuple[str, str] | None:
    """(identity id, user id) of the identity `provider_id` at `provider`."""
    row = await engine.fetch_one(
        sql("select id, user_id from auth.identities where provider_id = ? and provider = ?"), (provider_id, provider)
    )
    return (str(row[0]), str(row[1])) if row is not None else None


async def touch_identity(
    conn: Connection, sql: AuthSql, identity_id: str, identity_data: dict[str, Any], now: datetime
) -> None:
    """Fresh claims from the provider, and the time of this sign-in."""
    await conn.execute(
        sql(
            "update auth.identities set identity_data = ?::text::jsonb, last_sign_in_at = ?, updated_at = ? "
            "where id = ?"
        ),
        (json.dumps_str(identity_data), sql.ts(now), sql.ts(now), identity_id),
    )


async def insert_identity(conn: Connection, sql: AuthSql, identity: dict[str, Any], now: datetime) -> None:
    stamp = sql.ts(now)
    await conn.execute(
        sql(
            "insert into auth.identities (id, provider_id, user_id, identity_data, provider, last_sign_in_at, "
            "created_at, updated_at) values (?, ?, ?, ?::text::jsonb, ?, ?, ?, ?)"
        ),
        (
            identity["identity_id"], identity["id"], identity["user_id"], json.dumps_str(identity["identity_data"]),
            identity["provider"], stamp, stamp, stamp,
        ),
    )  # fmt: skip


async def record_provider(
    conn: Connection, sql: AuthSql, user_id: str, provider: str, now: datetime, *, confirm: str
) -> None:
    """`last_sign_in_at`, the provider in `app_metadata.providers`; the user's address confirmed when it is
    `confirm`, the address the provider vouches for (never another address the user has meanwhile)."""
    row = await conn.fetch_one(sql("select raw_app_meta_data::text from auth.users where id = ?"), (user_id,))
    meta = json.loads(row[0]) if row is not None and row[0] else {}
    meta = meta if isinstance(meta, dict) else {}
    providers = [p for p in meta.get("providers") or [] if isinstance(p, str)]
    if provider not in providers:
        providers.append(provider)
    meta["providers"] = providers
    meta.setdefault("provider", provider)
    confirm_sql = ""
    params: tuple[Any, ...] = (json.dumps_str(meta), sql.ts(now), sql.ts(now))
    if confirm:
        confirm_sql = (
            ", email_confirmed_at = case when email = ? then coalesce(email_confirmed_at, ?) "
            "else email_confirmed_at end"
        )
        params += (confirm, sql.ts(now))
    await conn.execute(
        sql(
            f"update auth.users set raw_app_meta_data = ?::text::jsonb, last_sign_in_at = ?, updated_at = ?"  # noqa: S608 (fixed clause; values bound)
            f"{confirm_sql} where id = ?"
        ),
        (*params, user_id),
    )


async def drop_password(conn: Connection, sql: AuthSql, user_id: str) -> None:
    await conn.execute(sql("update auth.users set encrypted_password = null where id = ?"), (user_id,))


async def make_permanent(
    conn: Connection, sql: AuthSql, user_id: str, email: str, app_metadata: dict[str, Any], now: datetime
) -> None:
    """An anonymous user becomes a regular one with `email`."""
    await conn.execute(
        sql(
            "update auth.users set email = ?, is_anonymous = false, raw_app_meta_data = ?::text::jsonb, "
            "updated_at = ? where id = ?"
        ),
        (email, json.dumps_str(app_metadata), sql.ts(now), user_id),
    )


async def delete_identity(
    engine: Engine, sql: AuthSql, user_id: str, identity_id: str, app_metadata: dict[str, Any], now: datetime
) -> None:
    """Remove one identity of the user and store the `app_metadata` that no longer names its provider."""
    async with engine.transaction() as conn:
        await conn.execute(sql("delete from auth.identities where id = ? and user_id = ?"), (identity_id, user_id))
        await conn.execute(
            sql("update auth.users set raw_app_meta_data = ?::text::jsonb, updated_at = ? where id = ?"),
            (json.dumps_str(app_metadata), sql.ts(now), user_id),
        )
