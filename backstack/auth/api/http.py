"""Request parsing and responses shared by the endpoint modules of the auth API.

A body must be a JSON object (else GoTrue's `bad_json`), fields have the type GoTrue's Go structs
give them (else `bad_json` too, as Go's decoder refuses them; core/body.py), `Authorization:
Bearer` carries the caller's token, and the caller's address comes from the peer or the trusted
proxy's header (what the rate limits and sessions record).
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from backstack.auth.core import errors
from backstack.auth.core.body import flag, obj, optional_text, text
from backstack.auth.core.errors import path_uuid
from backstack.auth.core.grants import ClientInfo
from backstack.core import json

if TYPE_CHECKING:
    from starlette.requests import Request

    from backstack.auth.core.ratelimit import AuthLimits

JSON_TYPE = "application/json"
__all__ = ["flag", "obj", "optional_text", "path_uuid", "text"]  # and the helpers below


def json_response(value: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(value), status_code=status, media_type=JSON_TYPE, headers=headers)


async def read_body(request: Request, *, optional: bool = False) -> dict[str, Any]:
    """The JSON object in the body; `{}` for an empty body when `optional` (DELETE, challenge)."""
    raw = await request.body()
    if not raw.strip() and optional:
        return {}
    try:
        value = json.loads(raw) if raw else None
    except json.JSONDecodeError as exc:
        raise errors.bad_json(str(exc)) from None
    if not isinstance(value, dict):
        raise errors.bad_json("the body must be a JSON object")
    return value


def bearer(request: Request) -> str | None:
    """The token of `Authorization: Bearer <token>` (GoTrue accepts `Bearer` and `bearer`)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme not in ("Bearer", "bearer") or not token or " " in token:
        return None
    return token


def client_ip(request: Request, limits: AuthLimits) -> str:
    """The caller's address as the rate limits count it: the trusted proxy's hop of
    `auth_rate_limit_ip_header` when one is configured, else the peer (`AuthLimits.client_ip`)."""
    header = request.headers.get(limits.ip_header) if limits.ip_header else None
    return limits.client_ip(header, request.client.host if request.client is not None else None)


def client(request: Request, limits: AuthLimits) -> ClientInfo:
    """User agent and address of the caller, as the rate limits see it (stored with sessions).

    The address is never a hop a client could write itself (see `client_ip`).
    """
    try:
        ip: str | None = str(ipaddress.ip_address(client_ip(request, limits)))
    except ValueError:
        ip = None
    return ClientInfo(user_agent=request.headers.get("user-agent"), ip=ip)
