"""Who is calling: `apikey` + `Authorization: Bearer` -> a verified `core.caller.Caller`.

The rules are the Supabase gateway's (contract/README.md 1.3):

- every request to an API mount carries the project key in the `apikey` header (or `?apikey=`);
  missing -> 401 `{"message":"No API key found in request"}`, not a project key -> 401
  `{"message":"Invalid API key"}`;
- `Authorization: Bearer <jwt>` is the caller's token; when it is absent, equal to the apikey, or an
  opaque `sb_...` key, the caller acts as the apikey's role (anon or service_role);
- a token must be an HS256 JWT signed with the project secret, or an ES256/RS256 JWT signed by one of
  the project's configured keys (core/signing.py: `jwt_signing_key`, `jwt_verification_keys`); no
  other algorithm, and header fields such as `jku`, `x5u` or `jwk` are never used to find a key
  (`kid` only picks among our own keys); `exp`, `nbf` and `iat` are
  checked with `LEEWAY` seconds of clock skew and `aud`, when present, must name an accepted
  audience. Failures are PostgREST's 401s: PGRST301 (cannot be decoded or verified) and PGRST303
  (claims say no), with `WWW-Authenticate: Bearer error="invalid_token"`.

Verified tokens are cached by their text until they expire (a bounded LRU), so a client reusing
its token costs one dict lookup. `AuthMiddleware` wraps each API mount and stores the caller in
`scope["state"]["caller"]` (Starlette's `request.state.caller`); `caller_of(scope)` reads it back.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import jwt

from backstack.core.caller import ANON, Caller
from backstack.core.errors import ApiError, DatabaseError, Unauthorized
from backstack.core.signing import KeySet
from backstack.web.errors import GatewayError

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

LEEWAY = 30  # seconds of clock skew tolerated on exp / nbf / iat, as PostgREST allows
ROLES = frozenset({"anon", "authenticated", "service_role"})
KEY_ROLES = frozenset({"anon", "service_role"})
AUDIENCES = frozenset({"authenticated"})
_NEVER = float("inf")
_ALGORITHMS = ["HS256"]  # the allow-list: the token's own header never chooses the algorithm or the key
# pyjwt verifies the signature; the clock and audience checks run in `_check_claims` against an injectable
# clock and with PostgREST's messages.
_SIGNATURE_ONLY: jwt.types.Options = {
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": False,
    "verify_iss": False,
}


def invalid_token(code: str, message: str) -> Unauthorized:
    """A PostgREST token error with the RFC 6750 challenge clients and proxies understand."""
    challenge = f'Bearer error="invalid_token", error_description="{message}"'
    return Unauthorized(code, message, headers={"WWW-Authenticate": challenge})


class Authenticator:
    """Verifies project keys and user tokens against the project's keys; caches what it verified."""

    def __init__(
        self,
        secret: str,
        *,
        audiences: Iterable[str] = AUDIENCES,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.time,
        keys: KeySet | None = None,
    ) -> None:
        """`keys`: the project's asymmetric keys as well (default: the HS256 `secret` alone)."""
        self._secret = secret
        self._keys = keys or KeySet(secret)
        self._audiences = frozenset(audiences)
        self._cache: OrderedDict[str, tuple[Caller, float]] = OrderedDict()
        self._cache_size = cache_size
        self._clock = clock

    def authenticate(self, apikey: str | None, authorization: str | None) -> Caller:
        """The caller for a request with these `apikey` and `Authorization` header values."""
        if not apikey:
            raise GatewayError("No API key found in request")
        key_caller = self._project_key(apikey)
        token = _bearer(authorization)
        if token is None or token == apikey or token.startswith("sb_"):
            return key_caller
        return self.verify(token)

    def _project_key(self, apikey: str) -> Caller:
        try:
            caller = self.verify(apikey)
        except ApiError:
            raise GatewayError("Invalid API key") from None
        if caller.role not in KEY_ROLES:
            raise GatewayError("Invalid API key")
        return caller

    def verify(self, token: str) -> Caller:
        """The caller a JWT stands for; raises `Unauthorized` (PGRST301/PGRST303) when it is not valid."""
        cached = self._cache.get(token)
        if cached is not None:
            caller, expires = cached
            if self._clock() <= expires:
                self._cache.move_to_end(token)
                return caller
            del self._cache[token]
        caller, expires = self._verify_uncached(token)
        self._cache[token] = (caller, expires)
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return caller

    def _verify_uncached(self, token: str) -> tuple[Caller, float]:
        if not self._secret:
            raise ApiError("PGRST300", "Server lacks JWT secret", status=500)
        claims = self._decode(token)
        expires = self._check_claims(claims)
        role = claims.get("role") or ANON.role
        if not isinstance(role, str) or role not in ROLES:
            raise DatabaseError("22023", f'role "{role}" does not exist', status=401)
        return Caller(role=role, claims=claims), expires

    def _decode(self, token: str) -> dict[str, Any]:
        """Signature and algorithm checks by pyjwt; the time and audience claims are ours (PostgREST wording)."""
        parts = token.count(".") + 1
        if parts != 3:
            raise invalid_token("PGRST301", f"Expected 3 parts in JWT; got {parts}")
        try:
            claims = self._keys.decode(token, _SIGNATURE_ONLY)
        except jwt.InvalidAlgorithmError:
            raise invalid_token("PGRST301", "Wrong or unsupported encoding algorithm") from None
        except jwt.InvalidTokenError:
            raise invalid_token("PGRST301", "JWT cryptographic operation failed") from None
        if not isinstance(claims, dict):
            raise invalid_token("PGRST301", "JWT cryptographic operation failed")
        return claims

    def _check_claims(self, claims: dict[str, Any]) -> float:
        """Check the time and audience claims; return when the token stops being valid."""
        now = self._clock()
        exp, nbf, iat = (_number(claims, name) for name in ("exp", "nbf", "iat"))
        if exp is not None and now > exp + LEEWAY:
            raise invalid_token("PGRST303", "JWT expired")
        if nbf is not None and now + LEEWAY < nbf:
            raise invalid_token("PGRST303", "JWT not yet valid")
        if iat is not None and now + LEEWAY < iat:
            raise invalid_token("PGRST303", "JWT issued at future")
        if "aud" in claims and not self._audience_ok(claims["aud"]):
            raise invalid_token("PGRST303", "JWT not in audience")
        return exp + LEEWAY if exp is not None else _NEVER

    def _audience_ok(self, aud: Any) -> bool:
        values = aud if isinstance(aud, list) else [aud]
        return any(isinstance(v, str) and v in self._audiences for v in values)


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid_token("PGRST303", f"JWT claim {name} is not a number")
    return float(value)


def _bearer(authorization: str | None) -> str | None:
    """The token of a `Bearer` Authorization header; other schemes count as no token."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def credentials(scope: Scope) -> tuple[str | None, str | None]:
    """The `apikey` (header, else query parameter) and `Authorization` values of a request."""
    apikey = authorization = None
    for name, value in scope["headers"]:
        if name == b"apikey":
            apikey = value.decode("latin-1")
        elif name == b"authorization":
            authorization = value.decode("latin-1")
    if apikey is None:
        query: bytes = scope.get("query_string", b"")
        if b"apikey=" in query:
            apikey = next((v for k, v in parse_qsl(query.decode("latin-1")) if k == "apikey"), None)
    return apikey, authorization


class AuthMiddleware:
    """Authenticates every HTTP and websocket request to the wrapped API (pure ASGI)."""

    def __init__(
        self,
        app: ASGIApp,
        authenticator: Authenticator,
        *,
        verify_bearer: bool = True,
        open_paths: Iterable[str] = (),
    ) -> None:
        """`verify_bearer=False` checks the project key only (the auth API reads user tokens itself).

        `open_paths` (below the mount, e.g. `/callback`) are reached by plain browser navigations,
        which carry no project key (Supabase's gateway leaves them open too): callers there are anon.
        """
        self.app = app
        self.authenticator = authenticator
        self.verify_bearer = verify_bearer
        self.open_paths = frozenset(open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            apikey, authorization = credentials(scope)
            if self.open_paths and _below_mount(scope) in self.open_paths:
                caller = ANON
            else:
                caller = self.authenticator.authenticate(apikey, authorization if self.verify_bearer else None)
            state = scope.get("state")
            if state is None:
                scope["state"] = {"caller": caller}
            else:
                state["caller"] = caller
        await self.app(scope, receive, send)


def _below_mount(scope: Scope) -> str:
    path: str = scope.get("path", "")
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path.rstrip("/") or "/"


def caller_of(scope: Scope) -> Caller:
    """The caller `AuthMiddleware` stored for this request (anon when the request was not authenticated)."""
    state = scope.get("state")
    caller = state.get("caller") if isinstance(state, dict) else None
    return caller if isinstance(caller, Caller) else ANON
