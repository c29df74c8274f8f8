"""`/signup`, `/token`, `/user` (GET), `/logout`, `/settings`, `/health`: parse, call the flow, render."""

from __future__ import annotations

from importlib import metadata
from typing import TYPE_CHECKING

from starlette.responses import Response

from backstack.auth.api import http
from backstack.auth.core import errors
from backstack.auth.core.pkce import parse_challenge
from backstack.auth.flows.signup import SignUpRequest

if TYPE_CHECKING:
    from starlette.requests import Request

    from backstack.auth.api.routes import Route
    from backstack.auth.core.grants import Grant
    from backstack.auth.service import AuthService


async def signup(service: AuthService, request: Request) -> Response:
    body = await http.read_body(request)
    ip = http.client_ip(request, service.limits)
    await service.limits.check(ip, "sign_up", email=http.text(body, "email"), phone=http.text(body, "phone"))
    result = await service.sign_up(
        SignUpRequest(
            email=http.text(body, "email"),
            password=http.text(body, "password"),
            data=http.obj(body, "data") or {},
            phone=http.text(body, "phone"),
            client=http.client(request, service.limits),
            redirect_to=request.query_params.get("redirect_to") or "",
            challenge=parse_challenge(http.text(body, "code_challenge"), http.text(body, "code_challenge_method")),
        )
    )
    return http.json_response(result if isinstance(result, dict) else result.to_json())


async def token(service: AuthService, request: Request) -> Response:
    grant_type = request.query_params.get("grant_type", "")
    if grant_type not in ("password", "refresh_token", "id_token", "pkce"):
        raise errors.unsupported_grant_type()
    body = await http.read_body(request)
    grant: Grant
    if grant_type == "password":
        email, phone = http.text(body, "email"), http.text(body, "phone")
        await service.limits.check(http.client_ip(request, service.limits), "sign_in", email=email, phone=phone)
        grant = await service.sign_in_with_password(
            http.text(body, "email"), http.text(body, "phone"), http.text(body, "password"),
            client=http.client(request, service.limits),
        )  # fmt: skip
        await service.limits.succeeded("sign_in", email=email, phone=phone)
    elif grant_type == "refresh_token":
        grant = await service.refresh(http.text(body, "refresh_token"), client=http.client(request, service.limits))
    elif grant_type == "id_token":
        await service.limits.check(http.client_ip(request, service.limits), "sign_in")
        grant = await service.oauth.id_token_grant(
            http.text(body, "provider"), http.text(body, "id_token"), http.text(body, "nonce"),
            http.text(body, "access_token"),
            client=http.client(request, service.limits),
        )  # fmt: skip
    else:
        grant = await service.oauth.pkce_grant(
            http.text(body, "auth_code"), http.text(body, "code_verifier"), client=http.client(request, service.limits)
        )
    return http.json_response(grant.to_json())


async def user(service: AuthService, request: Request) -> Response:
    found = await service.bearer.get_user(http.bearer(request))
    return http.json_response(found.to_json())


async def logout(service: AuthService, request: Request) -> Response:
    await service.bearer.logout(http.bearer(request), request.query_params.get("scope") or "global")
    return Response(status_code=204)


async def settings(service: AuthService, request: Request) -> Response:
    return http.json_response(service.public_settings())


def _version() -> str:
    try:
        return "v" + metadata.version("backstack")
    except metadata.PackageNotFoundError:
        return "v0"


async def health(service: AuthService, request: Request) -> Response:
    return http.json_response(
        {"version": _version(), "name": "GoTrue", "description": "GoTrue is a user registration and authentication API"}
    )


def routes() -> list[Route]:
    return [
        ("/signup", {"POST": signup}),
        ("/token", {"POST": token}),
        ("/user", {"GET": user}),
        ("/logout", {"POST": logout}),
        ("/settings", {"GET": settings}),
        ("/health", {"GET": health}),
    ]
