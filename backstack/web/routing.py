"""`PrefixRouter`: Starlette's `Router`, with its leading mounts (/rest/v1, /auth/v1) found by a prefix test.

A request to an API pays neither the regular expression of `Mount.matches` nor the frame of
`Mount.handle` (issue 18); the mount's app sees the scope Starlette builds.
Only HTTP requests without a root path, to a path without a newline (the one character a mount's
pattern does not match), under one of the plain mounts that come first, take this way; everything
else (the site, /health, unknown paths, a prefix without its slash) goes to the `Router` as before.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import Mount, Router

if TYPE_CHECKING:
    from starlette.types import Receive, Scope, Send


class PrefixRouter(Router):
    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        """`Router.app`, with `Mount.matches` and `Mount.handle` done inline for the leading mounts."""
        if scope["type"] == "http" and not scope.get("root_path"):
            path: str = scope["path"]
            for route in self.routes:
                if type(route) is not Mount or "{" in route.path:
                    break
                prefix = route.path
                if path.startswith(prefix) and path.startswith("/", len(prefix)) and "\n" not in path:
                    if "router" not in scope:
                        scope["router"] = self
                    scope["route"] = route
                    scope["path_params"] = dict(scope.get("path_params", {}))
                    scope["app_root_path"] = scope.get("app_root_path", "")
                    scope["root_path"] = prefix
                    scope["endpoint"] = route.app
                    await route.app(scope, receive, send)
                    return
        await super().app(scope, receive, send)
