"""Request parsing and responses shared by the endpoint modules (admin, MFA) of the auth API.

The same small rules as routes.py's own helpers: a body must be a JSON object (else GoTrue's
`bad_json`), fields have the type GoTrue's Go structs give them (else `bad_json` too, as Go's
decoder refuses them), `Authorization: Bearer` carries the caller's token.
"""

from __future__ import annotations

import ipaddress
import uuid
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from backstack.auth.core import errors
from backstack.auth.core.grants import ClientInfo
from backstack.core import json

if TYPE_CHECKING:
    from starlette.requests import Request

    from backstack.auth.core.ratelimit import AuthLimits

JSON_TYPE = "application/json"


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


def text(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise errors.bad_json(f"{name} must be a string")
    return value


def optional_text(body: dict[str, Any], name: str) -> str | None:
    """A string field that may be absent (None) rather than empty."""
    if body.get(name) is None:
        return None
    return text(body, name)


def flag(body: dict[str, Any], name: str) -> bool | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise errors.bad_json(f"{name} must be a boolean")
    return value


def obj(body: dict[str, Any], name: str) -> dict[str, Any] | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise errors.bad_json(f"{name} must be an object")
    return value


def bearer(request: Request) -> str | None:
    """The token of `Authorization: Bearer <token>` (GoTrue accepts `Bearer` and `bearer`)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme not in ("Bearer", "bearer") or not token or " " in token:
        return None
    return token


def client(request: Request, limits: AuthLimits) -> ClientInfo:
    """User agent and address of the caller, as the rate limits see it (stored with sessions).

    The address is the peer's, or the trusted proxy's hop of `auth_rate_limit_ip_header` when one
    is configured (`AuthLimits.client_ip`): never a hop a client could write itself.
    """
    try:
        ip: str | None = str(ipaddress.ip_address(limits.client_ip(request)))
    except ValueError:
        ip = None
    return ClientInfo(user_agent=request.headers.get("user-agent"), ip=ip)


def path_uuid(value: str, name: str) -> str:
    """A uuid from the path, canonical; GoTrue answers 404 `validation_failed` for anything else."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise errors.AuthError(404, "validation_failed", f"{name} must be an UUID") from None
