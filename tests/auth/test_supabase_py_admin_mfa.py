"""supabase-py's admin API, anonymous sign-in and MFA calls against the auth service, on both engines.

The client parses every answer into its pydantic models, so these tests also hold the response
shapes (user, factor, enroll/challenge/verify answers) to what the official client accepts.
"""

from __future__ import annotations

from collections.abc import Iterator

import pyotp
import pytest
from supabase import ClientOptions, create_client
from supabase_auth.errors import AuthApiError

from backstack.config import Settings
from backstack.core.keys import mint_key
from tests.auth.live import auth_only_app, loopback_socket, serve_in_thread

pytestmark = pytest.mark.compat
PASSWORD = "correct horse battery"


@pytest.fixture
def server_url(engine_settings: Settings) -> Iterator[str]:
    sock, url = loopback_socket()
    settings = engine_settings.model_copy(update={"site_url": url, "auth_anonymous_users": True})
    with serve_in_thread(auth_only_app(settings), sock):
        yield url


def _options() -> ClientOptions:
    return ClientOptions(auto_refresh_token=False, persist_session=True)


def test_admin_api(server_url: str, engine_settings: Settings) -> None:
    admin = create_client(server_url, mint_key(engine_settings.jwt_secret, "service_role"), _options()).auth.admin
    created = admin.create_user({"email": "adm@example.com", "password": PASSWORD, "email_confirm": True,
                                 "user_metadata": {"n": 1}, "app_metadata": {"tier": "gold"}}).user  # fmt: skip
    assert created.email == "adm@example.com" and created.user_metadata["n"] == 1
    assert created.app_metadata["tier"] == "gold" and created.email_confirmed_at is not None
    admin.create_user({"email": "second@example.com"})
    with pytest.raises(AuthApiError) as info:
        admin.create_user({"email": "adm@example.com"})
    assert info.value.code == "email_exists" and info.value.status == 422
    users = admin.list_users(page=1, per_page=1)
    assert [u.email for u in users] == ["second@example.com"]
    assert {u.email for u in admin.list_users()} == {"adm@example.com", "second@example.com"}
    assert admin.get_user_by_id(created.id).user.id == created.id
    updated = admin.update_user_by_id(created.id, {"user_metadata": {"n": 2}, "ban_duration": "1h"}).user
    assert updated.user_metadata["n"] == 2 and updated.banned_until is not None
    sb = create_client(server_url, mint_key(engine_settings.jwt_secret, "anon"), _options())
    with pytest.raises(AuthApiError) as info:
        sb.auth.sign_in_with_password({"email": "adm@example.com", "password": PASSWORD})
    assert info.value.code == "user_banned"
    admin.update_user_by_id(created.id, {"ban_duration": "none"})
    assert sb.auth.sign_in_with_password({"email": "adm@example.com", "password": PASSWORD}).session
    assert admin.mfa.list_factors({"user_id": created.id}) == []
    admin.delete_user(created.id, should_soft_delete=True)
    assert admin.get_user_by_id(created.id).user.deleted_at is not None
    admin.delete_user(created.id)
    with pytest.raises(AuthApiError) as info:
        admin.get_user_by_id(created.id)
    assert info.value.status == 404
    with pytest.raises(AuthApiError) as info:
        sb.auth.admin.list_users()
    assert info.value.code == "not_admin"


def test_anonymous_and_mfa(server_url: str, engine_settings: Settings) -> None:
    anon_key = mint_key(engine_settings.jwt_secret, "anon")
    guest = create_client(server_url, anon_key, _options())
    res = guest.auth.sign_in_anonymously({"options": {"data": {"cart": 1}}})
    assert res.user is not None and res.user.is_anonymous and res.session is not None
    with pytest.raises(AuthApiError) as info:
        guest.auth.mfa.enroll({"factor_type": "totp"})
    assert info.value.status == 403

    sb = create_client(server_url, anon_key, _options())
    sb.auth.sign_up({"email": "mfa-py@example.com", "password": PASSWORD})
    enrolled = sb.auth.mfa.enroll({"factor_type": "totp", "friendly_name": "phone"})
    assert enrolled.type == "totp" and enrolled.totp is not None
    assert enrolled.totp.qr_code.startswith("data:image/svg+xml;utf-8,<svg")
    totp = pyotp.TOTP(enrolled.totp.secret)
    challenge = sb.auth.mfa.challenge({"factor_id": enrolled.id})
    verified = sb.auth.mfa.verify({"factor_id": enrolled.id, "challenge_id": challenge.id, "code": totp.now()})
    assert verified.access_token
    level = sb.auth.mfa.get_authenticator_assurance_level()
    assert (level.current_level, level.next_level) == ("aal2", "aal2")
    assert [f.id for f in sb.auth.mfa.list_factors().totp] == [enrolled.id]
    with pytest.raises(AuthApiError) as info:
        sb.auth.mfa.challenge_and_verify({"factor_id": enrolled.id, "code": totp.now()})
    assert info.value.code == "mfa_verification_failed"
    admin = create_client(server_url, mint_key(engine_settings.jwt_secret, "service_role"), _options()).auth.admin
    user_id = verified.user.id
    assert [(f.id, f.status) for f in admin.mfa.list_factors({"user_id": user_id})] == [(enrolled.id, "verified")]
    sb.auth.mfa.unenroll({"factor_id": enrolled.id})
    assert sb.auth.mfa.list_factors().totp == []
    again = sb.auth.mfa.enroll({"factor_type": "totp", "friendly_name": "again"})
    assert admin.mfa.delete_factor({"id": again.id, "user_id": user_id}).id == again.id
