"""The official supabase-py client against the auth service served by uvicorn on a free port, on both engines.

The server runs in a thread with its own event loop; the engine is opened in the app's lifespan,
so it lives on that loop, as in `backstack serve`.
"""

from __future__ import annotations

from collections.abc import Iterator

import jwt
import pytest
from supabase import ClientOptions, create_client
from supabase_auth.errors import AuthApiError

from backstack.config import Settings
from backstack.core.keys import mint_key
from tests.auth.live import auth_only_app, loopback_socket, serve_in_thread

pytestmark = pytest.mark.compat


@pytest.fixture
def server_url(engine_settings: Settings) -> Iterator[str]:
    sock, url = loopback_socket()
    settings = engine_settings.model_copy(update={"site_url": url})
    with serve_in_thread(auth_only_app(settings), sock):
        yield url


def test_supabase_py_email_password_flow(server_url: str, engine_settings: Settings) -> None:
    anon = mint_key(engine_settings.jwt_secret, "anon")
    options = ClientOptions(auto_refresh_token=False, persist_session=True)
    sb = create_client(server_url, anon, options)

    signed_up = sb.auth.sign_up({"email": "py@example.com", "password": "correct horse", "options": {"data": {"n": 1}}})
    assert signed_up.session is not None and signed_up.user is not None
    assert signed_up.user.email == "py@example.com"
    assert signed_up.user.user_metadata["n"] == 1
    assert signed_up.user.identities and signed_up.user.identities[0].provider == "email"

    with pytest.raises(AuthApiError) as info:
        sb.auth.sign_up({"email": "py@example.com", "password": "correct horse"})
    assert (info.value.status, info.value.code) == (422, "user_already_exists")
    with pytest.raises(AuthApiError) as info:
        sb.auth.sign_in_with_password({"email": "py@example.com", "password": "wrong horse"})
    assert (info.value.status, info.value.code, info.value.message) == (
        400, "invalid_credentials", "Invalid login credentials",
    )  # fmt: skip

    signed_in = sb.auth.sign_in_with_password({"email": "py@example.com", "password": "correct horse"})
    assert signed_in.session is not None and signed_in.user is not None
    assert signed_in.user.id == signed_up.user.id
    claims = jwt.decode(
        signed_in.session.access_token, engine_settings.jwt_secret, algorithms=["HS256"], audience="authenticated"
    )
    assert claims["iss"] == f"{server_url}/auth/v1" and claims["role"] == "authenticated"

    got = sb.auth.get_user()
    assert got is not None and got.user.id == signed_up.user.id
    assert sb.auth.get_session() is not None

    refreshed = sb.auth.refresh_session()
    assert refreshed.session is not None
    assert refreshed.session.refresh_token != signed_in.session.refresh_token
    assert sb.auth.get_user(refreshed.session.access_token) is not None

    sb.auth.sign_out()
    assert sb.auth.get_session() is None
    with pytest.raises(AuthApiError) as info:
        sb.auth.refresh_session(refreshed.session.refresh_token)
    assert info.value.code == "refresh_token_not_found"
