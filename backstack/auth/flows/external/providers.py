"""External sign-in providers (OAuth 2.0 / OpenID Connect): authlib builds the requests, httpx sends them.

A provider is built from `Settings.auth_external[<name>]`:

- `kind = "oidc"`: any OpenID Connect provider. Endpoints come from its discovery document
  (`<issuer>/.well-known/openid-configuration` or `discovery_url`); the `id_token` is verified
  against the provider's JWKS (signature with an asymmetric algorithm only, `iss`, `aud` =
  client id, `exp`, and our `nonce`); userinfo, when offered, adds claims for the same `sub`.
- `kind = "google"`: the OIDC preset for https://accounts.google.com.
- `kind = "github"`: OAuth 2.0 plus GitHub's REST API (`/user`, `/user/emails`: the primary
  verified address), since GitHub has no OIDC sign-in.

Each turns a callback's `code` into a `ProviderUser`: the provider's user id, the address and
whether the provider vouches for it, GoTrue-style identity claims, and the provider's tokens.
Failures raise `ProviderError` with the OAuth error words the callback redirects with.
"""

from __future__ import annotations

import base64
import functools
import ssl
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlencode

import httpx
import jwt
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from backstack.config import OAuthProviderSettings

_TIMEOUT = 10.0
_CACHE_SECONDS = 3600.0
_ASYMMETRIC = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"})
_STANDARD_CLAIMS = (
    "iss", "sub", "name", "given_name", "family_name", "middle_name", "nickname", "preferred_username",
    "profile", "picture", "website", "gender", "birthdate", "zoneinfo", "locale", "email", "phone",
)  # fmt: skip
GOOGLE_ISSUER = "https://accounts.google.com"
GITHUB_AUTHORIZE = "https://github.com/login/oauth/authorize"
GITHUB_TOKEN = "https://github.com/login/oauth/access_token"  # noqa: S105 - an endpoint, not a secret
GITHUB_API = "https://api.github.com"


@functools.cache
def _tls() -> ssl.SSLContext:
    """httpx's default TLS settings (its CA bundle, SSL_CERT_FILE), built once: an `AsyncClient`
    building its own cost ~35 ms of CPU, three times per external sign-in."""
    return httpx.create_ssl_context()


class ProviderError(Exception):
    """A sign-in the provider (or talking to it) made fail; carries the redirect's error words."""

    def __init__(self, description: str, *, error: str = "server_error", error_code: str = "unexpected_failure"):
        super().__init__(description)
        self.error = error
        self.error_code = error_code
        self.description = description


@dataclass(slots=True)
class ProviderUser:
    """Who the provider says signed in."""

    provider_id: str
    email: str
    email_verified: bool
    identity_data: dict[str, Any]
    access_token: str = ""
    refresh_token: str = ""


@dataclass(slots=True)
class _Cached:
    value: dict[str, Any]
    until: float


@dataclass(slots=True)
class Provider(ABC):
    """One configured provider; `authorization_url` then `exchange` are the two legs of a sign-in."""

    name: str
    config: OAuthProviderSettings
    default_scopes: tuple[str, ...] = ()
    _cache: dict[str, _Cached] = field(default_factory=dict)

    @property
    def uses_pkce(self) -> bool:
        return self.config.pkce

    def scopes(self, extra: str) -> str:
        wanted = list(self.config.scopes or self.default_scopes)
        wanted += [s for s in extra.replace(",", " ").split() if s not in wanted]
        return " ".join(wanted)

    @abstractmethod
    async def endpoints(self) -> dict[str, Any]:
        """The provider's authorization, token and user endpoints (discovered or fixed)."""

    async def authorization_url(
        self, redirect_uri: str, state: str, nonce: str, verifier: str | None, scopes: str
    ) -> str:
        """The provider's authorization endpoint with our client id, callback, scopes, state (+ nonce, PKCE)."""
        endpoints = await self.endpoints()
        extra = self._extra(nonce)
        if verifier is not None:
            extra.update(code_challenge=create_s256_code_challenge(verifier), code_challenge_method="S256")
        url = prepare_grant_uri(
            endpoints["authorization_endpoint"], client_id=self.config.client_id, response_type="code",
            redirect_uri=redirect_uri, scope=self.scopes(scopes), state=state, **extra,
        )  # fmt: skip
        return str(url)

    def _extra(self, nonce: str) -> dict[str, str]:
        return {}

    @abstractmethod
    async def exchange(self, code: str, redirect_uri: str, verifier: str | None, nonce: str | None) -> ProviderUser:
        """Trade the authorization code for the provider's account of the user."""

    async def _fetch_token(self, endpoints: dict[str, Any], code: str, redirect_uri: str,
                           verifier: str | None) -> dict[str, Any]:  # fmt: skip
        """RFC 6749 4.1.3: the code (and our PKCE verifier) for tokens, the client authenticated by its secret."""
        extra = {"code_verifier": verifier} if verifier else {}
        body = prepare_token_request("authorization_code", code=code, redirect_uri=redirect_uri, **extra)
        headers = {"Accept": "application/json", "Content-Type": "application/x-www-form-urlencoded"}
        methods = endpoints.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
        if "client_secret_basic" in methods:
            pair = f"{quote_plus(self.config.client_id)}:{quote_plus(self.config.client_secret)}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        else:
            body += "&" + urlencode({"client_id": self.config.client_id, "client_secret": self.config.client_secret})
        try:
            async with httpx.AsyncClient(timeout=_TIMEOUT, verify=_tls()) as client:
                response = await client.post(endpoints["token_endpoint"], content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise ProviderError(f"Unable to exchange external code: {type(exc).__name__}") from None
        token = _token_response(response)
        if response.status_code != 200 or "error" in token or not token.get("access_token"):
            reason = token.get("error") or f"status {response.status_code}"
            raise ProviderError(f"Unable to exchange external code: {reason}")
        return token

    async def _get_json(self, url: str, token: str | None = None, accept: str = "application/json") -> Any:
        headers = {"Accept": accept}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            async with httpx.AsyncClient(timeout=_TIMEOUT, verify=_tls()) as client:
                response = await client.get(url, headers=headers)
                response.raise_for_status()
                return response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise ProviderError(f"Error getting user profile from external provider: {type(exc).__name__}") from None

    async def _cached_json(self, url: str) -> dict[str, Any]:
        hit = self._cache.get(url)
        now = time.monotonic()
        if hit is not None and hit.until > now:
            return hit.value
        value = await self._get_json(url)
        if not isinstance(value, dict):
            raise ProviderError("Error getting provider metadata: not a JSON object")
        self._cache[url] = _Cached(value, now + _CACHE_SECONDS)
        return value


class OidcProvider(Provider):
    """Any OpenID Connect provider, found through its discovery document."""

    def _extra(self, nonce: str) -> dict[str, str]:
        return {"nonce": nonce}

    def _discovery_url(self) -> str:
        if self.config.discovery_url:
            return self.config.discovery_url
        return self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"

    async def endpoints(self) -> dict[str, Any]:
        doc = await self._cached_json(self._discovery_url())
        if self.config.issuer and doc.get("issuer") != self.config.issuer:
            raise ProviderError("OIDC discovery document names another issuer")
        missing = [k for k in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri") if not doc.get(k)]
        if missing:
            raise ProviderError(f"OIDC discovery document lacks {', '.join(missing)}")
        return doc

    async def exchange(self, code: str, redirect_uri: str, verifier: str | None, nonce: str | None) -> ProviderUser:
        endpoints = await self.endpoints()
        token = await self._fetch_token(endpoints, code, redirect_uri, verifier)
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise ProviderError("The provider returned no id_token")
        claims = await self.verify_id_token(endpoints, id_token, nonce)
        userinfo_url = endpoints.get("userinfo_endpoint")
        if userinfo_url:
            info = await self._get_json(str(userinfo_url), str(token["access_token"]))
            if isinstance(info, dict) and info.get("sub") == claims["sub"]:
                claims = {**info, **claims}
        return oidc_user(claims, token)

    async def verify_id_token(self, endpoints: dict[str, Any], id_token: str, nonce: str | None) -> dict[str, Any]:
        """The id_token's claims after checking signature, issuer, audience, expiry and nonce."""
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError:
            raise ProviderError("Invalid id_token: malformed", error_code="bad_oauth_callback") from None
        key = await self._signing_key(str(endpoints["jwks_uri"]), header.get("kid"))
        if key.algorithm_name not in _ASYMMETRIC or header.get("alg") != key.algorithm_name:
            raise ProviderError("Invalid id_token: unexpected algorithm", error_code="bad_oauth_callback")
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token, key.key, algorithms=[key.algorithm_name], audience=self.config.client_id,
                issuer=self.issuers(endpoints), leeway=30, options={"require": ["exp", "iat", "sub"]},
            )  # fmt: skip
        except jwt.PyJWTError as exc:
            raise ProviderError(f"Invalid id_token: {exc}", error_code="bad_oauth_callback") from None
        if nonce is not None and claims.get("nonce") != nonce:
            raise ProviderError("Invalid id_token: nonce mismatch", error_code="bad_oauth_callback")
        return claims

    def issuers(self, endpoints: dict[str, Any]) -> list[str]:
        """The `iss` values an id_token of this provider may carry."""
        return [str(endpoints["issuer"])]

    async def _signing_key(self, jwks_uri: str, kid: Any) -> jwt.PyJWK:
        for attempt in range(2):  # a key we do not know yet: the provider rotated keys, fetch once more
            if attempt:
                self._cache.pop(jwks_uri, None)
            jwks = await self._cached_json(jwks_uri)
            try:
                keys = [k for k in jwt.PyJWKSet.from_dict(jwks).keys if k.public_key_use in (None, "sig")]
            except jwt.PyJWTError:
                raise ProviderError("Invalid provider JWKS") from None
            found = [k for k in keys if kid is None or k.key_id == kid]
            if len(found) == 1 or (found and kid is not None):
                return found[0]
        raise ProviderError("Invalid id_token: unknown signing key", error_code="bad_oauth_callback")


class GoogleProvider(OidcProvider):
    """Google: the OIDC provider at accounts.google.com."""

    def _discovery_url(self) -> str:
        issuer = self.config.issuer or GOOGLE_ISSUER
        return self.config.discovery_url or issuer + "/.well-known/openid-configuration"

    async def endpoints(self) -> dict[str, Any]:
        doc = await self._cached_json(self._discovery_url())
        return {**doc, **_overrides(self.config)}

    def issuers(self, endpoints: dict[str, Any]) -> list[str]:
        """Google signs id_tokens with `iss` `https://accounts.google.com` or, from some SDKs, without the scheme."""
        issuer = str(endpoints["issuer"])
        return [issuer, issuer.removeprefix("https://")]


class GitHubProvider(Provider):
    """GitHub: OAuth 2.0 apps, profile and addresses from its REST API."""

    async def endpoints(self) -> dict[str, Any]:
        return {
            "authorization_endpoint": self.config.authorize_url or GITHUB_AUTHORIZE,
            "token_endpoint": self.config.token_url or GITHUB_TOKEN,
            "token_endpoint_auth_methods_supported": ["client_secret_post"],
        }

    async def exchange(self, code: str, redirect_uri: str, verifier: str | None, nonce: str | None) -> ProviderUser:
        token = await self._fetch_token(await self.endpoints(), code, redirect_uri, verifier)
        access = str(token["access_token"])
        api = (self.config.userinfo_url or GITHUB_API).rstrip("/")
        accept = "application/vnd.github+json"
        user = await self._get_json(api + "/user", access, accept)
        emails = await self._get_json(api + "/user/emails", access, accept)
        if not isinstance(user, dict) or "id" not in user:
            raise ProviderError("Error getting user profile from external provider")
        email, verified = _github_email(emails if isinstance(emails, list) else [])
        uid = str(user["id"])
        data: dict[str, Any] = {
            "iss": api, "sub": uid, "provider_id": uid, "email": email, "email_verified": verified,
            "phone_verified": False, "name": user.get("name") or "", "full_name": user.get("name") or "",
            "user_name": user.get("login") or "", "preferred_username": user.get("login") or "",
            "avatar_url": user.get("avatar_url") or "", "picture": user.get("avatar_url") or "",
        }  # fmt: skip
        data = {k: v for k, v in data.items() if v != ""}
        return ProviderUser(uid, email, verified, data, access, str(token.get("refresh_token") or ""))


def _token_response(response: httpx.Response) -> dict[str, Any]:
    """The token endpoint's answer as a dict: JSON, or the form encoding GitHub may answer with."""
    try:
        value = response.json()
    except ValueError:
        value = dict(parse_qsl(response.text))
    return value if isinstance(value, dict) else {}


def _github_email(emails: list[Any]) -> tuple[str, bool]:
    """The primary verified address, else any verified one; unverified ones are never used."""
    verified = [e for e in emails if isinstance(e, dict) and e.get("verified") and e.get("email")]
    verified.sort(key=lambda e: not e.get("primary"))
    return (str(verified[0]["email"]).lower(), True) if verified else ("", False)


def _overrides(config: OAuthProviderSettings) -> dict[str, str]:
    pairs = {
        "authorization_endpoint": config.authorize_url,
        "token_endpoint": config.token_url,
        "userinfo_endpoint": config.userinfo_url,
    }
    return {k: v for k, v in pairs.items() if v}


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() == "true")


def oidc_user(claims: dict[str, Any], token: dict[str, Any]) -> ProviderUser:
    """The user an OIDC provider's (verified) claims describe, with GoTrue's identity claims."""
    data: dict[str, Any] = {k: claims[k] for k in _STANDARD_CLAIMS if claims.get(k) not in (None, "")}
    email = str(claims.get("email") or "").lower()
    verified = bool(email) and _truthy(claims.get("email_verified"))
    data["sub"] = str(claims["sub"])
    data["provider_id"] = str(claims["sub"])
    data["email_verified"] = verified
    data["phone_verified"] = _truthy(claims.get("phone_number_verified"))
    if email:
        data["email"] = email
    if "name" in data:
        data["full_name"] = data["name"]
    if "picture" in data:
        data["avatar_url"] = data["picture"]
    if "preferred_username" in data:
        data["user_name"] = data["preferred_username"]
    access, refresh = str(token.get("access_token") or ""), str(token.get("refresh_token") or "")
    return ProviderUser(str(claims["sub"]), email, verified, data, access, refresh)


_KINDS: dict[str, tuple[type[Provider], tuple[str, ...]]] = {
    "oidc": (OidcProvider, ("openid", "email", "profile")),
    "google": (GoogleProvider, ("openid", "email", "profile")),
    "github": (GitHubProvider, ("read:user", "user:email")),
}


def build_providers(configs: Mapping[str, OAuthProviderSettings | dict[str, Any]]) -> dict[str, Provider]:
    """The enabled providers by name (the `provider=` of /authorize)."""
    out: dict[str, Provider] = {}
    for name, raw in configs.items():
        config = OAuthProviderSettings.model_validate(raw)
        if config.enabled:
            cls, scopes = _KINDS[config.kind]
            out[name.lower()] = cls(name.lower(), config, scopes)
    return out
