"""The admin API's SQL: pages of users, phone lookups, column updates, identity addresses, deletion."""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from backstack.auth.core.user import AUDIENCE
from backstack.auth.store.users import user_columns, user_from_row
from backstack.core import json

if TYPE_CHECKING:
    from backstack.auth.core.user import User
    from backstack.auth.store.sql import AuthSql
    from backstack.db.engine import Connection, Engine

_JSON_COLUMNS = ("raw_app_meta_data", "raw_user_meta_data")


async def page(
    engine: Engine, sql: AuthSql, page_number: int, per_page: int, filter_text: str
) -> tuple[list[User], int]:
    """One page of the audience's users, newest first, and the total count."""
    where = "u.aud = ?"
    params: list[Any] = [AUDIENCE]
    if filter_text:
        like = "%" + re.sub(r"([\\%_])", r"\\\1", filter_text.lower()) + "%"
        where += (
            " and (lower(coalesce(u.email, '')) like ? escape '\\' "
            "or lower(coalesce(u.raw_user_meta_data ->> 'full_name', '')) like ? escape '\\')"
        )
        params += [like, like]
    count = await engine.fetch_one(sql(f"select count(*) from auth.users u where {where}"), tuple(params))  # noqa: S608 (fixed clauses; values bound)
    total = int(count[0]) if count else 0
    rows = await engine.fetch_all(
        sql(
            f"select {user_columns(sql)} from auth.users u where {where} "  # noqa: S608 (fixed clauses; values bound)
            "order by u.created_at desc, u.id limit ? offset ?"
        ),
        (*params, per_page, (page_number - 1) * per_page),
    )
    return [user_from_row(row) for row in rows], total


async def phone_taken(engine: Engine, sql: AuthSql, phone: str, except_id: str | None) -> bool:
    row = await engine.fetch_one(sql("select id from auth.users where phone = ? and aud = ?"), (phone, AUDIENCE))
    return row is not None and str(row[0]) != except_id


async def set_phone_and_ban(conn: Connection, sql: AuthSql, user: User) -> None:
    """The columns `insert_user` leaves out (a new user's phone and ban), for the admin's creations."""
    await conn.execute(
        sql("update auth.users set phone = ?, phone_confirmed_at = ?, banned_until = ? where id = ?"),
        (user.phone or None, sql.ts(user.phone_confirmed_at), sql.ts(user.banned_until), user.id),
    )


async def update_columns(conn: Connection, sql: AuthSql, user_id: str, columns: dict[str, Any]) -> None:
    """Set `columns` (name -> value: datetimes, JSON objects for the metadata, plain values) of one user."""
    sets: list[str] = []
    values: list[Any] = []
    for name, value in columns.items():
        if name in _JSON_COLUMNS:
            sets.append(f"{name} = ?::text::jsonb")
            values.append(json.dumps_str(value))
        else:
            sets.append('"role" = ?' if name == "role" else f"{name} = ?")
            values.append(sql.ts(value) if isinstance(value, datetime) else value)
    await conn.execute(sql(f"update auth.users set {', '.join(sets)} where id = ?"), (*values, user_id))  # noqa: S608 (column names from a fixed set; values bound)


async def set_identity(
    conn: Connection, sql: AuthSql, user: User, new_identity: dict[str, Any], data: dict[str, Any], now: datetime
) -> None:
    """Point the user's identity of `new_identity`'s provider at a new address (`new_identity` when it had none)."""
    provider = new_identity["provider"]
    existing = next((i for i in user.identities if i["provider"] == provider), None)
    if existing is None:
        await conn.execute(
            sql(
                "insert into auth.identities (id, provider_id, user_id, identity_data, provider, created_at, "
                "updated_at) values (?, ?, ?, ?::text::jsonb, ?, ?, ?)"
            ),
            (new_identity["identity_id"], user.id, user.id, json.dumps_str(new_identity["identity_data"]), provider,
             sql.ts(now), sql.ts(now)),
        )  # fmt: skip
        return
    identity_data = {**existing["identity_data"], **data}
    await conn.execute(
        sql("update auth.identities set identity_data = ?::text::jsonb, updated_at = ? where id = ?"),
        (json.dumps_str(identity_data), sql.ts(now), existing["identity_id"]),
    )


async def end_sessions(conn: Connection, sql: AuthSql, user_id: str) -> None:
    await conn.execute(sql("delete from auth.sessions where user_id = ?"), (user_id,))


async def delete_user(engine: Engine, sql: AuthSql, user_id: str, *, soft: bool, now: datetime) -> None:
    """Hard: the row and, by cascade, everything hanging off it. Soft: the row stays with `deleted_at`
    set and its email, phone, password, metadata, identities, sessions and factors removed."""
    async with engine.transaction() as conn:
        if not soft:
            await conn.execute(sql("delete from auth.users where id = ?"), (user_id,))
            return
        stamp = sql.ts(now)
        await conn.execute(
            sql(
                "update auth.users set email = null, phone = null, encrypted_password = '', email_change = '', "
                "phone_change = '', raw_user_meta_data = '{}'::text::jsonb, deleted_at = ?, updated_at = ? "
                "where id = ?"
            ),
            (stamp, stamp, user_id),
        )
        for table in ("identities", "sessions", "mfa_factors"):
            await conn.execute(sql(f"delete from auth.{table} where user_id = ?"), (user_id,))  # noqa: S608 (table from a fixed tuple)
