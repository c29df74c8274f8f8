"""Sign-in with an external provider: `/authorize` -> provider -> `/callback` -> the app, and `grant_type=pkce`.

1. `authorize` checks the provider and the client's PKCE commitment, stores a flow state (our
   `state`, OIDC `nonce`, our PKCE verifier towards the provider, the checked `redirect_to`) and
   returns the provider's authorization URL (the route answers 302).
2. `callback` consumes the state (once), exchanges the code at the provider (providers.py),
   finds or creates the user and identity (identities.py) and returns where to send the browser:
   `redirect_to#access_token=...` (implicit flow) or `redirect_to?code=<auth code>` (PKCE flow,
   when the client sent a `code_challenge`). Failures also redirect there (or to the site URL
   when the state is unknown) with `error`, `error_code` and `error_description` in the query and
   in the fragment, as GoTrue does.
3. `pkce_grant` exchanges the auth code and `code_verifier` for the session (store/flow_state.py).
4. `id_token_grant` signs in with an id_token a native SDK got from the provider itself.

Each flow is bound to the browser that started it (RFC 6749 10.12, issue 16): `authorize` hands
the route a secret for a cookie (`sb-oauth-<id>`, HttpOnly, SameSite=Lax, path `/callback`) and
stores its hash. A callback from another browser is refused (`bad_oauth_state`) unless the flow is
PKCE, where only the client holding the verifier can turn the code into anything: otherwise an
attacker could make a victim's browser finish the attacker's flow (a session for the attacker's
account) or, for identity linking, link the victim's provider account to the attacker's user.
PKCE link flows therefore link only at the code exchange (`pkce_grant`), by the client that
started them, never at the callback.

`redirect_to` must be on the site URL's host or match `auth_redirect_urls` (core/redirects.py); any
other target is replaced by the site URL, so tokens never travel to a foreign origin.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from backstack.auth.core import errors, pkce
from backstack.auth.core.redirects import redirect_target, site_url
from backstack.auth.core.user import User
from backstack.auth.flows.external.identities import IdentityRefused, link_to_user, sign_in_external
from backstack.auth.flows.external.providers import (
    OidcProvider,
    Provider,
    ProviderError,
    ProviderUser,
    build_providers,
    oidc_user,
)
from backstack.auth.store import flow_state, sessions, users
from backstack.core import json
from backstack.core.errors import DatabaseError

if TYPE_CHECKING:
    from backstack.auth.core.grants import ClientInfo, Grant
    from backstack.auth.core.session import Session
    from backstack.auth.core.user import User
    from backstack.auth.store.sql import AuthSql
    from backstack.config import Settings
    from backstack.db.engine import Engine

logger = logging.getLogger("backstack.auth")
IssueGrant = Callable[["User", "Session", datetime], "Grant"]
OAUTH_METHOD = "oauth"


class Failure(Exception):
    """A callback that ends in an error redirect."""

    def __init__(self, error: str, error_code: str | None, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.error_code = error_code
        self.description = description


def with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))


def with_fragment(url: str, params: dict[str, str]) -> str:
    return urlunsplit(urlsplit(url)._replace(fragment=urlencode(params)))


def error_redirect(url: str, failure: Failure) -> str:
    """GoTrue's error redirect: the same words in the query and in the fragment."""
    params = {"error": failure.error}
    if failure.error_code:
        params["error_code"] = failure.error_code
    params["error_description"] = failure.description
    return with_fragment(with_query(url, params), params)


@dataclass(frozen=True, slots=True)
class Started:
    """A new flow: the provider URL to send the browser to, and the cookie that binds the flow to it."""

    url: str
    cookie_name: str
    cookie_value: str


class OAuthFlows:
    """The external-provider sign-in flows of one auth service."""

    def __init__(
        self, engine: Engine, settings: Settings, sql: AuthSql, issue: IssueGrant, clock: Callable[[], datetime]
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.sql = sql
        self.issue = issue
        self.clock = clock
        self.providers: dict[str, Provider] = build_providers(settings.auth_external)
        self.ttl = settings.auth_flow_state_expiry

    def callback_url(self, provider: Provider) -> str:
        return provider.config.redirect_uri or f"{self.settings.public_url.rstrip('/')}/auth/v1/callback"

    # -------------------------------------------------------------- /authorize

    async def authorize(
        self,
        provider_name: str,
        redirect_to: str,
        scopes: str,
        code_challenge: str,
        code_challenge_method: str,
        *,
        link_user_id: str | None = None,
    ) -> Started:
        """The provider's authorization URL for a new flow (the route redirects the browser there).

        With `link_user_id` (GET /user/identities/authorize) the identity is linked to that user.
        """
        provider = self.providers.get(provider_name.lower())
        if provider is None:
            raise errors.validation_failed("Unsupported provider: provider is not enabled")
        challenge = pkce.parse_challenge(code_challenge, code_challenge_method)
        state, nonce, binding = pkce.new_secret(), pkce.new_secret(), pkce.new_secret()
        verifier = pkce.new_secret() if provider.uses_pkce else None
        try:
            url = await provider.authorization_url(self.callback_url(provider), state, nonce, verifier, scopes)
        except ProviderError as exc:
            raise errors.AuthError(500, "unexpected_failure", exc.description) from None
        now = self.clock()
        await flow_state.delete_expired(self.engine, self.sql, now, self.ttl)
        async with self.engine.transaction() as conn:
            await flow_state.create(
                conn, self.sql, provider_type=provider.name, authentication_method=OAUTH_METHOD, challenge=challenge,
                now=now, oauth_state=state, oauth_nonce=nonce, provider_code_verifier=verifier,
                redirect_to=redirect_target(self.settings, redirect_to or None), linking_target_id=link_user_id,
                browser_binding=binding,
            )  # fmt: skip
        return Started(url, pkce.binding_cookie_name(state), binding)

    # -------------------------------------------------------------- /callback

    async def callback(self, params: dict[str, str], client: ClientInfo, cookies: Mapping[str, str]) -> str:
        """Where to send the browser back from the provider: the app with a session, a code or an error.

        `cookies` are the browser's: the flow's binding cookie must be among them unless it is PKCE.
        """
        state = params.get("state", "")
        if not state:
            return error_redirect(site_url(self.settings), _bad_callback("OAuth state parameter missing"))
        flow = await flow_state.take_oauth_state(self.engine, self.sql, state)
        if flow is None:
            failure = Failure("invalid_request", "bad_oauth_state", "OAuth callback with invalid state")
            return error_redirect(site_url(self.settings), failure)
        target = flow.redirect_to or site_url(self.settings)
        cookie = cookies.get(pkce.binding_cookie_name(state))
        if flow.challenge is None and not flow_state.binding_matches(flow, cookie):
            await flow_state.delete(self.engine, self.sql, flow.id)
            failure = Failure("invalid_request", "bad_oauth_state", "OAuth callback from another browser than the one "
                              "that started the flow")  # fmt: skip
            return error_redirect(target, failure)
        try:
            return await self._complete(flow, params, client, target)
        except Failure as failure:
            await flow_state.delete(self.engine, self.sql, flow.id)
            return error_redirect(target, failure)
        except DatabaseError:  # e.g. two first sign-ins of one account racing: the browser still lands
            logger.exception("OAuth callback failed in the database")
            return error_redirect(target, Failure("server_error", "unexpected_failure", "Database error"))

    async def _complete(
        self, flow: flow_state.FlowState, params: dict[str, str], client: ClientInfo, target: str
    ) -> str:
        now = self.clock()
        if now > flow.created_at + timedelta(seconds=self.ttl):
            raise Failure("invalid_request", "flow_state_expired", "OAuth flow has expired; sign in again")
        if params.get("error"):
            raise Failure(params["error"], None, params.get("error_description") or params["error"])
        if not params.get("code"):
            raise _bad_callback("OAuth callback with missing authorization code")
        provider = self.providers.get(flow.provider_type)
        if provider is None:
            raise Failure("invalid_request", "validation_failed", "Unsupported provider: provider is not enabled")
        who = await self._exchange(provider, params["code"], flow)
        if flow.challenge is not None and flow.linking_target_id is not None:
            # Linked only when the client holding the verifier exchanges the code (`pkce_grant`).
            code = await flow_state.issue_auth_code(
                self.engine, self.sql, flow.id, flow.linking_target_id, now,
                provider_access_token=who.access_token or None, provider_refresh_token=who.refresh_token or None,
                pending_identity=_identity_to_json(who),
            )  # fmt: skip
            return with_query(target, {"code": code})
        user = await self._user_for(provider, who, now, link_to=flow.linking_target_id)
        if flow.challenge is not None:
            code = await flow_state.issue_auth_code(
                self.engine, self.sql, flow.id, user.id, now,
                provider_access_token=who.access_token or None, provider_refresh_token=who.refresh_token or None,
            )  # fmt: skip
            return with_query(target, {"code": code})
        await flow_state.delete(self.engine, self.sql, flow.id)
        grant = await self.session_for(user, OAUTH_METHOD, client, now)
        return with_fragment(target, _fragment(grant, who))

    async def _exchange(self, provider: Provider, code: str, flow: flow_state.FlowState) -> ProviderUser:
        try:
            return await provider.exchange(
                code, self.callback_url(provider), flow.provider_code_verifier, flow.oauth_nonce
            )
        except ProviderError as exc:
            raise Failure(exc.error, exc.error_code, exc.description) from None

    async def _user_for(self, provider: Provider, who: ProviderUser, now: datetime, link_to: str | None = None) -> User:
        if not who.email and link_to is None:
            raise Failure("server_error", "validation_failed", "Error getting user email from external provider")
        try:
            if link_to is not None:
                user = await link_to_user(self.engine, self.sql, provider.name, who, link_to, now=now)
            else:
                autoconfirm = not self.settings.auth_email_confirm
                user = (await sign_in_external(self.engine, self.sql, provider.name, who, autoconfirm=autoconfirm,
                                               now=now)).user  # fmt: skip
        except IdentityRefused as exc:
            raise Failure("access_denied", exc.error_code, exc.description) from None
        if user.is_banned(now):
            raise Failure("access_denied", "user_banned", "User is banned")
        if not user.is_confirmed:
            raise Failure(
                "access_denied", "provider_email_needs_verification",
                f"Unverified email with {provider.name}: confirm the address, then sign in again",
            )  # fmt: skip
        return user

    async def session_for(self, user: User, method: str, client: ClientInfo, now: datetime) -> Grant:
        async with self.engine.transaction() as conn:
            session = await sessions.create(
                conn, self.sql, user, method=method, now=now, user_agent=client.user_agent, ip=client.ip
            )
        return self.issue(user, session, now)

    # -------------------------------------------------------------- grant_type=pkce

    async def pkce_grant(self, auth_code: str, code_verifier: str, client: ClientInfo) -> Grant:
        """`POST /token?grant_type=pkce`: the session for a completed flow (single use, expiring)."""
        now = self.clock()
        flow = await flow_state.exchange(self.engine, self.sql, auth_code, code_verifier, now, self.ttl)
        if flow.pending_identity is not None and flow.user_id is not None:
            await self._link_pending(flow, flow.user_id, now)
        user = await users.find_by_id(self.engine, self.sql, flow.user_id or "")
        if user is None:
            raise errors.AuthError(404, "user_not_found", "User not found")
        if user.is_banned(now):
            raise errors.user_banned()
        grant = await self.session_for(user, flow.authentication_method, client, now)
        grant.provider_token = flow.provider_access_token or ""
        grant.provider_refresh_token = flow.provider_refresh_token or ""
        return grant

    async def _link_pending(self, flow: flow_state.FlowState, user_id: str, now: datetime) -> None:
        """Link the identity a PKCE link flow brought back, now that its initiator exchanged the code."""
        provider = self.providers.get(flow.provider_type)
        if provider is None or flow.pending_identity is None:
            raise errors.validation_failed("Unsupported provider: provider is not enabled")
        try:
            await self._user_for(provider, _identity_from_json(flow.pending_identity), now, link_to=user_id)
        except Failure as failure:
            raise errors.AuthError(422, failure.error_code or failure.error, failure.description) from None

    # -------------------------------------------------------------- grant_type=id_token

    async def id_token_grant(
        self, provider_name: str, id_token: str, nonce: str, access_token: str, client: ClientInfo
    ) -> Grant:
        """`POST /token?grant_type=id_token`: sign in with an id_token the client got from an OIDC provider.

        The token must be signed by the provider's keys for our client id (as in the callback); a
        `nonce` in it must match the one the client sends, raw or SHA-256 hex (native Google and
        Apple SDKs put the hash in the token).
        """
        provider = self.providers.get(provider_name.lower())
        if not isinstance(provider, OidcProvider):
            raise errors.validation_failed(f'Custom OIDC provider "{provider_name}" not allowed')
        if not id_token:
            raise errors.AuthError(400, "invalid_request", "id_token required", oauth=True)
        try:
            claims = await provider.verify_id_token(await provider.endpoints(), id_token, None)
        except ProviderError:
            raise _bad_id_token() from None
        _check_nonce(str(claims.get("nonce") or ""), nonce)
        who = oidc_user(claims, {"access_token": access_token})
        now = self.clock()
        try:
            user = await self._user_for(provider, who, now)
        except Failure as failure:
            status = 422 if failure.error_code == "email_exists" else 400
            raise errors.AuthError(status, failure.error_code or "unexpected_failure", failure.description) from None
        return await self.session_for(user, OAUTH_METHOD, client, now)

    def enabled(self) -> list[str]:
        return sorted(self.providers)


def _bad_id_token(detail: str = "") -> errors.AuthError:
    return errors.AuthError(400, "invalid_request", "Bad ID token" + (f": {detail}" if detail else ""), oauth=True)


def _check_nonce(in_token: str, sent: str) -> None:
    """GoTrue's rule: both present and equal (raw or hashed), or both absent."""
    if not in_token and not sent:
        return
    if not in_token or not sent:
        raise _bad_id_token("passed nonce and nonce in id_token should either both exist or not")
    hashed = hashlib.sha256(sent.encode()).hexdigest()
    if not (
        hmac.compare_digest(in_token.encode(), hashed.encode()) or hmac.compare_digest(in_token.encode(), sent.encode())
    ):
        raise _bad_id_token("nonces mismatch")


def _bad_callback(description: str) -> Failure:
    return Failure("invalid_request", "bad_oauth_callback", description)


def _identity_to_json(who: ProviderUser) -> str:
    """What a PKCE link flow keeps of the provider account until the exchange (never its tokens)."""
    value = {"id": who.provider_id, "email": who.email, "verified": who.email_verified, "data": who.identity_data}
    return json.dumps_str(value)


def _identity_from_json(text: str) -> ProviderUser:
    value = json.loads(text)
    return ProviderUser(str(value["id"]), str(value["email"]), bool(value["verified"]), dict(value["data"]))


def _fragment(grant: Grant, who: ProviderUser) -> dict[str, str]:
    out = {
        "access_token": grant.access_token,
        "expires_at": str(grant.expires_at),
        "expires_in": str(grant.expires_in),
    }
    if who.access_token:
        out["provider_token"] = who.access_token
    if who.refresh_token:
        out["provider_refresh_token"] = who.refresh_token
    out["refresh_token"] = grant.refresh_token
    out["token_type"] = "bearer"  # noqa: S105 - the token type, not a secret
    return out
