"""POST /auth/v1/token?grant_type=password on both engines, including bcrypt hashes imported from GoTrue."""

from __future__ import annotations

from datetime import UTC, datetime

import bcrypt
import httpx
import pytest

from backstack.auth.core.user import new_email_user
from backstack.auth.store.sql import sql_for
from backstack.auth.store.users import insert_user
from backstack.config import Settings
from backstack.db.engine import Engine
from tests.auth.conftest import PASSWORD, MakeAuth, claims, sign_in, sign_up

pytestmark = pytest.mark.anyio

INVALID = {"code": "invalid_credentials", "message": "Invalid login credentials"}


async def test_password_grant_opens_a_new_session(auth: httpx.AsyncClient, engine_settings: Settings) -> None:
    first = (await sign_up(auth, "grace@example.com")).json()
    res = await sign_in(auth, "Grace@Example.com")
    assert res.status_code == 200, res.text
    body = res.json()
    assert "weak_password" not in body
    assert body["user"]["id"] == first["user"]["id"]
    assert body["user"]["last_sign_in_at"] >= first["user"]["last_sign_in_at"]
    assert body["refresh_token"] != first["refresh_token"]
    token = claims(engine_settings, body["access_token"])
    assert token["session_id"] != claims(engine_settings, first["access_token"])["session_id"]
    assert token["amr"][0]["method"] == "password"


@pytest.mark.parametrize(
    ("email", "password"),
    [("grace@example.com", "wrong password"), ("nobody@example.com", PASSWORD), ("grace@example.com", "")],
)
async def test_bad_credentials(auth: httpx.AsyncClient, email: str, password: str) -> None:
    await sign_up(auth, "grace@example.com")
    res = await sign_in(auth, email, password)
    assert (res.status_code, res.json()) == (400, INVALID)
    legacy = await auth.post(
        "/token",
        params={"grant_type": "password"},
        json={"email": email, "password": password},
        headers={"X-Supabase-Api-Version": ""},
    )
    assert legacy.json() == {"code": 400, "error_code": "invalid_credentials", "msg": "Invalid login credentials"}


async def test_password_grant_validation(auth: httpx.AsyncClient) -> None:
    res = await auth.post("/token", params={"grant_type": "password"}, json={"password": PASSWORD})
    assert (res.status_code, res.json()) == (400, {"code": "validation_failed", "message": "missing email or phone"})
    res = await auth.post("/token", params={"grant_type": "magic"}, json={})
    assert (res.status_code, res.json()) == (400, {"code": "invalid_credentials", "message": "unsupported_grant_type"})


async def test_sign_in_reports_a_password_weaker_than_the_current_rule(make_auth: MakeAuth) -> None:
    await sign_up(make_auth(), "old@example.com", password="eight888")
    res = await sign_in(make_auth(auth_password_min_length=10), "old@example.com", "eight888")
    assert res.status_code == 200
    assert res.json()["weak_password"] == {
        "message": "Password should be at least 10 characters.",
        "reasons": ["length"],
    }


async def test_banned_user_cannot_sign_in(auth: httpx.AsyncClient, engine: Engine) -> None:
    await sign_up(auth, "banned@example.com")
    sql = sql_for(engine.dialect)
    async with engine.transaction() as conn:
        await conn.execute(
            sql("update auth.users set banned_until = ? where email = ?"),
            (sql.ts(datetime(2999, 1, 1, tzinfo=UTC)), "banned@example.com"),
        )
    res = await sign_in(auth, "banned@example.com")
    assert (res.status_code, res.json()) == (400, {"code": "user_banned", "message": "User is banned"})


async def _import_user(engine: Engine, email: str, encrypted_password: str) -> None:
    """A user as a GoTrue export holds it: confirmed, bcrypt hash."""
    sql = sql_for(engine.dialect)
    user = new_email_user(email, encrypted_password, {}, confirmed=True, now=datetime.now(UTC))
    async with engine.transaction() as conn:
        await insert_user(conn, sql, user)


async def _stored_hash(engine: Engine, email: str) -> str:
    sql = sql_for(engine.dialect)
    row = await engine.fetch_one(sql("select encrypted_password from auth.users where email = ?"), (email,))
    assert row is not None
    return str(row[0])


@pytest.mark.parametrize("prefix", ["$2a$", "$2b$"])
@pytest.mark.real_password_cost  # the upgraded hash carries the production parameters
async def test_bcrypt_hash_is_verified_and_upgraded(auth: httpx.AsyncClient, engine: Engine, prefix: str) -> None:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    await _import_user(engine, "imported@example.com", prefix + hashed[4:])
    assert (await sign_in(auth, "imported@example.com", "not the password")).status_code == 400
    assert (await _stored_hash(engine, "imported@example.com")).startswith(prefix)

    res = await sign_in(auth, "imported@example.com")
    assert res.status_code == 200, res.text
    upgraded = await _stored_hash(engine, "imported@example.com")
    assert upgraded.startswith("$argon2id$v=19$m=19456,t=3,p=1$")
    assert (await sign_in(auth, "imported@example.com")).status_code == 200
    assert await _stored_hash(engine, "imported@example.com") == upgraded  # no re-hash once current
    assert (await sign_in(auth, "imported@example.com", "not the password")).status_code == 400


async def test_bcrypt_hash_of_a_long_password_checks_its_first_72_bytes(
    auth: httpx.AsyncClient, engine: Engine
) -> None:
    long = "b" * 72 + "tail"
    hashed = bcrypt.hashpw(long.encode()[:72], bcrypt.gensalt(rounds=4)).decode()
    await _import_user(engine, "bcrypt-long@example.com", hashed)
    assert (await sign_in(auth, "bcrypt-long@example.com", long)).status_code == 200
    # Upgraded to argon2id over the whole password: the tail now matters.
    assert (await sign_in(auth, "bcrypt-long@example.com", "b" * 72)).status_code == 400
    assert (await sign_in(auth, "bcrypt-long@example.com", long)).status_code == 200


async def test_user_without_password_cannot_sign_in(auth: httpx.AsyncClient, engine: Engine) -> None:
    await _import_user(engine, "oauth-only@example.com", "")
    res = await sign_in(auth, "oauth-only@example.com", "")
    assert (res.status_code, res.json()) == (400, INVALID)
