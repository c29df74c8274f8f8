"""The official supabase-py client (sync and async) through the email flows, against a live server on both
engines, reading links and codes from the dev inbox as a developer would with `backstack mail`:
sign-up with confirmation, magic link / email OTP, password reset."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from supabase import AsyncClientOptions, ClientOptions, acreate_client, create_client
from supabase_auth.errors import AuthApiError

from backstack.auth.mail import InboxEntry, read_inbox
from backstack.config import Settings
from backstack.core.keys import mint_key
from backstack.db.engine import connect
from tests.auth.live import auth_only_app, loopback_socket, serve_in_thread

pytestmark = pytest.mark.compat


@pytest.fixture
def live(engine_settings: Settings) -> Iterator[tuple[str, Settings]]:
    """A server with email confirmation on; yields its URL and settings."""
    sock, url = loopback_socket()
    settings = engine_settings.model_copy(update={"site_url": url, "auth_email_confirm": True})
    with serve_in_thread(auth_only_app(settings), sock):
        yield url, settings


async def _inbox(settings: Settings, to: str) -> InboxEntry:
    engine = connect(settings)
    await engine.start()
    try:
        entries = await read_inbox(engine, to=to, limit=1)
    finally:
        await engine.close()
    assert entries, f"no mail to {to}"
    return entries[0]


def newest_mail(settings: Settings, to: str) -> InboxEntry:
    """What `backstack mail --to` shows first (read through a separate connection, as the CLI does)."""
    return asyncio.run(_inbox(settings, to))


def test_signup_confirm_through_the_inbox_then_sign_in(live: tuple[str, Settings]) -> None:
    url, settings = live
    sb = create_client(url, mint_key(settings.jwt_secret, "anon"), ClientOptions(auto_refresh_token=False))

    signed_up = sb.auth.sign_up(
        {"email": "py-confirm@example.com", "password": "correct horse", "options": {"email_redirect_to": url + "/hi"}}
    )
    assert signed_up.session is None and signed_up.user is not None
    assert signed_up.user.confirmation_sent_at is not None
    with pytest.raises(AuthApiError) as info:
        sb.auth.sign_in_with_password({"email": "py-confirm@example.com", "password": "correct horse"})
    assert (info.value.status, info.value.code) == (400, "email_not_confirmed")

    mail = newest_mail(settings, "py-confirm@example.com")
    assert mail.subject == "Confirm Your Signup"
    res = httpx.get(mail.links[0], follow_redirects=False)  # the user clicks the link
    assert res.status_code == 303
    location = urlsplit(res.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == url + "/hi"
    # supabase-py runs in PKCE mode by default: the link hands back a code for the stored verifier.
    code = parse_qs(location.query)["code"][0]
    exchanged = sb.auth.exchange_code_for_session({"auth_code": code})
    assert exchanged.session is not None and exchanged.user is not None
    assert exchanged.user.id == signed_up.user.id and exchanged.user.email_confirmed_at is not None
    sb.auth.sign_out()

    signed_in = sb.auth.sign_in_with_password({"email": "py-confirm@example.com", "password": "correct horse"})
    assert signed_in.session is not None and signed_in.user is not None
    assert signed_in.user.email_confirmed_at is not None
    assert signed_in.user.id == signed_up.user.id


def test_implicit_flow_link_carries_the_session(live: tuple[str, Settings]) -> None:
    url, settings = live
    options = ClientOptions(auto_refresh_token=False, flow_type="implicit")
    sb = create_client(url, mint_key(settings.jwt_secret, "anon"), options)
    sb.auth.sign_in_with_otp({"email": "py-implicit@example.com"})
    res = httpx.get(newest_mail(settings, "py-implicit@example.com").links[0], follow_redirects=False)
    fragment = parse_qs(urlsplit(res.headers["location"]).fragment)
    assert fragment["type"] == ["signup"] and fragment["token_type"] == ["bearer"]
    user = sb.auth.get_user(fragment["access_token"][0])
    assert user is not None and user.user.email == "py-implicit@example.com"


def test_magic_link_otp_and_password_reset(live: tuple[str, Settings]) -> None:
    url, settings = live
    sb = create_client(url, mint_key(settings.jwt_secret, "anon"), ClientOptions(auto_refresh_token=False))

    sb.auth.sign_in_with_otp({"email": "py-otp@example.com", "options": {"data": {"from": "otp"}}})
    code = newest_mail(settings, "py-otp@example.com").codes[0]
    verified = sb.auth.verify_otp({"email": "py-otp@example.com", "token": code, "type": "email"})
    assert verified.session is not None and verified.user is not None
    assert verified.user.user_metadata["from"] == "otp"
    assert sb.auth.get_user() is not None
    with pytest.raises(AuthApiError) as info:  # a code works once
        sb.auth.verify_otp({"email": "py-otp@example.com", "token": code, "type": "email"})
    assert (info.value.status, info.value.code) == (403, "otp_expired")
    sb.auth.sign_out()

    # Second sign-in of the now confirmed user: a magic link this time.
    sb.auth.sign_in_with_otp({"email": "py-otp@example.com", "options": {"should_create_user": False}})
    mail = newest_mail(settings, "py-otp@example.com")
    assert mail.subject == "Your Magic Link"
    verified = sb.auth.verify_otp({"email": "py-otp@example.com", "token": mail.codes[0], "type": "magiclink"})
    assert verified.session is not None
    sb.auth.sign_out()

    # Password reset: recovery code, then a new password on the recovered session.
    sb.auth.reset_password_for_email("py-otp@example.com", {"redirect_to": url + "/reset"})
    mail = newest_mail(settings, "py-otp@example.com")
    assert mail.subject == "Reset Your Password"
    recovered = sb.auth.verify_otp({"email": "py-otp@example.com", "token": mail.codes[0], "type": "recovery"})
    assert recovered.session is not None
    updated = sb.auth.update_user({"password": "a new long password", "data": {"reset": True}})
    assert updated.user.user_metadata["reset"] is True
    sb.auth.sign_out()
    again = sb.auth.sign_in_with_password({"email": "py-otp@example.com", "password": "a new long password"})
    assert again.session is not None

    with pytest.raises(AuthApiError) as info:
        sb.auth.sign_in_with_otp({"email": "py-nobody@example.com", "options": {"should_create_user": False}})
    assert (info.value.status, info.value.code) == (422, "otp_disabled")


def test_async_client_otp_and_resend(live: tuple[str, Settings]) -> None:
    url, settings = live

    async def flow() -> None:
        sb = await acreate_client(
            url, mint_key(settings.jwt_secret, "anon"), AsyncClientOptions(auto_refresh_token=False)
        )
        await sb.auth.sign_up({"email": "py-async@example.com", "password": "correct horse"})
        first = await _inbox(settings, "py-async@example.com")
        await sb.auth.resend({"type": "signup", "email": "py-async@example.com"})
        second = await _inbox(settings, "py-async@example.com")
        assert second.id != first.id
        verified = await sb.auth.verify_otp(
            {"email": "py-async@example.com", "token": second.codes[0], "type": "signup"}
        )
        assert verified.session is not None and verified.user is not None
        assert verified.user.email_confirmed_at is not None
        user = await sb.auth.get_user()
        assert user is not None and user.user.email == "py-async@example.com"

    asyncio.run(flow())


def test_verify_otp_with_the_token_hash_of_the_mailed_link(live: tuple[str, Settings]) -> None:
    """supabase-py's `verify_otp({token_hash, type})` with the link's hash works; one made from the code does not."""
    url, settings = live
    sb = create_client(url, mint_key(settings.jwt_secret, "anon"), ClientOptions(auto_refresh_token=False))

    sb.auth.sign_in_with_otp({"email": "py-hash@example.com"})
    mail = newest_mail(settings, "py-hash@example.com")
    code, token_hash = mail.codes[0], parse_qs(urlsplit(mail.links[0]).query)["token"][0]
    guessed = hashlib.sha224(("py-hash@example.com" + code).encode()).hexdigest()  # GoTrue's unkeyed hash
    with pytest.raises(AuthApiError) as info:
        sb.auth.verify_otp({"token_hash": guessed, "type": "email"})
    assert (info.value.status, info.value.code) == (403, "otp_expired")
    verified = sb.auth.verify_otp({"token_hash": token_hash, "type": "email"})
    assert verified.session is not None and verified.user is not None
    assert verified.user.email == "py-hash@example.com"
