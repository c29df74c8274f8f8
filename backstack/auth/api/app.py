"""The ASGI app of the auth service (GoTrue's API), mounted by the platform at `/auth/v1`.

A request is matched in the app's route table (api/routes.py, built when the app is), its
endpoint parses it, calls a flow of the `AuthService` and returns the answer, which the app writes
with the platform's writer (web/responses.py `send_response`); endpoints hold no rules. Every
`ApiError` leaving the app is an `AuthError` (core/errors.py `as_auth_error`), also for unknown
paths and methods under the mount; the platform renders it in GoTrue's shapes (api/errors.py
`render_gotrue`, registered for `/auth/v1` in app.py). Unexpected exceptions are left to the
platform too, which logs them with the request id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request

from backstack.auth.api.errors import render_gotrue
from backstack.auth.api.routes import build_routes
from backstack.auth.core import errors
from backstack.auth.service import AuthService
from backstack.core.errors import ApiError
from backstack.web.errors import RenderErrors
from backstack.web.responses import send_response

if TYPE_CHECKING:
    from starlette.responses import Response
    from starlette.types import ASGIApp, Receive, Scope, Send

    from backstack.config import Settings
    from backstack.core.ports import RateLimiter
    from backstack.db.engine import Engine


def route_path(scope: Scope) -> str:
    """The path below the mount point, without a trailing slash."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        path = path[len(root) :]
    return path.rstrip("/") or "/"


class AuthApp:
    """The ASGI app serving GoTrue's endpoints over one `AuthService`, with its own route table.

    It raises its `ApiError`s for the platform (or `RenderErrors`) to render; see `build_auth_app`.
    """

    def __init__(self, service: AuthService) -> None:
        self.service = service
        self.routes = build_routes()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        try:
            response = await self._dispatch(Request(scope, receive))
        except errors.AuthError:
            raise
        except ApiError as error:  # the database's, the limits' while the body is read: in GoTrue's terms
            raise errors.as_auth_error(error) from error
        await send_response(send, response.status_code, response.raw_headers, bytes(response.body))
        if response.background is not None:
            await response.background()

    async def _dispatch(self, request: Request) -> Response:
        found = self.routes.find(route_path(request.scope))
        if found is None:
            raise errors.not_found()
        methods, path_params = found
        if path_params:
            request.scope["path_params"] = path_params
        endpoint = methods.get(request.method)
        if endpoint is None:
            raise errors.method_not_allowed()
        await self.service.ready()
        return await endpoint(self.service, request)


def build_auth_app(
    engine: Engine,
    settings: Settings,
    *,
    service: AuthService | None = None,
    limiter: RateLimiter | None = None,
    render_errors: bool = True,
) -> ASGIApp:
    """The auth API (`/signup`, `/token`, `/user`, `/logout`, `/settings`, `/health`, ...) over `engine`.

    Mount it at `/auth/v1`. Call `ensure_schema(engine)` at startup (before user migrations, which
    may reference `auth.users`); the app also creates the tables on its first request otherwise.
    Rate limits count on `limiter` (`create_app` passes the platform's); without one nothing is limited.
    The app answers its errors in GoTrue's shapes itself (`RenderErrors` with `render_gotrue`) unless
    `render_errors` is False: `create_app` mounts it so, under the platform, which renders them.
    """
    app = AuthApp(service or AuthService(engine, settings, limiter=limiter))
    return RenderErrors(app, render_gotrue) if render_errors else app
