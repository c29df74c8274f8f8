"""The auth mount's own answers: settings, health, unknown paths and methods, error shapes."""

from __future__ import annotations

import httpx
import pytest

from tests.auth.conftest import MakeAuth, sign_up

pytestmark = pytest.mark.anyio


async def test_settings(make_auth: MakeAuth) -> None:
    body = (await make_auth().get("/settings")).json()
    assert body["external"]["email"] is True
    assert body["external"]["phone"] is False and body["external"]["anonymous_users"] is False
    assert body["external"]["google"] is False
    assert {k: v for k, v in body.items() if k != "external"} == {
        "disable_signup": False,
        "mailer_autoconfirm": True,
        "phone_autoconfirm": False,
        "sms_provider": "",
        "saml_enabled": False,
        "saml_private_key_next_configured": False,
        "passkeys_enabled": False,
    }
    confirming = (await make_auth(auth_email_confirm=True, auth_disable_signup=True).get("/settings")).json()
    assert confirming["mailer_autoconfirm"] is False and confirming["disable_signup"] is True


async def test_health(auth: httpx.AsyncClient) -> None:
    res = await auth.get("/health")
    assert res.status_code == 200
    body = res.json()
    assert body["name"] == "GoTrue"
    assert body["description"] == "GoTrue is a user registration and authentication API"
    assert body["version"].startswith("v")


async def test_unknown_path_and_method(auth: httpx.AsyncClient) -> None:
    res = await auth.get("/nothing-here")
    assert (res.status_code, res.json()) == (404, {"code": "not_found", "message": "Not Found"})
    res = await auth.get("/signup")
    assert (res.status_code, res.json()["code"]) == (405, "method_not_allowed")


async def test_trailing_slash(auth: httpx.AsyncClient) -> None:
    assert (await auth.get("/settings/")).status_code == 200
    assert (await sign_up(auth, "slash@example.com")).status_code == 200


@pytest.mark.parametrize(
    ("version", "versioned"),
    [("2024-01-01", True), ("2025-06-30", True), ("2023-12-31", False), ("garbage", False), ("", False)],
)
async def test_error_shape_follows_the_api_version(auth: httpx.AsyncClient, version: str, versioned: bool) -> None:
    res = await auth.post(
        "/token", params={"grant_type": "password"}, json={}, headers={"X-Supabase-Api-Version": version}
    )
    assert res.status_code == 400
    assert res.headers["x-sb-error-code"] == "validation_failed"
    if versioned:
        assert res.json() == {"code": "validation_failed", "message": "missing email or phone"}
        assert res.headers["x-supabase-api-version"] == "2024-01-01"
    else:
        assert res.json() == {"code": 400, "error_code": "validation_failed", "msg": "missing email or phone"}
        assert "x-supabase-api-version" not in res.headers
