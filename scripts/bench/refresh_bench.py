"""Token refresh throughput: sign in N sessions, then wrk chains refresh tokens (refresh.lua).

Prints one JSON line {"rps", "p50_ms", "p99_ms", "non2xx"}; usage: refresh_bench.py BASE ANON_KEY.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from pathlib import Path

import wrk_report  # scripts/bench/, beside this script

EMAIL, PASSWORD = "refresh-bench@example.com", "RefreshBench123!"
SESSIONS, CONC, THREADS = 128, 64, 2


def post(url: str, key: str, body: dict[str, str]) -> dict[str, object]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST", headers={"apikey": key, "Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]
    except urllib.error.HTTPError as error:
        return {"error": error.code}


def main() -> None:
    base, key = sys.argv[1], sys.argv[2]
    if urllib.parse.urlsplit(base).hostname not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"refusing a non-loopback target: {base}")
    duration = os.environ.get("BENCH_DURATION", "10")
    post(f"{base}/auth/v1/signup", key, {"email": EMAIL, "password": PASSWORD})
    with cf.ThreadPoolExecutor(8) as pool:
        sessions = list(
            pool.map(
                lambda _: post(
                    f"{base}/auth/v1/token?grant_type=password", key, {"email": EMAIL, "password": PASSWORD}
                ),
                range(SESSIONS),
            )
        )
    tokens = [str(s["refresh_token"]) for s in sessions if "refresh_token" in s]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as out:
        out.write("\n".join(tokens) + "\n")
    env = {**os.environ, "BENCH_TOKENS": out.name, "BENCH_APIKEY": key, "BENCH_THREADS": str(THREADS)}
    script = Path(__file__).with_name("refresh.lua")
    done = subprocess.run(
        ["wrk", f"-t{THREADS}", f"-c{CONC}", f"-d{duration}s", "--latency", "-s", str(script), base],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    report = wrk_report.parse(done.stdout)
    print(json.dumps({"sessions": len(tokens), **report, "rps": round(report["rps"])}))


if __name__ == "__main__":
    main()
