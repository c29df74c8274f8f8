"""Email links in PKCE mode on both engines: a client that sends `code_challenge` gets links that redirect
with `?code=`, exchanged at `POST /token?grant_type=pkce` with its `code_verifier`."""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from backstack.config import Settings
from backstack.db.engine import Engine
from tests.auth.conftest import PASSWORD, MakeAuth, claims
from tests.auth.test_email_flows import click, last_mail, link_params

pytestmark = pytest.mark.anyio


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def code_of(res: httpx.Response) -> str:
    assert res.status_code == 303, res.text
    location = urlsplit(res.headers["location"])
    assert not location.fragment
    return parse_qs(location.query)["code"][0]


async def exchange(auth: httpx.AsyncClient, code: str, verifier: str) -> httpx.Response:
    return await auth.post("/token", params={"grant_type": "pkce"}, json={"auth_code": code, "code_verifier": verifier})


async def test_magic_link_in_pkce_mode(auth: httpx.AsyncClient, engine: Engine, engine_settings: Settings) -> None:
    verifier, challenge = pkce_pair()
    body = {"email": "pkce@example.com", "code_challenge": challenge, "code_challenge_method": "s256"}
    res = await auth.post("/otp", json=body, params={"redirect_to": "http://127.0.0.1:8000/cb"})
    assert res.status_code == 200
    mail = await last_mail(engine, "pkce@example.com")
    assert link_params(mail.links[0])["token"].startswith("pkce_")
    res = await click(auth, mail.links[0])
    assert res.headers["location"].startswith("http://127.0.0.1:8000/cb?code=")
    code = code_of(res)
    res = await exchange(auth, code, "not the verifier " + verifier)
    assert (res.status_code, res.json()["code"]) == (400, "bad_code_verifier")
    res = await exchange(auth, code, verifier)
    assert res.status_code == 200, res.text
    session = res.json()
    assert session["user"]["email"] == "pkce@example.com"
    assert claims(engine_settings, session["access_token"])["amr"][0]["method"] == "magiclink"
    assert (await exchange(auth, code, verifier)).status_code == 404  # single use


async def test_signup_confirmation_and_recovery_in_pkce_mode(make_auth: MakeAuth, engine: Engine) -> None:
    auth = make_auth(auth_email_confirm=True)
    verifier, challenge = pkce_pair()
    res = await auth.post(
        "/signup",
        json={"email": "pk@example.com", "password": PASSWORD, "code_challenge": challenge,
              "code_challenge_method": "s256"},
    )  # fmt: skip
    assert res.status_code == 200
    res = await click(auth, (await last_mail(engine, "pk@example.com")).links[0])
    res = await exchange(auth, code_of(res), verifier)
    assert res.status_code == 200 and res.json()["user"]["email_confirmed_at"]

    verifier, challenge = pkce_pair()
    await auth.post("/recover", json={"email": "pk@example.com", "code_challenge": challenge,
                                      "code_challenge_method": "S256"})  # fmt: skip
    mail = await last_mail(engine, "pk@example.com")
    # The code typed into verifyOtp still answers with a session.
    res = await auth.post("/verify", json={"type": "recovery", "email": "pk@example.com", "token": mail.codes[0]})
    assert res.status_code == 200 and "access_token" in res.json()


async def test_bad_challenges(auth: httpx.AsyncClient) -> None:
    res = await auth.post(
        "/otp", json={"email": "c@example.com", "code_challenge": "short", "code_challenge_method": "s256"}
    )
    assert (res.status_code, res.json()["code"]) == (400, "validation_failed")
    res = await auth.post("/otp", json={"email": "c@example.com", "code_challenge": "x" * 50})
    assert (res.status_code, res.json()["code"]) == (400, "validation_failed")
    res = await auth.post("/recover", json={"email": "c@example.com", "code_challenge": "x" * 50,
                                            "code_challenge_method": "md5"})  # fmt: skip
    assert (res.status_code, res.json()["code"]) == (400, "validation_failed")


async def test_email_flow_outlives_the_oauth_flow_cleanup(auth: httpx.AsyncClient, engine: Engine) -> None:
    from datetime import UTC, datetime, timedelta

    from backstack.auth.store import flow_state
    from backstack.auth.store.sql import sql_for

    verifier, challenge = pkce_pair()
    await auth.post(
        "/otp", json={"email": "slow@example.com", "code_challenge": challenge, "code_challenge_method": "s256"}
    )
    # /authorize forgets OAuth flows older than twice auth_flow_state_expiry; a mailed link lives longer.
    later = datetime.now(UTC) + timedelta(minutes=30)
    await flow_state.delete_expired(engine, sql_for(engine.dialect), later, 300)
    res = await click(auth, (await last_mail(engine, "slow@example.com")).links[0])
    assert (await exchange(auth, code_of(res), verifier)).status_code == 200


async def test_missing_flow_state_does_not_spend_the_link(auth: httpx.AsyncClient, engine: Engine) -> None:
    _, challenge = pkce_pair()
    await auth.post(
        "/otp", json={"email": "lost@example.com", "code_challenge": challenge, "code_challenge_method": "s256"}
    )
    async with engine.transaction() as conn:
        await conn.execute("delete from " + ("_auth_flow_state" if engine.dialect.is_sqlite else "auth.flow_state"))
    link = (await last_mail(engine, "lost@example.com")).links[0]
    res = await click(auth, link)
    assert res.status_code == 303
    location = urlsplit(res.headers["location"])
    assert parse_qs(location.query)["error_code"] == ["flow_state_not_found"]
    assert parse_qs(location.fragment)["error_code"] == ["flow_state_not_found"]
    token = link_params(link)["token"]
    res = await auth.post("/verify", json={"type": "magiclink", "token_hash": token})
    assert res.status_code == 200 and "access_token" in res.json()
