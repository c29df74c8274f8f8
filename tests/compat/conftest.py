"""A live `backstack serve` subprocess per engine, for the official clients to talk to.

The server runs exactly as a user runs it (`python -m backstack serve --dir DIR`), on SQLite and on the
real PostgreSQL (a database of its own, dropped afterwards). Tests get its URL and keys.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.services import postgres_database

SCHEMA = Path(__file__).with_name("schema.sql")


@dataclass(frozen=True)
class LiveServer:
    url: str
    anon_key: str
    service_key: str
    engine: str
    project: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(args: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "backstack", *args], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, f"backstack {args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def start_server(
    project: Path, env: dict[str, str], engine: str, *, workers: int = 1
) -> tuple[LiveServer, subprocess.Popen[bytes]]:
    """Start `backstack serve` in `project` and wait until /health answers."""
    port = _free_port()
    keys = json.loads(_run(["keys", "--dir", str(project), "--json"], env))
    log = (project / "server.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "backstack",
            "serve",
            "--dir",
            str(project),
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"backstack serve exited:\n{(project / 'server.log').read_text()}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError(f"backstack serve did not come up:\n{(project / 'server.log').read_text()}")
    return LiveServer(url, keys["anon"], keys["service_role"], engine, project), proc


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def live_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """`backstack serve` on a fresh project with tests/compat/schema.sql as its first migration."""
    with compat_server(request.param, tmp_path_factory.mktemp(f"compat-{request.param}")) as server:
        yield server


@contextlib.contextmanager
def compat_server(engine: str, project: Path, schema: Path = SCHEMA) -> Iterator[LiveServer]:
    """Init `project` with `schema` as its first migration, serve it on `engine` ("sqlite" or "postgres"),
    stop it after."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BACKSTACK_") and k != "DATABASE_URL"}
    env["BACKSTACK_AUTH_ANONYMOUS_USERS"] = "true"  # off by default, as GoTrue; the clients' flows use it
    with postgres_database(engine) as database_url:
        if database_url:
            env["DATABASE_URL"] = database_url
        _run(["init", str(project)], env)
        shutil.copy(schema, project / "migrations" / "0001_compat_schema.sql")
        server, proc = start_server(project, env, engine)
        try:
            yield server
        finally:
            stop_server(proc)
