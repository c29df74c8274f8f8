"""supabase-py's async client: auth flows and the data API as the signed-in user, against `backstack serve`.

Runs on both engines through the live server of tests/compat/conftest.py. The sync client's auth flows
are in tests/auth/test_supabase_py*.py (email links through the dev inbox included).
"""

from __future__ import annotations

import pyotp
import pytest
from supabase import AsyncClient, AsyncClientOptions, acreate_client
from supabase_auth.errors import AuthApiError

from tests.compat.conftest import LiveServer

pytestmark = [pytest.mark.compat, pytest.mark.anyio]
PASSWORD = "correct horse battery"


async def client(server: LiveServer, key: str | None = None) -> AsyncClient:
    options = AsyncClientOptions(auto_refresh_token=False, persist_session=True)
    return await acreate_client(server.url, key or server.anon_key, options)


async def test_sign_up_in_refresh_update_data_api_sign_out(live_server: LiveServer) -> None:
    sb = await client(live_server)
    email = f"async-{live_server.engine}@example.com"
    signed_up = await sb.auth.sign_up({"email": email, "password": PASSWORD, "options": {"data": {"n": 1}}})
    assert signed_up.session is not None and signed_up.user is not None
    user_id = signed_up.user.id
    await sb.auth.sign_out()
    with pytest.raises(AuthApiError) as error:
        await sb.auth.sign_in_with_password({"email": email, "password": "wrong password!"})
    assert error.value.code == "invalid_credentials"
    session = (await sb.auth.sign_in_with_password({"email": email, "password": PASSWORD})).session
    assert session is not None and session.expires_at is not None
    assert (await sb.auth.get_user()).user.email == email  # type: ignore[union-attr]
    updated = await sb.auth.update_user({"data": {"n": 2}})
    assert updated.user is not None and updated.user.user_metadata["n"] == 2

    note = (await sb.table("notes").insert({"body": "mine"}).execute()).data[0]
    assert note["owner"] == user_id  # the row's default is auth.uid(): the request ran as this user

    refreshed = (await sb.auth.refresh_session()).session
    assert refreshed is not None and refreshed.refresh_token != session.refresh_token
    assert (await sb.table("notes").select("owner").eq("id", note["id"]).execute()).data == [{"owner": user_id}]
    await sb.auth.sign_out()
    with pytest.raises(AuthApiError):
        await sb.auth.refresh_session(refreshed.refresh_token)


async def test_anonymous_sign_in_and_mfa(live_server: LiveServer) -> None:
    guest = await client(live_server)
    anonymous = await guest.auth.sign_in_anonymously()
    assert anonymous.user is not None and anonymous.user.is_anonymous
    note = (await guest.table("notes").insert({"body": "guest"}).execute()).data[0]
    assert note["owner"] == anonymous.user.id

    sb = await client(live_server)
    await sb.auth.sign_up({"email": f"mfa-async-{live_server.engine}@example.com", "password": PASSWORD})
    enrolled = await sb.auth.mfa.enroll({"factor_type": "totp", "friendly_name": "phone"})
    assert enrolled.totp is not None
    challenge = await sb.auth.mfa.challenge({"factor_id": enrolled.id})
    code = pyotp.TOTP(enrolled.totp.secret).now()
    verified = await sb.auth.mfa.verify({"factor_id": enrolled.id, "challenge_id": challenge.id, "code": code})
    assert verified.access_token
    level = await sb.auth.mfa.get_authenticator_assurance_level()
    assert level.current_level == "aal2"


async def test_admin_create_list_delete(live_server: LiveServer) -> None:
    admin = (await client(live_server, live_server.service_key)).auth.admin
    email = f"admin-async-{live_server.engine}@example.com"
    created = (await admin.create_user({"email": email, "password": PASSWORD, "email_confirm": True})).user
    assert created.email == email
    assert email in {u.email for u in await admin.list_users()}
    await admin.delete_user(created.id)
    assert email not in {u.email for u in await admin.list_users()}
    with pytest.raises(AuthApiError) as error:
        await (await client(live_server)).auth.admin.list_users()
    assert error.value.code == "not_admin"
