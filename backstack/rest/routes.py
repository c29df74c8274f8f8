"""HTTP in/out for the data API (/rest/v1): parse the request, call `rest.service`, send the bytes.

A pure ASGI app rather than a Starlette router: the data API is the hot path, and everything it needs
(path, query string, a few headers, the body) is cheaper to read straight from the scope. Parsed query
strings and headers are cached, so a repeated request shape is parsed once.

A write's `rows_changed` events (`rest.changes`) are fired after its transaction committed and
before its response is sent, so a client that has its answer knows the handlers have run.
"""

from __future__ import annotations

import csv
import io
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from backstack.core import json
from backstack.core.caller import ANON, Caller
from backstack.core.errors import BadRequest, MethodNotAllowed, NotAcceptable, NotFound
from backstack.core.version import __version__
from backstack.rest import service
from backstack.rest.changes import fire
from backstack.rest.openapi import build_openapi
from backstack.rest.plan.resolve import lookup_table
from backstack.rest.request.parse import (
    parse_accept,
    parse_columns,
    parse_on_conflict,
    parse_prefer,
    parse_range,
    parse_read,
)
from backstack.rest.rpc.service import RpcRequest, RpcService
from backstack.rest.sql.statement_cache import Shape, StatementCache, shape_of
from backstack.web.errors import request_id_of
from backstack.web.responses import send_response

if TYPE_CHECKING:
    from starlette.types import Message, Receive, Scope, Send

    from backstack.config import Settings
    from backstack.core.events import RowsChanged
    from backstack.core.hooks import Hook
    from backstack.core.ports import PolicyProvider
    from backstack.core.rpc import RpcFunction
    from backstack.db.engine import Engine
    from backstack.rest.request.query import Accept, Preferences, ReadQuery

_READ_METHODS = frozenset({"GET", "HEAD"})
_TABLE_ALLOW = "OPTIONS,GET,HEAD,POST,PUT,PATCH,DELETE"  # PUT (single-row upsert) only with a primary key
_ROOT_ALLOW = "OPTIONS,GET,HEAD"
_JSON = b"application/json; charset=utf-8"
_CONTENT_TYPES = {
    "json": _JSON,
    "object": b"application/vnd.pgrst.object+json; charset=utf-8",
    "csv": b"text/csv; charset=utf-8",
    "openapi": b"application/openapi+json; charset=utf-8",
}


class RestApp:
    """The ASGI app mounted at /rest/v1, over its two services (`build_rest_app` builds them)."""

    def __init__(self, settings: Settings, data: service.DataService, rpc: RpcService) -> None:
        self.settings = settings
        self.data = data  # tables: reads and writes
        self.rpc = rpc  # /rpc/<fn>: database and `@rpc` functions
        self.engine = data.engine
        self.rows_changed = data.rows_changed  # fired after every committed write (None: nobody listens)
        self._exposed = tuple(settings.exposed_schemas)
        self._openapi: tuple[str, bytes] | None = None
        self._parse_query = lru_cache(maxsize=4096)(self._parse_query_uncached)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = _headers(scope)
        method: str = scope["method"]
        self._check_profile(method, headers)
        path = _route_path(scope).strip("/")  # the server decoded it once; decoding again would alias names
        if not path:
            await self._root(method, headers, send)
            return
        if "/" in path:
            if path.startswith("rpc/"):
                await self._rpc(method, path[4:], _caller(scope), scope, headers, receive, send)
                return
            raise NotFound("PGRST125", "Invalid path specified in request URL")
        if method == "OPTIONS":  # not a CORS preflight (CORSMiddleware answers those): PostgREST's Allow
            table = lookup_table(await self.engine.schema(), path)
            await _send_allow(send, _TABLE_ALLOW if table.primary_key else _TABLE_ALLOW.replace("PUT,", ""))
            return
        accept = _accept(_first(headers, "accept"))
        result = await self._dispatch(method, path, _caller(scope), scope, headers, accept, receive)
        if result.changes and self.rows_changed is not None:
            await fire(self.rows_changed, result.changes, request_id_of(scope))
        await _send(send, result, head=method == "HEAD", content_type=_CONTENT_TYPES[accept.media])

    async def _dispatch(
        self,
        method: str,
        table: str,
        caller: Caller,
        scope: Scope,
        headers: dict[str, list[str]],
        accept: Accept,
        receive: Receive,
    ) -> service.Result:
        query_string: bytes = scope.get("query_string", b"")
        query, columns, on_conflict, shape = self._parse_query(query_string)
        prefer = _prefer(tuple(headers.get("prefer", ())))
        if method in _READ_METHODS:
            range_ = parse_range(_first(headers, "range"), _first(headers, "range-unit"))
            read = service.ReadRequest(table, query, prefer, accept, range_=range_, head=method == "HEAD", shape=shape)
            return await self.data.read(read, caller)
        if method == "DELETE":
            return await self.data.delete(service.WriteRequest(table, query, prefer, accept, shape=shape), caller)
        if method not in ("POST", "PATCH", "PUT"):
            raise MethodNotAllowed("PGRST117", f"Unsupported HTTP method: {method}")
        body = await _json_body(receive, _first(headers, "content-type"))
        if method == "POST":
            write = service.WriteRequest(table, query, prefer, accept, body, columns, on_conflict, shape)
            return await self.data.insert(write, caller)
        write = service.WriteRequest(table, query, prefer, accept, body, shape=shape)
        return await (self.data.update if method == "PATCH" else self.data.put)(write, caller)

    def _parse_query_uncached(
        self, query_string: bytes
    ) -> tuple[ReadQuery, tuple[str, ...] | None, tuple[str, ...] | None, Shape]:
        """The query string parsed, with its shape (`statement_cache.shape_of`): a repeated query
        string costs neither again."""
        pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True, encoding="utf-8")
        columns = on_conflict = None
        rest: list[tuple[str, str]] = []
        for key, value in pairs:
            if key == "columns":
                columns = parse_columns(value)
            elif key == "on_conflict":
                on_conflict = parse_on_conflict(value)
            elif key != "apikey":
                rest.append((key, value))
        query = parse_read(rest, max_terms=self.settings.max_filter_terms, max_depth=self.settings.max_nesting)
        return query, columns, on_conflict, shape_of(query, self.engine.dialect)

    async def _rpc(
        self,
        method: str,
        name: str,
        caller: Caller,
        scope: Scope,
        headers: dict[str, list[str]],
        receive: Receive,
        send: Send,
    ) -> None:
        """`/rpc/<name>`: read the request, let `rest.rpc` call the function, send its answer."""
        rpc = self.rpc
        if method == "OPTIONS":
            await _send_allow(send, await rpc.allow(name))
            return
        accept = _accept(_first(headers, "accept"))
        body = await _json_body(receive, _first(headers, "content-type")) if method == "POST" else b""
        query_string: bytes = scope.get("query_string", b"")
        pairs = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True, encoding="utf-8")
        range_ = parse_range(_first(headers, "range"), _first(headers, "range-unit"))
        request = RpcRequest(method, name, pairs, body, _prefer(tuple(headers.get("prefer", ()))), accept, range_)
        result = await rpc.call(caller, request)
        media = accept.media if accept.media in ("object", "csv") else "json"
        await _send(send, result, head=method == "HEAD", content_type=_CONTENT_TYPES[media])

    def _check_profile(self, method: str, headers: dict[str, list[str]]) -> None:
        name = "accept-profile" if method in _READ_METHODS else "content-profile"
        profile = _first(headers, name)
        if profile is not None and profile not in self._exposed:
            raise NotAcceptable(
                "PGRST106",
                f"Invalid schema: {profile}",
                hint=f"Only the following schemas are exposed: {', '.join(self._exposed)}",
            )

    async def _root(self, method: str, headers: dict[str, list[str]], send: Send) -> None:
        if method == "OPTIONS":
            await _send_allow(send, _ROOT_ALLOW)
            return
        if method not in _READ_METHODS:
            raise MethodNotAllowed("PGRST117", f"Unsupported HTTP method: {method}")
        if not self.settings.openapi:
            raise NotFound("PGRST126", "Root endpoint metadata is disabled")
        schema = await self.engine.schema()
        if self._openapi is None or self._openapi[0] != schema.fingerprint:
            doc = build_openapi(schema, version=__version__)
            self._openapi = (schema.fingerprint, json.dumps(doc))
        body = self._openapi[1]
        result = service.Result(body=body, status=200, content_range=None, headers={})
        await _send(send, result, head=method == "HEAD", content_type=_CONTENT_TYPES["openapi"])


def _route_path(scope: Scope) -> str:
    """The path below the mount point (`/todos` for `/rest/v1/todos`)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _caller(scope: Scope) -> Caller:
    state = scope.get("state")
    caller = state.get("caller") if isinstance(state, dict) else None
    return caller if isinstance(caller, Caller) else ANON


def _headers(scope: Scope) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value in scope["headers"]:
        out.setdefault(name.decode("latin-1"), []).append(value.decode("latin-1"))
    return out


def _first(headers: dict[str, list[str]], name: str) -> str | None:
    values = headers.get(name)
    return values[0] if values else None


@lru_cache(maxsize=256)
def _prefer(values: tuple[str, ...]) -> Preferences:
    return parse_prefer(list(values))


@lru_cache(maxsize=256)
def _accept(value: str | None) -> Accept:
    return parse_accept(value)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message: Message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequest("PGRST102", "Empty or invalid json", details="the client disconnected")
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _json_body(receive: Receive, content_type: str | None) -> bytes:
    """The request body as JSON bytes; CSV and form bodies are converted, other types refused."""
    body = await _read_body(receive)
    media = (content_type or "application/json").split(";", 1)[0].strip().lower()
    if media in ("application/json", "application/vnd.pgrst.object+json", "*/*", ""):
        return body
    if media == "text/csv":
        return _csv_to_json(body)
    if media == "application/x-www-form-urlencoded":
        return json.dumps(dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)))
    raise BadRequest("PGRST102", f"Content-Type not acceptable: {media}")  # as PostgREST: an invalid body


def _csv_to_json(body: bytes) -> bytes:
    try:
        rows: list[dict[str, Any]] = list(csv.DictReader(io.StringIO(body.decode("utf-8"))))
    except (UnicodeDecodeError, csv.Error) as error:
        raise BadRequest("PGRST102", "Empty or invalid json", details=f"invalid CSV body: {error}") from None
    # DictReader files surplus fields under None and fills missing ones with None: both are ragged rows
    if any(None in row or None in row.values() for row in rows):
        raise BadRequest("PGRST102", "All lines must have same number of fields")
    return json.dumps([{k: (None if v == "NULL" else v) for k, v in row.items()} for row in rows])


async def _send(send: Send, result: service.Result, *, head: bool, content_type: bytes) -> None:
    raw: list[tuple[bytes, bytes]] = []
    body = result.body
    if body is not None or head:
        raw.append((b"content-type", content_type))  # HEAD: the headers GET would send
    if result.content_range is not None:
        raw.append((b"content-range", result.content_range.encode()))
    for name, value in result.headers.items():
        raw.append((name.lower().encode("latin-1"), value.encode("latin-1")))
    payload = b"" if head or body is None else body
    raw.append((b"content-length", str(len(body or b"") if head else len(payload)).encode()))
    await send_response(send, result.status, raw, payload)


async def _send_allow(send: Send, allow: str) -> None:
    await send_response(send, 200, [(b"allow", allow.encode()), (b"content-length", b"0")], b"")


def build_rest_app(
    engine: Engine,
    settings: Settings,
    *,
    policies: PolicyProvider | None = None,
    rows_changed: Hook[RowsChanged] | None = None,
    functions: dict[str, RpcFunction] | None = None,
) -> RestApp:
    """The ASGI app mounted at /rest/v1, its services built once: `policies` enforces RLS in SQL where
    the engine does not; `rows_changed` hears of every committed write (the app's hook); `functions`,
    the project's `@rpc` Python functions, are served at /rpc/<name> beside the database's own.
    Both services share one statement cache."""
    statements = StatementCache(4096)
    data = service.DataService(
        engine, max_rows=settings.max_rows, policies=policies, statements=statements, rows_changed=rows_changed
    )
    rpc = RpcService(
        engine,
        functions or {},
        policies,
        statements,
        settings.max_rows,
        settings.max_filter_terms,
        settings.max_nesting,
    )
    return RestApp(settings, data, rpc)
