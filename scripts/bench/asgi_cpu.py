"""CPU time per request of the whole app, in process, without a server or a client (issue 18).

An HTTP client in the same process (httpx's ASGITransport) costs more CPU than the app itself, so
this calls the ASGI app directly: a prebuilt scope, a `receive` that hands over an empty body and a
`send` that keeps nothing, N times in a loop. The project is made as a user would (`backstack init`
into a temporary folder, one migration: items(id int primary key, name text) with a few rows, on
SQLite); the request is `GET /rest/v1/items?id=eq.5` with the anon key.

Prints one JSON line {"requests", "rounds", "us_per_request" (process CPU time, median of the rounds),
"min_us_per_request", "wall_us_per_request", "cpu_rounds"}: BENCH_ROUNDS rounds (5) of BENCH_REQUESTS
requests (5000) each, after a warm-up. To compare with another checkout, run it with that checkout
first on PYTHONPATH.
Usage: asgi_cpu.py [PATH_AND_QUERY]
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from backstack.app import create_app
from backstack.cli.init import write_project
from backstack.cli.keys import keys_for
from backstack.config import load_settings
from backstack.db.migrate import apply_pending, new_migration

MIGRATION = """
create table items (id int primary key, name text);
insert into items (id, name) values (1, 'one'), (2, 'two'), (3, 'three'), (4, 'four'), (5, 'five'),
  (6, 'six'), (7, 'seven'), (8, 'eight');
"""


async def measure(project: Path, target: str, requests: int, rounds: int) -> dict[str, Any]:
    write_project(project)
    new_migration(project, "items").open("a", encoding="utf-8").write(MIGRATION)
    settings = load_settings(project, database_url=None)
    app = create_app(settings, access_log=lambda _line: None)
    anon = keys_for(settings).anon.encode()
    path, _, query = target.partition("?")
    headers = [(b"host", b"bench"), (b"apikey", anon), (b"accept", b"*/*"), (b"user-agent", b"bench")]
    statuses: list[int] = []
    request: dict[str, Any] = {"type": "http.request", "body": b"", "more_body": False}

    async def receive() -> dict[str, Any]:
        return request

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def once() -> None:
        scope = {
            "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"}, "http_version": "1.1",
            "method": "GET", "scheme": "http", "path": path, "raw_path": path.encode(),
            "query_string": query.encode(), "root_path": "", "headers": list(headers),
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {},
        }
        await app(scope, receive, send)

    async with app.lifespan():
        await apply_pending(app.engine, project)
        await app.engine.reload_schema()
        for _ in range(200):  # warm-up: statement cache, token cache, first-call imports
            await once()
        if set(statuses) != {200}:
            raise SystemExit(f"warm-up answered {sorted(set(statuses))}, expected 200")
        cpu, wall = [], []
        for _ in range(rounds):
            statuses.clear()
            c0, w0 = time.process_time(), time.perf_counter()
            for _ in range(requests):
                await once()
            cpu.append((time.process_time() - c0) / requests * 1e6)
            wall.append((time.perf_counter() - w0) / requests * 1e6)
            assert set(statuses) == {200}
    return {"requests": requests, "rounds": rounds, "us_per_request": round(statistics.median(cpu), 1),
            "min_us_per_request": round(min(cpu), 1), "wall_us_per_request": round(statistics.median(wall), 1),
            "cpu_rounds": [round(c, 1) for c in cpu]}


def main() -> None:
    target = sys.argv[1] if len(sys.argv) > 1 else "/rest/v1/items?id=eq.5"
    requests = int(os.environ.get("BENCH_REQUESTS", "5000"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "5"))
    with tempfile.TemporaryDirectory() as folder:
        print(json.dumps(asyncio.run(measure(Path(folder) / "project", target, requests, rounds))))


if __name__ == "__main__":
    main()
