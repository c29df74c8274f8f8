"""HTTP in and out for the auth service (GoTrue's API), mounted by the app at `/auth/v1`.

Endpoints parse the request, call `AuthService` and serialise its answer; they hold no rules.
Errors are rendered here in GoTrue's shapes (see errors.py: the shape depends on the request's
`X-Supabase-Api-Version`), also for unknown paths and methods under the mount. Unexpected
exceptions are left to the platform's error middleware, which logs them with the request id.

The dispatcher is a plain dict from path to methods rather than a Starlette `Router`: the paths
are fixed strings, and Starlette's router answers unknown methods with its own exception type,
which would escape GoTrue's error shape when mounted inside another Starlette app.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from importlib import metadata
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from backstack.auth.api import admin, http, mfa
from backstack.auth.api import email as email_routes
from backstack.auth.api import keys as jwks
from backstack.auth.api import oauth as oauth_routes
from backstack.auth.core import errors
from backstack.auth.service import AuthService
from backstack.auth.store.flow_state import parse_challenge
from backstack.core.errors import ApiError
from backstack.web.errors import request_id_of

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from backstack.config import Settings
    from backstack.core.ports import RateLimiter
    from backstack.db.engine import Engine

Endpoint = Callable[[AuthService, Request], Awaitable[Response]]
JSON_TYPE = "application/json"








# ------------------------------------------------------------------ endpoints


async def signup(service: AuthService, request: Request) -> Response:
    body = await http.read_body(request)
    await service.limits.check(request, "sign_up", email=http.text(body, "email"), phone=http.text(body, "phone"))
    result = await service.sign_up(
        http.text(body, "email"),
        http.text(body, "password"),
        (http.obj(body, "data") or {}),
        phone=http.text(body, "phone"),
        client=http.client(request, service.limits),
        redirect_to=request.query_params.get("redirect_to") or "",
        challenge=parse_challenge(http.text(body, "code_challenge"), http.text(body, "code_challenge_method")),
    )
    return http.json_response(result if isinstance(result, dict) else result.to_json())


async def token(service: AuthService, request: Request) -> Response:
    grant_type = request.query_params.get("grant_type", "")
    if grant_type == "password":
        body = await http.read_body(request)
        await service.limits.check(request, "sign_in", email=http.text(body, "email"), phone=http.text(body, "phone"))
        grant = await service.sign_in_with_password(
            http.text(body, "email"), http.text(body, "phone"), http.text(body, "password"),
            client=http.client(request, service.limits),
        )
        await service.limits.succeeded("sign_in", email=http.text(body, "email"), phone=http.text(body, "phone"))
    elif grant_type == "refresh_token":
        body = await http.read_body(request)
        grant = await service.refresh(http.text(body, "refresh_token"), client=http.client(request, service.limits))
    elif grant_type == "id_token":
        body = await http.read_body(request)
        await service.limits.check(request, "sign_in")
        grant = await service.oauth.id_token_grant(
            http.text(body, "provider"), http.text(body, "id_token"), http.text(body, "nonce"),
            http.text(body, "access_token"),
            client=http.client(request, service.limits),
        )  # fmt: skip
    elif grant_type == "pkce":
        body = await http.read_body(request)
        grant = await service.oauth.pkce_grant(
            http.text(body, "auth_code"), http.text(body, "code_verifier"), client=http.client(request, service.limits)
        )
    else:
        raise errors.unsupported_grant_type()
    return http.json_response(grant.to_json())


async def user(service: AuthService, request: Request) -> Response:
    found = await service.get_user(http.bearer(request))
    return http.json_response(found.to_json())


async def logout(service: AuthService, request: Request) -> Response:
    await service.logout(http.bearer(request), request.query_params.get("scope") or "global")
    return Response(status_code=204)


async def settings(service: AuthService, request: Request) -> Response:
    return http.json_response(service.public_settings())


def _version() -> str:
    try:
        return "v" + metadata.version("backstack")
    except metadata.PackageNotFoundError:
        return "v0"


async def health(service: AuthService, request: Request) -> Response:
    return http.json_response(
        {"version": _version(), "name": "GoTrue", "description": "GoTrue is a user registration and authentication API"}
    )


ROUTES: dict[str, dict[str, Endpoint]] = {
    "/signup": {"POST": signup},
    "/token": {"POST": token},
    "/user": {"GET": user},
    "/logout": {"POST": logout},
    "/settings": {"GET": settings},
    "/health": {"GET": health},
}


# Paths with parameters (`/admin/users/{user_id}`), tried in order when ROUTES has no exact entry;
# the named groups become `request.path_params`.
PATTERNS: list[tuple[re.Pattern[str], dict[str, Endpoint]]] = []


def add_routes(routes: dict[str, dict[str, Endpoint]], patterns: tuple[tuple[str, dict[str, Endpoint]], ...]) -> None:
    """Register the endpoints of a feature module (admin, MFA, ...)."""
    ROUTES.update(routes)
    PATTERNS.extend((re.compile(pattern), methods) for pattern, methods in patterns)


add_routes(admin.ADMIN_ROUTES, admin.ADMIN_PATTERNS)
add_routes(oauth_routes.OAUTH_ROUTES, oauth_routes.OAUTH_PATTERNS)
add_routes(mfa.MFA_ROUTES, mfa.MFA_PATTERNS)
add_routes(jwks.JWKS_ROUTES, ())
add_routes(email_routes.EMAIL_ROUTES, ())
ROUTES["/user"].update(email_routes.USER_METHODS)  # PUT /user (email_routes.py)


# ------------------------------------------------------------------ the ASGI app


def route_path(scope: Scope) -> str:
    """The path below the mount point, without a trailing slash."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path.rstrip("/") or "/"


class AuthApp:
    """The ASGI app serving GoTrue's endpoints over one `AuthService`."""

    def __init__(self, service: AuthService) -> None:
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        try:
            response = await self._dispatch(request)
        except ApiError as error:
            version = errors.api_version(request.headers.get(errors.API_VERSION_HEADER))
            status, headers, body = errors.render(error, version, request_id_of(scope))
            response = Response(body, status_code=status)
            response.raw_headers = [*headers, (b"content-length", str(len(body)).encode())]
        await response(scope, receive, send)

    async def _dispatch(self, request: Request) -> Response:
        path = route_path(request.scope)
        methods = ROUTES.get(path)
        if methods is None:
            for pattern, candidates in PATTERNS:
                match = pattern.fullmatch(path)
                if match is not None:
                    request.scope["path_params"] = match.groupdict()
                    methods = candidates
                    break
        if methods is None:
            raise errors.not_found()
        endpoint = methods.get(request.method)
        if endpoint is None:
            raise errors.method_not_allowed()
        await self.service.ready()
        return await endpoint(self.service, request)


def build_auth_app(
    engine: Engine, settings: Settings, *, service: AuthService | None = None, limiter: RateLimiter | None = None
) -> ASGIApp:
    """The auth API (`/signup`, `/token`, `/user`, `/logout`, `/settings`, `/health`) over `engine`.

    Mount it at `/auth/v1`. Call `ensure_schema(engine)` at startup (before user migrations, which
    may reference `auth.users`); the app also creates the tables on its first request otherwise.
    Rate limits count on `limiter` (`create_app` passes the platform's); without one nothing is limited.
    """
    return AuthApp(service or AuthService(engine, settings, limiter=limiter))
