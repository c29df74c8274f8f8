"""POST /auth/v1/token?grant_type=refresh_token on both engines: rotation, reuse detection, concurrency."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from backstack.auth.core.tokens import encode_refresh_token, new_hmac_key, parse_refresh_token
from backstack.auth.store.sql import sql_for
from backstack.config import Settings
from backstack.db.engine import Engine
from tests.auth.conftest import MakeAuth, claims, refresh, sign_up

pytestmark = pytest.mark.anyio

ALREADY_USED = {"code": "refresh_token_already_used", "message": "Invalid Refresh Token: Already Used"}
NOT_FOUND = {"code": "refresh_token_not_found", "message": "Invalid Refresh Token: Refresh Token Not Found"}


async def _counter(engine: Engine, session_id: str) -> int | None:
    sql = sql_for(engine.dialect)
    row = await engine.fetch_one(sql("select refresh_token_counter from auth.sessions where id = ?"), (session_id,))
    return None if row is None else int(row[0])


async def test_refresh_rotates_the_token(auth: httpx.AsyncClient, engine_settings: Settings, engine: Engine) -> None:
    first = (await sign_up(auth, "rot@example.com")).json()
    session_id = claims(engine_settings, first["access_token"])["session_id"]
    res = await refresh(auth, first["refresh_token"])
    assert res.status_code == 200, res.text
    second = res.json()
    assert set(second) == {"access_token", "token_type", "expires_in", "expires_at", "refresh_token", "user"}
    assert second["refresh_token"] != first["refresh_token"]
    assert second["user"]["id"] == first["user"]["id"]
    token = claims(engine_settings, second["access_token"])
    assert token["session_id"] == session_id
    assert token["amr"][0]["method"] == "password"
    assert await _counter(engine, session_id) == 1
    third = (await refresh(auth, second["refresh_token"])).json()
    assert third["refresh_token"] not in (first["refresh_token"], second["refresh_token"])
    assert await _counter(engine, session_id) == 2


async def test_previous_token_gets_the_current_one_back(auth: httpx.AsyncClient) -> None:
    """A client that lost the answer to its last refresh may retry with the token it still has."""
    first = (await sign_up(auth, "lost@example.com")).json()
    second = (await refresh(auth, first["refresh_token"])).json()
    retry = await refresh(auth, first["refresh_token"])
    assert retry.status_code == 200
    assert retry.json()["refresh_token"] == second["refresh_token"]
    assert (await refresh(auth, second["refresh_token"])).status_code == 200


async def test_reuse_outside_the_grace_window_ends_the_session(make_auth: MakeAuth, engine_settings: Settings) -> None:
    auth = make_auth(auth_refresh_token_reuse_interval=0)
    t0 = (await sign_up(auth, "stolen@example.com")).json()
    t1 = (await refresh(auth, t0["refresh_token"])).json()
    t2 = (await refresh(auth, t1["refresh_token"])).json()
    res = await refresh(auth, t0["refresh_token"])
    assert (res.status_code, res.json()) == (400, ALREADY_USED)
    # The whole session is gone: the newest token and the access token no longer work.
    res = await refresh(auth, t2["refresh_token"])
    assert (res.status_code, res.json()) == (400, NOT_FOUND)
    res = await auth.get("/user", headers={"Authorization": f"Bearer {t2['access_token']}"})
    assert (res.status_code, res.json()["code"]) == (403, "session_not_found")


async def test_reuse_inside_the_grace_window_returns_the_current_token(auth: httpx.AsyncClient) -> None:
    """Default interval (10 s): tabs refreshing with old tokens right after a refresh are let through."""
    t0 = (await sign_up(auth, "tabs@example.com")).json()
    t1 = (await refresh(auth, t0["refresh_token"])).json()
    t2 = (await refresh(auth, t1["refresh_token"])).json()
    res = await refresh(auth, t0["refresh_token"])
    assert res.status_code == 200
    assert res.json()["refresh_token"] == t2["refresh_token"]


async def test_concurrent_refreshes_mint_one_token(
    auth: httpx.AsyncClient, engine: Engine, engine_settings: Settings
) -> None:
    t0 = (await sign_up(auth, "burst@example.com")).json()
    session_id = claims(engine_settings, t0["access_token"])["session_id"]
    results = await asyncio.gather(*(refresh(auth, t0["refresh_token"]) for _ in range(12)))
    assert [r.status_code for r in results] == [200] * 12
    tokens = {r.json()["refresh_token"] for r in results}
    assert len(tokens) == 1 and t0["refresh_token"] not in tokens
    assert await _counter(engine, session_id) == 1
    [current] = tokens
    assert (await refresh(auth, current)).status_code == 200
    assert await _counter(engine, session_id) == 2


async def test_refresh_token_errors(auth: httpx.AsyncClient) -> None:
    res = await auth.post("/token", params={"grant_type": "refresh_token"}, json={})
    assert (res.status_code, res.json()) == (
        400,
        {"error": "invalid_request", "error_description": "refresh_token required"},
    )
    for garbage in ("short", "x" * 40, "abcdefghijkl!"):
        res = await refresh(auth, garbage)
        assert (res.status_code, res.json()) == (
            400,
            {"code": "validation_failed", "message": "Refresh token is not valid"},
        )
    res = await refresh(auth, "abcdefghijkl")  # GoTrue's first-generation format: none issued here
    assert (res.status_code, res.json()) == (400, NOT_FOUND)

    real = (await sign_up(auth, "forge@example.com")).json()
    parsed = parse_refresh_token(real["refresh_token"])
    assert parsed is not None
    forged = encode_refresh_token(parsed.session_id, parsed.counter, new_hmac_key())
    assert (await refresh(auth, forged)).json() == NOT_FOUND
    unknown = encode_refresh_token("0b7a2c7e-8d9f-4b55-9a39-1f2d3c4b5a69", 0, new_hmac_key())
    assert (await refresh(auth, unknown)).json() == NOT_FOUND


async def test_counter_ahead_of_the_session_is_not_ours(
    auth: httpx.AsyncClient, engine: Engine, engine_settings: Settings
) -> None:
    first = (await sign_up(auth, "ahead@example.com")).json()
    session_id = claims(engine_settings, first["access_token"])["session_id"]
    sql = sql_for(engine.dialect)
    row = await engine.fetch_one(sql("select refresh_token_hmac_key from auth.sessions where id = ?"), (session_id,))
    assert row is not None
    ahead = encode_refresh_token(session_id, 7, str(row[0]))
    res = await refresh(auth, ahead)
    assert (res.status_code, res.json()) == (
        400,
        {"code": "validation_failed", "message": "Invalid Refresh Token: Not Issued By This Server"},
    )
