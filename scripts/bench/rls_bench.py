"""Policy-protected list vs the same list unprotected (issue 4: within 15%).

`items_rls` (items_rls.sql: RLS on, `auth.uid() = owner` select policy, index on owner) gets a copy of
every row of the bench's `items`, all owned by one signed-in user (`prepare`); then wrk lists
`?select=*&order=created_at.desc&limit=50` on `items` and on `items_rls` with that user's token,
alternating, BENCH_RUNS times each for BENCH_DURATION seconds (`measure`). Before measuring it checks
that both lists return a full page of the same rows and that anon sees none of `items_rls`.

Between the two steps the planner needs statistics on the copied rows, or it takes the owner index
(all 10k rows match) and sorts them: PostgreSQL's autovacuum analyzes within a minute of the copy
(scripts/bench.sh runs ANALYZE rather than wait); on SQLite statistics are backstack's own business.

`measure` prints one JSON line {"rows", "unprotected": {"rps", "p50_ms", "p99_ms", "non2xx"},
"protected": {...}, "ratio"} with the medians.
Usage: rls_bench.py prepare|measure BASE ANON_KEY SERVICE_KEY.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import wrk_report  # scripts/bench/, beside this script

EMAIL, PASSWORD = "rls-bench@example.com", "RlsBench123!"
CONC, THREADS, PAGE, CHUNK = 64, 2, 1000, 500
LIST = "?select=*&order=created_at.desc&limit=50"


def call(method: str, url: str, headers: dict[str, str], body: Any = None) -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json", **headers}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def sign_in(base: str, anon: str) -> dict[str, Any]:
    """The bench user's session (signed up on first use)."""
    login = f"{base}/auth/v1/token?grant_type=password"
    status, session = call("POST", login, {"apikey": anon}, {"email": EMAIL, "password": PASSWORD})
    if status != 200:
        call("POST", f"{base}/auth/v1/signup", {"apikey": anon}, {"email": EMAIL, "password": PASSWORD})
        status, session = call("POST", login, {"apikey": anon}, {"email": EMAIL, "password": PASSWORD})
    if status != 200:
        sys.exit(f"bench user sign-in failed: {status} {session}")
    return dict(session)


def copy_items(base: str, service: str, owner: str) -> None:
    """Replace items_rls with every row of items, owned by `owner`."""
    admin = {"apikey": service, "Authorization": f"Bearer {service}"}
    call("DELETE", f"{base}/rest/v1/items_rls?id=not.is.null", admin)
    offset = 0
    while True:
        status, rows = call("GET", f"{base}/rest/v1/items?select=*&order=id&limit={PAGE}&offset={offset}", admin)
        if status != 200:
            sys.exit(f"reading items failed: {status} {rows}")
        for start in range(0, len(rows), CHUNK):
            chunk = [{**row, "owner": owner} for row in rows[start : start + CHUNK]]
            status, answer = call("POST", f"{base}/rest/v1/items_rls", {**admin, "Prefer": "return=minimal"}, chunk)
            if status not in (201, 204):
                sys.exit(f"copying into items_rls failed: {status} {answer}")
        offset += PAGE
        if len(rows) < PAGE:
            return


def check(base: str, anon: str, user: dict[str, str], owner: str) -> None:
    """Both lists give the user a full page (the user's own rows on items_rls); anon sees nothing of
    items_rls. Rows are compared by timestamp: rows seeded in one batch share `created_at`, and ties
    may come in any order."""
    _, open_rows = call("GET", f"{base}/rest/v1/items{LIST}", user)
    _, own_rows = call("GET", f"{base}/rest/v1/items_rls{LIST}", user)
    stamps = [[r["created_at"] for r in rows] for rows in (open_rows, own_rows)]
    if not open_rows or stamps[0] != stamps[1] or any(r["owner"] != owner for r in own_rows):
        sys.exit("items and items_rls do not list the same rows for the bench user")
    _, anon_rows = call("GET", f"{base}/rest/v1/items_rls{LIST}", {"apikey": anon})
    if anon_rows != []:
        sys.exit(f"the items_rls policy is not enforced: anon read {anon_rows!r:.200}")


def wrk(url: str, headers: dict[str, str], duration: str) -> dict[str, float]:
    args = ["wrk", f"-t{THREADS}", f"-c{CONC}", f"-d{duration}s", "--latency"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    text = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout

    return wrk_report.parse(text)


def count(base: str, service: str) -> int:
    admin = {"apikey": service, "Authorization": f"Bearer {service}", "Prefer": "count=exact"}
    request = urllib.request.Request(f"{base}/rest/v1/items_rls?select=id&limit=1", method="HEAD", headers=admin)
    with urllib.request.urlopen(request, timeout=60) as response:
        return int(response.headers["Content-Range"].rsplit("/", 1)[1])


def main() -> None:
    step, base, anon, service = sys.argv[1:5]
    if urllib.parse.urlsplit(base).hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"refusing a non-loopback target: {base}")
    session = sign_in(base, anon)
    if step == "prepare":
        copy_items(base, service, session["user"]["id"])
        return
    duration, runs = os.environ.get("BENCH_DURATION", "10"), int(os.environ.get("BENCH_RUNS", "3"))
    user = {"apikey": anon, "Authorization": f"Bearer {session['access_token']}"}
    check(base, anon, user, session["user"]["id"])
    urls = {"unprotected": f"{base}/rest/v1/items{LIST}", "protected": f"{base}/rest/v1/items_rls{LIST}"}
    for url in urls.values():  # warm both paths (statement caches, pages) before measuring
        wrk(url, user, "2")
    results: dict[str, list[dict[str, float]]] = {name: [] for name in urls}
    for _ in range(runs):  # alternate, so drift on a busy machine hits both alike
        for name, url in urls.items():
            results[name].append(wrk(url, user, duration))
    summary = {name: wrk_report.median(found) for name, found in results.items()}
    ratio = summary["protected"]["rps"] / summary["unprotected"]["rps"]
    print(json.dumps({"rows": count(base, service), **summary, "ratio": round(ratio, 3)}))


if __name__ == "__main__":
    main()
