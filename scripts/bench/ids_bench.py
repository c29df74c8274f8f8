"""Reads by id over 100,000 distinct ids against the same reads over 1,000 ids (issue 18: statement cache by shape).

A cache keyed by the request's values (the raw query string, say) serves the 1,000 hot ids and misses every
one of the 100,000; keyed by the request's shape, both read at the same rate. `prepare` fills `items_ids`
(items_ids.sql) up to BENCH_IDS_ROWS rows (100,000) with the service key and writes their ids to a file;
`measure` runs wrk (ids.lua: each thread walks its share of the ids from a random start, no id twice in a
run) with the anon key on the first 1,000 ids and on all of them, alternating, BENCH_RUNS times each for
BENCH_DURATION seconds, and checks first that a read returns its row.

`measure` prints one JSON line {"rows", "hot_1000": {"rps", "p50_ms", "p99_ms", "non2xx"},
"distinct": {...}, "ratio"} with the medians (ratio = distinct / hot).
Usage: ids_bench.py prepare|measure BASE ANON_KEY SERVICE_KEY IDS_FILE.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import wrk_report  # scripts/bench/, beside this script

CONC, THREADS, CHUNK, HOT = 64, 2, 1000, 1000
LUA = Path(__file__).with_name("ids.lua")


def call(method: str, url: str, headers: dict[str, str], body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def prepare(base: str, service: str, ids_file: Path, rows: int) -> None:
    """Insert rows until `items_ids` holds `rows`, then write every id to `ids_file`."""
    admin = {"apikey": service, "Authorization": f"Bearer {service}"}
    have = len(read_ids(base, admin))
    for start in range(have, rows, CHUNK):
        chunk = [
            {"title": f"item {i}", "body": "x" * 100, "price": i % 1000, "qty": i % 50, "tags": ["a", "b"]}
            for i in range(start, min(start + CHUNK, rows))
        ]
        status, answer = call("POST", f"{base}/rest/v1/items_ids", {**admin, "Prefer": "return=minimal"}, chunk)
        if status not in (201, 204):
            sys.exit(f"filling items_ids failed: {status} {answer}")
    ids = read_ids(base, admin)
    if len(ids) < rows:
        sys.exit(f"items_ids holds {len(ids)} rows, expected {rows}")
    ids_file.write_text("\n".join(ids) + "\n")


def read_ids(base: str, admin: dict[str, str]) -> list[str]:
    ids: list[str] = []
    while True:
        status, page = call(
            "GET", f"{base}/rest/v1/items_ids?select=id&order=id&limit={CHUNK}&offset={len(ids)}", admin
        )
        if status != 200:
            sys.exit(f"reading items_ids failed: {status} {page}")
        ids += [row["id"] for row in page]
        if len(page) < CHUNK:
            return ids


def wrk(base: str, anon: str, ids_file: Path, duration: str) -> dict[str, float]:
    env = {**os.environ, "BENCH_APIKEY": anon, "BENCH_IDS": str(ids_file), "BENCH_THREADS": str(THREADS)}
    args = ["wrk", f"-t{THREADS}", f"-c{CONC}", f"-d{duration}s", "--latency", "-s", str(LUA), base]
    text = subprocess.run(args, capture_output=True, text=True, check=True, env=env).stdout

    return wrk_report.parse(text)


def measure(base: str, anon: str, ids_file: Path) -> None:
    ids = ids_file.read_text().split()
    status, rows = call("GET", f"{base}/rest/v1/items_ids?select=id&id=eq.{ids[-1]}", {"apikey": anon})
    if status != 200 or rows != [{"id": ids[-1]}]:
        sys.exit(f"a read by id did not return its row: {status} {rows!r:.200}")
    hot = ids_file.with_suffix(".hot")
    hot.write_text("\n".join(ids[:HOT]) + "\n")
    files = {"hot_1000": hot, "distinct": ids_file}
    duration, runs = os.environ.get("BENCH_DURATION", "10"), int(os.environ.get("BENCH_RUNS", "3"))
    wrk(base, anon, hot, "2")  # warm the pools and the statement cache before measuring
    results: dict[str, list[dict[str, float]]] = {name: [] for name in files}
    for _ in range(runs):  # alternate, so drift on a busy machine hits both alike
        for name, path in files.items():
            results[name].append(wrk(base, anon, path, duration))
    summary = {name: wrk_report.median(found) for name, found in results.items()}
    ratio = summary["distinct"]["rps"] / summary["hot_1000"]["rps"]
    print(json.dumps({"rows": len(ids), **summary, "ratio": round(ratio, 3)}))


def main() -> None:
    step, base, anon, service, ids_file = sys.argv[1:6]
    if urllib.parse.urlsplit(base).hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"refusing a non-loopback target: {base}")
    if step == "prepare":
        prepare(base, service, Path(ids_file), int(os.environ.get("BENCH_IDS_ROWS", "100000")))
    else:
        measure(base, anon, Path(ids_file))


if __name__ == "__main__":
    main()
