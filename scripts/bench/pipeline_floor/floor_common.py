"""What the floor apps share: backstack's W2 statement, the DSN, and the ASGI plumbing around one read.

Every variant answers GET /items?id=<uuid> with the statement's first column (the JSON array text), as
backstack's data API does, so the apps differ only in how the statement reaches PostgreSQL.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Awaitable, Callable
from typing import Any

# Byte for byte what backstack sends for GET /rest/v1/items?id=eq.<uuid>&select=* (issue 18, W2).
W2_SQL = (
    "SELECT _q.*, concat_ws(chr(31), current_user, coalesce(current_setting('request.jwt.claims', true), ''), "
    "coalesce(current_setting('request.jwt.claim.role', true), ''), "
    "coalesce(current_setting('request.jwt.claim.sub', true), ''), "
    "current_setting('default_transaction_read_only'), current_setting('default_transaction_isolation'), "
    "current_setting('statement_timeout'), current_setting('search_path')) "
    'FROM (SELECT coalesce(json_agg(_r), \'[]\')::text, count(*), NULL FROM (SELECT t0."id" AS "id", '
    't0."title" AS "title", t0."body" AS "body", t0."price" AS "price", t0."qty" AS "qty", '
    't0."tags" AS "tags", t0."owner" AS "owner", t0."created_at" AS "created_at", '
    't0."updated_at" AS "updated_at" FROM "public"."items" AS t0 WHERE t0."id" = $1::text::uuid '
    "LIMIT 1000) AS _r) AS _q"
)
DATABASE = os.environ.get("FLOOR_DATABASE", "bs_pipe_exp")
HOST = os.environ.get("FLOOR_PG_HOST", "127.0.0.1")
PORT = int(os.environ.get("FLOOR_PG_PORT", "5432"))
USER = os.environ.get("FLOOR_PG_USER", "postgres")
DSN = f"postgresql://{USER}@{HOST}:{PORT}/{DATABASE}"
CONNS = int(os.environ.get("FLOOR_CONNS", "10"))  # connections per worker

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Read = Callable[[str], Awaitable[bytes]]  # uuid text -> the statement's first column

_JSON = [(b"content-type", b"application/json")]


def tune_gc() -> None:
    """backstack's worker GC settings (backstack/web/worker.py), so the floor is not cheaper by GC alone."""
    gc.set_threshold(50000, 50, 100)
    gc.freeze()


def make_app(read: Read, startup: Callable[[], Awaitable[None]]) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """A raw ASGI app: lifespan runs `startup`, GET /items?id=<uuid> answers `read(uuid)`."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send, startup)
            return
        query: bytes = scope["query_string"]
        if scope["path"] != "/items" or not query.startswith(b"id="):
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        body = await read(query[3:].decode())
        await send({"type": "http.response.start", "status": 200, "headers": _JSON})
        await send({"type": "http.response.body", "body": body})

    return app


async def _lifespan(receive: Receive, send: Send, startup: Callable[[], Awaitable[None]]) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await startup()
            tune_gc()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
