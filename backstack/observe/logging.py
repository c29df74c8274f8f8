"""Logs: one JSON line per request on stdout (the access log), and JSON records for everything else.

The access log does one `orjson.dumps` and one write per request, nothing more; it never sees
headers, so keys and tokens cannot reach it, and secret-bearing query parameters (`apikey`, `token`,
...) are redacted before the query string is written.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from backstack.core import json

if TYPE_CHECKING:
    from backstack.config import Settings

Write = Callable[[bytes], object]

# Query parameters whose values are secrets: keys and tokens, the one-time codes and hashes of mailed
# links (`token`, `token_hash`), OAuth/PKCE codes (`/callback?code=`) and verifiers. A data-API filter
# on a column with one of these names is redacted too: the log loses a little, never a secret.
SECRET_PARAMS = frozenset({
    "apikey", "jwt", "password", "token", "token_hash", "access_token", "refresh_token", "id_token",
    "provider_token", "provider_refresh_token", "code", "auth_code", "code_verifier",
    "client_secret",
})  # fmt: skip
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def redact_query(query: bytes) -> str:
    """The query string with the values of secret-bearing parameters replaced by `REDACTED`.

    Names are compared as the app reads them (percent- and plus-decoded, any case), so
    `to%6Ben=...` or `CODE=...` are redacted too.
    """
    text = query.decode("latin-1")
    if "=" not in text:
        return text
    parts = []
    for part in text.split("&"):
        name, sep, _ = part.partition("=")
        if sep and unquote_plus(name).strip().lower() in SECRET_PARAMS:
            part = f"{name}=REDACTED"
        parts.append(part)
    return "&".join(parts)


def stdout_writer() -> Write:
    """Unbuffered writes to stdout, so a line is out before the next request (and before a crash)."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # stdout replaced (pytest capture, notebooks)
        return lambda data: (sys.stdout.write(data.decode()), sys.stdout.flush())

    def write(data: bytes) -> object:
        return os.write(fd, data)

    return write


class AccessLog:
    """Writes one line per finished request, JSON (`json_lines`) or short text for a terminal.

    A line's level is "info", "error" for a 5xx; below `level` it is not written (`log_level =
    "warning"` keeps only the 5xx lines, as it keeps only the warnings of the other loggers)."""

    def __init__(self, write: Write, *, json_lines: bool = True, level: str = "info") -> None:
        self._write = write
        self._json = json_lines
        self._info = _LEVELS.get(level.lower(), logging.INFO) <= logging.INFO

    def record(
        self,
        *,
        request_id: str,
        method: str,
        path: str,
        query: bytes,
        status: int,
        duration_ms: float,
        size: int,
    ) -> None:
        if status < 500 and not self._info:
            return
        if not self._json:
            self._write(f"{method} {path} {status} {duration_ms:.1f}ms {size}B [{request_id}]\n".encode())
            return
        line: dict[str, Any] = {
            "ts": datetime.now(UTC),
            "level": "error" if status >= 500 else "info",
            "msg": "request",
            "request_id": request_id,
            "method": method,
            "path": path,
            "status": status,
            "duration_ms": round(duration_ms, 3),
            "bytes": size,
        }
        if query:
            line["query"] = redact_query(query)
        self._write(json.dumps(line) + b"\n")


class JsonFormatter(logging.Formatter):
    """A log record as one JSON line: ts, level, logger, msg, request_id when known, exc when raised."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None)
        if request_id is not None:
            line["request_id"] = request_id
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps_str(line)


def configure_logging(settings: Settings) -> None:
    """Route the process's log records to stdout, as JSON lines when `settings.log_json`.

    Process-wide (the logging module is), so servers and the CLI call it once; `create_app` does not.
    """
    handler = logging.StreamHandler(sys.stdout)
    if settings.log_json:
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("backstack")
    root.handlers[:] = [handler]
    root.setLevel(_LEVELS.get(settings.log_level.lower(), logging.INFO))
    root.propagate = False
