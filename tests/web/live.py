"""`backstack serve` (granian, as users run it) on a fresh SQLite project, optionally with a public/ site.

Static hosting and the landing page touch no database, so one engine is enough here. `raw_get` sends a
request target byte for byte (httpx would normalise `..` and percent-encoding before sending).
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from tests.compat.conftest import LiveServer, _run, start_server, stop_server

# A single-page app: its hashed script renders the client-side route it was loaded at.
SPA_INDEX = """<!doctype html>
<html><head><meta charset="utf-8"><title>SPA</title><link rel="stylesheet" href="/style.css"></head>
<body><div id="app">loading</div><script src="/assets/app.3f9a1c2b.js"></script></body></html>
"""
SPA_SCRIPT = "document.getElementById('app').textContent = 'route:' + location.pathname;\n"


@contextlib.contextmanager
def serve_project(project: Path, files: dict[str, str] | None = None) -> Iterator[LiveServer]:
    """Init `project`, write `files` (paths relative to it), serve it, stop it afterwards."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKSTACK_") and k != "DATABASE_URL"}
    _run(["init", str(project)], env)
    for name, text in (files or {}).items():
        path = project / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    server, proc = start_server(project, env, "sqlite")
    try:
        yield server
    finally:
        stop_server(proc)


def raw_get(url: str, target: str, accept: str = "*/*") -> tuple[int, bytes]:
    """Status and body of `GET <target>` sent exactly as given to the server at `url`."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            f"GET {target} HTTP/1.1\r\nHost: {parts.netloc}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n".encode(
                "latin-1"
            )
        )
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body
