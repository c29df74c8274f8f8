"""OAuth / OIDC sign-in end to end against a real OIDC provider on loopback (tests/auth/oidc_provider.py).

The browser's part is played by hand: GET /authorize -> follow the 302 to the provider over real
HTTP -> its 302 back to /callback -> the app's URL with a session, a code or an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from backstack.auth.core.pkce import s256
from backstack.auth.flows.external.providers import GOOGLE_ISSUER, build_providers
from backstack.config import OAuthProviderSettings, Settings
from backstack.db.engine import Engine
from tests.auth.conftest import MakeAuth, bearer, claims, sign_up
from tests.auth.oidc_provider import LoopbackProvider, running_provider

pytestmark = pytest.mark.anyio
CALLBACK = "http://testserver/auth/v1/callback"
SITE = "http://app.example"
VERIFIER = "v" * 20 + "-verifier-of-at-least-43-characters"


@pytest.fixture(scope="module")
def provider_server() -> Iterator[LoopbackProvider]:
    with running_provider() as provider:
        provider.add_client("backstack", "s3cret", CALLBACK)
        yield provider


@pytest.fixture
def provider(provider_server: LoopbackProvider) -> LoopbackProvider:
    provider_server.reset()
    return provider_server


def settings_for(provider: LoopbackProvider, **extra: Any) -> dict[str, Any]:
    external = {
        "corp": {"kind": "oidc", "issuer": provider.issuer, "client_id": "backstack", "client_secret": "s3cret"},
        "github": {
            "kind": "github", "client_id": "backstack", "client_secret": "s3cret",
            "authorize_url": provider.issuer + "/authorize", "token_url": provider.issuer + "/token",
            "userinfo_url": provider.issuer + "/gh",
        },
        "off": {"kind": "oidc", "issuer": provider.issuer, "enabled": False},
    }  # fmt: skip
    return {
        "site_url": "http://testserver",
        "auth_site_url": SITE,
        "auth_redirect_urls": ["http://localhost:3000/**"],
        "auth_external": external,
        **extra,
    }


@pytest.fixture
def auth(make_auth: MakeAuth, provider: LoopbackProvider) -> httpx.AsyncClient:
    return make_auth(**settings_for(provider))


async def to_provider(auth: httpx.AsyncClient, **params: str) -> str:
    """GET /authorize; the provider's URL it redirects to."""
    response = await auth.get("/authorize", params={"provider": "corp", **params})
    assert response.status_code == 302, response.text
    assert response.headers["cache-control"] == "no-store"
    return response.headers["location"]


BROWSER_TLS = httpx.create_ssl_context()  # built once: ~35 ms of CPU per client otherwise


async def at_provider(url: str) -> str:
    """The browser at the provider (real HTTP): where it is sent back to."""
    async with httpx.AsyncClient(verify=BROWSER_TLS) as browser:
        response = await browser.get(url)
    assert response.status_code == 302, response.text
    return response.headers["location"]


async def back_at(auth: httpx.AsyncClient, callback: str) -> str:
    response = await auth.get(callback)
    assert response.status_code == 302, response.text
    return response.headers["location"]


async def sign_in_with_provider(auth: httpx.AsyncClient, **params: str) -> str:
    return await back_at(auth, await at_provider(await to_provider(auth, **params)))


def fragment(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).fragment).items()}


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def assert_error(url: str, target: str, error: str, error_code: str | None) -> None:
    assert url.startswith(target)
    for params in (query(url), fragment(url)):
        assert params["error"] == error
        assert params.get("error_code") == error_code
        assert params["error_description"]
        assert "access_token" not in params


# ------------------------------------------------------------------ the happy paths


async def test_implicit_flow_creates_the_user_then_signs_it_in_again(
    auth: httpx.AsyncClient, provider: LoopbackProvider, engine_settings: Settings
) -> None:
    url = await to_provider(auth, redirect_to="http://localhost:3000/welcome")
    sent = query(url)
    assert url.startswith(provider.issuer + "/authorize?")
    assert sent["redirect_uri"] == CALLBACK and sent["client_id"] == "backstack"
    assert sent["scope"] == "openid email profile" and sent["nonce"] and sent["state"]
    assert sent["code_challenge_method"] == "S256"  # PKCE towards the provider as well
    landed = await back_at(auth, await at_provider(url))
    assert landed.startswith("http://localhost:3000/welcome#")
    session = fragment(landed)
    assert session["token_type"] == "bearer" and session["provider_token"]
    assert int(session["expires_in"]) == 3600 and session["refresh_token"]
    user = (await auth.get("/user", headers=bearer(session["access_token"]))).json()
    assert user["email"] == "ada@example.com" and user["email_confirmed_at"]
    assert user["app_metadata"] == {"provider": "corp", "providers": ["corp"]}
    assert user["user_metadata"]["full_name"] == "Ada Lovelace"
    assert user["user_metadata"]["locale"] == "en"  # from userinfo
    [identity] = user["identities"]
    assert identity["provider"] == "corp" and identity["id"] == "user-1"
    assert identity["identity_data"]["email_verified"] is True
    assert identity["identity_data"]["iss"] == provider.issuer
    token_claims = claims(engine_settings, session["access_token"])
    assert [a["method"] for a in token_claims["amr"]] == ["oauth"]
    again = fragment(await sign_in_with_provider(auth))
    user2 = (await auth.get("/user", headers=bearer(again["access_token"]))).json()
    assert user2["id"] == user["id"] and len(user2["identities"]) == 1


async def test_pkce_flow_hands_out_a_code_exchanged_once(auth: httpx.AsyncClient) -> None:
    landed = await sign_in_with_provider(auth, code_challenge=s256(VERIFIER), code_challenge_method="s256")
    assert landed.startswith(SITE + "?code=") and not urlsplit(landed).fragment
    code = query(landed)["code"]
    wrong = await auth.post(
        "/token", params={"grant_type": "pkce"}, json={"auth_code": code, "code_verifier": "x" * 43}
    )
    assert wrong.status_code == 400 and wrong.json()["code"] == "bad_code_verifier"
    body = {"auth_code": code, "code_verifier": VERIFIER}
    grant = await auth.post("/token", params={"grant_type": "pkce"}, json=body)
    assert grant.status_code == 200, grant.text
    session = grant.json()
    assert session["user"]["email"] == "ada@example.com" and session["provider_token"]
    assert (await auth.get("/user", headers=bearer(session["access_token"]))).status_code == 200
    replay = await auth.post("/token", params={"grant_type": "pkce"}, json=body)
    assert replay.status_code == 404 and replay.json()["code"] == "flow_state_not_found"


async def test_pkce_plain_method_and_expiry(auth: httpx.AsyncClient, engine: Engine) -> None:
    landed = await sign_in_with_provider(auth, code_challenge=VERIFIER, code_challenge_method="plain")
    body = {"auth_code": query(landed)["code"], "code_verifier": VERIFIER}
    assert (await auth.post("/token", params={"grant_type": "pkce"}, json=body)).status_code == 200
    landed = await sign_in_with_provider(auth, code_challenge=s256(VERIFIER), code_challenge_method="S256")
    table = "_auth_flow_state" if engine.dialect.is_sqlite else "auth.flow_state"
    old = "2000-01-01T00:00:00.000000+00:00" if engine.dialect.is_sqlite else "2000-01-01"
    async with engine.transaction() as conn:
        await conn.execute(f"update {table} set auth_code_issued_at = '{old}'")
    body = {"auth_code": query(landed)["code"], "code_verifier": VERIFIER}
    expired = await auth.post("/token", params={"grant_type": "pkce"}, json=body)
    assert expired.status_code == 422 and expired.json()["code"] == "flow_state_expired"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "validation_failed"),
        ({"auth_code": "x"}, 400, "validation_failed"),
        ({"auth_code": "not-a-code", "code_verifier": VERIFIER}, 404, "flow_state_not_found"),
        ({"auth_code": 5, "code_verifier": VERIFIER}, 400, "bad_json"),
    ],
)
async def test_pkce_grant_bad_input(auth: httpx.AsyncClient, body: dict[str, Any], status: int, code: str) -> None:
    response = await auth.post("/token", params={"grant_type": "pkce"}, json=body)
    assert response.status_code == status and response.json()["code"] == code
    legacy = await auth.post("/token", params={"grant_type": "pkce"}, json=body, headers={"X-Supabase-Api-Version": ""})
    assert legacy.json()["error_code"] == code and legacy.json()["code"] == status


async def test_verified_email_links_to_the_existing_user(auth: httpx.AsyncClient) -> None:
    existing = (await sign_up(auth, "ada@example.com")).json()["user"]
    session = fragment(await sign_in_with_provider(auth))
    user = (await auth.get("/user", headers=bearer(session["access_token"]))).json()
    assert user["id"] == existing["id"]
    assert sorted(i["provider"] for i in user["identities"]) == ["corp", "email"]
    assert user["app_metadata"] == {"provider": "email", "providers": ["email", "corp"]}


async def test_unverified_email_never_links_and_never_takes_an_address(auth: httpx.AsyncClient,
                                                                       provider: LoopbackProvider) -> None:  # fmt: skip
    await sign_up(auth, "ada@example.com")
    provider.account.email_verified = False
    assert_error(await sign_in_with_provider(auth), SITE, "access_denied", "email_exists")


async def test_unverified_new_address_needs_confirmation_when_confirmations_are_on(
    make_auth: MakeAuth, provider: LoopbackProvider
) -> None:
    provider.account.email_verified = False
    strict = make_auth(**settings_for(provider, auth_email_confirm=True))
    assert_error(await sign_in_with_provider(strict), SITE, "access_denied", "provider_email_needs_verification")
    relaxed = make_auth(**settings_for(provider))  # autoconfirm: signed in, as GoTrue does
    provider.account.sub, provider.account.email = "user-2", "bob@example.com"
    assert "access_token" in fragment(await sign_in_with_provider(relaxed))


async def test_github_preset(auth: httpx.AsyncClient, provider: LoopbackProvider) -> None:
    response = await auth.get("/authorize", params={"provider": "github", "scopes": "repo"})
    url = response.headers["location"]
    assert query(url)["scope"] == "read:user user:email repo" and "nonce" not in query(url)
    session = fragment(await back_at(auth, await at_provider(url)))
    assert provider.token_requests[-1]["client_secret"] == "s3cret"  # client_secret_post, as GitHub wants
    user = (await auth.get("/user", headers=bearer(session["access_token"]))).json()
    assert user["email"] == "ada@example.com"  # the primary verified address, not old@example.com
    assert user["app_metadata"]["provider"] == "github"
    data = user["identities"][0]["identity_data"]
    assert data["sub"] == "4242" and data["user_name"] == "ada" and data["avatar_url"]


async def test_settings_list_the_enabled_providers(auth: httpx.AsyncClient) -> None:
    external = (await auth.get("/settings")).json()["external"]
    assert external["corp"] is True and external["github"] is True and external["email"] is True
    assert "off" not in external and external["google"] is False


def test_google_preset_uses_google_discovery() -> None:
    providers = build_providers({"google": OAuthProviderSettings(kind="google", client_id="id")})
    assert providers["google"]._discovery_url() == GOOGLE_ISSUER + "/.well-known/openid-configuration"
    assert providers["google"].scopes("") == "openid email profile"
    assert providers["google"].issuers({"issuer": GOOGLE_ISSUER}) == [GOOGLE_ISSUER, "accounts.google.com"]


async def test_google_preset_end_to_end(make_auth: MakeAuth, provider: LoopbackProvider) -> None:
    google = {"kind": "google", "issuer": provider.issuer, "client_id": "backstack", "client_secret": "s3cret"}
    auth = make_auth(**{**settings_for(provider), "auth_external": {"google": google}})
    response = await auth.get("/authorize", params={"provider": "google"})
    sent = query(response.headers["location"])
    assert sent["scope"] == "openid email profile" and sent["nonce"]
    session = fragment(await back_at(auth, await at_provider(response.headers["location"])))
    user = (await auth.get("/user", headers=bearer(session["access_token"]))).json()
    assert user["app_metadata"]["provider"] == "google"
    bare_iss = provider.issuer.removeprefix("http://")  # Google's SDKs may sign `iss` without the scheme
    token = mint_id_token(provider, iss=bare_iss)
    grant = await auth.post("/token", params={"grant_type": "id_token"}, json={"provider": "google", "id_token": token})
    assert grant.status_code == 400  # only https:// issuers lose their scheme; this one is http://


# ------------------------------------------------------------------ attacks and bad input


async def test_unknown_or_missing_state_is_refused(auth: httpx.AsyncClient) -> None:
    forged = await back_at(auth, CALLBACK + "?code=abc&state=forged")
    assert_error(forged, SITE, "invalid_request", "bad_oauth_state")
    missing = await back_at(auth, CALLBACK + "?code=abc")
    assert_error(missing, SITE, "invalid_request", "bad_oauth_callback")


async def test_a_replayed_callback_is_refused(auth: httpx.AsyncClient) -> None:
    callback = await at_provider(await to_provider(auth))
    assert "access_token" in fragment(await back_at(auth, callback))
    assert_error(await back_at(auth, callback), SITE, "invalid_request", "bad_oauth_state")


async def test_a_code_from_another_flow_is_refused_by_the_provider(auth: httpx.AsyncClient) -> None:
    first = await at_provider(await to_provider(auth))
    second = await at_provider(await to_provider(auth))
    spliced = f"{CALLBACK}?code={query(first)['code']}&state={query(second)['state']}"
    assert_error(await back_at(auth, spliced), SITE, "server_error", "unexpected_failure")  # PKCE mismatch


async def test_callback_without_code_and_provider_refusal(auth: httpx.AsyncClient, provider: LoopbackProvider) -> None:
    callback = await at_provider(await to_provider(auth))
    no_code = f"{CALLBACK}?state={query(callback)['state']}"
    assert_error(await back_at(auth, no_code), SITE, "invalid_request", "bad_oauth_callback")
    provider.deny = True
    refused = await sign_in_with_provider(auth, redirect_to="http://localhost:3000/x")
    assert_error(refused, "http://localhost:3000/x", "access_denied", None)


@pytest.mark.parametrize(
    ("claims_", "why"),
    [({"nonce": "forged"}, "nonce"), ({"aud": "someone-else"}, "audience"), ({"iss": "http://evil"}, "issuer"),
     ({"exp": 1_000_000}, "expired")],
)  # fmt: skip
async def test_tampered_id_tokens_are_refused(
    auth: httpx.AsyncClient, provider: LoopbackProvider, claims_: dict[str, Any], why: str
) -> None:
    provider.extra_claims = claims_
    assert_error(await sign_in_with_provider(auth), SITE, "server_error", "bad_oauth_callback")


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/steal",
        "//evil.example/steal",
        "http://app.example@evil.example/",
        "javascript:alert(1)",
        "http://localhost:3001/x",
        "http://evil.example\\@app.example/",
    ],
)
async def test_open_redirects_fall_back_to_the_site_url(auth: httpx.AsyncClient, target: str) -> None:
    landed = await sign_in_with_provider(auth, redirect_to=target)
    assert landed.startswith(SITE + "#access_token=")


async def test_authorize_refuses_wildcard_bypasses(make_auth: MakeAuth, provider: LoopbackProvider) -> None:
    """Issue 16 finding 5: the allow-list parses `redirect_to` as a browser would before /authorize stores it."""
    from tests.auth.test_redirects import BYPASSES

    auth = make_auth(**settings_for(provider, auth_redirect_urls=["https://*.example.com/**"]))
    for target in [t for t in BYPASSES if t]:
        landed = await sign_in_with_provider(auth, redirect_to=target)
        assert landed.startswith(SITE + "#access_token="), (target, landed)
    landed = await sign_in_with_provider(auth, redirect_to="https://preview-7.example.com/cb")
    assert landed.startswith("https://preview-7.example.com/cb#access_token=")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"provider": "nope"}, "Unsupported provider: provider is not enabled"),
        ({"provider": "off"}, "Unsupported provider: provider is not enabled"),
        ({}, "Unsupported provider: missing provider"),
        ({"provider": "corp", "code_challenge": "x" * 43},
         "PKCE flow requires code_challenge_method and code_challenge"),
        ({"provider": "corp", "code_challenge": "x" * 42, "code_challenge_method": "s256"},
         "code challenge has to be between 43 and 128 characters"),
        ({"provider": "corp", "code_challenge": "x" * 43, "code_challenge_method": "md5"},
         "code challenge method not supported: md5"),
    ],
)  # fmt: skip
async def test_authorize_bad_input(auth: httpx.AsyncClient, params: dict[str, str], message: str) -> None:
    response = await auth.get("/authorize", params=params)
    assert response.status_code == 400
    assert response.json() == {"code": "validation_failed", "message": message}


async def test_form_post_callback(auth: httpx.AsyncClient) -> None:
    callback = await at_provider(await to_provider(auth))
    response = await auth.post("/callback", data=query(callback))
    assert response.status_code == 302 and "access_token" in fragment(response.headers["location"])


async def test_concurrent_exchanges_of_one_code_mint_one_session(auth: httpx.AsyncClient) -> None:
    import asyncio

    landed = await sign_in_with_provider(auth, code_challenge=s256(VERIFIER), code_challenge_method="s256")
    body = {"auth_code": query(landed)["code"], "code_verifier": VERIFIER}
    results = await asyncio.gather(*(auth.post("/token", params={"grant_type": "pkce"}, json=body) for _ in range(6)))
    assert sorted(r.status_code for r in results) == [200] + [404] * 5


async def test_the_app_leaves_browser_paths_open_and_the_rest_keyed(engine_settings: Any,
                                                                     provider: LoopbackProvider) -> None:  # fmt: skip
    from backstack.app import create_app

    settings = engine_settings.model_copy(update=settings_for(provider))
    app = create_app(settings, access_log=lambda line: None)
    async with app.lifespan(), httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://testserver/auth/v1"
    ) as browser:  # fmt: skip
        response = await browser.get("/authorize", params={"provider": "corp"})
        assert response.status_code == 302 and response.headers["location"].startswith(provider.issuer)
        landed = await back_at(browser, await at_provider(response.headers["location"]))
        assert "access_token" in fragment(landed)
        assert (await browser.get("/settings")).status_code == 401  # no apikey: the gateway's 401


# ------------------------------------------------------------------ grant_type=id_token


def mint_id_token(provider: LoopbackProvider, key: Any = None, alg: str = "RS256", **claims: Any) -> str:
    import hashlib
    import time

    import jwt

    now = int(time.time())
    body = {"iss": provider.issuer, "aud": "backstack", "sub": "native-1", "email": "nat@example.com",
            "email_verified": True, "name": "Nat", "iat": now, "exp": now + 600}  # fmt: skip
    if "raw_nonce" in claims:
        body["nonce"] = hashlib.sha256(claims.pop("raw_nonce").encode()).hexdigest()
    body.update(claims)
    signing_key = key if key is not None else provider.key.as_pem(private=True)
    return jwt.encode({k: v for k, v in body.items() if v is not None}, signing_key, algorithm=alg,
                      headers={"kid": "k1"})  # fmt: skip


async def id_token_grant(auth: httpx.AsyncClient, **body: str) -> httpx.Response:
    return await auth.post("/token", params={"grant_type": "id_token"}, json={"provider": "corp", **body})


async def test_id_token_grant_signs_in(auth: httpx.AsyncClient, provider: LoopbackProvider) -> None:
    response = await id_token_grant(auth, id_token=mint_id_token(provider, raw_nonce="n0nce"), nonce="n0nce")
    assert response.status_code == 200, response.text
    user = response.json()["user"]
    assert user["email"] == "nat@example.com" and user["app_metadata"]["provider"] == "corp"
    assert user["identities"][0]["id"] == "native-1"
    again = await id_token_grant(auth, id_token=mint_id_token(provider))
    assert again.status_code == 200 and again.json()["user"]["id"] == user["id"]


async def test_id_token_grant_refuses_forgeries(auth: httpx.AsyncClient, provider: LoopbackProvider) -> None:
    from joserfc.jwk import RSAKey

    other = RSAKey.generate_key(2048).as_pem(private=True)
    forged = [
        mint_id_token(provider, key=other),  # not the provider's key
        mint_id_token(provider, key="s3cret" * 6, alg="HS256"),  # the client secret as an HMAC key
        mint_id_token(provider, aud="someone-else"),
        mint_id_token(provider, iss="http://evil.example"),
        mint_id_token(provider, exp=1_000_000),
        mint_id_token(provider)[:-4] + "AAAA",  # tampered signature
        "not.a.jwt",
    ]
    for token in forged:
        response = await id_token_grant(auth, id_token=token)
        assert response.status_code == 400, token
        assert response.json()["error"] == "invalid_request"
        assert response.json()["error_description"].startswith("Bad ID token")
    mismatch = await id_token_grant(auth, id_token=mint_id_token(provider, raw_nonce="a"), nonce="b")
    assert mismatch.json()["error_description"] == "Bad ID token: nonces mismatch"
    missing = await id_token_grant(auth, id_token=mint_id_token(provider, raw_nonce="a"))
    assert missing.status_code == 400


async def test_id_token_grant_bad_input(auth: httpx.AsyncClient, provider: LoopbackProvider) -> None:
    token = mint_id_token(provider)
    unknown = await auth.post("/token", params={"grant_type": "id_token"}, json={"provider": "nope", "id_token": token})
    assert unknown.status_code == 400 and unknown.json()["code"] == "validation_failed"
    github = await auth.post(
        "/token", params={"grant_type": "id_token"}, json={"provider": "github", "id_token": token}
    )
    assert github.status_code == 400 and github.json()["code"] == "validation_failed"
    empty = await id_token_grant(auth)
    assert empty.status_code == 400 and empty.json() == {
        "error": "invalid_request",
        "error_description": "id_token required",
    }
