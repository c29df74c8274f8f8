"""Runs the floor variants against each other, alternating, and splits the CPU per request (issue 18).

For each of RUNS rounds, every variant in turn: start its server (granian, 2 workers, or PocketBase), wait
for a 200, warm up 2 s with wrk, then `wrk -t2 -c64 -d<duration>s` with hot_ids.lua (a random id out of the
1,000 hot ones per request) while reading the CPU time (utime+stime, /proc/<pid>/stat) of the server's
process tree and of the PostgreSQL backends connected to the floor database before and after; wrk's own
CPU comes from the rusage of the finished child, and the rest of the machine (other work on a shared box)
from /proc/stat. Stop the server, next variant. Alternating rounds spread slow phases of a shared machine
over all variants instead of one.

Usage: measure.py [--runs 3] [--duration 10] [--out results.jsonl] VARIANT...
       measure.py --table results.jsonl [--table more.jsonl] [VARIANT...]   (a table of earlier results)
VARIANT is asyncpg:<conns>, asyncpgpool:<conns>, pipeline:<conns>, psycopg:<conns> (connections per
worker), backstack (bs_prepare.sh first) or pocketbase (pb_prepare.sh first).
Prints one JSON line per measurement, then a Markdown table of medians.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import statistics
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
GRANIAN = REPO / ".venv" / "bin" / "granian"
DATABASE = os.environ.get("FLOOR_DATABASE", "bs_pipe_exp")
PSQL = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", DATABASE, "-Atc"]
PB_DIR = Path(os.environ.get("FLOOR_PB_DIR", str(Path(tempfile.gettempdir()) / "floor_pb")))
PB_BIN = Path(os.environ.get("FLOOR_PB_BIN", str(REPO / ".bench" / "venv" / "bin" / "pocketbase")))
BS_DIR = Path(os.environ.get("FLOOR_BS_DIR", str(Path(tempfile.gettempdir()) / "floor_bs")))
PORT = 8310
TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Server:
    """A started server: its root pid, the URL prefix of a read by id, the id file wrk picks from, the key."""

    process: subprocess.Popen[bytes]
    prefix: str
    ids: Path
    apikey: str = ""


def start(variant: str) -> Server:
    if variant == "pocketbase":
        cmd = [str(PB_BIN), "serve", f"--http=127.0.0.1:{PORT}", f"--dir={PB_DIR}"]
        process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return Server(process, "/api/collections/items/records/", PB_DIR / "hot_ids.txt")
    if variant == "backstack":
        return start_backstack()
    kind, conns = variant.split(":")
    cmd = [str(GRANIAN), "--interface", "asgi", "--loop", "uvloop", "--workers", "2", "--port", str(PORT)]
    env = {**os.environ, "FLOOR_CONNS": conns}
    log = (Path(tempfile.gettempdir()) / f"floor-{kind}-{conns}.log").open("wb")
    process = subprocess.Popen([*cmd, f"app_{kind}:app"], cwd=HERE, env=env, stdout=log, stderr=log)
    return Server(process, "/items?id=", HERE / "hot_ids.txt")


def start_backstack() -> Server:
    """backstack serve (bs_prepare.sh made the project), as scripts/bench.sh starts it; its pool: 10 per worker."""
    env = {
        **os.environ,
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{DATABASE}",
        "BACKSTACK_LOG_JSON": "false",
        "BACKSTACK_LOG_LEVEL": "warning",
        "BACKSTACK_AUTH_RATE_LIMIT_ENABLED": "false",
        "BACKSTACK_DB_POOL_MIN": "10",  # all 10 per worker open from the start, like the floor apps'
    }
    cmd = [str(REPO / ".venv" / "bin" / "python"), "-m", "backstack", "serve", "--dir", str(BS_DIR)]
    log = (Path(tempfile.gettempdir()) / "floor-backstack.log").open("wb")
    process = subprocess.Popen([*cmd, "--port", str(PORT), "--workers", "2"], cwd=REPO, env=env, stdout=log, stderr=log)
    apikey = (BS_DIR / "anon_key").read_text().strip()
    return Server(process, "/rest/v1/items?select=*&id=eq.", HERE / "hot_ids.txt", apikey)


def wait_ready(server: Server) -> None:
    first = server.ids.read_text().split()[0]
    for _ in range(300):
        try:
            headers = {"apikey": server.apikey, "Authorization": f"Bearer {server.apikey}"} if server.apikey else {}
            request = urllib.request.Request(f"http://127.0.0.1:{PORT}{server.prefix}{first}", headers=headers)
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("server did not answer")


def stop(server: Server) -> None:
    server.process.send_signal(signal.SIGTERM)
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        for pid in proc_tree(server.process.pid):
            os.kill(pid, signal.SIGKILL)
        server.process.wait()


def proc_tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, stack = [], [root]
    while stack:
        pid = stack.pop()
        out.append(pid)
        stack += children.get(pid, [])
    return out


def cpu_seconds(pids: list[int]) -> dict[int, float]:
    """utime+stime of each pid still alive (a thread group's total: every thread of the process)."""
    times = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        times[pid] = (int(fields[11]) + int(fields[12])) / TICK
    return times


def spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU between two readings; a process born in between counts from 0 (all of its time is in the run)."""
    return sum(t - before.get(pid, 0.0) for pid, t in after.items())


def machine_busy_seconds() -> float:
    """CPU time the whole machine spent not idle (all cores), from the first line of /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / TICK


def backends() -> list[int]:
    sql = f"select pid from pg_stat_activity where datname = '{DATABASE}' and pid <> pg_backend_pid()"  # noqa: S608
    out = subprocess.run([*PSQL, sql], capture_output=True, text=True, check=True).stdout
    return [int(line) for line in out.split()]


def wrk(server: Server, duration: int) -> dict[str, Any]:
    env = {**os.environ, "FLOOR_IDS": str(server.ids), "FLOOR_PATH": server.prefix, "FLOOR_APIKEY": server.apikey}
    cmd = ["wrk", "-t2", "-c64", f"-d{duration}s", "--timeout", "10s", "-s", str(HERE / "hot_ids.lua")]
    out = subprocess.run([*cmd, f"http://127.0.0.1:{PORT}"], capture_output=True, text=True, env=env).stdout
    line = next((ln for ln in out.splitlines() if ln.startswith("FLOORJSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk gave no result: {out[-500:]}")
    result: dict[str, Any] = json.loads(line[10:])
    return result


def measure(variant: str, duration: int) -> dict[str, Any]:
    server = start(variant)
    try:
        wait_ready(server)
        wrk(server, 2)  # warm-up: prepared statements, pools, caches
        pg_before = {} if variant == "pocketbase" else cpu_seconds(backends())
        server_before = cpu_seconds(proc_tree(server.process.pid))
        wrk_before, busy0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), machine_busy_seconds(), time.monotonic()
        result = wrk(server, duration)
        busy, wall = machine_busy_seconds() - busy0, time.monotonic() - t0
        wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        server_cpu = spent(server_before, cpu_seconds(proc_tree(server.process.pid)))
        pg = [] if variant == "pocketbase" else backends()
        pg_cpu = spent(pg_before, cpu_seconds(pg))
    finally:
        stop(server)
    n = result["requests"]
    wrk_cpu = (wrk_after.ru_utime + wrk_after.ru_stime) - (wrk_before.ru_utime + wrk_before.ru_stime)
    return {
        "variant": variant,
        "rps": round(n / (result["duration_us"] / 1e6)),
        "requests": n,
        "non2xx": result["non2xx"],
        "errors": result["errors"],
        "p50_ms": result["p50_us"] / 1000,
        "p99_ms": result["p99_us"] / 1000,
        "us_server": round(server_cpu * 1e6 / n, 1),
        "us_postgres": round(pg_cpu * 1e6 / n, 1),
        "us_wrk": round(wrk_cpu * 1e6 / n, 1),
        "backends": len(pg),
        # CPU of everything else on the machine during the run, in cores (2 = both cores busy elsewhere)
        "other_cores": round((busy - server_cpu - pg_cpu - wrk_cpu) / wall, 2),
    }


def table(rows: list[dict[str, Any]], variants: list[str]) -> str:
    lines = [
        "| variant | conns/worker | req/s median (min-max) | µs CPU/request: workers / postgres / wrk | p99 ms"
        " | other load (cores) |",
        "|---|---|---|---|---|---|",
    ]
    for variant in variants:
        mine = [r for r in rows if r["variant"] == variant]
        rps = [r["rps"] for r in mine]

        def med(key: str, mine: list[dict[str, Any]] = mine) -> float:
            return float(statistics.median(r[key] for r in mine))

        kind, _, conns = variant.partition(":")
        lines.append(
            f"| {kind} | {conns or '-'} | {med('rps'):,.0f} ({min(rps):,}-{max(rps):,}) | "
            f"{med('us_server'):.0f} / {med('us_postgres'):.0f} / {med('us_wrk'):.0f} | {med('p99_ms'):.1f} | "
            f"{min(r['other_cores'] for r in mine):.2f}-{max(r['other_cores'] for r in mine):.2f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--out", type=Path, default=HERE / "results.jsonl")
    parser.add_argument("--table", type=Path, action="append", help="only print the table of this results file")
    parser.add_argument("variants", nargs="*")
    args = parser.parse_args()
    if args.table:
        rows = [json.loads(line) for path in args.table for line in path.read_text().splitlines() if line]
        print(table(rows, args.variants or list(dict.fromkeys(r["variant"] for r in rows))))
        return
    rows = []
    with args.out.open("a") as out:
        for _ in range(args.runs):
            for variant in args.variants:
                row = measure(variant, args.duration)
                rows.append(row)
                print(json.dumps(row), flush=True)
                out.write(json.dumps(row) + "\n")
    print(table(rows, args.variants))


if __name__ == "__main__":
    main()
