"""MFA with TOTP (/factors enroll, challenge, verify, unenroll) on both engines."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pyotp
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from backstack.auth import build_auth_app
from backstack.cache import MemoryRateLimiter
from backstack.config import Settings
from backstack.core.keys import mint_key
from backstack.db.engine import Engine
from tests.auth.conftest import VERSIONED, MakeAuth, bearer, claims, refresh, sign_in, sign_up

pytestmark = pytest.mark.anyio


async def enroll(auth: httpx.AsyncClient, token: str, name: str = "phone app") -> httpx.Response:
    return await auth.post("/factors", json={"factor_type": "totp", "friendly_name": name, "issuer": "backstack"},
                           headers=bearer(token))  # fmt: skip


async def challenge_and_verify(auth: httpx.AsyncClient, token: str, factor_id: str, code: str) -> httpx.Response:
    challenge = await auth.post(f"/factors/{factor_id}/challenge", json={}, headers=bearer(token))
    assert challenge.status_code == 200, challenge.text
    body = {"challenge_id": challenge.json()["id"], "code": code}
    return await auth.post(f"/factors/{factor_id}/verify", json=body, headers=bearer(token))


async def enrolled_user(auth: httpx.AsyncClient, email: str) -> tuple[dict[str, Any], dict[str, Any], pyotp.TOTP]:
    """A signed-up user with a verified TOTP factor: (aal2 session, factor, totp)."""
    session = (await sign_up(auth, email)).json()
    factor = (await enroll(auth, session["access_token"])).json()
    totp = pyotp.TOTP(factor["totp"]["secret"])
    verified = await challenge_and_verify(auth, session["access_token"], factor["id"], totp.now())
    assert verified.status_code == 200, verified.text
    return verified.json(), factor, totp


async def test_enroll_challenge_verify(auth: httpx.AsyncClient, engine_settings: Settings) -> None:
    session = (await sign_up(auth, "mfa@example.com")).json()
    token = session["access_token"]
    res = await enroll(auth, token)
    assert res.status_code == 200, res.text
    factor = res.json()
    assert set(factor) == {"id", "type", "friendly_name", "totp"}
    assert (factor["type"], factor["friendly_name"]) == ("totp", "phone app")
    secret = factor["totp"]["secret"]
    assert len(secret) == 32
    assert factor["totp"]["uri"] == f"otpauth://totp/backstack:mfa%40example.com?secret={secret}&issuer=backstack"
    assert (
        factor["totp"]["qr_code"].startswith("<svg")
        and 'xmlns="http://www.w3.org/2000/svg"' in factor["totp"]["qr_code"]
    )
    # listed, unverified, in the user (never with its secret)
    user = (await auth.get("/user", headers=bearer(token))).json()
    assert [(f["id"], f["status"], f["factor_type"]) for f in user["factors"]] == [(factor["id"], "unverified", "totp")]
    assert secret not in str(user)
    challenge = await auth.post(f"/factors/{factor['id']}/challenge", headers=bearer(token))
    assert challenge.status_code == 200
    assert challenge.json()["type"] == "totp"
    assert abs(challenge.json()["expires_at"] - (time.time() + 300)) < 10
    totp = pyotp.TOTP(secret)
    wrong = await auth.post(
        f"/factors/{factor['id']}/verify",
        json={"challenge_id": challenge.json()["id"], "code": "12345x"},
        headers=bearer(token),
    )
    assert (wrong.status_code, wrong.json()["code"]) == (422, "mfa_verification_failed")
    res = await auth.post(
        f"/factors/{factor['id']}/verify",
        json={"challenge_id": challenge.json()["id"], "code": totp.now()},
        headers=bearer(token),
    )
    assert res.status_code == 200, res.text
    upgraded = res.json()
    assert upgraded["refresh_token"] != session["refresh_token"]
    token_claims = claims(engine_settings, upgraded["access_token"])
    assert token_claims["aal"] == "aal2"
    assert token_claims["amr"][0]["method"] == "totp" and {a["method"] for a in token_claims["amr"]} == {
        "totp", "password"}  # fmt: skip
    assert token_claims["session_id"] == claims(engine_settings, token)["session_id"]
    assert [f["status"] for f in upgraded["user"]["factors"]] == ["verified"]
    # refreshing keeps aal2
    renewed = await refresh(auth, upgraded["refresh_token"])
    assert claims(engine_settings, renewed.json()["access_token"])["aal"] == "aal2"


async def test_codes_cannot_be_replayed(auth: httpx.AsyncClient) -> None:
    session, factor, totp = await enrolled_user(auth, "replay@example.com")
    token = session["access_token"]
    used = totp.now()
    again = await challenge_and_verify(auth, token, factor["id"], used)
    assert (again.status_code, again.json()["code"]) == (422, "mfa_verification_failed")
    # an older step is refused too; the next step is accepted once
    assert (await challenge_and_verify(auth, token, factor["id"], totp.at(time.time() - 30))).status_code == 422
    future = totp.at(time.time() + 30)
    assert (await challenge_and_verify(auth, token, factor["id"], future)).status_code == 200
    assert (await challenge_and_verify(auth, token, factor["id"], future)).status_code == 422


async def test_challenge_rules(auth: httpx.AsyncClient) -> None:
    session, factor, totp = await enrolled_user(auth, "chal@example.com")
    token = session["access_token"]
    challenge = (await auth.post(f"/factors/{factor['id']}/challenge", headers=bearer(token))).json()
    cases = [
        ({"challenge_id": "nope", "code": "123456"}, 422, "mfa_factor_not_found"),
        ({"challenge_id": "6f0f4c1e-0000-4000-8000-000000000000", "code": "123456"}, 422, "mfa_factor_not_found"),
        ({"challenge_id": challenge["id"], "code": 123456}, 400, "bad_json"),
    ]
    for body, status, code in cases:
        res = await auth.post(f"/factors/{factor['id']}/verify", json=body, headers=bearer(token))
        assert (res.status_code, res.json()["code"]) == (status, code), (body, res.text)
    ok = await auth.post(f"/factors/{factor['id']}/verify",
                         json={"challenge_id": challenge["id"], "code": totp.at(time.time() + 30)},
                         headers=bearer(token))  # fmt: skip
    assert ok.status_code == 200, ok.text
    used = await auth.post(f"/factors/{factor['id']}/verify", json={"challenge_id": challenge["id"], "code": "000000"},
                           headers=bearer(token))  # fmt: skip
    assert (used.status_code, used.json()["code"]) == (422, "mfa_challenge_expired")
    for path in ("/factors/6f0f4c1e-0000-4000-8000-000000000000/challenge", "/factors/x/challenge"):
        res = await auth.post(path, headers=bearer(token))
        assert res.status_code == 404, res.text
    assert (await auth.post(f"/factors/{factor['id']}/challenge")).status_code == 401


async def test_enroll_refusals(make_auth: MakeAuth) -> None:
    auth = make_auth(auth_anonymous_users=True)
    anonymous = (await auth.post("/signup", json={})).json()
    res = await enroll(auth, anonymous["access_token"])
    assert (res.status_code, res.json()["code"]) == (403, "no_authorization")
    session = (await sign_up(auth, "refuse@example.com")).json()
    token = session["access_token"]
    for body, status, code in [
        ({"factor_type": "sms"}, 400, "validation_failed"),
        ({"factor_type": "phone"}, 422, "mfa_phone_enroll_not_enabled"),
        ({"factor_type": "webauthn"}, 422, "mfa_webauthn_enroll_not_enabled"),
        ({"factor_type": "totp", "friendly_name": 3}, 400, "bad_json"),
    ]:
        res = await auth.post("/factors", json=body, headers=bearer(token))
        assert (res.status_code, res.json()["code"]) == (status, code), (body, res.text)
    assert (await enroll(auth, token, "same")).status_code == 200
    dup = await enroll(auth, token, "same")
    assert (dup.status_code, dup.json()["code"]) == (422, "mfa_factor_name_conflict")
    assert (await auth.post("/factors", json={"factor_type": "totp"})).status_code == 401


async def test_aal_rules_for_enroll_and_unenroll(auth: httpx.AsyncClient, engine_settings: Settings) -> None:
    first = (await sign_up(auth, "aal@example.com")).json()
    session, factor, totp = await enrolled_user_from(auth, first)
    # the first verification ended the other aal1 session... (none here) and a new sign-in is aal1
    aal1 = (await sign_in(auth, "aal@example.com")).json()
    assert claims(engine_settings, aal1["access_token"])["aal"] == "aal1"
    res = await auth.delete(f"/factors/{factor['id']}", headers=bearer(aal1["access_token"]))
    assert (res.status_code, res.json()["code"]) == (422, "insufficient_aal")
    res = await enroll(auth, aal1["access_token"], "second")
    assert (res.status_code, res.json()["code"]) == (403, "insufficient_aal")
    # step up the new session with the next code, then unenroll
    up = await challenge_and_verify(auth, aal1["access_token"], factor["id"], totp.at(time.time() + 30))
    assert up.status_code == 200, up.text
    aal2_token = up.json()["access_token"]
    res = await auth.delete(f"/factors/{factor['id']}", headers=bearer(aal2_token))
    assert (res.status_code, res.json()) == (200, {"id": factor["id"]})
    user = (await auth.get("/user", headers=bearer(aal2_token))).json()
    assert "factors" not in user
    # sessions raised with the factor fall back to aal1
    renewed = await refresh(auth, up.json()["refresh_token"])
    assert claims(engine_settings, renewed.json()["access_token"])["aal"] == "aal1"
    gone = await auth.delete(f"/factors/{factor['id']}", headers=bearer(aal2_token))
    assert (gone.status_code, gone.json()["code"]) == (404, "mfa_factor_not_found")
    del session


async def enrolled_user_from(
    auth: httpx.AsyncClient, session: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any], pyotp.TOTP]:
    factor = (await enroll(auth, session["access_token"])).json()
    totp = pyotp.TOTP(factor["totp"]["secret"])
    verified = await challenge_and_verify(auth, session["access_token"], factor["id"], totp.now())
    assert verified.status_code == 200, verified.text
    return verified.json(), factor, totp


async def test_first_verification_ends_other_aal1_sessions(auth: httpx.AsyncClient) -> None:
    first = (await sign_up(auth, "other@example.com")).json()
    second = (await sign_in(auth, "other@example.com")).json()
    await enrolled_user_from(auth, first)
    assert (await refresh(auth, second["refresh_token"])).status_code == 400
    assert (await auth.get("/user", headers=bearer(second["access_token"]))).json()["code"] == "session_not_found"


async def test_admin_sees_and_removes_factors(auth: httpx.AsyncClient, engine_settings: Settings) -> None:
    session, factor, _ = await enrolled_user(auth, "adm@example.com")
    headers = bearer(mint_key(engine_settings.jwt_secret, "service_role"))
    user_id = session["user"]["id"]
    listed = (await auth.get(f"/admin/users/{user_id}/factors", headers=headers)).json()
    assert [(f["id"], f["status"]) for f in listed] == [(factor["id"], "verified")]
    res = await auth.delete(f"/admin/users/{user_id}/factors/{factor['id']}", headers=headers)
    assert res.status_code == 200 and res.json()["id"] == factor["id"]
    assert (await auth.get(f"/admin/users/{user_id}/factors", headers=headers)).json() == []
    renewed = await refresh(auth, session["refresh_token"])
    assert claims(engine_settings, renewed.json()["access_token"])["aal"] == "aal1"


async def test_verification_attempts_are_limited_per_factor(engine: Engine, engine_settings: Settings) -> None:
    limiter = MemoryRateLimiter()
    # every attempt from another address: only the per-factor count can stop the fourth
    settings = engine_settings.model_copy(
        update={"auth_rate_limit_verify": "3/1h", "auth_rate_limit_ip_header": "X-Forwarded-For"}
    )
    app = Starlette(routes=[Mount("/auth/v1", build_auth_app(engine, settings, limiter=limiter))])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://testserver/auth/v1", headers=VERSIONED
    ) as auth:
        session = (await sign_up(auth, "guess@example.com")).json()
        factor = (await enroll(auth, session["access_token"])).json()
        totp = pyotp.TOTP(factor["totp"]["secret"])
        valid = {totp.at(time.time() + shift) for shift in (-30, 0, 30)}
        wrong = next(code for code in ("000000", "111111", "222222", "333333") if code not in valid)
        statuses = []
        for n in range(4):
            headers = {**bearer(session["access_token"]), "X-Forwarded-For": f"10.0.0.{n}"}
            challenge = (await auth.post(f"/factors/{factor['id']}/challenge", headers=headers)).json()
            res = await auth.post(f"/factors/{factor['id']}/verify", headers=headers,
                                  json={"challenge_id": challenge["id"], "code": wrong})  # fmt: skip
            statuses.append((res.status_code, res.json()["code"]))
        assert statuses[3] == (429, "over_request_rate_limit")
        assert statuses[:3] == [(422, "mfa_verification_failed")] * 3
