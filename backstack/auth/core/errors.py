"""GoTrue's error codes as factories, and its two wire shapes.

Which shape a client gets depends on its `X-Supabase-Api-Version` request header (contract 3.4):

- `2024-01-01` or later (what supabase-py/js send): `{"code": "<error_code>", "message": "..."}`,
  the header echoed back, plus `x-sb-error-code`;
- absent or older: `{"code": <status>, "error_code": "...", "msg": "...", "error_id"?: "..."}`.

Weak passwords add `"weak_password": {"reasons": [...]}`; a few `/token` failures use the OAuth2
shape `{"error": ..., "error_description": ...}` in both versions, as GoTrue does.

`render` builds these shapes from plain values (core/ knows no HTTP); the platform calls it through
`api/errors.py render_gotrue`, the renderer app.py registers for `/auth/v1` in `web/errors.py`.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from backstack.core import json
from backstack.core.errors import ApiError, DatabaseError

API_VERSION_HEADER = "x-supabase-api-version"
API_VERSION_2024 = "2024-01-01"
_FIRST_VERSION = date(2024, 1, 1)

Headers = list[tuple[bytes, bytes]]


class AuthError(ApiError):
    """An error in GoTrue's vocabulary: `code` is its `error_code`, `status` the HTTP status."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        reasons: list[str] | None = None,
        oauth: bool = False,
    ) -> None:
        super().__init__(code, message, status=status)
        self.reasons = reasons
        self.oauth = oauth


def bad_json(detail: str) -> AuthError:
    return AuthError(400, "bad_json", f"Could not parse request body as JSON: {detail}")


def validation_failed(message: str, status: int = 400) -> AuthError:
    return AuthError(status, "validation_failed", message)


def invalid_credentials() -> AuthError:
    return AuthError(400, "invalid_credentials", "Invalid login credentials")


def email_not_confirmed() -> AuthError:
    return AuthError(400, "email_not_confirmed", "Email not confirmed")


def user_already_exists() -> AuthError:
    return AuthError(422, "user_already_exists", "User already registered")


def weak_password(message: str, reasons: list[str]) -> AuthError:
    return AuthError(422, "weak_password", message, reasons=reasons)


def signup_disabled() -> AuthError:
    return AuthError(422, "signup_disabled", "Signups not allowed for this instance")


def anonymous_provider_disabled() -> AuthError:
    return AuthError(422, "anonymous_provider_disabled", "Anonymous sign-ins are disabled")


def phone_provider_disabled(message: str) -> AuthError:
    return AuthError(422, "phone_provider_disabled", message)


def user_banned(message: str = "User is banned", status: int = 400) -> AuthError:
    return AuthError(status, "user_banned", message)


def no_authorization() -> AuthError:
    return AuthError(401, "no_authorization", "This endpoint requires a valid Bearer token")


def bad_jwt(detail: str) -> AuthError:
    return AuthError(403, "bad_jwt", f"invalid JWT: unable to parse or verify signature, {detail}")


def bad_claim(message: str) -> AuthError:
    return AuthError(403, "bad_jwt", message)


def user_not_found_for_jwt() -> AuthError:
    return AuthError(403, "user_not_found", "User from sub claim in JWT does not exist")


def session_not_found() -> AuthError:
    return AuthError(403, "session_not_found", "Session from session_id claim in JWT does not exist")


def refresh_token_required() -> AuthError:
    return AuthError(400, "invalid_request", "refresh_token required", oauth=True)


def invalid_refresh_token_format() -> AuthError:
    return validation_failed("Refresh token is not valid")


def refresh_token_not_found() -> AuthError:
    return AuthError(400, "refresh_token_not_found", "Invalid Refresh Token: Refresh Token Not Found")


def refresh_token_already_used() -> AuthError:
    return AuthError(400, "refresh_token_already_used", "Invalid Refresh Token: Already Used")


def refresh_token_not_issued_here() -> AuthError:
    return validation_failed("Invalid Refresh Token: Not Issued By This Server")


def session_expired() -> AuthError:
    return AuthError(400, "session_expired", "Invalid Refresh Token: Session Expired")


def unsupported_grant_type() -> AuthError:
    return AuthError(400, "invalid_credentials", "unsupported_grant_type")


def refresh_conflict() -> AuthError:
    return AuthError(409, "conflict", "Too many concurrent token refresh requests on the same session or refresh token")


def not_found() -> AuthError:
    return AuthError(404, "not_found", "Not Found")


def method_not_allowed() -> AuthError:
    return AuthError(405, "method_not_allowed", "Method Not Allowed")


def as_auth_error(error: ApiError) -> AuthError:
    """An error raised below the service (database, limits) in GoTrue's terms, without internals."""
    if isinstance(error, AuthError):
        return error
    if isinstance(error, DatabaseError) and 400 <= error.status < 500 and error.code.startswith("22"):
        # Data the database refused (e.g. `\u0000` inside JSON metadata on PostgreSQL): the client's fault.
        return AuthError(400, "validation_failed", error.message)
    if isinstance(error, DatabaseError) or error.status >= 500:
        status = 503 if error.status == 503 else 500
        message = error.message if status == 503 else "Database error"
        return AuthError(status, "unexpected_failure", message)
    return AuthError(error.status, "unknown", error.message)


def api_version(header: str | None) -> str | None:
    """The API version to answer in: "2024-01-01" when the request's header names it or later."""
    if not header:
        return None
    try:
        asked = date.fromisoformat(header.strip())
    except ValueError:
        return None
    return API_VERSION_2024 if asked >= _FIRST_VERSION else None


def render(error: ApiError, version: str | None, request_id: str = "") -> tuple[int, Headers, bytes]:
    """Status, headers and body for `error` in the shape the client's API version expects."""
    err = as_auth_error(error)
    headers: Headers = [(b"content-type", b"application/json")]
    if version is not None:
        headers.append((b"x-supabase-api-version", version.encode()))
    if err.oauth:
        return err.status, headers, json.dumps({"error": err.code, "error_description": err.message})
    headers.append((b"x-sb-error-code", err.code.encode("latin-1")))
    body: dict[str, Any]
    if version is not None:
        body = {"code": err.code, "message": err.message}
    else:
        body = {"code": err.status, "error_code": err.code, "msg": err.message}
        if err.status >= 500 and request_id:
            body["error_id"] = request_id
    if err.reasons is not None:
        body["weak_password"] = {"reasons": err.reasons}
    headers.extend((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in err.headers.items())
    return err.status, headers, json.dumps(body)


def email_exists() -> AuthError:
    return AuthError(422, "email_exists", "A user with this email address has already been registered")


def path_uuid(value: str, name: str) -> str:
    """A uuid from the path, canonical; GoTrue answers 404 `validation_failed` for anything else."""
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise AuthError(404, "validation_failed", f"{name} must be an UUID") from None
