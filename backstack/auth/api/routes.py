"""The auth API's route table, built per app from the route lists of the endpoint modules.

A plain table from path to methods rather than a Starlette `Router`: the paths are fixed strings,
and Starlette's router answers unknown methods with its own exception type, which would escape
GoTrue's error shape when mounted inside another Starlette app. Paths with parameters
(`/admin/users/{user_id}`) are regular expressions, tried in order when no exact path matches; their
named groups become `request.path_params`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from backstack.auth.service import AuthService

Endpoint = Callable[["AuthService", "Request"], Awaitable["Response"]]
Route = tuple[str, dict[str, Endpoint]]  # (path, or a regex with named groups; method -> endpoint)


class RouteTable:
    """Exact paths first, then the patterns in the order they were given."""

    def __init__(self, routes: list[Route]) -> None:
        self.exact: dict[str, dict[str, Endpoint]] = {}
        self.patterns: list[tuple[re.Pattern[str], dict[str, Endpoint]]] = []
        for path, methods in routes:
            if "(?P<" in path:
                self.patterns.append((re.compile(path), methods))
            else:
                self.exact.setdefault(path, {}).update(methods)  # PUT /user joins GET /user

    def find(self, path: str) -> tuple[dict[str, Endpoint], dict[str, str]] | None:
        """The methods at `path` and its path parameters; None when nothing is there."""
        methods = self.exact.get(path)
        if methods is not None:
            return methods, {}
        for pattern, candidates in self.patterns:
            match = pattern.fullmatch(path)
            if match is not None:
                return candidates, match.groupdict()
        return None


def build_routes() -> RouteTable:
    """Every endpoint of the auth API (imported here, so endpoint modules never import each other)."""
    from backstack.auth.api import admin, email, keys, mfa, oauth, session

    return RouteTable(
        [*session.routes(), *admin.routes(), *oauth.routes(), *mfa.routes(), *keys.routes(), *email.routes()]
    )
