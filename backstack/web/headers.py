"""The headers the platform adds: the request id, CORS (preflight answers included), security headers.

Plain functions and constants, used by `web.platform.PlatformMiddleware`, which reads the request
headers once and adds every response header in one pass.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterable

Headers = list[tuple[bytes, bytes]]

REQUEST_ID = b"x-request-id"
_MAX_REQUEST_ID = 200
# Request ids need to be unique, not secret: a Mersenne Twister of our own (seeded from os.urandom,
# again in each forked worker) instead of `os.urandom`, a system call on every request.
_ids = random.Random()
os.register_at_fork(after_in_child=_ids.seed)


def request_id(client_id: bytes | None) -> bytes:
    """The client's id when it is short printable ASCII (it is echoed and logged), else a new one."""
    if (
        client_id is not None
        and 0 < len(client_id) <= _MAX_REQUEST_ID
        and client_id.isascii()
        and client_id.decode("ascii").isprintable()
    ):
        return client_id
    return b"%032x" % _ids.getrandbits(128)


SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
)

# contract/README.md 1.4: what supabase-js sends and must be able to read.
CORS_ALLOW_METHODS = b"GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS"
CORS_ALLOW_HEADERS = (
    b"authorization, apikey, content-type, x-client-info, accept-profile, content-profile, prefer, range, "
    b"range-unit, x-upsert, x-retry-count, x-supabase-api-version, cache-control, x-metadata, x-region, "
    b"traceparent, x-request-id"
)
CORS_EXPOSE_HEADERS = (
    b"Content-Range, Content-Location, Location, Preference-Applied, X-Total-Count, Link, "
    b"X-Supabase-Api-Version, x-sb-error-code, x-relay-error, Content-Disposition, ETag, Proxy-Status, "
    b"X-Request-Id"
)
CORS_MAX_AGE = b"7200"
# Any origin may call the APIs (keys, not cookies, carry identity), as Supabase allows; every response says
# so, with or without `Origin`: a response that does not vary by origin can be cached by a CDN and served
# to browsers.
CORS_RESPONSE_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"access-control-allow-origin", b"*"),
    (b"access-control-expose-headers", CORS_EXPOSE_HEADERS),
)


def preflight_headers(requested: bytes | None) -> Headers:
    """The answer to a CORS preflight (no body), given its `Access-Control-Request-Headers`."""
    # Echoing what the browser asks for allows custom headers too; the fixed list documents the minimum.
    allow = CORS_ALLOW_HEADERS + b", " + requested if requested else CORS_ALLOW_HEADERS
    return [
        (b"access-control-allow-origin", b"*"),
        (b"access-control-allow-methods", CORS_ALLOW_METHODS),
        (b"access-control-allow-headers", allow),
        (b"access-control-max-age", CORS_MAX_AGE),
        (b"allow", CORS_ALLOW_METHODS),
        (b"content-length", b"0"),
    ]


def response_headers(headers: Iterable[tuple[bytes, bytes]], request_id: tuple[bytes, bytes]) -> Headers:
    """The app's `headers`, then the security headers it did not set itself, CORS and the request id."""
    out = list(headers)
    present = {name.lower() for name, _ in out}
    out.extend(h for h in SECURITY_HEADERS if h[0] not in present)
    out.extend(CORS_RESPONSE_HEADERS)
    out.append(request_id)
    return out
