"""PrefixRouter takes a shortcut to its leading mounts: every request must end where Starlette's Router sends
it, with the same scope."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.routing import Mount, Route, Router

from backstack.web.routing import PrefixRouter

Seen = list[tuple[str, dict[str, Any]]]


class Recorder:
    """An ASGI app that notes its name and the scope it was called with."""

    def __init__(self, name: str, seen: Seen) -> None:
        self.name = name
        self.seen = seen

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.seen.append((self.name, scope))


def build(router_class: type[Router], seen: Seen) -> Router:
    return router_class(
        routes=[
            Mount("/rest/v1", app=Recorder("rest", seen)),
            Mount("/auth/v1", app=Recorder("auth", seen)),
            Route("/health", Recorder("health", seen)),
            Mount("/t/{tenant}", app=Recorder("tenant", seen)),
            Mount("/late", app=Recorder("late", seen)),
        ],
        default=Recorder("default", seen),
    )


PATHS = [
    "/rest/v1/items",
    "/rest/v1/",
    "/rest/v1//items",
    "/rest/v1/rpc/f",
    "/auth/v1/token",
    "/auth/v1/",
    "/rest/v1",
    "/rest/v1x",
    "/rest/v1/a\nb",
    "/rest/v1/x\n",
    "/health",
    "/t/acme/x",
    "/late/x",
    "/",
    "/nowhere",
]


async def route(router: Router, seen: Seen, scope: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Which app was called with which scope; "response" and the message when the router answered itself."""
    seen.clear()

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            seen.append(("response", message))

    await router(scope, None, send)  # type: ignore[arg-type]
    (called,) = seen
    name, final = called
    if name == "response":
        return name, final
    return name, {k: v for k, v in final.items() if k not in ("router", "route", "endpoint")} | {
        "route": getattr(final.get("route"), "path", None),
        "endpoint": getattr(final.get("endpoint"), "name", None),
    }


@pytest.mark.anyio
@pytest.mark.parametrize("root_path", ["", "/api"])
@pytest.mark.parametrize("path", PATHS)
async def test_same_app_and_scope_as_starlettes_router(path: str, root_path: str) -> None:
    starlette_seen: Seen = []
    prefix_seen: Seen = []
    starlette, prefix = build(Router, starlette_seen), build(PrefixRouter, prefix_seen)
    for extra in ({}, {"path_params": {"x": 1}, "app_root_path": "/outer"}):

        def scope(extra: dict[str, Any] = extra) -> dict[str, Any]:
            return {
                "type": "http",
                "method": "GET",
                "path": root_path + path,
                "root_path": root_path,
                "query_string": b"",
                "headers": [],
                **extra,
            }

        assert await route(prefix, prefix_seen, scope()) == await route(starlette, starlette_seen, scope())
