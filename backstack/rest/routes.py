"""HTTP in/out for the data API (/rest/v1): parse the request, call `rest.service`, send bytes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.responses import JSONResponse
from starlette.routing import Route

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.types import ASGIApp

    from backstack.config import Settings
    from backstack.db.engine import Engine


def build_rest_app(engine: Engine, settings: Settings) -> ASGIApp:
    """The ASGI app mounted at /rest/v1 (placeholder until the data API lands)."""
    from starlette.applications import Starlette

    async def root(request: Request) -> JSONResponse:
        return JSONResponse({"message": "data API not ready"}, status_code=503)

    return Starlette(routes=[Route("/", root)])
