"""HTTP for external-provider sign-in: `GET /authorize`, `GET|POST /callback` (logic in oauth.py).

Both are browser navigations, so they answer redirects (302), also for callback errors; only a
malformed `/authorize` request (unknown provider, bad PKCE parameters) answers GoTrue's JSON error.
Browsers come without the project key: the app mounts these paths open (web/auth.py `open_paths`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from starlette.responses import RedirectResponse, Response

from backstack.auth import errors
from backstack.auth.http import client

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from starlette.requests import Request

    from backstack.auth.service import AuthService

    Endpoint = Callable[[AuthService, Request], Awaitable[Response]]

_NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _redirect(url: str) -> Response:
    return RedirectResponse(url, status_code=302, headers=_NO_STORE)


async def authorize(service: AuthService, request: Request) -> Response:
    query = request.query_params
    provider = query.get("provider", "")
    if not provider:
        raise errors.validation_failed("Unsupported provider: missing provider")
    url = await service.oauth.authorize(
        provider,
        query.get("redirect_to", ""),
        query.get("scopes", ""),
        query.get("code_challenge", ""),
        query.get("code_challenge_method", ""),
    )
    return _redirect(url)


async def callback(service: AuthService, request: Request) -> Response:
    params = dict(request.query_params.items())
    if request.method == "POST":  # response_mode=form_post: an urlencoded form
        body = (await request.body()).decode("utf-8", "replace")
        params.update(parse_qsl(body, keep_blank_values=True))
    return _redirect(await service.oauth.callback(params, client(request)))


OAUTH_ROUTES: dict[str, dict[str, Endpoint]] = {
    "/authorize": {"GET": authorize},
    "/callback": {"GET": callback, "POST": callback},
}
