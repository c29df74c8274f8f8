"""GoTrue behaviour found missing by issue 18 section 5 (supabase-py's own integration tests), on both engines.

- a JWT without `exp` is accepted by /auth/v1 as by GoTrue, PostgREST and /rest/v1 (a service_role
  key minted without `exp` reaches the admin API); `exp` is still checked when present;
- `/admin/generate_link` (type signup) stores `data` as the user's metadata, as given.
"""

from __future__ import annotations

import time
import uuid

import httpx
import jwt
import pytest

from backstack.config import Settings
from tests.auth.conftest import bearer, sign_up

pytestmark = pytest.mark.anyio


def token(settings: Settings, **claims: object) -> str:
    return jwt.encode(dict(claims), settings.jwt_secret, algorithm="HS256")


async def test_jwt_without_exp_is_accepted(auth: httpx.AsyncClient, engine_settings: Settings) -> None:
    service = token(engine_settings, iss="supabase", role="service_role", iat=int(time.time()))
    res = await auth.get("/admin/users", headers=bearer(service))
    assert res.status_code == 200, res.text
    user_id = (await sign_up(auth, "noexp@example.com")).json()["user"]["id"]
    user = token(engine_settings, sub=user_id, role="authenticated", aud="authenticated")
    res = await auth.get("/user", headers=bearer(user))
    assert (res.status_code, res.json()["id"]) == (200, user_id), res.text


async def test_exp_is_still_checked_when_present(auth: httpx.AsyncClient, engine_settings: Settings) -> None:
    expired = token(engine_settings, role="service_role", exp=int(time.time()) - 3600)
    res = await auth.get("/admin/users", headers=bearer(expired))
    assert (res.status_code, res.json()["code"]) == (403, "bad_jwt"), res.text
    bad = token(engine_settings, role="service_role", exp="soon")
    res = await auth.get("/admin/users", headers=bearer(bad))
    assert (res.status_code, res.json()["code"]) == (403, "bad_jwt"), res.text


async def test_generate_link_signup_keeps_metadata_as_given(auth: httpx.AsyncClient, engine_settings: Settings) -> None:
    service = bearer(token(engine_settings, role="service_role", exp=int(time.time()) + 60))
    data = {"name": "Gen", "plan": {"tier": 2}}
    for body in (
        {"type": "signup", "email": "gen1@example.com", "password": "generated secret", "data": data},
        {"type": "signup", "email": "gen2@example.com", "data": data},
        {"type": "magiclink", "email": "gen3@example.com", "data": data},
    ):
        res = await auth.post("/admin/generate_link", json=body, headers=service)
        assert res.status_code == 200, res.text
        created = res.json()
        assert created["user_metadata"] == data, created
        fetched = await auth.get(f"/admin/users/{created['id']}", headers=service)
        assert fetched.json()["user_metadata"] == data
        assert uuid.UUID(created["identities"][0]["identity_data"]["sub"]) == uuid.UUID(created["id"])
