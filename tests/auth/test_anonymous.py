"""Anonymous sign-in (POST /signup without email or phone) on both engines."""

from __future__ import annotations

import httpx
import pytest

from backstack.config import Settings
from backstack.core.keys import mint_key
from tests.auth.conftest import MakeAuth, bearer, claims, refresh

pytestmark = pytest.mark.anyio


async def test_off_by_default(auth: httpx.AsyncClient) -> None:
    res = await auth.post("/signup", json={"data": {}, "gotrue_meta_security": {"captcha_token": None}})
    assert (res.status_code, res.json()["code"]) == (422, "anonymous_provider_disabled")
    assert res.json()["message"] == "Anonymous sign-ins are disabled"
    assert (await auth.get("/settings")).json()["external"]["anonymous_users"] is False


async def test_anonymous_session(make_auth: MakeAuth, engine_settings: Settings) -> None:
    auth = make_auth(auth_anonymous_users=True)
    assert (await auth.get("/settings")).json()["external"]["anonymous_users"] is True
    res = await auth.post("/signup", json={"data": {"cart": [1, 2]}, "gotrue_meta_security": {"captcha_token": None}})
    assert res.status_code == 200, res.text
    session = res.json()
    user = session["user"]
    assert user["is_anonymous"] is True
    assert (user["email"], user["phone"], user["identities"]) == ("", "", [])
    assert user["app_metadata"] == {"provider": "anonymous", "providers": ["anonymous"]}
    assert user["user_metadata"] == {"cart": [1, 2]}
    assert user["role"] == "authenticated"
    token = claims(engine_settings, session["access_token"])
    assert token["is_anonymous"] is True and token["role"] == "authenticated" and token["sub"] == user["id"]
    assert [a["method"] for a in token["amr"]] == ["anonymous"] and token["aal"] == "aal1"
    # the session works like any other
    assert (await auth.get("/user", headers=bearer(session["access_token"]))).json()["id"] == user["id"]
    renewed = await refresh(auth, session["refresh_token"])
    assert renewed.status_code == 200 and claims(engine_settings, renewed.json()["access_token"])["is_anonymous"]
    # every call is a new user; an empty body too
    other = await auth.post("/signup", json={})
    assert other.status_code == 200 and other.json()["user"]["id"] != user["id"]
    # the admin API sees them and can turn one into a permanent user
    service = bearer(mint_key(engine_settings.jwt_secret, "service_role"))
    listed = (await auth.get("/admin/users", headers=service)).json()["users"]
    assert {u["id"] for u in listed} == {user["id"], other.json()["user"]["id"]}
    made = await auth.put(f"/admin/users/{user['id']}", json={"email": "kept@example.com"}, headers=service)
    assert made.json()["is_anonymous"] is False
    assert made.json()["app_metadata"] == {"provider": "email", "providers": ["email"]}


async def test_signup_disabled_wins(make_auth: MakeAuth) -> None:
    auth = make_auth(auth_anonymous_users=True, auth_disable_signup=True)
    res = await auth.post("/signup", json={})
    assert (res.status_code, res.json()["code"]) == (422, "signup_disabled")
