"""A real HTTP server on loopback for the official clients: uvicorn in a thread over a bound socket.

`loopback_socket()` first, so a test can put the URL into its settings (`site_url`) before it builds
the app; then `with serve_in_thread(app, sock):` runs it until the block ends.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

from backstack.auth import build_auth_app, ensure_schema
from backstack.db.engine import connect

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from backstack.config import Settings


def loopback_socket() -> tuple[socket.socket, str]:
    """A socket bound to a free loopback port, and the base URL it will serve."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


@contextlib.contextmanager
def serve_in_thread(app: ASGIApp, sock: socket.socket) -> Iterator[None]:
    """Serve `app` on `sock` (lifespan on) until the block ends; fails if it does not start in 20 s."""
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def auth_only_app(settings: Settings) -> Starlette:
    """Just the auth API at /auth/v1 over its own engine (no gateway middleware, no limiter)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        engine = connect(settings)
        await engine.start()
        await ensure_schema(engine)
        app.router.routes.append(Mount("/auth/v1", build_auth_app(engine, settings)))
        try:
            yield
        finally:
            await engine.close()

    return Starlette(lifespan=lifespan)
