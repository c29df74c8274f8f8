"""The ASGI app of the auth service (GoTrue's API), mounted by the platform at `/auth/v1`.

A request is matched in the app's route table (api/routes.py, built when the app is), its
endpoint parses it, calls a flow of the `AuthService` and renders the answer; endpoints hold no
rules. Errors are rendered here in GoTrue's shapes (core/errors.py: the shape depends on the
request's `X-Supabase-Api-Version`), also for unknown paths and methods under the mount.
Unexpected exceptions are left to the platform's error middleware, which logs them with the
request id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import Response

from backstack.auth.api.routes import build_routes
from backstack.auth.core import errors
from backstack.auth.service import AuthService
from backstack.core.errors import ApiError
from backstack.web.errors import request_id_of

if TYPE_CHECKING:
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
    """The ASGI app serving GoTrue's endpoints over one `AuthService`, with its own route table."""

    def __init__(self, service: AuthService) -> None:
        self.service = service
        self.routes = build_routes()

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
    engine: Engine, settings: Settings, *, service: AuthService | None = None, limiter: RateLimiter | None = None
) -> ASGIApp:
    """The auth API (`/signup`, `/token`, `/user`, `/logout`, `/settings`, `/health`, ...) over `engine`.

    Mount it at `/auth/v1`. Call `ensure_schema(engine)` at startup (before user migrations, which
    may reference `auth.users`); the app also creates the tables on its first request otherwise.
    Rate limits count on `limiter` (`create_app` passes the platform's); without one nothing is limited.
    """
    return AuthApp(service or AuthService(engine, settings, limiter=limiter))
