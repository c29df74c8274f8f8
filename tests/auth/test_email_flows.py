"""Email flows on both engines through the dev inbox: sign-up confirmation, magic link / OTP, recovery,
resend, GET and POST /verify, single use and expiry of tokens, redirects."""

from __future__ import annotations

import hashlib
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from backstack.auth.mail import InboxEntry, read_inbox
from backstack.auth.store import onetime
from backstack.config import Settings
from backstack.db.engine import Engine
from tests.auth.conftest import PASSWORD, MakeAuth, claims, sign_in, sign_up

pytestmark = pytest.mark.anyio


async def last_mail(engine: Engine, to: str) -> InboxEntry:
    entries = await read_inbox(engine, to=to, limit=1)
    assert entries, f"no mail to {to}"
    return entries[0]


def link_params(link: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(link).query).items()}


def fragment(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).fragment, keep_blank_values=True).items()}


async def click(client: httpx.AsyncClient, link: str) -> httpx.Response:
    """Follow a mailed link (`http://host/auth/v1/verify?...`) against the in-process app."""
    parts = urlsplit(link)
    assert parts.path == "/auth/v1/verify"
    return await client.get("/verify", params=link_params(link))


async def test_signup_confirmation_by_link(make_auth: MakeAuth, engine: Engine, engine_settings: Settings) -> None:
    auth = make_auth(auth_email_confirm=True)
    res = await auth.post(
        "/signup",
        json={"email": "conf@example.com", "password": PASSWORD},
        params={"redirect_to": "http://127.0.0.1:8000/welcome"},
    )
    assert res.status_code == 200, res.text
    user = res.json()
    assert "confirmation_sent_at" in user and "email_confirmed_at" not in user

    res = await sign_in(auth, "conf@example.com")
    assert (res.status_code, res.json()["code"]) == (400, "email_not_confirmed")

    mail = await last_mail(engine, "conf@example.com")
    assert mail.kind == "confirmation" and mail.subject == "Confirm Your Signup"
    [link] = mail.links
    [code] = mail.codes
    assert len(code) == 6 and code.isdigit()
    params = link_params(link)
    assert params["type"] == "signup" and params["redirect_to"] == "http://127.0.0.1:8000/welcome"
    # Only the hash is stored: a keyed hash (hex, as long as GoTrue's sha224), not sha224(email + code).
    assert params["token"] == onetime.TokenHasher(engine_settings.jwt_secret)("conf@example.com", code)
    assert re.fullmatch(r"[0-9a-f]{56}", params["token"])
    assert params["token"] != hashlib.sha224(("conf@example.com" + code).encode()).hexdigest()
    stored = await engine.fetch_all(
        "select token_hash from _auth_one_time_tokens" if engine.dialect.is_sqlite
        else "select token_hash from auth.one_time_tokens"
    )  # fmt: skip
    assert [r[0] for r in stored] == [params["token"]]

    res = await click(auth, link)
    assert res.status_code == 303
    location = res.headers["location"]
    assert location.startswith("http://127.0.0.1:8000/welcome#")
    frag = fragment(location)
    assert frag["type"] == "signup" and frag["token_type"] == "bearer"
    token = claims(engine_settings, frag["access_token"])
    assert token["sub"] == user["id"] and token["amr"][0]["method"] == "otp"
    assert int(frag["expires_at"]) == token["exp"]

    res = await sign_in(auth, "conf@example.com")
    assert res.status_code == 200, res.text
    signed_in = res.json()["user"]
    assert signed_in["email_confirmed_at"]
    assert signed_in["user_metadata"]["email_verified"] is True
    assert signed_in["identities"][0]["identity_data"]["email_verified"] is True

    # The link works once.
    res = await click(auth, link)
    assert res.status_code == 303
    frag = fragment(res.headers["location"])
    assert frag["error_code"] == "otp_expired" and frag["error"] == "access_denied"
    assert frag["error_description"] == "Email link is invalid or has expired"


async def test_signup_confirmation_by_code(make_auth: MakeAuth, engine: Engine) -> None:
    auth = make_auth(auth_email_confirm=True)
    await sign_up(auth, "code@example.com")
    [code] = (await last_mail(engine, "code@example.com")).codes
    wrong = "000000" if code != "000000" else "111111"
    res = await auth.post("/verify", json={"type": "signup", "email": "code@example.com", "token": wrong})
    assert (res.status_code, res.json()) == (403, {"code": "otp_expired", "message": "Token has expired or is invalid"})
    res = await auth.post("/verify", json={"type": "signup", "email": "Code@Example.com", "token": code})
    assert res.status_code == 200, res.text
    body = res.json()
    assert set(body) >= {"access_token", "refresh_token", "expires_at", "user"}
    assert body["user"]["email_confirmed_at"]
    res = await auth.post("/verify", json={"type": "signup", "email": "code@example.com", "token": code})
    assert res.status_code == 403


async def test_repeated_signup_resends_and_keeps_one_live_token(make_auth: MakeAuth, engine: Engine) -> None:
    auth = make_auth(auth_email_confirm=True)
    await sign_up(auth, "twice@example.com")
    first = await last_mail(engine, "twice@example.com")
    await sign_up(auth, "twice@example.com")
    second = await last_mail(engine, "twice@example.com")
    assert first.id != second.id
    res = await auth.post("/verify", json={"type": "signup", "token_hash": link_params(first.links[0])["token"]})
    assert res.status_code == 403  # replaced by the second mail
    res = await auth.post("/verify", json={"type": "signup", "token_hash": link_params(second.links[0])["token"]})
    assert res.status_code == 200


async def test_magic_link_and_otp(make_auth: MakeAuth, engine: Engine, engine_settings: Settings) -> None:
    auth = make_auth()
    # unknown address with create_user false: GoTrue's 422 otp_disabled
    res = await auth.post("/otp", json={"email": "new@example.com", "create_user": False})
    assert (res.status_code, res.json()["code"]) == (422, "otp_disabled")
    assert await read_inbox(engine, to="new@example.com") == []

    res = await auth.post("/otp", json={"email": "new@example.com", "data": {"plan": "free"}, "create_user": True})
    assert (res.status_code, res.json()) == (200, {})
    mail = await last_mail(engine, "new@example.com")
    assert mail.kind == "magic_link" and link_params(mail.links[0])["type"] == "magiclink"
    res = await auth.post("/verify", json={"type": "email", "email": "new@example.com", "token": mail.codes[0]})
    assert res.status_code == 200, res.text
    user = res.json()["user"]
    assert user["user_metadata"]["plan"] == "free"
    assert claims(engine_settings, res.json()["access_token"])["amr"][0]["method"] == "otp"

    # An existing user, through the legacy /magiclink and the link (type magiclink).
    res = await auth.post("/magiclink", json={"email": "new@example.com"})
    assert res.status_code == 200
    mail = await last_mail(engine, "new@example.com")
    res = await click(auth, mail.links[0])
    assert res.status_code == 303 and fragment(res.headers["location"])["type"] == "magiclink"
    assert "access_token" in fragment(res.headers["location"])


async def test_otp_with_confirmation_sends_the_signup_mail(make_auth: MakeAuth, engine: Engine) -> None:
    auth = make_auth(auth_email_confirm=True)
    res = await auth.post("/otp", json={"email": "fresh@example.com"})
    assert res.status_code == 200
    mail = await last_mail(engine, "fresh@example.com")
    assert mail.kind == "confirmation"
    res = await auth.post("/verify", json={"type": "email", "email": "fresh@example.com", "token": mail.codes[0]})
    assert res.status_code == 200
    assert res.json()["user"]["email_confirmed_at"]


async def test_otp_respects_disabled_signups(make_auth: MakeAuth) -> None:
    auth = make_auth(auth_disable_signup=True)
    res = await auth.post("/otp", json={"email": "nobody@example.com"})
    assert (res.status_code, res.json()["code"]) == (422, "signup_disabled")


async def test_expired_tokens(make_auth: MakeAuth, engine: Engine) -> None:
    auth = make_auth(auth_otp_expiry=0)
    await auth.post("/otp", json={"email": "late@example.com"})
    mail = await last_mail(engine, "late@example.com")
    res = await auth.post("/verify", json={"type": "magiclink", "email": "late@example.com", "token": mail.codes[0]})
    assert (res.status_code, res.json()["code"]) == (403, "otp_expired")
    res = await click(auth, mail.links[0])
    assert fragment(res.headers["location"])["error_code"] == "otp_expired"


async def test_recover_then_update_password(make_auth: MakeAuth, engine: Engine) -> None:
    auth = make_auth()
    res = await auth.post("/recover", json={"email": "ghost@example.com"})
    assert (res.status_code, res.json()) == (200, {})  # no enumeration
    assert await read_inbox(engine, to="ghost@example.com") == []

    other_session = (await sign_up(auth, "reset@example.com")).json()
    res = await auth.post("/recover", json={"email": "reset@example.com"})
    assert (res.status_code, res.json()) == (200, {})
    mail = await last_mail(engine, "reset@example.com")
    assert mail.kind == "recovery" and mail.subject == "Reset Your Password"
    res = await auth.post("/verify", json={"type": "recovery", "token_hash": link_params(mail.links[0])["token"]})
    assert res.status_code == 200, res.text
    session = res.json()
    res = await auth.put(
        "/user", json={"password": "a brand new secret"}, headers={"Authorization": f"Bearer {session['access_token']}"}
    )
    assert res.status_code == 200, res.text
    assert (await sign_in(auth, "reset@example.com")).status_code == 400
    assert (await sign_in(auth, "reset@example.com", "a brand new secret")).status_code == 200
    # The password change ended the user's other sessions, not this one.
    res = await auth.post("/token", params={"grant_type": "refresh_token"},
                          json={"refresh_token": other_session["refresh_token"]})  # fmt: skip
    assert res.status_code == 400
    res = await auth.get("/user", headers={"Authorization": f"Bearer {session['access_token']}"})
    assert res.status_code == 200


async def test_resend(make_auth: MakeAuth, engine: Engine) -> None:
    auth = make_auth(auth_email_confirm=True)
    assert (await auth.post("/resend", json={"type": "signup", "email": "none@example.com"})).json() == {}
    assert await read_inbox(engine, to="none@example.com") == []
    await sign_up(auth, "again@example.com")
    assert len(await read_inbox(engine, to="again@example.com")) == 1
    res = await auth.post("/resend", json={"type": "signup", "email": "again@example.com"})
    assert (res.status_code, res.json()) == (200, {})
    assert len(await read_inbox(engine, to="again@example.com")) == 2


async def test_redirect_to_allow_list(make_auth: MakeAuth, engine: Engine) -> None:
    auth = make_auth(auth_redirect_urls=["http://localhost:3000/**"])
    await auth.post("/otp", json={"email": "r@example.com"}, params={"redirect_to": "https://evil.example/steal"})
    link = (await last_mail(engine, "r@example.com")).links[0]
    assert link_params(link)["redirect_to"] == "http://127.0.0.1:8000"
    await auth.post("/otp", json={"email": "r@example.com"}, params={"redirect_to": "http://localhost:3000/cb/x"})
    link = (await last_mail(engine, "r@example.com")).links[0]
    assert link_params(link)["redirect_to"] == "http://localhost:3000/cb/x"
    res = await auth.get("/verify", params={**link_params(link), "redirect_to": "https://evil.example/"})
    assert res.headers["location"].startswith("http://127.0.0.1:8000#")


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        ({"token": "1", "email": "a@b.co"}, 400, "validation_failed", "Verify requires a verification type"),
        ({"type": "signup"}, 400, "validation_failed", "Verify requires either a token or a token hash"),
        ({"type": "signup", "token": "1", "token_hash": "x"}, 400, "validation_failed",
         "Verify requires either a token or a token hash"),
        ({"type": "signup", "token": "123456"}, 400, "validation_failed",
         "Only an email address or phone number should be provided on verify"),
        ({"type": "signup", "token": "123456", "email": "nope"}, 422, "validation_failed", "Invalid email format"),
        ({"type": "signup", "token_hash": "abc", "email": "a@b.co"}, 400, "validation_failed",
         "Only the token_hash and type should be provided"),
        ({"type": "bogus", "token_hash": "abc"}, 400, "validation_failed", "Unsupported verification type"),
        ({"type": "signup", "token_hash": "abc"}, 403, "otp_expired", "Email link is invalid or has expired"),
        ({"type": "signup", "token": 123456, "email": "a@b.co"}, 400, "bad_json", None),
    ],
)  # fmt: skip
async def test_verify_bad_input(
    auth: httpx.AsyncClient, body: dict[str, Any], status: int, code: str, message: str | None
) -> None:
    res = await auth.post("/verify", json=body)
    assert res.status_code == status, res.text
    assert res.json()["code"] == code
    if message is not None:
        assert res.json()["message"] == message


async def test_errors_in_the_legacy_shape(make_auth: MakeAuth) -> None:
    auth = make_auth()
    res = await auth.post(
        "/verify", json={"type": "signup", "token_hash": "abc"}, headers={"X-Supabase-Api-Version": ""}
    )
    assert res.status_code == 403
    assert res.json() == {"code": 403, "error_code": "otp_expired", "msg": "Email link is invalid or has expired"}


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/otp", {}, 400, "validation_failed"),
        ("/otp", {"email": "not-an-email"}, 400, "validation_failed"),
        ("/otp", {"email": "a@b.co", "phone": "123"}, 400, "validation_failed"),
        ("/otp", {"phone": "+15550100"}, 400, "phone_provider_disabled"),
        ("/otp", {"email": "a@b.co", "create_user": "yes"}, 400, "bad_json"),
        ("/otp", {"email": "a@b.co", "data": [1]}, 400, "bad_json"),
        ("/recover", {}, 400, "validation_failed"),
        ("/recover", {"email": "bad"}, 400, "validation_failed"),
        ("/resend", {"email": "a@b.co"}, 400, "validation_failed"),
        ("/resend", {"type": "signup"}, 400, "validation_failed"),
        ("/resend", {"type": "sms", "phone": "+15550100"}, 400, "phone_provider_disabled"),
        ("/magiclink", {}, 400, "validation_failed"),
    ],
)
async def test_send_endpoints_bad_input(
    auth: httpx.AsyncClient, path: str, body: dict[str, Any], status: int, code: str
) -> None:
    res = await auth.post(path, json=body)
    assert (res.status_code, res.json()["code"]) == (status, code), res.text


async def test_get_verify_bad_input(auth: httpx.AsyncClient) -> None:
    res = await auth.get("/verify", params={"token": "x"})
    assert (res.status_code, res.json()["code"]) == (400, "validation_failed")
    res = await auth.get("/verify", params={"type": "signup"})
    assert (res.status_code, res.json()["code"]) == (400, "validation_failed")
    res = await auth.get("/verify", params={"type": "nope", "token": "x"})
    assert res.status_code == 303
    assert fragment(res.headers["location"])["error_code"] == "validation_failed"


async def test_banned_user_cannot_verify(make_auth: MakeAuth, engine: Engine) -> None:
    auth = make_auth()
    await sign_up(auth, "banned@example.com", PASSWORD)
    await auth.post("/otp", json={"email": "banned@example.com"})
    mail = await last_mail(engine, "banned@example.com")
    table = "_auth_users" if engine.dialect.is_sqlite else "auth.users"
    far = "'2999-01-01T00:00:00.000000+00:00'" if engine.dialect.is_sqlite else "'2999-01-01'"
    async with engine.transaction() as conn:
        await conn.execute(f"update {table} set banned_until = {far} where email = 'banned@example.com'")
    res = await auth.post("/verify", json={"type": "magiclink", "email": "banned@example.com", "token": mail.codes[0]})
    assert (res.status_code, res.json()["code"]) == (403, "user_banned")
