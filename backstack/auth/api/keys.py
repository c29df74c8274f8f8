"""`GET /.well-known/jwks.json`: the public keys that verify this server's access tokens.

Empty (`{"keys": []}`) while tokens are HS256: the shared secret is never published. With
`jwt_signing_key` set, the signing key's public half (and any `jwt_verification_keys`) as JWKs
with their `kid`, so supabase-js/py `getClaims()` and other services verify tokens locally.
Cached by clients for ten minutes, as GoTrue answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backstack.auth.api import http

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from backstack.auth.api.routes import Route
    from backstack.auth.service import AuthService

CACHE_CONTROL = "public, max-age=600"


async def jwks(service: AuthService, request: Request) -> Response:
    return http.json_response(service.tokens.keys.jwks(), headers={"Cache-Control": CACHE_CONTROL})


def routes() -> list[Route]:
    return [("/.well-known/jwks.json", {"GET": jwks})]
