"""GET /auth/v1/user and POST /auth/v1/logout on both engines."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest

from backstack.config import Settings
from backstack.core.keys import mint_key
from tests.auth.conftest import bearer, refresh, sign_in, sign_up

pytestmark = pytest.mark.anyio
OTHER_SECRET = "some-other-secret-that-is-32-bytes-long"


async def test_get_user_with_the_access_token(auth: httpx.AsyncClient) -> None:
    session = (await sign_up(auth, "me@example.com", data={"plan": "pro"})).json()
    res = await auth.get("/user", headers=bearer(session["access_token"]))
    assert res.status_code == 200
    assert res.json() == session["user"]


def _token(settings: Settings, **claims: object) -> str:
    now = int(time.time())
    payload = {"aud": "authenticated", "role": "authenticated", "iat": now, "exp": now + 60, **claims}
    return jwt.encode(payload, settings.jwt_secret, algorithm="HS256")


async def test_get_user_refusals(auth: httpx.AsyncClient, engine_settings: Settings) -> None:
    session = (await sign_up(auth, "who@example.com")).json()
    user_id = session["user"]["id"]
    cases = [
        ({}, 401, "no_authorization", "This endpoint requires a valid Bearer token"),
        ({"Authorization": "Basic abc"}, 401, "no_authorization", None),
        (bearer("not-a-jwt"), 403, "bad_jwt", None),
        (bearer(jwt.encode({"sub": user_id, "exp": 2**40}, OTHER_SECRET, algorithm="HS256")), 403, "bad_jwt", None),
        (bearer(_token(engine_settings, sub=user_id, exp=int(time.time()) - 10)), 403, "bad_jwt",
         "invalid JWT: unable to parse or verify signature, token has invalid claims: token is expired"),
        (bearer(mint_key(engine_settings.jwt_secret, "anon")), 403, "bad_jwt", "invalid claim: missing sub claim"),
        (bearer(_token(engine_settings, sub="00000000-0000-4000-8000-000000000000")), 403, "user_not_found",
         "User from sub claim in JWT does not exist"),
        (bearer(_token(engine_settings, sub=user_id, session_id="6f0f4c1e-0000-4000-8000-000000000000")), 403,
         "session_not_found", "Session from session_id claim in JWT does not exist"),
        (bearer(_token(engine_settings, sub=user_id, aud="other")), 400, "validation_failed",
         "Token audience doesn't match request audience"),
    ]  # fmt: skip
    for headers, status, code, message in cases:
        res = await auth.get("/user", headers=headers)
        assert (res.status_code, res.json()["code"]) == (status, code), (headers, res.text)
        if message is not None:
            assert res.json()["message"] == message
    # A token without session_id (e.g. minted by a trusted server) still reads its user.
    assert (await auth.get("/user", headers=bearer(_token(engine_settings, sub=user_id)))).status_code == 200


async def _two_sessions(auth: httpx.AsyncClient, email: str) -> tuple[dict[str, str], dict[str, str]]:
    first = (await sign_up(auth, email)).json()
    second = (await sign_in(auth, email)).json()
    return first, second


async def _alive(auth: httpx.AsyncClient, session: dict[str, str]) -> bool:
    return (await auth.get("/user", headers=bearer(session["access_token"]))).status_code == 200


async def test_logout_global_ends_every_session(auth: httpx.AsyncClient) -> None:
    first, second = await _two_sessions(auth, "global@example.com")
    res = await auth.post("/logout", headers=bearer(first["access_token"]))
    assert (res.status_code, res.content) == (204, b"")
    assert not await _alive(auth, first) and not await _alive(auth, second)
    for session in (first, second):
        res = await refresh(auth, session["refresh_token"])
        assert (res.status_code, res.json()["code"]) == (400, "refresh_token_not_found")


async def test_logout_local_and_others(auth: httpx.AsyncClient) -> None:
    first, second = await _two_sessions(auth, "scoped@example.com")
    assert (await auth.post("/logout?scope=local", headers=bearer(first["access_token"]))).status_code == 204
    assert not await _alive(auth, first) and await _alive(auth, second)

    third = (await sign_in(auth, "scoped@example.com")).json()
    assert (await auth.post("/logout?scope=others", headers=bearer(third["access_token"]))).status_code == 204
    assert await _alive(auth, third) and not await _alive(auth, second)
    assert (await refresh(auth, third["refresh_token"])).status_code == 200


async def test_logout_refusals(auth: httpx.AsyncClient) -> None:
    session = (await sign_up(auth, "bye@example.com")).json()
    res = await auth.post("/logout?scope=everywhere", headers=bearer(session["access_token"]))
    assert (res.status_code, res.json()) == (
        400,
        {"code": "validation_failed", "message": 'Unsupported logout scope "everywhere"'},
    )
    assert (await auth.post("/logout")).status_code == 401
    assert (await auth.post("/logout", headers=bearer(session["access_token"]))).status_code == 204
    # Signed out already: clients treat 403 session_not_found as success.
    res = await auth.post("/logout", headers=bearer(session["access_token"]))
    assert (res.status_code, res.json()["code"]) == (403, "session_not_found")
