"""PocketBase's side of W6's policy step: `items_rule`, items' fields with a view/list rule PocketBase must
evaluate for every subscriber and event (`owner = @request.auth.id || price > 0`), the nearest thing to
backstack's select policy that ../shared/bench/pb_realtime_bench.py can run unchanged (its subscribers are
anonymous and its rows have price 1, so every event still goes to every subscriber).
Usage: pb_rule_collection.py BASE [ADMIN_EMAIL ADMIN_PASSWORD]
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from typing import Any

RULE = "owner = @request.auth.id || price > 0"


def call(method: str, url: str, body: Any = None, token: str = "") -> tuple[int, Any]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json", **({"Authorization": token} if token else {})}
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def main() -> None:
    base = sys.argv[1].rstrip("/")
    email, password = (sys.argv[2], sys.argv[3]) if len(sys.argv) > 3 else ("admin@example.com", "AdminPass123!")
    auth = f"{base}/api/collections/_superusers/auth-with-password"
    status, session = call("POST", auth, {"identity": email, "password": password})
    if status != 200:
        sys.exit(f"superuser login failed: {status} {session}")
    token = session["token"]
    if call("GET", f"{base}/api/collections/items_rule", token=token)[0] == 200:
        return
    status, items = call("GET", f"{base}/api/collections/items", token=token)
    if status != 200:
        sys.exit(f"the harness's items collection is missing: {status} {items}")
    fields = [{k: v for k, v in f.items() if k != "id"} for f in items["fields"] if f["name"] != "id"]
    collection = {"name": "items_rule", "type": "base", "listRule": RULE, "viewRule": RULE,
                  "createRule": items["createRule"], "fields": fields}  # fmt: skip
    status, answer = call("POST", f"{base}/api/collections", collection, token=token)
    if status != 200:
        sys.exit(f"creating items_rule failed: {status} {answer}")


if __name__ == "__main__":
    main()
