"""POST /auth/v1/signup on both engines: sessions, bare users, duplicates, validation, metadata."""

from __future__ import annotations

import asyncio
import re
import uuid

import httpx
import pytest

from backstack.config import Settings
from backstack.core.caller import Caller
from backstack.db.engine import Engine
from backstack.web.auth import Authenticator
from tests.auth.conftest import PASSWORD, MakeAuth, claims, sign_in, sign_up

pytestmark = pytest.mark.anyio

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z$")


async def test_signup_returns_a_gotrue_session(auth: httpx.AsyncClient, engine_settings: Settings) -> None:
    res = await sign_up(auth, "Ada@Example.COM", data={"name": "Ada"})
    assert res.status_code == 200, res.text
    body = res.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "expires_at", "refresh_token", "user"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    user = body["user"]
    uuid.UUID(user["id"])
    assert list(user) == [
        "id", "aud", "role", "email", "email_confirmed_at", "phone", "confirmed_at", "last_sign_in_at",
        "app_metadata", "user_metadata", "identities", "created_at", "updated_at", "is_anonymous",
    ]  # fmt: skip
    assert user["aud"] == user["role"] == "authenticated"
    assert user["email"] == "ada@example.com"
    assert user["phone"] == ""
    assert user["is_anonymous"] is False
    assert user["app_metadata"] == {"provider": "email", "providers": ["email"]}
    assert user["user_metadata"] == {
        "sub": user["id"], "email": "ada@example.com", "email_verified": True, "phone_verified": False, "name": "Ada",
    }  # fmt: skip
    for key in ("email_confirmed_at", "confirmed_at", "last_sign_in_at", "created_at", "updated_at"):
        assert RFC3339.match(user[key]), (key, user[key])
    [identity] = user["identities"]
    assert identity["provider"] == "email"
    assert identity["id"] == identity["user_id"] == user["id"]
    uuid.UUID(identity["identity_id"])
    assert identity["identity_data"]["sub"] == user["id"]
    assert identity["email"] == "ada@example.com"
    assert RFC3339.match(identity["created_at"]) and RFC3339.match(identity["last_sign_in_at"])

    token = claims(engine_settings, body["access_token"])
    assert body["expires_at"] == token["exp"] == token["iat"] + 3600
    assert token["sub"] == user["id"]
    assert token["iss"] == "http://127.0.0.1:8000/auth/v1"
    assert token["role"] == "authenticated" and token["aal"] == "aal1"
    assert token["email"] == "ada@example.com" and token["phone"] == ""
    assert token["app_metadata"] == user["app_metadata"] and token["user_metadata"] == user["user_metadata"]
    assert token["amr"] == [{"method": "password", "timestamp": token["iat"]}]
    uuid.UUID(token["session_id"])
    assert token["is_anonymous"] is False


async def test_access_token_is_accepted_by_the_data_api(auth: httpx.AsyncClient, engine_settings: Settings) -> None:
    body = (await sign_up(auth, "rest@example.com")).json()
    caller = Authenticator(engine_settings.jwt_secret).verify(body["access_token"])
    assert caller == Caller(role="authenticated", claims=caller.claims)
    assert caller.uid == body["user"]["id"]


async def test_signup_with_confirmation_returns_the_bare_user(make_auth: MakeAuth) -> None:
    client = make_auth(auth_email_confirm=True)
    res = await sign_up(client, "wait@example.com")
    assert res.status_code == 200
    user = res.json()
    assert "access_token" not in user and "user" not in user
    assert user["email"] == "wait@example.com"
    assert "email_confirmed_at" not in user and "confirmed_at" not in user and "last_sign_in_at" not in user
    assert RFC3339.match(user["confirmation_sent_at"])
    assert user["user_metadata"]["email_verified"] is False
    res = await sign_in(client, "wait@example.com")
    assert (res.status_code, res.json()) == (400, {"code": "email_not_confirmed", "message": "Email not confirmed"})
    # Signing up again for the unconfirmed address returns that user again (GoTrue re-sends the mail).
    again = await sign_up(client, "wait@example.com")
    assert again.status_code == 200 and again.json()["id"] == user["id"]


async def test_duplicate_signup_is_user_already_exists(auth: httpx.AsyncClient) -> None:
    assert (await sign_up(auth, "dup@example.com")).status_code == 200
    res = await sign_up(auth, "DUP@example.com", password="another password")
    assert res.status_code == 422
    assert res.json() == {"code": "user_already_exists", "message": "User already registered"}
    assert res.headers["x-supabase-api-version"] == "2024-01-01"
    assert res.headers["x-sb-error-code"] == "user_already_exists"

    legacy = await auth.post(
        "/signup", json={"email": "dup@example.com", "password": PASSWORD}, headers={"X-Supabase-Api-Version": ""}
    )
    assert legacy.status_code == 422
    assert legacy.json() == {"code": 422, "error_code": "user_already_exists", "msg": "User already registered"}
    assert "x-supabase-api-version" not in legacy.headers


async def test_duplicate_signup_while_confirmation_is_required_hides_the_account(make_auth: MakeAuth) -> None:
    registered = (await sign_up(make_auth(), "known@example.com")).json()["user"]
    res = await sign_up(make_auth(auth_email_confirm=True), "known@example.com", data={"x": 1})
    assert res.status_code == 200
    fake = res.json()
    assert fake["id"] != registered["id"]
    assert fake["email"] == "known@example.com" and fake["role"] == ""
    assert fake["identities"] == [] and fake["user_metadata"] == {"x": 1}


async def test_concurrent_duplicate_signups_create_one_user(auth: httpx.AsyncClient, engine: Engine) -> None:
    results = await asyncio.gather(*(sign_up(auth, "race@example.com") for _ in range(4)))
    assert sorted(r.status_code for r in results) == [200, 422, 422, 422]
    table = "_auth_users" if engine.dialect.is_sqlite else "auth.users"
    assert await engine.fetch_one(f"select count(*) from {table} where email = 'race@example.com'") == (1,)


async def test_weak_password(auth: httpx.AsyncClient) -> None:
    res = await sign_up(auth, "weak@example.com", password="short")
    assert res.status_code == 422
    assert res.json() == {
        "code": "weak_password",
        "message": "Password should be at least 8 characters.",
        "weak_password": {"reasons": ["length"]},
    }
    legacy = await auth.post(
        "/signup", json={"email": "weak@example.com", "password": "short"}, headers={"X-Supabase-Api-Version": ""}
    )
    assert legacy.json() == {
        "code": 422,
        "error_code": "weak_password",
        "msg": "Password should be at least 8 characters.",
        "weak_password": {"reasons": ["length"]},
    }


async def test_minimum_length_is_a_setting(make_auth: MakeAuth) -> None:
    client = make_auth(auth_password_min_length=12)
    res = await sign_up(client, "twelve@example.com", password="elevenchars")
    assert res.json()["message"] == "Password should be at least 12 characters."
    assert (await sign_up(client, "twelve@example.com", password="twelve chars")).status_code == 200


async def test_long_passwords_are_not_truncated(auth: httpx.AsyncClient) -> None:
    long = "p" * 72 + "-the-rest-matters-too"
    assert (await sign_up(auth, "long@example.com", password=long)).status_code == 200
    assert (await sign_in(auth, "long@example.com", password=long)).status_code == 200
    assert (await sign_in(auth, "long@example.com", password="p" * 72)).status_code == 400
    assert (await sign_in(auth, "long@example.com", password=long[:-1] + "X")).status_code == 400
    too_long = await sign_up(auth, "longer@example.com", password="x" * 1025)
    assert too_long.status_code == 400 and too_long.json()["code"] == "validation_failed"


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        ({"email": "a@example.com"}, 400, "validation_failed", "Signup requires a valid password"),
        ({"email": "not-an-address", "password": PASSWORD}, 400, "validation_failed",
         "Unable to validate email address: invalid format"),
        ({"password": PASSWORD}, 422, "anonymous_provider_disabled", "Anonymous sign-ins are disabled"),
        ({"phone": "+15555550100", "password": PASSWORD}, 422, "phone_provider_disabled", "Phone signups are disabled"),
        ({"email": "a@example.com", "password": PASSWORD, "data": "x"}, 400, "bad_json", None),
        ({"email": 5, "password": PASSWORD}, 400, "bad_json", None),
    ],
)  # fmt: skip
async def test_signup_validation(
    auth: httpx.AsyncClient, body: dict[str, object], status: int, code: str, message: str | None
) -> None:
    res = await auth.post("/signup", json=body)
    assert (res.status_code, res.json()["code"]) == (status, code)
    if message is not None:
        assert res.json()["message"] == message


async def test_signup_rejects_a_body_that_is_not_json(auth: httpx.AsyncClient) -> None:
    res = await auth.post("/signup", content=b"{nope", headers={"Content-Type": "application/json"})
    assert res.status_code == 400
    assert res.json()["code"] == "bad_json"
    assert res.json()["message"].startswith("Could not parse request body as JSON: ")


async def test_signup_disabled(make_auth: MakeAuth) -> None:
    res = await sign_up(make_auth(auth_disable_signup=True), "no@example.com")
    assert res.status_code == 422
    assert res.json() == {"code": "signup_disabled", "message": "Signups not allowed for this instance"}


async def test_role_and_app_metadata_cannot_be_smuggled_in(auth: httpx.AsyncClient, engine_settings: Settings) -> None:
    res = await auth.post(
        "/signup",
        json={
            "email": "mallory@example.com",
            "password": PASSWORD,
            "role": "service_role",
            "app_metadata": {"provider": "google", "claims_admin": True},
            "data": {
                "role": "service_role",
                "app_metadata": {"claims_admin": True},
                "sub": "00000000-0000-0000-0000-000000000001",
                "email": "victim@example.com",
                "aud": "admin",
            },
        },
    )
    assert res.status_code == 200, res.text
    body = res.json()
    user = body["user"]
    assert user["role"] == "authenticated" and user["aud"] == "authenticated"
    assert user["app_metadata"] == {"provider": "email", "providers": ["email"]}
    assert user["user_metadata"]["sub"] == user["id"]
    assert user["user_metadata"]["email"] == "mallory@example.com"
    assert user["user_metadata"]["role"] == "service_role"  # only ever metadata
    for token in (body["access_token"], (await sign_in(auth, "mallory@example.com")).json()["access_token"]):
        token_claims = claims(engine_settings, token)
        assert token_claims["role"] == "authenticated"
        assert token_claims["aud"] == "authenticated"
        assert token_claims["sub"] == user["id"]
        assert token_claims["app_metadata"] == {"provider": "email", "providers": ["email"]}
        assert Authenticator(engine_settings.jwt_secret).verify(token).role == "authenticated"


async def test_metadata_the_database_refuses_is_a_client_error(auth: httpx.AsyncClient, engine: Engine) -> None:
    res = await sign_up(auth, "nul@example.com", data={"bio": "a\u0000b"})
    # SQLite stores the escape; PostgreSQL's jsonb refuses it (22P05): a 400, never a 500.
    assert res.status_code == (200 if engine.dialect.is_sqlite else 400), res.text
    if res.status_code == 400:
        assert res.json()["code"] == "validation_failed"
        assert (await sign_up(auth, "nul@example.com")).status_code == 200  # nothing half-written
