"""The one error tree every service raises; `web/errors.py` renders it in the wire shape of the API called.

    ApiError(status, code, message, details, hint)
     +-- BadRequest            400
     +-- Unauthorized          401
     +-- Forbidden             403
     +-- NotFound              404
     +-- MethodNotAllowed      405
     +-- NotAcceptable         406
     +-- RequestTimeout        408
     +-- Conflict              409
     +-- PayloadTooLarge       413
     +-- UriTooLong            414
     +-- RangeNotSatisfiable   416
     +-- HeadersTooLarge       431
     +-- TooManyRequests       429
     +-- Unavailable           503

A class carries its default status; any instance may override it (a database error whose SQLSTATE
maps to another status keeps its class for readability but sets `status`).
"""

from __future__ import annotations

from typing import Any, ClassVar


class ApiError(Exception):
    """An error the client caused or must be told about; never carries internals."""

    default_status: ClassVar[int] = 500

    def __init__(
        self,
        code: str,
        message: str,
        details: Any = None,
        hint: str | None = None,
        *,
        status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status if status is not None else self.default_status
        self.code = code
        self.message = message
        self.details = details
        self.hint = hint
        self.headers = headers or {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status}, {self.code!r}, {self.message!r})"


class BadRequest(ApiError):
    default_status = 400


class Unauthorized(ApiError):
    default_status = 401


class Forbidden(ApiError):
    default_status = 403


class NotFound(ApiError):
    default_status = 404


class MethodNotAllowed(ApiError):
    default_status = 405


class NotAcceptable(ApiError):
    default_status = 406


class RequestTimeout(ApiError):
    default_status = 408


class Conflict(ApiError):
    default_status = 409


class PayloadTooLarge(ApiError):
    default_status = 413


class UriTooLong(ApiError):
    default_status = 414


class RangeNotSatisfiable(ApiError):
    default_status = 416


class HeadersTooLarge(ApiError):
    default_status = 431


class TooManyRequests(ApiError):
    default_status = 429


class Unavailable(ApiError):
    default_status = 503


class DatabaseError(ApiError):
    """A database error translated at the `db` boundary: `code` is a SQLSTATE (23505, 22P02...)."""

    default_status = 400


# SQLSTATE -> HTTP status, as PostgREST maps them (contract/rest.md 2.3).
_SQLSTATE_STATUS: dict[str, int] = {
    "23505": 409,
    "23503": 409,
    "23502": 400,
    "23514": 400,
    "22P02": 400,
    "42P01": 404,
    "42883": 404,
    "42703": 400,
    "25006": 405,
    "57014": 500,
    "40001": 500,
    "P0001": 400,
}


def status_for_sqlstate(sqlstate: str, *, anonymous: bool = True) -> int:
    """HTTP status PostgREST gives a database error with this SQLSTATE."""
    if sqlstate == "42501":
        return 401 if anonymous else 403
    if sqlstate.startswith("PT") and sqlstate[2:].isdigit():
        return int(sqlstate[2:])
    if sqlstate.startswith(("08", "53")):
        return 503
    return _SQLSTATE_STATUS.get(sqlstate, 400)
