"""A real `backstack serve` subprocess: banner, the printed examples, SIGTERM drain, workers."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import create_pg_database, drop_pg_database, pg_url

# (in-process `serve` runs of other tests export BACKSTACK_WORKERS and BACKSTACK_PROJECT_DIR)
ENV_DROP = (
    "DATABASE_URL",
    "BACKSTACK_DATABASE_URL",
    "BACKSTACK_PROJECT_DIR",
    "BACKSTACK_JWT_SECRET",
    "PROMETHEUS_MULTIPROC_DIR",
    "BACKSTACK_WORKERS",
)


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    url: str
    port: int
    keys: dict[str, str]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _env(database_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_DROP}
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def _backstack(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "backstack", *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def start(
    project: Path,
    *,
    database_url: str | None = None,
    workers: int | None = 1,
    cores: set[int] | None = None,
    extra_env: dict[str, str] | None = None,
) -> Server:
    """`backstack serve` on a free port; `workers` None: the default (one per core of `cores`, the
    CPU affinity given to the server)."""
    env = {**_env(database_url), **(extra_env or {})}
    if not (project / "backstack.toml").exists():
        _backstack("init", str(project), "--example", "todos", env=env)
    keys = json.loads(_backstack("keys", "--dir", str(project), "--json", env=env))
    port = _free_port()
    log = project / "serve.log"
    option = [] if workers is None else ["--workers", str(workers)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "backstack", "serve", "--dir", str(project), "--port", str(port), *option],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        preexec_fn=None if cores is None else (lambda: os.sched_setaffinity(0, cores)),
    )
    server = Server(proc, f"http://127.0.0.1:{port}", port, keys, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"serve exited early:\n{server.output()}"
        try:
            if httpx.get(f"{server.url}/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"serve did not come up:\n{server.output()}")


def stop(server: Server) -> int:
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGTERM)
    try:
        return server.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        raise


@pytest.fixture(params=[1, 2], ids=["1-worker", "2-workers"])
def sqlite_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Server]:
    server = start(tmp_path / "demo", workers=request.param)
    yield server
    stop(server)


@pytest.mark.parametrize("engine", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_serve_migrates_prints_keys_and_examples_that_work(tmp_path: Path, engine: str) -> None:
    name = create_pg_database() if engine == "postgres" else None
    try:
        server = start(tmp_path / "demo", database_url=pg_url(name) if name else None)
        try:
            banner = server.output()
            assert f"API URL       http://127.0.0.1:{server.port}" in banner
            assert f"anon key      {server.keys['anon']}" in banner
            assert f"service_role  {server.keys['service_role']}" in banner
            curl = next(line.strip() for line in banner.splitlines() if line.strip().startswith("curl "))
            assert curl == (
                f"curl 'http://127.0.0.1:{server.port}/rest/v1/todos?select=*' -H 'apikey: {server.keys['anon']}'"
            )
            response = httpx.get(f"{server.url}/rest/v1/todos?select=*", headers={"apikey": server.keys["anon"]})
            assert response.status_code == 200, response.text
            assert len(response.json()) == 4
            assert f'sb = create_client("{server.url}", "{server.keys["anon"]}")' in banner
        finally:
            assert stop(server) == 0
        access = [json.loads(line) for line in server.output().splitlines() if line.startswith('{"ts"')]
        assert any(line["path"] == "/rest/v1/todos" and line["status"] == 200 for line in access)
        assert server.keys["anon"] not in "\n".join(json.dumps(line) for line in access)
    finally:
        if name:
            drop_pg_database(name)


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


@pytest.mark.serial  # times a stop against SIGTERM
def test_sigterm_drains_in_flight_requests(sqlite_server: Server) -> None:
    body = json.dumps({"title": "written while stopping"}).encode()
    head = (
        f"POST /rest/v1/todos HTTP/1.1\r\nHost: 127.0.0.1\r\napikey: {sqlite_server.keys['service_role']}\r\n"
        f"Content-Type: application/json\r\nPrefer: return=representation\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()  # a keep-alive request: its answer must say that the server closes the connection
    client = socket.create_connection(("127.0.0.1", sqlite_server.port), timeout=10)
    client.sendall(head + body[:5])  # the request is in flight: the server waits for the rest of the body
    time.sleep(0.5)
    sqlite_server.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    while not _refused(sqlite_server.port):
        assert time.monotonic() < deadline, "new connections were still accepted after SIGTERM"
        time.sleep(0.1)
    assert sqlite_server.proc.poll() is None, "the server exited before the in-flight request finished"
    client.sendall(body[5:])
    response = b""
    while chunk := client.recv(65536):
        response += chunk
    client.close()
    status_line, _, rest = response.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 201 Created", response
    assert b"\r\nconnection: close\r\n" in rest.lower(), response
    assert b"written while stopping" in rest
    assert sqlite_server.proc.wait(timeout=20) == 0


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.serial  # times the 2 s grace period
def test_sigterm_stops_after_the_grace_period(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int) -> None:
    """A request that never completes (its body stalls, below body_read_timeout) does not hold the stop
    past shutdown_grace_seconds: the workers are killed then and the server exits 0."""
    monkeypatch.setenv("BACKSTACK_SHUTDOWN_GRACE_SECONDS", "2")
    server = start(tmp_path / "demo", workers=workers)
    head = (
        f"POST /rest/v1/todos HTTP/1.1\r\nHost: 127.0.0.1\r\napikey: {server.keys['service_role']}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
    ).encode()
    client = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    try:
        client.sendall(head)  # 99 bytes of the body never come
        time.sleep(0.5)
        signalled = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        try:
            code = server.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            raise AssertionError("the server did not exit within 10 s of SIGTERM (grace period 2 s)") from None
        took = time.monotonic() - signalled
    finally:
        client.close()
    assert code == 0, server.output()
    assert 1.5 < took < 5, f"exited {took:.2f} s after SIGTERM (grace period 2 s)"


def test_workers_share_metrics(tmp_path: Path) -> None:
    server = start(tmp_path / "demo", workers=2)
    try:
        with httpx.Client(base_url=server.url) as client:
            for _ in range(40):
                client.get("/health", headers={"Connection": "close"})
            text = client.get("/metrics").text
        line = next(
            x
            for x in text.splitlines()
            if x.startswith("backstack_http_requests_total{") and 'route="/health"' in x and 'status="200"' in x
        )
        # 40 from this loop plus the readiness probe(s) `start` made; all workers are counted.
        assert float(line.rsplit(" ", 1)[1]) >= 40
        pids = {x.split('pid="')[1].split('"')[0] for x in text.splitlines() if x.startswith("backstack_db_up{")}
        assert len(pids) == 1
    finally:
        assert stop(server) == 0


@pytest.mark.skipif(
    not hasattr(os, "sched_setaffinity") or len(os.sched_getaffinity(0)) < 2,
    reason="needs two CPU cores to pin the server to",
)
def test_default_workers_follow_the_cpu_affinity_and_share_rate_limits(tmp_path: Path) -> None:
    """No --workers: one worker per core the process may use; without Redis the sign-in limit is
    counted once for all workers (.backstack/ratelimit.db), not once per worker."""
    one, two = sorted(os.sched_getaffinity(0))[:2]
    server = start(tmp_path / "one", workers=None, cores={one})
    try:
        assert "Workers: 1 (one per CPU core; `--workers N` to change)" in server.output()
        assert "counted in process memory" in server.output()
        assert "Realtime is shared by this worker's sockets." in server.output()
    finally:
        assert stop(server) == 0
    limits = {"BACKSTACK_AUTH_RATE_LIMIT_SIGN_IN": "4/1h", "BACKSTACK_REDIS_URL": ""}
    server = start(tmp_path / "two", workers=None, cores={one, two}, extra_env=limits)
    try:
        banner = server.output()
        assert "Workers: 2 (one per CPU core" in banner and "shared by this server's workers" in banner
        assert "Realtime is shared by this server's workers (unix sockets" in banner
        statuses = []
        for _ in range(8):  # a new connection each: granian spreads them over both workers
            with httpx.Client(base_url=server.url, headers={"apikey": server.keys["anon"]}) as client:
                response = client.post(
                    "/auth/v1/token?grant_type=password",
                    json={"email": "nobody@example.com", "password": "wrong-password"},
                )
            statuses.append(response.status_code)
        assert statuses[:4] == [400] * 4 and statuses[4:] == [429] * 4, statuses
        assert (tmp_path / "two" / ".backstack" / "ratelimit.db").exists()
    finally:
        assert stop(server) == 0


def test_serve_warns_about_tables_open_to_every_key(tmp_path: Path) -> None:
    """A table without RLS is named in the banner with what anon and authenticated may do to it."""
    project = tmp_path / "demo"
    _backstack("init", str(project), "--example", "todos", env=_env(None))
    (project / "migrations" / "0003_guestbook.sql").write_text(
        "create table guestbook (id int primary key, body text);\n"
        "create table notices (id int primary key);\nrevoke insert, update, delete on notices from anon;\n"
    )
    server = start(project)
    try:
        warning = server.output().split("Warning:", 1)[1]
        assert "RLS off: these tables are open to every request with the anon key, on every row:" in warning
        assert "  guestbook (anon: select, insert, update, delete; authenticated: select, insert, update, delete)" in (
            warning
        )
        assert "  notices (anon: select; authenticated: select, insert, update, delete)" in warning
        assert "`alter table guestbook enable row level security;`" in warning
        assert "todos (" not in warning and "profiles (" not in warning
    finally:
        assert stop(server) == 0
