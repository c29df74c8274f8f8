"""PUT /user (data, password, email change), GET /reauthenticate, POST /invite and
POST /admin/generate_link on both engines."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from backstack.auth import AuthService, build_auth_app
from backstack.auth.mail import read_inbox
from backstack.config import Settings
from backstack.core.keys import mint_key
from backstack.db.engine import Engine
from tests.auth.conftest import PASSWORD, VERSIONED, MakeAuth, bearer, sign_in, sign_up
from tests.auth.test_email_flows import click, fragment, last_mail, link_params

pytestmark = pytest.mark.anyio


async def session_for(auth: httpx.AsyncClient, email: str) -> dict[str, Any]:
    res = await sign_up(auth, email)
    assert res.status_code == 200, res.text
    body: dict[str, Any] = res.json()
    return body


def admin(settings: Settings) -> dict[str, str]:
    return bearer(mint_key(settings.jwt_secret, "service_role"))


# ---------------------------------------------------------------- PUT /user


async def test_update_metadata(auth: httpx.AsyncClient) -> None:
    s = await session_for(auth, "meta@example.com")
    res = await auth.put("/user", json={"data": {"a": 1, "b": {"c": 2}}}, headers=bearer(s["access_token"]))
    assert res.status_code == 200, res.text
    assert res.json()["user_metadata"]["a"] == 1 and res.json()["user_metadata"]["b"] == {"c": 2}
    res = await auth.put("/user", json={"data": {"a": None}}, headers=bearer(s["access_token"]))
    assert "a" not in res.json()["user_metadata"] and res.json()["user_metadata"]["b"] == {"c": 2}
    got = (await auth.get("/user", headers=bearer(s["access_token"]))).json()
    assert got["user_metadata"] == res.json()["user_metadata"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"app_metadata": {"role": "admin"}}, 403, "not_admin"),
        ({"password": "short"}, 422, "weak_password"),
        ({"password": PASSWORD}, 422, "same_password"),
        ({"password": "x" * 1025}, 400, "validation_failed"),
        ({"email": "not an email"}, 400, "validation_failed"),
        ({"phone": "+15550100"}, 422, "phone_provider_disabled"),
        ({"data": "nope"}, 400, "bad_json"),
        ({"password": 12345678}, 400, "bad_json"),
    ],
)
async def test_update_bad_input(auth: httpx.AsyncClient, body: dict[str, Any], status: int, code: str) -> None:
    s = await session_for(auth, "bad-update@example.com")
    res = await auth.put("/user", json=body, headers=bearer(s["access_token"]))
    assert (res.status_code, res.json()["code"]) == (status, code), res.text


async def test_update_needs_a_user_token(auth: httpx.AsyncClient) -> None:
    res = await auth.put("/user", json={"data": {"a": 1}})
    assert (res.status_code, res.json()["code"]) == (401, "no_authorization")
    res = await auth.put("/user", json={"data": {"a": 1}}, headers=bearer("not.a.jwt"))
    assert (res.status_code, res.json()["code"]) == (403, "bad_jwt")


async def test_role_smuggled_in_update_is_ignored(auth: httpx.AsyncClient) -> None:
    s = await session_for(auth, "smuggle@example.com")
    res = await auth.put("/user", json={"role": "service_role", "data": {"x": 1}}, headers=bearer(s["access_token"]))
    assert res.status_code == 200 and res.json()["role"] == "authenticated"


async def test_secure_email_change(auth: httpx.AsyncClient, engine: Engine) -> None:
    s = await session_for(auth, "old@example.com")
    await session_for(auth, "taken@example.com")
    res = await auth.put("/user", json={"email": "taken@example.com"}, headers=bearer(s["access_token"]))
    assert (res.status_code, res.json()["code"]) == (422, "email_exists")

    res = await auth.put("/user", json={"email": "New@Example.com"}, headers=bearer(s["access_token"]))
    assert res.status_code == 200, res.text
    user = res.json()
    assert user["email"] == "old@example.com" and user["new_email"] == "new@example.com"
    assert "email_change_sent_at" in user
    to_old = await last_mail(engine, "old@example.com")
    to_new = await last_mail(engine, "new@example.com")
    assert to_old.kind == to_new.kind == "email_change"
    assert link_params(to_old.links[0])["token"] != link_params(to_new.links[0])["token"]

    res = await auth.post(
        "/verify", json={"type": "email_change", "email": "old@example.com", "token": to_old.codes[0]}
    )
    assert res.status_code == 200
    assert res.json() == {
        "msg": "Confirmation link accepted. Please proceed to confirm link sent to the other email",
        "code": "200",
    }
    res = await click(auth, to_new.links[0])
    assert res.status_code == 303
    assert fragment(res.headers["location"])["type"] == "email_change"
    assert (await sign_in(auth, "new@example.com")).status_code == 200
    assert (await sign_in(auth, "old@example.com")).status_code == 400
    got = (await sign_in(auth, "new@example.com")).json()["user"]
    assert "new_email" not in got
    assert got["identities"][0]["identity_data"]["email"] == "new@example.com"


async def test_email_change_with_one_confirmation(make_auth: MakeAuth, engine: Engine) -> None:
    auth = make_auth(auth_secure_email_change=False)
    s = await session_for(auth, "one@example.com")
    await auth.put("/user", json={"email": "two@example.com"}, headers=bearer(s["access_token"]))
    assert await read_inbox(engine, to="one@example.com") == []  # only the new address is asked
    to_new = await last_mail(engine, "two@example.com")
    res = await auth.post(
        "/verify", json={"type": "email_change", "email": "two@example.com", "token": to_new.codes[0]}
    )
    assert res.status_code == 200 and res.json()["user"]["email"] == "two@example.com"


async def test_reauthentication_nonce(engine: Engine, engine_settings: Settings) -> None:
    now = [datetime.now(UTC)]
    settings = engine_settings.model_copy(update={"auth_password_change_needs_reauthentication": True})
    service = AuthService(engine, settings, clock=lambda: now[0])
    app = Starlette(routes=[Mount("/auth/v1", build_auth_app(engine, settings, service=service))])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://testserver/auth/v1", headers=VERSIONED
    ) as auth:
        s = await session_for(auth, "nonce@example.com")
        headers = bearer(s["access_token"])
        # A fresh session may change the password without a nonce.
        assert (await auth.put("/user", json={"password": "second password"}, headers=headers)).status_code == 200
        now[0] += timedelta(hours=25)
        res = await auth.put("/user", json={"password": "third password"}, headers=headers)
        assert (res.status_code, res.json()["code"]) == (400, "reauthentication_needed")
        assert (await auth.get("/reauthenticate", headers=headers)).json() == {}
        mail = await last_mail(engine, "nonce@example.com")
        assert mail.kind == "reauthentication" and mail.links == []
        wrong = "000000" if mail.codes[0] != "000000" else "111111"
        res = await auth.put("/user", json={"password": "third password", "nonce": wrong}, headers=headers)
        assert (res.status_code, res.json()["code"]) == (422, "reauthentication_not_valid")
        res = await auth.put("/user", json={"password": "third password", "nonce": mail.codes[0]}, headers=headers)
        assert res.status_code == 200, res.text
        res = await auth.put("/user", json={"password": "fourth password", "nonce": mail.codes[0]}, headers=headers)
        assert (res.status_code, res.json()["code"]) == (422, "reauthentication_not_valid")  # used once


async def test_current_password_rule(make_auth: MakeAuth) -> None:
    auth = make_auth(auth_password_change_needs_current_password=True)
    s = await session_for(auth, "current@example.com")
    headers = bearer(s["access_token"])
    res = await auth.put("/user", json={"password": "another secret"}, headers=headers)
    assert (res.status_code, res.json()["code"]) == (400, "current_password_required")
    res = await auth.put(
        "/user", json={"password": "another secret", "current_password": "wrong one!"}, headers=headers
    )
    assert (res.status_code, res.json()["code"]) == (400, "current_password_mismatch")
    res = await auth.put("/user", json={"password": "another secret", "current_password": PASSWORD}, headers=headers)
    assert res.status_code == 200


async def test_reauthenticate_needs_a_session(auth: httpx.AsyncClient) -> None:
    res = await auth.get("/reauthenticate")
    assert (res.status_code, res.json()["code"]) == (401, "no_authorization")


# ---------------------------------------------------------------- /invite


async def test_invite(auth: httpx.AsyncClient, engine: Engine, engine_settings: Settings) -> None:
    res = await auth.post("/invite", json={"email": "guest@example.com", "data": {"team": "a"}})
    assert (res.status_code, res.json()["code"]) == (401, "no_authorization")
    user_token = (await session_for(auth, "plain@example.com"))["access_token"]
    res = await auth.post("/invite", json={"email": "guest@example.com"}, headers=bearer(user_token))
    assert (res.status_code, res.json()["code"]) == (403, "not_admin")

    res = await auth.post(
        "/invite", json={"email": "guest@example.com", "data": {"team": "a"}}, headers=admin(engine_settings)
    )
    assert res.status_code == 200, res.text
    user = res.json()
    assert user["email"] == "guest@example.com" and "invited_at" in user and "email_confirmed_at" not in user
    assert user["user_metadata"]["team"] == "a"
    mail = await last_mail(engine, "guest@example.com")
    assert mail.kind == "invite" and link_params(mail.links[0])["type"] == "invite"
    res = await click(auth, mail.links[0])
    frag = fragment(res.headers["location"])
    assert frag["type"] == "invite" and frag["access_token"]
    res = await auth.put("/user", json={"password": "my own password"}, headers=bearer(frag["access_token"]))
    assert res.status_code == 200
    assert (await sign_in(auth, "guest@example.com", "my own password")).status_code == 200

    res = await auth.post("/invite", json={"email": "guest@example.com"}, headers=admin(engine_settings))
    assert (res.status_code, res.json()["code"]) == (422, "email_exists")
    res = await auth.post("/invite", json={"email": "bad"}, headers=admin(engine_settings))
    assert (res.status_code, res.json()["code"]) == (400, "validation_failed")


# ---------------------------------------------------------------- /admin/generate_link


async def test_generate_link_shapes(auth: httpx.AsyncClient, engine: Engine, engine_settings: Settings) -> None:
    headers = admin(engine_settings)
    res = await auth.post(
        "/admin/generate_link",
        json={"type": "signup", "email": "gen@example.com", "password": "generated secret", "data": {"k": 1}},
        params={"redirect_to": "http://127.0.0.1:8000/done"},
        headers=headers,
    )
    assert res.status_code == 200, res.text
    body = res.json()
    assert body["email"] == "gen@example.com" and body["user_metadata"]["k"] == 1
    assert body["verification_type"] == "signup" and body["redirect_to"] == "http://127.0.0.1:8000/done"
    assert len(body["email_otp"]) == 6 and body["hashed_token"] in body["action_link"]
    assert link_params(body["action_link"])["redirect_to"] == "http://127.0.0.1:8000/done"
    assert await read_inbox(engine, to="gen@example.com") == []  # returned, not sent
    res = await auth.post("/verify", json={"type": "signup", "email": "gen@example.com", "token": body["email_otp"]})
    assert res.status_code == 200
    assert (await sign_in(auth, "gen@example.com", "generated secret")).status_code == 200

    res = await auth.post("/admin/generate_link", json={"type": "signup", "email": "gen@example.com",
                                                        "password": "generated secret"}, headers=headers)  # fmt: skip
    assert (res.status_code, res.json()["code"]) == (422, "email_exists")

    res = await auth.post(
        "/admin/generate_link", json={"type": "magiclink", "email": "gen@example.com"}, headers=headers
    )
    assert res.status_code == 200 and res.json()["verification_type"] == "magiclink"
    res = await click(auth, res.json()["action_link"])
    assert "access_token" in fragment(res.headers["location"])

    # magiclink for an unknown address signs the user up (GoTrue turns it into a signup link)
    res = await auth.post(
        "/admin/generate_link", json={"type": "magiclink", "email": "ml@example.com"}, headers=headers
    )
    assert res.status_code == 200 and res.json()["verification_type"] == "signup"

    res = await auth.post(
        "/admin/generate_link", json={"type": "recovery", "email": "who@example.com"}, headers=headers
    )
    assert (res.status_code, res.json()["code"]) == (404, "user_not_found")
    res = await auth.post(
        "/admin/generate_link", json={"type": "recovery", "email": "gen@example.com"}, headers=headers
    )
    assert res.status_code == 200
    res = await auth.post("/verify", json={"type": "recovery", "token_hash": res.json()["hashed_token"]})
    assert res.status_code == 200

    res = await auth.post("/admin/generate_link", json={"type": "invite", "email": "inv@example.com"}, headers=headers)
    assert res.status_code == 200 and "invited_at" in res.json()

    res = await auth.post(
        "/admin/generate_link",
        json={"type": "email_change_new", "email": "gen@example.com", "new_email": "gen2@example.com"},
        headers=headers,
    )
    assert res.status_code == 200 and res.json()["new_email"] == "gen2@example.com"
    res = await auth.post("/verify", json={"type": "email_change", "token_hash": res.json()["hashed_token"]})
    assert res.status_code == 200 and res.json()["user"]["email"] == "gen2@example.com"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"type": "nope", "email": "a@b.co"}, 400, "validation_failed"),
        ({"type": "signup", "email": "bad"}, 400, "validation_failed"),
        ({"type": "signup", "email": "a@b.co", "password": "short"}, 422, "weak_password"),
        ({"type": 1, "email": "a@b.co"}, 400, "bad_json"),
        ({"type": "email_change_new", "email": "x@b.co", "new_email": "y@b.co"}, 404, "user_not_found"),
    ],
)
async def test_generate_link_bad_input(
    auth: httpx.AsyncClient, engine_settings: Settings, body: dict[str, Any], status: int, code: str
) -> None:
    res = await auth.post("/admin/generate_link", json=body, headers=admin(engine_settings))
    assert (res.status_code, res.json()["code"]) == (status, code), res.text


async def test_generate_link_needs_service_role(auth: httpx.AsyncClient, engine_settings: Settings) -> None:
    anon = bearer(mint_key(engine_settings.jwt_secret, "anon"))
    res = await auth.post("/admin/generate_link", json={"type": "magiclink", "email": "a@b.co"}, headers=anon)
    assert (res.status_code, res.json()["code"]) == (403, "not_admin")


# ---------------------------------------------------------------- anonymous users converting


async def test_anonymous_user_adds_email_and_password(make_auth: MakeAuth, engine: Engine) -> None:
    auth = make_auth(auth_anonymous_users=True)
    anon = (await auth.post("/signup", json={})).json()
    headers = bearer(anon["access_token"])
    res = await auth.put("/user", json={"password": "lonely password"}, headers=headers)
    assert (res.status_code, res.json()["code"]) == (422, "validation_failed")
    res = await auth.put("/user", json={"email": "was-anon@example.com"}, headers=headers)
    assert res.status_code == 200, res.text
    user = res.json()  # no confirmation required: the address is set at once (GoTrue's rule)
    assert user["email"] == "was-anon@example.com" and user["is_anonymous"] is False
    assert [i["provider"] for i in user["identities"]] == ["email"]
    assert "email" in user["app_metadata"]["providers"]
    res = await auth.put("/user", json={"password": "no longer lonely"}, headers=headers)
    assert res.status_code == 200
    assert (await sign_in(auth, "was-anon@example.com", "no longer lonely")).status_code == 200


async def test_anonymous_user_email_needs_confirmation(make_auth: MakeAuth, engine: Engine) -> None:
    auth = make_auth(auth_anonymous_users=True, auth_email_confirm=True)
    anon = (await auth.post("/signup", json={})).json()
    res = await auth.put("/user", json={"email": "anon2@example.com"}, headers=bearer(anon["access_token"]))
    assert res.status_code == 200 and res.json()["new_email"] == "anon2@example.com"
    mail = await last_mail(engine, "anon2@example.com")
    res = await auth.post(
        "/verify", json={"type": "email_change", "email": "anon2@example.com", "token": mail.codes[0]}
    )
    assert res.status_code == 200, res.text
    assert res.json()["user"]["email"] == "anon2@example.com" and res.json()["user"]["is_anonymous"] is False


async def test_schema_records_the_email_step(engine: Engine) -> None:
    from backstack.auth.store.schema import EMAIL_VERSION, applied_versions, ensure_schema

    await ensure_schema(engine)
    await ensure_schema(engine)  # idempotent
    assert EMAIL_VERSION in await applied_versions(engine)


async def test_email_change_to_an_address_taken_meanwhile(make_auth: MakeAuth, engine: Engine) -> None:
    auth = make_auth(auth_secure_email_change=False)
    s = await session_for(auth, "first@example.com")
    await auth.put("/user", json={"email": "wanted@example.com"}, headers=bearer(s["access_token"]))
    code = (await last_mail(engine, "wanted@example.com")).codes[0]
    await session_for(auth, "wanted@example.com")  # someone else registers it first
    res = await auth.post("/verify", json={"type": "email_change", "email": "wanted@example.com", "token": code})
    assert (res.status_code, res.json()["code"]) == (422, "email_exists")
    assert (await sign_in(auth, "first@example.com")).status_code == 200
