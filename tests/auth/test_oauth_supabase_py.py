"""supabase-py's OAuth calls against the whole app (create_app, served by uvicorn) and the loopback OIDC provider.

`sign_in_with_oauth` (PKCE flow type) only builds the /authorize URL; the browser's part is played
with plain HTTP; `exchange_code_for_session` then trades the code for a session, and
`sign_in_with_id_token` signs in with a token minted by the provider's key. On both engines.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from supabase import ClientOptions, create_client
from supabase_auth.errors import AuthApiError

from backstack.app import create_app
from backstack.config import Settings
from backstack.core.keys import mint_key
from tests.auth.live import loopback_socket, serve_in_thread
from tests.auth.oidc_provider import LoopbackProvider, running_provider
from tests.auth.test_oauth import mint_id_token

pytestmark = pytest.mark.compat


@pytest.fixture(scope="module")
def provider() -> Iterator[LoopbackProvider]:
    with running_provider() as running:
        yield running


@pytest.fixture
def server(engine_settings: Settings, provider: LoopbackProvider) -> Iterator[tuple[str, Settings]]:
    sock, url = loopback_socket()
    provider.add_client("py", "py-secret", url + "/auth/v1/callback")
    external = {"keycloak": {"issuer": provider.issuer, "client_id": "py", "client_secret": "py-secret"}}
    settings = Settings(**{
        **engine_settings.model_dump(), "site_url": url, "auth_site_url": "http://localhost:3000",
        "auth_external": external,
    })  # fmt: skip
    with serve_in_thread(create_app(settings, access_log=lambda _: None), sock):
        yield url, settings


def _browse(url: str, hops: int) -> str:
    """Follow `hops` redirects the way a browser would (no apikey), returning the last Location."""
    with httpx.Client() as browser:
        for _ in range(hops):
            response = browser.get(url)
            assert response.status_code == 302, response.text
            url = response.headers["location"]
    return url


def test_pkce_sign_in_with_oauth_and_code_exchange(server: tuple[str, Settings]) -> None:
    url, settings = server
    options = ClientOptions(flow_type="pkce", auto_refresh_token=False)
    sb = create_client(url, mint_key(settings.jwt_secret, "anon"), options)
    start = sb.auth.sign_in_with_oauth({"provider": "keycloak", "options": {"redirect_to": "http://localhost:3000/cb"}})
    assert "code_challenge=" in start.url
    landed = _browse(start.url, 3)  # /authorize -> provider -> /callback -> the app
    assert landed.startswith("http://localhost:3000/cb?code=")
    code = parse_qs(urlsplit(landed).query)["code"][0]
    session = sb.auth.exchange_code_for_session({"auth_code": code}).session
    assert session is not None and session.user.email == "ada@example.com"
    assert session.provider_token
    user = sb.auth.get_user()
    assert user is not None and [i.provider for i in user.user.identities or []] == ["keycloak"]
    assert user.user.app_metadata == {"provider": "keycloak", "providers": ["keycloak"]}
    with pytest.raises(AuthApiError) as info:
        sb.auth.exchange_code_for_session({"auth_code": code, "code_verifier": "x" * 43})
    assert info.value.code == "flow_state_not_found"


def test_sign_in_with_id_token(server: tuple[str, Settings], provider: LoopbackProvider) -> None:
    url, settings = server
    sb = create_client(url, mint_key(settings.jwt_secret, "anon"), ClientOptions(auto_refresh_token=False))
    token = mint_id_token(provider, aud="py", raw_nonce="abc")
    response = sb.auth.sign_in_with_id_token({"provider": "keycloak", "token": token, "nonce": "abc"})
    assert response.session is not None and response.user is not None
    assert response.user.email == "nat@example.com"
    with pytest.raises(AuthApiError) as info:
        sb.auth.sign_in_with_id_token({"provider": "keycloak", "token": token, "nonce": "other"})
    assert info.value.status == 400
