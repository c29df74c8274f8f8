"""Static hosting of the project's `public/` folder at `/` (PocketBase's pb_public, Firebase Hosting).

Starlette's `StaticFiles` finds and sends the files: it normalises the path, refuses absolute paths
and anything whose real path (symlinks resolved) leaves the folder, sends ETag / Last-Modified and
Range support, and answers 304 to a matching If-None-Match or a later If-Modified-Since. Around it:

- API paths are never served from the folder: a request under a reserved prefix (`/rest/v1`, every
  mounted prefix, the API prefixes not mounted yet) is a JSON 404 here, checked on the raw path and on
  the normalised one (`/x/../rest/v1/f`, `/rest//v1/f`), in any case (`/REST/v1/f`). The router only
  sends here what no mount took.
- Hidden names (a segment starting with `.`, except `.well-known`) are never served: a deployed
  `.env` or `.git/` stays private.
- Cache-Control: `public, max-age=31536000, immutable` for names that carry a content hash
  (`app.3f9a1c2b.js`, Vite's `index-B1x9Qa_z.js`), `no-cache` (revalidate, then 304) for the rest,
  HTML included, so a new deployment is seen at once.
- SPA fallback: a GET/HEAD for a missing file whose Accept names text/html gets `index.html` (200),
  so client-side routes load; anything else missing is a JSON 404. Other methods: 405.
- A directory without its trailing slash redirects to it with a relative `Location`.
"""

from __future__ import annotations

import errno
import mimetypes
import os
import re
from typing import TYPE_CHECKING
from urllib.parse import quote

import anyio.to_thread
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.responses import FileResponse, MalformedRangeHeader, RedirectResponse
from starlette.responses import RangeNotSatisfiable as Unsatisfiable
from starlette.staticfiles import NotModifiedResponse, StaticFiles

from backstack.core.errors import MethodNotAllowed, NotFound, RangeNotSatisfiable

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from starlette.responses import Response
    from starlette.types import Receive, Scope, Send

# Linux's PATH_MAX: no file has a longer path. Resolving a path costs an lstat per segment on an ever
# longer path (a 16 KB `/a/a/a/...` took ~75 ms), so a longer request is missing without being resolved.
PATH_MAX = 4096
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

# The 8+ characters before the last extension, after a `.` or `-`: lower-case hex with a digit and a
# letter (webpack, Parcel, esbuild `[hash]`), or exactly 8 URL-safe base64 characters with a digit, a
# capital and a small letter (Vite, Rollup). A miss only costs a revalidation; a false hit would pin
# a changing file for a year, so plain words (`app.settings.js`, `main-v2banner.js`) do not match.
_HEX_HASH = re.compile(r"[.-](?=[0-9a-f]*[0-9])(?=[0-9a-f]*[a-f])[0-9a-f]{8,}\.[A-Za-z0-9]+$")
_B64_HASH = re.compile(r"[.-](?=[\w-]{0,7}[0-9])(?=[\w-]{0,7}[A-Z])(?=[\w-]{0,7}[a-z])[\w-]{8}\.[A-Za-z0-9]+$")

# What the platform's mime tables get wrong or lack on some systems (nosniff makes the type matter).
_TYPES = {
    ".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css", ".html": "text/html",
    ".htm": "text/html", ".json": "application/json", ".map": "application/json", ".wasm": "application/wasm",
    ".webmanifest": "application/manifest+json", ".svg": "image/svg+xml", ".ico": "image/x-icon",
    ".webp": "image/webp", ".avif": "image/avif", ".woff": "font/woff", ".woff2": "font/woff2",
    ".txt": "text/plain", ".xml": "application/xml",
}  # fmt: skip


def is_content_hashed(name: str) -> bool:
    """Whether the file name carries a content hash, so its bytes never change under that name."""
    return bool(_HEX_HASH.search(name) or _B64_HASH.search(name))


def cache_control(name: str) -> str:
    return IMMUTABLE if is_content_hashed(name) else REVALIDATE


def media_type(name: str) -> str:
    suffix = os.path.splitext(name)[1].lower()
    return _TYPES.get(suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"


def under_prefix(path: str, prefixes: Iterable[str]) -> bool:
    """`path` is one of `prefixes` or below one (`/rest/v1`, `/rest/v1/x`; not `/rest/v1x`)."""
    return any(path == p or path.startswith(p + "/") for p in prefixes)


class _FileResponse(FileResponse):
    """Starlette's FileResponse with RFC 9110's Range rules and backstack's error shape: a Range in an
    unknown unit (which MUST be ignored) or an invalid one sends the whole file instead of a text/plain
    400; one past the end is a JSON 416."""

    @classmethod
    def _parse_range_header(cls, http_range: str, file_size: int) -> list[tuple[int, int]]:
        try:
            return super()._parse_range_header(http_range, file_size)
        except MalformedRangeHeader:
            return []  # no ranges: FileResponse sends the whole file
        except Unsatisfiable:
            raise RangeNotSatisfiable("BS416", f"Range not satisfiable: the file has {file_size} bytes",
                                      headers={"Content-Range": f"bytes */{file_size}"}) from None  # fmt: skip


class _Files(StaticFiles):
    """`StaticFiles` in html mode, with this module's content types and Cache-Control."""

    def file_response(
        self, full_path: str | os.PathLike[str], stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        name = os.path.basename(full_path)
        response = _FileResponse(full_path, status_code, stat_result=stat_result, media_type=media_type(name))
        response.headers["cache-control"] = cache_control(name)
        if self.is_not_modified(response.headers, Headers(scope=scope)):
            return NotModifiedResponse(response.headers)
        return response


class PublicSite:
    """ASGI app serving `directory` at `/`, for the router's requests that no API took."""

    def __init__(self, directory: Path, reserved: Iterable[str]) -> None:
        self.directory = directory
        self.reserved = tuple(prefix.casefold() for prefix in reserved)  # matched in any case: see __call__
        self.files = _Files(directory=directory, html=True, check_dir=False)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1000})
            return
        path = scope["path"]
        relative = self.files.get_path(scope)
        # Case-folded: a case-insensitive file system (macOS, Windows) finds public/rest/v1/x for /REST/v1/x.
        normalised = "/" + relative.replace(os.sep, "/")
        if under_prefix(path.casefold(), self.reserved) or under_prefix(normalised.casefold(), self.reserved):
            raise NotFound("BS404", f"No API at {path}", hint="The APIs are under /rest/v1/ and /auth/v1/.")
        if scope["method"] not in ("GET", "HEAD"):  # after the API check: an API path is a 404 for every method
            raise MethodNotAllowed("BS405", f"Unsupported HTTP method: {scope['method']}",
                                   headers={"Allow": "GET, HEAD"})  # fmt: skip
        response = None if _hidden(relative) else await self._lookup(relative, scope)
        if response is None or response.status_code == 404:
            index = await self._index(scope) if _accepts_html(scope) else None
            if index is not None:
                response = index
            elif response is None or not _accepts_html(scope):
                raise NotFound("BS404", f"Not found: {path}", hint="No such file in the public folder.")
            else:  # public/404.html, sent by StaticFiles itself: revalidated like the other pages
                response.headers["cache-control"] = REVALIDATE
        if isinstance(response, RedirectResponse):  # a directory: `dir` -> `dir/`, without trusting Host
            query = scope.get("query_string", b"").decode("latin-1")
            target = "./" + quote(path.rsplit("/", 1)[-1], safe="") + "/"
            response.headers["location"] = target + (f"?{query}" if query else "")
        await response(scope, receive, send)

    async def _lookup(self, relative: str, scope: Scope) -> Response | None:
        if len(relative.encode(errors="surrogatepass")) >= PATH_MAX:
            return None
        try:
            return await self.files.get_response(relative, scope)
        except HTTPException:  # 404, or 401 for an unreadable file: both "not here"
            return None
        except OSError as error:  # a symlink loop, an over-long name
            if error.errno in (errno.ELOOP, errno.ENAMETOOLONG, errno.EACCES, errno.ENOTDIR):
                return None
            raise

    async def _index(self, scope: Scope) -> Response | None:
        """The SPA fallback: `index.html`, when the folder has one."""
        full_path, stat_result = await anyio.to_thread.run_sync(self.files.lookup_path, "index.html")
        if stat_result is None or not os.path.isfile(full_path):
            return None
        return self.files.file_response(full_path, stat_result, scope)


def _hidden(relative: str) -> bool:
    return any(part.startswith(".") and part not in (".", ".well-known") for part in relative.split(os.sep))


def _accepts_html(scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"accept":
            return b"text/html" in value.lower()
    return False
