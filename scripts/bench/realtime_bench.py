"""W6: backstack's postgres_changes fan-out latency, the counterpart of ../shared/bench/pb_realtime_bench.py.

Same phases and the same JSON fields as PocketBase's script, so the two print side by side: N websocket
clients connect to /realtime/v1/websocket (vsn 1.0.0), each joins a channel with a postgres_changes INSERT
binding on public.<table> and waits for the `system` "Subscribed to PostgreSQL" message; then M rows are
inserted at a steady rate through POST /rest/v1/<table> (service key), each titled with a per-run marker,
its sequence number and its send time. Per delivered event, latency = receive time - time the insert was
sent; per row, "fan-out complete" = when the last subscriber had it. Server CPU and RSS are summed over the
whole process tree (`backstack serve` runs several worker processes). A join that fails (an error reply or
a `system` error, e.g. "Unable to subscribe to changes...") is counted and its message reported; no row is
inserted when no client subscribed. Every phase has a timeout, so the script always ends by itself.

`--policy`: subscribers are K signed-in users (`--users`); the table has row-level security with a select
policy `is_public or owner = auth.uid()` (scripts/bench/items_realtime.sql). Public rows go to every
subscriber and are the measured events; every 10th row is private instead, owned alternately by a user
nobody subscribes as and by user 0: user 0's subscribers must get the latter, and any private row that
reaches another subscriber is counted in `leaked_events` (must be 0).

Client CPU is kept low as in PocketBase's script (frames are read as bytes in the transport's callback and
searched for the marker, never JSON-decoded after the join: realtime_socket.py), but all N clients share
this one process and the server's cores, so at high fan-out part of the latency is the client's own:
`client_cpu_pct_during_publish` says how busy it was. `--via broadcast` sends the same rows through the
REST broadcast instead (no database, no change capture): the client's and the socket layer's share alone.
Usage: realtime_bench.py --base http://127.0.0.1:8001 --clients 1000 --records 200 --rate 20 --pid PID
       (ANON_KEY and SERVICE_KEY in the environment, or --anon-key/--service-key) [--policy] [--out res.json]
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import resource
import secrets
import socket
import statistics
import sys
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import realtime_socket  # scripts/bench/, beside this script
import realtime_users
from proc_tree import cpu_seconds, rss_mb

PRIVATE_EVERY = 10  # in --policy runs, every 10th row is private
LEAK_GRACE_S = 1.0  # in --policy runs, how long to listen for leaks once everything expected has come


@dataclass
class Run:
    """What the clients and the inserter share (one process, one event loop)."""

    marker: bytes
    sent: dict[int, float] = field(default_factory=dict)  # seq -> perf_counter at send
    private_owner: dict[int, int] = field(default_factory=dict)  # private seq -> user index (-1: nobody's)
    latencies: list[float] = field(default_factory=list)
    last_rx: dict[int, float] = field(default_factory=dict)
    seen: set[tuple[int, int]] = field(default_factory=set)  # (client, seq): duplicates are not counted twice
    duplicates: int = 0
    private_delivered: int = 0
    leaked: int = 0
    subscribed: int = 0
    owner_subscribed: int = 0  # subscribers signed in as user 0, who owns half the private rows
    failures: list[str] = field(default_factory=list)
    sockets: list[realtime_socket.Subscriber] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)


def loopback(url: str) -> None:
    host = urllib.parse.urlsplit(url).hostname or ""
    for info in socket.getaddrinfo(host, None):
        if not ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback:
            sys.exit(f"refusing non-loopback target {url}")


def pct(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


def on_frame(run: Run, client: int, user: int, data: bytes, now: float) -> None:
    """Count every marked row in one frame (bytes search, no JSON decode)."""
    marker = run.marker
    start = data.find(marker)
    while start >= 0:
        begin = start + len(marker)
        seq = int(data[begin : data.index(b"-", begin)])
        if (client, seq) in run.seen:
            run.duplicates += 1
        else:
            run.seen.add((client, seq))
            count(run, user, seq, now)
        start = data.find(marker, begin)


def count(run: Run, user: int, seq: int, now: float) -> None:
    owner = run.private_owner.get(seq)
    if owner is not None:  # a private row: only its owner's subscribers may have it
        if owner == user:
            run.private_delivered += 1
        else:
            run.leaked += 1
        return
    sent = run.sent.get(seq)
    if sent is not None:
        run.latencies.append(now - sent)
        run.last_rx[seq] = now


async def subscriber(run: Run, a: argparse.Namespace, client: int, user: int, token: str) -> None:
    address = urllib.parse.urlsplit(a.base)
    sub = realtime_socket.Subscriber(a.ws_url, lambda data: on_frame(run, client, user, data, time.perf_counter()))
    topic, table = ("realtime:rt-bench", None) if a.via == "broadcast" else (f"realtime:rt-bench-{client}", a.table)
    try:
        await asyncio.wait_for(
            asyncio.get_running_loop().create_connection(lambda: sub, address.hostname, address.port or 80),
            a.connect_timeout,
        )
        run.sockets.append(sub)
        await asyncio.wait_for(sub.opened, a.connect_timeout)
        why = await asyncio.wait_for(sub.join(topic, table, token), a.connect_timeout)
    except Exception as error:  # any refusal (HTTP status, timeout, reset) is a failure to report
        why = f"{type(error).__name__}: {error}"
    if why is not None:
        fail(run, a, why)
        return
    sub.subscribed = True
    run.subscribed += 1
    run.owner_subscribed += user == 0
    settle(run, a)


def fail(run: Run, a: argparse.Namespace, why: str) -> None:
    run.failures.append(why)
    settle(run, a)


def settle(run: Run, a: argparse.Namespace) -> None:
    """Every client has subscribed or failed: the run may start."""
    if run.subscribed + len(run.failures) == a.clients:
        run.ready.set()


async def heartbeats(run: Run, interval: float) -> None:
    """One Phoenix heartbeat per socket every `interval` (the clients' 25 s; the server closes a socket
    silent for 60 s)."""
    ref = 0
    while True:
        await asyncio.sleep(interval)
        ref += 1
        for sub in run.sockets:
            sub.send({"topic": "phoenix", "event": "heartbeat", "payload": {}, "ref": f"hb{ref}"})


def row(run: Run, a: argparse.Namespace, seq: int, users: list[realtime_users.User]) -> dict[str, Any]:
    title = f"{run.marker.decode()[1:]}{seq}-{time.time():.6f}"
    body: dict[str, Any] = {"title": title, "body": "realtime probe", "price": 1, "qty": 1, "tags": []}
    if a.policy:
        private = seq % PRIVATE_EVERY == PRIVATE_EVERY - 1
        owner = (users[0].id if (seq // PRIVATE_EVERY) % 2 else str(uuid.uuid4())) if private else users[0].id
        body.update(owner=owner, is_public=not private)
        if private:
            run.private_owner[seq] = 0 if owner == users[0].id else -1
    return body


async def publish(run: Run, a: argparse.Namespace, users: list[realtime_users.User]) -> dict[str, Any]:
    """Insert `records` rows at `rate` per second; returns the create errors and latencies."""
    headers = {"apikey": a.service_key, "Authorization": f"Bearer {a.service_key}", "Prefer": "return=minimal"}
    created: list[float] = []
    sends: list[float] = []
    errors: list[str] = []
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=a.base, headers=headers, limits=limits, timeout=30) as http:

        async def create(seq: int) -> None:
            body = row(run, a, seq, users)
            if seq not in run.private_owner:
                run.sent[seq] = time.perf_counter()
            path, payload = request(a, body)
            started = time.perf_counter()
            sends.append(started)
            try:
                answer = await http.post(path, json=payload)
                if answer.status_code not in (200, 201, 202, 204):
                    errors.append(f"{answer.status_code} {answer.text[:200]}")
            except httpx.HTTPError as error:
                errors.append(f"{type(error).__name__}: {error}")
            created.append(time.perf_counter() - started)

        tasks, start = [], time.perf_counter()
        for seq in range(a.records):
            delay = start + seq / a.rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(create(seq)))
        await asyncio.gather(*tasks)
    sending = max(sends) - min(sends) if sends else 0
    return {
        "insert_rate_achieved": round((len(sends) - 1) / sending, 1) if sending else None,
        "create_errors": len(errors),
        "create_error_sample": errors[:3],
        "create_p50_ms": ms(statistics.median(created)) if created else None,
    }


def request(a: argparse.Namespace, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The insert, or with `--via broadcast` the same row sent to every client by REST broadcast: no database
    and no change capture, which tells the client's own share of the latency."""
    if a.via == "broadcast":
        return "/realtime/v1/api/broadcast", {"messages": [{"topic": "rt-bench", "event": "row", "payload": body}]}
    return f"/rest/v1/{a.table}", body


async def sample_rss(pid: int | None, peak: list[float]) -> None:
    while pid:
        peak[0] = max(peak[0], rss_mb(pid) or 0.0)
        await asyncio.sleep(0.5)


def tokens_for(a: argparse.Namespace, users: list[realtime_users.User]) -> list[tuple[int, str]]:
    """(user index, access token) per client: the anon key, or the signed-in users round-robin."""
    if not a.policy:
        return [(-2, a.anon_key)] * a.clients
    return [(i % len(users), users[i % len(users)].token) for i in range(a.clients)]


async def main(a: argparse.Namespace) -> dict[str, Any]:
    loopback(a.base)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    users = await realtime_users.sign_in_all(a.base, a.anon_key, a.users) if a.policy else []
    run = Run(marker=f'"rt{secrets.token_hex(3)}-'.encode())
    res: dict[str, Any] = {
        "clients": a.clients,
        "records": a.records,
        "rate": a.rate,
        "table": a.table,
        "policy": a.policy,
        "rss_before_mb": rss_mb(a.pid),
    }
    cpu_client0, t0 = time.process_time(), time.perf_counter()
    tasks = [
        asyncio.create_task(subscriber(run, a, i, user, token)) for i, (user, token) in enumerate(tokens_for(a, users))
    ]
    beats = asyncio.create_task(heartbeats(run, a.heartbeat))
    try:
        await asyncio.wait_for(run.ready.wait(), a.connect_timeout)
    except TimeoutError:
        run.failures.append(f"timeout: {a.clients - run.subscribed - len(run.failures)} clients not subscribed")
    res.update(
        subscribed=run.subscribed,
        subscribe_failures=len(run.failures),
        subscribe_error_sample=sorted(set(run.failures))[:3],
        connect_all_s=round(time.perf_counter() - t0, 3),
    )
    await asyncio.sleep(0.5)
    res["rss_connected_mb"] = rss_mb(a.pid)
    peak = [res["rss_connected_mb"] or 0.0]
    sampler = asyncio.create_task(sample_rss(a.pid, peak))
    cpu0, w0, cpu_client1 = cpu_seconds(a.pid), time.perf_counter(), time.process_time()
    expected = 0
    if run.subscribed:
        res.update(await publish(run, a, users))
        expected = len(run.sent) * run.subscribed
        await drain(run, a, expected)
    else:
        res.update(create_errors=0, create_p50_ms=None, skipped="no client subscribed: nothing inserted")
    wall = time.perf_counter() - w0
    res["server_cpu_pct_during_publish"] = round(100 * (cpu_seconds(a.pid) - cpu0) / wall, 1) if a.pid else None
    client_cpu = 100 * (time.process_time() - cpu_client1) / wall
    res["client_cpu_pct_during_publish"] = round(client_cpu, 1) if expected else None
    res["client_cpu_s_total"] = round(time.process_time() - cpu_client0, 2)
    lost = [sub for sub in run.sockets if sub.subscribed and (sub.lost or sub.close_code is not None)]
    res["closed_by_server"] = len(lost)  # mid-run: a slow consumer is closed with 1008
    res["close_codes"] = sorted({"no close frame" if sub.close_code is None else str(sub.close_code) for sub in lost})
    res["rss_peak_after_mb"] = rss_mb(a.pid)
    res["rss_peak_sampled_mb"] = round(peak[0], 1) if a.pid else None
    for task in [*tasks, beats, sampler]:
        task.cancel()
    await asyncio.gather(*tasks, beats, sampler, return_exceptions=True)
    for sub in run.sockets:
        sub.close()
    await asyncio.sleep(0.2)  # the close frames go out before the loop ends
    res.update(summary(run, expected, users))
    return res


async def drain(run: Run, a: argparse.Namespace, expected: int) -> None:
    """Wait for every expected event (public rows, and private rows to their owner's subscribers), then,
    in a policy run, a grace period: a leak would come as late as a delivery."""
    deadline = time.perf_counter() + a.drain_timeout
    while time.perf_counter() < deadline and (
        len(run.latencies) < expected or run.private_delivered < private_expected(run)
    ):
        await asyncio.sleep(0.05)
    if run.private_owner:
        await asyncio.sleep(LEAK_GRACE_S)


def private_expected(run: Run) -> int:
    return sum(1 for owner in run.private_owner.values() if owner == 0) * run.owner_subscribed


def summary(run: Run, expected: int, users: list[realtime_users.User]) -> dict[str, Any]:
    latencies = [x * 1000 for x in run.latencies]
    fanout = [(run.last_rx[s] - run.sent[s]) * 1000 for s in run.last_rx]
    result: dict[str, Any] = {
        "expected_events": expected,
        "delivered_events": len(latencies),
        "duplicate_events": run.duplicates,
        "event_p50_ms": round(pct(latencies, 50) or 0, 2) if latencies else None,
        "event_p99_ms": round(pct(latencies, 99) or 0, 2) if latencies else None,
        "event_max_ms": round(max(latencies), 2) if latencies else None,
        "fanout_complete_p50_ms": round(pct(fanout, 50) or 0, 2) if fanout else None,
        "fanout_complete_p99_ms": round(pct(fanout, 99) or 0, 2) if fanout else None,
    }
    if users:
        result.update(
            private_rows=len(run.private_owner),
            private_expected=private_expected(run),
            private_delivered=run.private_delivered,
            leaked_events=run.leaked,
        )
    return result


def arguments() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--base", default="http://127.0.0.1:8001")
    p.add_argument("--table", default=None, help="items_rt, or items_rt_rls with --policy")
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--records", type=int, default=200)
    p.add_argument("--rate", type=float, default=20.0, help="rows inserted per second")
    p.add_argument("--policy", action="store_true", help="signed-in subscribers, a table with a select policy")
    p.add_argument("--users", type=int, default=10, help="signed-in users of --policy (clients share them)")
    p.add_argument("--anon-key", default=os.environ.get("ANON_KEY"))
    p.add_argument("--service-key", default=os.environ.get("SERVICE_KEY"))
    p.add_argument("--pid", type=int, help="the server's root pid (its whole tree is sampled)")
    p.add_argument("--heartbeat", type=float, default=25.0, help="seconds between heartbeats (the clients' 25)")
    p.add_argument("--connect-timeout", type=float, default=60)
    p.add_argument("--drain-timeout", type=float, default=15)
    p.add_argument("--via", choices=["rest", "broadcast"], default="rest", help="broadcast: a check of the client")
    p.add_argument("--step", default="", help="a label recorded in the output")
    p.add_argument("--out", help="append the JSON line to this file")
    a = p.parse_args()
    if a.clients < 1 or a.records < 1 or a.rate <= 0:
        sys.exit("--clients and --records must be at least 1, --rate above 0")
    if not a.anon_key or not a.service_key:
        sys.exit("needs the anon and service keys (ANON_KEY, SERVICE_KEY or --anon-key, --service-key)")
    a.base = a.base.rstrip("/")
    a.table = a.table or ("items_rt_rls" if a.policy else "items_rt")
    a.ws_url = f"{a.base.replace('http', 'ws', 1)}/realtime/v1/websocket?apikey={a.anon_key}&vsn=1.0.0"
    return a


if __name__ == "__main__":
    args = arguments()
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    budget = args.connect_timeout + args.records / args.rate + args.drain_timeout + 120
    result = {"target": "backstack", "step": args.step, **asyncio.run(asyncio.wait_for(main(args), budget))}
    print(json.dumps(result))
    if args.out:
        with open(args.out, "a") as out:
            out.write(json.dumps(result) + "\n")
