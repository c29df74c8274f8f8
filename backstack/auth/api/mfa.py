"""HTTP for MFA (`/factors...`): enroll, challenge, verify, unenroll; the rules are in flows/mfa.py.

Every verification counts against `auth_rate_limit_verify` per IP address *and* per factor, before
the code is looked at, so guessing a code stays slow from any number of addresses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from backstack.auth.api import http

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from backstack.auth.api.routes import Route
    from backstack.auth.service import AuthService


async def enroll(service: AuthService, request: Request) -> Response:
    token = http.bearer(request)
    body = await http.read_body(request)
    auth = await service.bearer.authenticate(token)
    return http.json_response(await service.mfa.enroll(auth, body))


async def challenge(service: AuthService, request: Request) -> Response:
    await http.read_body(request, optional=True)
    caller = http.client(request, service.limits)
    auth = await service.bearer.authenticate(http.bearer(request))
    result = await service.mfa.challenge(auth, request.path_params["factor_id"], caller)
    return http.json_response(result)


async def verify(service: AuthService, request: Request) -> Response:
    body = await http.read_body(request)
    factor_id = http.path_uuid(request.path_params["factor_id"], "factor_id")
    # One attempt against the per-IP and the per-factor limit (429 when over).
    await service.limits.check(http.client_ip(request, service.limits), "verify")
    await service.limits.hit_key(f"mfa_verify:{factor_id}", "auth_rate_limit_verify")
    auth = await service.bearer.authenticate(http.bearer(request))
    grant = await service.mfa.verify(auth, factor_id, body)
    return http.json_response(grant.to_json())


async def unenroll(service: AuthService, request: Request) -> Response:
    auth = await service.bearer.authenticate(http.bearer(request))
    return http.json_response(await service.mfa.unenroll(auth, request.path_params["factor_id"]))


def routes() -> list[Route]:
    return [
        ("/factors", {"POST": enroll}),
        (r"/factors/(?P<factor_id>[^/]+)", {"DELETE": unenroll}),
        (r"/factors/(?P<factor_id>[^/]+)/challenge", {"POST": challenge}),
        (r"/factors/(?P<factor_id>[^/]+)/verify", {"POST": verify}),
    ]
