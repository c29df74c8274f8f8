"""Manual identity linking (GET /user/identities/authorize, DELETE /user/identities/{id}) on both engines,
against the loopback OIDC provider; plus the pre-registered-account case of automatic linking."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from backstack.auth.core.pkce import s256
from tests.auth.conftest import MakeAuth, bearer, sign_in, sign_up
from tests.auth.oidc_provider import LoopbackProvider, running_provider
from tests.auth.test_oauth import (
    CALLBACK,
    SITE,
    VERIFIER,
    assert_error,
    at_provider,
    back_at,
    fragment,
    query,
    settings_for,
    sign_in_with_provider,
    to_provider,
)

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
def provider_server() -> Iterator[LoopbackProvider]:
    with running_provider() as provider:
        provider.add_client("backstack", "s3cret", CALLBACK)
        yield provider


@pytest.fixture
def provider(provider_server: LoopbackProvider) -> LoopbackProvider:
    provider_server.reset()
    return provider_server


@pytest.fixture
def auth(make_auth: MakeAuth, provider: LoopbackProvider) -> httpx.AsyncClient:
    return make_auth(**settings_for(provider, auth_manual_linking=True, auth_anonymous_users=True))


async def link(auth: httpx.AsyncClient, token: str) -> str:
    """The linking flow for the bearer of `token`: where the browser lands."""
    response = await auth.get(
        "/user/identities/authorize",
        params={"provider": "corp", "skip_http_redirect": "true"},
        headers=bearer(token),
    )
    assert response.status_code == 200, response.text
    return await back_at(auth, await at_provider(response.json()["url"]))


async def me(auth: httpx.AsyncClient, token: str) -> dict[str, object]:
    response = await auth.get("/user", headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_linking_is_off_unless_enabled(make_auth: MakeAuth, provider: LoopbackProvider) -> None:
    plain = make_auth(**settings_for(provider))
    token = (await sign_up(plain, "ada@example.com")).json()["access_token"]
    response = await plain.get("/user/identities/authorize", params={"provider": "corp"}, headers=bearer(token))
    assert response.status_code == 404 and response.json()["code"] == "manual_linking_disabled"
    response = await plain.delete(f"/user/identities/{'0' * 8}-0000-0000-0000-{'0' * 12}", headers=bearer(token))
    assert response.status_code == 404 and response.json()["code"] == "manual_linking_disabled"


async def test_link_then_unlink(auth: httpx.AsyncClient, provider: LoopbackProvider) -> None:
    token = (await sign_up(auth, "ada@example.com")).json()["access_token"]
    provider.account.sub, provider.account.email = "work-9", "ada@work.example"
    landed = await link(auth, token)
    assert landed.startswith(SITE + "#access_token=")
    user = await me(auth, fragment(landed)["access_token"])
    assert user["email"] == "ada@example.com"
    assert user["app_metadata"] == {"provider": "email", "providers": ["email", "corp"]}
    identities = {i["provider"]: i for i in user["identities"]}  # type: ignore[attr-defined]
    assert identities["corp"]["id"] == "work-9"
    redirected = await auth.get("/user/identities/authorize", params={"provider": "corp"}, headers=bearer(token))
    assert redirected.status_code == 302 and redirected.headers["location"].startswith(provider.issuer)

    gone = await auth.delete(f"/user/identities/{identities['corp']['identity_id']}", headers=bearer(token))
    assert gone.status_code == 200 and gone.json() == {}
    user = await me(auth, token)
    assert user["app_metadata"] == {"provider": "email", "providers": ["email"]}
    last = await auth.delete(f"/user/identities/{identities['email']['identity_id']}", headers=bearer(token))
    assert last.status_code == 422 and last.json()["code"] == "single_identity_not_deletable"
    unknown = await auth.delete(f"/user/identities/{identities['corp']['identity_id']}", headers=bearer(token))
    assert unknown.status_code == 404 and unknown.json()["code"] == "identity_not_found"
    bad = await auth.delete("/user/identities/not-a-uuid", headers=bearer(token))
    assert bad.status_code == 404 and bad.json()["code"] == "validation_failed"
    anonymous = await auth.delete(f"/user/identities/{identities['corp']['identity_id']}")
    assert anonymous.status_code == 401 and anonymous.json()["code"] == "no_authorization"


async def test_an_identity_of_another_user_is_not_taken_over(auth: httpx.AsyncClient) -> None:
    owner = fragment(await sign_in_with_provider(auth))
    assert owner["access_token"]
    token = (await sign_up(auth, "mallory@example.com")).json()["access_token"]
    assert_error(await link(auth, token), SITE, "access_denied", "identity_already_exists")


async def test_an_anonymous_user_becomes_a_regular_one(auth: httpx.AsyncClient) -> None:
    token = (await auth.post("/signup", json={})).json()["access_token"]
    session = fragment(await link(auth, token))
    user = await me(auth, session["access_token"])
    assert user["is_anonymous"] is False and user["email"] == "ada@example.com" and user["email_confirmed_at"]
    assert user["app_metadata"]["providers"] == ["corp"]  # type: ignore[index]


async def test_a_pre_registered_unconfirmed_account_loses_its_password(
    make_auth: MakeAuth, provider: LoopbackProvider
) -> None:
    strict = make_auth(**settings_for(provider, auth_email_confirm=True))
    assert (await sign_up(strict, "ada@example.com", "attacker password")).status_code == 200  # never confirmed
    session = fragment(await sign_in_with_provider(strict))
    user = await me(strict, session["access_token"])
    assert user["email_confirmed_at"] and len(user["identities"]) == 2  # type: ignore[arg-type]
    response = await sign_in(strict, "ada@example.com", "attacker password")
    assert response.status_code == 400 and response.json()["code"] == "invalid_credentials"


# ------------------------------------------------------------------ flows bound to their browser (issue 16, finding 8)


async def _start_link(browser: httpx.AsyncClient, token: str, **params: str) -> str:
    """The attacker's (or user's) client asks for a link flow: the provider URL it gets."""
    response = await browser.get(
        "/user/identities/authorize",
        params={"provider": "corp", "skip_http_redirect": "true", **params},
        headers=bearer(token),
    )
    assert response.status_code == 200, response.text
    return str(response.json()["url"])


def _victim(make_auth: MakeAuth, provider: LoopbackProvider) -> httpx.AsyncClient:
    """Another browser: the same server, an empty cookie jar."""
    provider.account.sub, provider.account.email = "victim-1", "victim@corp.example"
    return make_auth(**settings_for(provider, auth_manual_linking=True, auth_anonymous_users=True))


async def test_a_link_flow_finished_in_another_browser_links_nothing(
    auth: httpx.AsyncClient, make_auth: MakeAuth, provider: LoopbackProvider
) -> None:
    token = (await sign_up(auth, "mallory@example.com")).json()["access_token"]
    url = await _start_link(auth, token)
    victim = _victim(make_auth, provider)  # the victim's browser signs in at the provider
    landed = await back_at(victim, await at_provider(url))
    assert_error(landed, SITE, "invalid_request", "bad_oauth_state")
    user = await me(auth, token)
    assert [i["provider"] for i in user["identities"]] == ["email"]  # type: ignore[attr-defined]


async def test_an_anonymous_user_cannot_take_a_victims_email_through_another_browser(
    auth: httpx.AsyncClient, make_auth: MakeAuth, provider: LoopbackProvider
) -> None:
    token = (await auth.post("/signup", json={})).json()["access_token"]
    url = await _start_link(auth, token)
    victim = _victim(make_auth, provider)
    assert_error(await back_at(victim, await at_provider(url)), SITE, "invalid_request", "bad_oauth_state")
    user = await me(auth, token)
    assert user["is_anonymous"] is True and not user.get("email")


async def test_a_sign_in_flow_finished_in_another_browser_is_refused(
    auth: httpx.AsyncClient, make_auth: MakeAuth, provider: LoopbackProvider
) -> None:
    """Login CSRF: the attacker's own flow, its callback delivered to the victim's browser."""
    started = await auth.get("/authorize", params={"provider": "corp"})
    cookie = started.headers["set-cookie"].lower()
    assert cookie.startswith("sb-oauth-") and "httponly" in cookie and "samesite=lax" in cookie
    assert "path=/auth/v1/callback" in cookie
    callback = await at_provider(await to_provider(auth))  # the attacker's account at the provider
    victim = make_auth(**settings_for(provider))
    assert_error(await back_at(victim, callback), SITE, "invalid_request", "bad_oauth_state")


async def test_a_pkce_link_flow_links_only_when_its_client_exchanges_the_code(
    auth: httpx.AsyncClient, make_auth: MakeAuth, provider: LoopbackProvider
) -> None:
    token = (await sign_up(auth, "pkce-linker@example.com")).json()["access_token"]
    challenge = {"code_challenge": s256(VERIFIER), "code_challenge_method": "s256"}
    # Finished in another browser: a code lands there, nothing is linked, and it is useless without the verifier.
    victim = _victim(make_auth, provider)
    landed = await back_at(victim, await at_provider(await _start_link(auth, token, **challenge)))
    code = query(landed)["code"]
    assert [i["provider"] for i in (await me(auth, token))["identities"]] == ["email"]  # type: ignore[attr-defined]
    stolen = await victim.post("/token", params={"grant_type": "pkce"},
                               json={"auth_code": code, "code_verifier": "w" * 43})  # fmt: skip
    assert stolen.status_code == 400 and stolen.json()["code"] == "bad_code_verifier"
    assert [i["provider"] for i in (await me(auth, token))["identities"]] == ["email"]  # type: ignore[attr-defined]
    # The user's own flow: the exchange by the client that started it links the identity.
    provider.account.sub, provider.account.email = "own-1", "pkce-linker@corp.example"
    landed = await back_at(auth, await at_provider(await _start_link(auth, token, **challenge)))
    response = await auth.post("/token", params={"grant_type": "pkce"},
                               json={"auth_code": query(landed)["code"], "code_verifier": VERIFIER})  # fmt: skip
    assert response.status_code == 200, response.text
    user = await me(auth, response.json()["access_token"])
    assert user["email"] == "pkce-linker@example.com"
    assert sorted(i["provider"] for i in user["identities"]) == ["corp", "email"]  # type: ignore[attr-defined]


async def test_linking_an_identity_whose_verified_email_is_another_users_is_refused(
    auth: httpx.AsyncClient, provider: LoopbackProvider
) -> None:
    assert (await sign_up(auth, "bob@example.com")).status_code == 200
    token = (await sign_up(auth, "eve@example.com")).json()["access_token"]
    provider.account.sub, provider.account.email = "bob-at-corp", "bob@example.com"
    assert_error(await link(auth, token), SITE, "access_denied", "email_exists")
    anonymous = (await auth.post("/signup", json={})).json()["access_token"]
    assert_error(await link(auth, anonymous), SITE, "access_denied", "email_exists")
