"""CPU per request of W2 (`GET /rest/v1/<table>?id=eq.<id>&select=*`, anon key) in-process, SQLite or PostgreSQL.

No network and no server: the ASGI app is called directly with a fake scope, receive and send, so
what is measured is backstack's own read path (middleware, auth, parse, plan, SQL, JSON). The table
is the benchmark's `items` (uuid ids, items.sql) or, with `--int`, `items(id integer primary key,
name text)`; ROWS rows are inserted and reads pick one of the first 1,000 ids at random.

Usage: inproc_read.py [--int] [--requests N] [--profile cprofile|pyinstrument]
Prints `cpu_us_per_request=...`: time.process_time over N requests, after a warm-up that reads each
id once and a gc.collect(), so the caches are full and no collection of the warm-up's survivors
lands in the timing (one old-generation collection is ~5 us per request of 10,000). Env SORT
orders the cProfile table (default cumulative, e.g. SORT=tottime).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import secrets
import tempfile
import time
from pathlib import Path
from typing import Any

from backstack.app import create_app
from backstack.cli.keys import keys_for
from backstack.config import Settings
from backstack.db.migrate import apply_pending

ROWS = 10_000
INT_SQL = "create table items (id integer primary key, name text);\n"


# The seed statements in each engine's placeholder style: (integer table, uuid table, the first ids).
SEED_SQL = {
    "sqlite": (
        "insert into items (id, name) values (?, ?)",
        "insert into items (title, body, price, qty) values (?, ?, ?, ?)",
        "select id from items order by rowid limit 1000",
    ),
    "postgres": (
        "insert into items (id, name) values ($1, $2)",
        "insert into items (title, body, price, qty) values ($1, $2, $3, $4)",
        "select id from items order by id limit 1000",
    ),
}


async def _seed(app: Any, integer: bool, engine_name: str) -> list[str]:
    engine = app.engine
    insert_int, insert_uuid, first_ids = SEED_SQL[engine_name]
    async with engine.transaction() as conn:
        for n in range(1, ROWS + 1):
            if integer:
                await conn.execute(insert_int, (n, f"item {n}"))
            else:
                await conn.execute(insert_uuid, (f"item {n}", "body " * 10, n / 10, n))
    rows = await engine.fetch_all(first_ids)
    return [str(row[0]) for row in rows]


def _scope(path: str, query: str, key: str) -> dict[str, Any]:
    headers = [
        (b"host", b"bench"),
        (b"apikey", key.encode()),
        (b"authorization", f"Bearer {key}".encode()),
        (b"accept", b"*/*"),
        (b"user-agent", b"wrk"),
    ]
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }


async def _receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


async def _run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp)
        (project / "migrations").mkdir()
        sql = INT_SQL if args.int else (Path(__file__).with_name("items.sql")).read_text()
        (project / "migrations" / "0001_items.sql").write_text(sql)
        settings = Settings(
            project_dir=project, jwt_secret=secrets.token_urlsafe(32), log_json=False, database_url=args.database_url
        )
        app = create_app(settings, access_log=lambda line: None)
        async with app.lifespan():
            await apply_pending(app.engine, project)
            await app.engine.reload_schema()
            ids = await _seed(app, args.int, "postgres" if args.database_url else "sqlite")
            key = keys_for(settings).anon
            statuses: list[int] = []

            async def send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    statuses.append(message["status"])

            rng = random.Random(1)

            async def once(row_id: str | None = None) -> None:
                scope = _scope("/rest/v1/items", f"id=eq.{row_id or rng.choice(ids)}&select=*", key)
                await app(scope, _receive, send)

            for row_id in ids:  # steady state: every query string parsed and cached before timing
                await once(row_id)
            assert set(statuses) == {200}, set(statuses)
            gc.collect()
            profiler: Any = None
            if args.profile == "cprofile":
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            elif args.profile == "pyinstrument":
                import pyinstrument

                profiler = pyinstrument.Profiler(interval=0.0001)
                profiler.start()
            start = time.process_time()
            for _ in range(args.requests):
                await once()
            spent = time.process_time() - start
            if args.profile == "cprofile":
                import pstats

                profiler.disable()
                pstats.Stats(profiler).sort_stats(os.environ.get("SORT", "cumulative")).print_stats(60)
            elif args.profile == "pyinstrument":
                profiler.stop()
                print(profiler.output_text(unicode=False, color=False))
            assert set(statuses) == {200}, set(statuses)
            print(f"cpu_us_per_request={spent / args.requests * 1e6:.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--int", action="store_true", help="integer ids instead of the benchmark's uuid ids")
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--database-url", help="an empty PostgreSQL database to run on instead of SQLite")
    parser.add_argument("--profile", choices=("cprofile", "pyinstrument"))
    asyncio.run(_run(parser.parse_args()))


if __name__ == "__main__":
    main()
