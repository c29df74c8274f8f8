"""Seed `items` for the shared harness the way PostgREST accepts a bulk insert (the harness's `--seed-cmd`).

The harness's own PostgREST seeder posts chunks whose objects have different keys (every other row
has `owner`); PostgREST refuses that with 400 PGRST102 "All object keys must match", and so does
backstack since issue 18. This posts the same rows (the harness's `rand_item` with its seed 42, the
harness user owning every other row) with `columns=` and `Prefer: missing=default`, which PostgREST
documents for exactly this case.

Usage: seed_items.py HARNESS BASE_URL ROWS   (ANON_KEY and SERVICE_KEY in the environment)
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import sys
import urllib.request

COLUMNS = "title,body,price,qty,tags,owner"
USER = {"email": "user1@example.com", "password": "UserPass123!"}  # the harness's defaults


def _harness(path: str):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("anchor_bench", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _post(url: str, body: object, headers: dict[str, str]) -> tuple[int, object]:
    request = urllib.request.Request(url, json.dumps(body).encode(), {**headers, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        text = response.read()
        return response.status, json.loads(text) if text else None


def main() -> None:
    harness_path, base, rows_wanted = sys.argv[1], sys.argv[2].rstrip("/"), int(sys.argv[3])
    anon, service = os.environ["ANON_KEY"], os.environ["SERVICE_KEY"]
    harness = _harness(harness_path)
    _, session = _post(f"{base}/auth/v1/token?grant_type=password", USER, {"apikey": anon})
    user_id = session["user"]["id"]  # type: ignore[index]
    rng = random.Random(42)
    rows = [harness.rand_item(rng) for _ in range(rows_wanted)]
    for row in rows[::2]:
        row["owner"] = user_id
    headers = {"apikey": service, "Authorization": f"Bearer {service}", "Prefer": "return=minimal, missing=default"}
    for start in range(0, len(rows), 500):
        status, _ = _post(f"{base}/rest/v1/items?columns={COLUMNS}", rows[start : start + 500], headers)
        assert status in (200, 201, 204), status
    print(f"seeded {len(rows)} rows with columns= (seed_items.py)", file=sys.stderr)


if __name__ == "__main__":
    main()
