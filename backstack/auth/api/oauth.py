"""HTTP for external-provider sign-in: `GET /authorize`, `GET|POST /callback` (logic in flows/external/oauth.py).

Both are browser navigations, so they answer redirects (302), also for callback errors; only a
malformed `/authorize` request (unknown provider, bad PKCE parameters) answers GoTrue's JSON error.
Browsers come without the project key: the app mounts these paths open (web/auth.py `open_paths`).
Identity linking (`/user/identities...`) needs the user's bearer token and `auth_manual_linking`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from starlette.responses import RedirectResponse, Response

from backstack.auth.api.http import bearer, client, json_response, path_uuid
from backstack.auth.core import errors
from backstack.auth.core.pkce import binding_cookie_name
from backstack.auth.flows.external.identities import unlink

if TYPE_CHECKING:
    from starlette.requests import Request

    from backstack.auth.api.routes import Route
    from backstack.auth.flows.external.oauth import Started
    from backstack.auth.service import AuthService

_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=302, headers=_NO_STORE)


def _callback_path(request: Request) -> str:
    return str(request.scope.get("root_path", "")) + "/callback"


def _bind(response: Response, request: Request, service: AuthService, started: Started) -> Response:
    """Give the starting browser the flow's binding cookie (sent back only to /callback)."""
    response.set_cookie(
        started.cookie_name, started.cookie_value, max_age=service.settings.auth_flow_state_expiry,
        path=_callback_path(request), secure=request.url.scheme == "https",
        httponly=True, samesite="lax",
    )  # fmt: skip
    return response


async def authorize(service: AuthService, request: Request) -> Response:
    query = request.query_params
    provider = query.get("provider", "")
    if not provider:
        raise errors.validation_failed("Unsupported provider: missing provider")
    started = await service.oauth.authorize(
        provider,
        query.get("redirect_to", ""),
        query.get("scopes", ""),
        query.get("code_challenge", ""),
        query.get("code_challenge_method", ""),
    )
    return _bind(_redirect(started.url), request, service, started)


async def callback(service: AuthService, request: Request) -> Response:
    params = dict(request.query_params.items())
    if request.method == "POST":  # response_mode=form_post: an urlencoded form
        body = (await request.body()).decode("utf-8", "replace")
        params.update(parse_qsl(body, keep_blank_values=True))
    response = _redirect(await service.oauth.callback(params, client(request, service.limits), request.cookies))
    if params.get("state"):  # the flow is over either way: its binding cookie goes
        response.delete_cookie(binding_cookie_name(params["state"]), path=_callback_path(request))
    return response


def _manual_linking(service: AuthService) -> None:
    if not service.settings.auth_manual_linking:
        raise errors.AuthError(404, "manual_linking_disabled", "Manual linking is disabled")


async def link_identity(service: AuthService, request: Request) -> Response:
    """GET /user/identities/authorize (Bearer): /authorize for linking a provider to the signed-in user."""
    _manual_linking(service)
    auth = await service.bearer.authenticate(bearer(request))
    query = request.query_params
    started = await service.oauth.authorize(
        query.get("provider", ""),
        query.get("redirect_to", ""),
        query.get("scopes", ""),
        query.get("code_challenge", ""),
        query.get("code_challenge_method", ""),
        link_user_id=auth.user.id,
    )
    if query.get("skip_http_redirect") == "true":
        return _bind(json_response({"url": started.url}), request, service, started)
    return _bind(_redirect(started.url), request, service, started)


async def unlink_identity(service: AuthService, request: Request) -> Response:
    """DELETE /user/identities/{identity_id} (Bearer)."""
    _manual_linking(service)
    auth = await service.bearer.authenticate(bearer(request))
    identity_id = path_uuid(request.path_params["identity_id"], "identity_id")
    await unlink(service.db.engine, service.db.sql, auth.user, identity_id, service.clock())
    return json_response({})


def routes() -> list[Route]:
    return [
        ("/authorize", {"GET": authorize}),
        ("/callback", {"GET": callback, "POST": callback}),
        ("/user/identities/authorize", {"GET": link_identity}),
        (r"/user/identities/(?P<identity_id>[^/]+)", {"DELETE": unlink_identity}),
    ]
