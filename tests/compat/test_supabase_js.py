"""The official supabase-js client (Node 20, `@supabase/supabase-js` from npm) against a live server.

Each test runs one flow of tests/compat/js/flows.mjs in Node against `backstack serve` on SQLite and
on PostgreSQL; the flow asserts as it goes and its output is shown when it fails. The Node packages
come from `make js-deps` (`npm ci` in tests/compat/js); a missing one is installed here once. Without
node/npm the tests skip with the reason (and fail under BACKSTACK_REQUIRE_SERVICES=1, as in CI).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compat.conftest import LiveServer, compat_server
from tests.services import require_service

pytestmark = pytest.mark.compat

JS = Path(__file__).with_name("js")
FLOWS = JS / "flows.mjs"
MIN_NODE = 20


def _node_ready() -> str:
    """The node binary, with tests/compat/js's packages installed; skip/fail when that cannot be."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        require_service("node and npm are needed for the supabase-js tests (not found on PATH)")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=False).stdout.strip()
    if int(version.lstrip("v").split(".")[0] or 0) < MIN_NODE:
        require_service(f"supabase-js needs Node {MIN_NODE}+, found {version}")
    if not (JS / "node_modules" / "@supabase" / "supabase-js").is_dir():
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS, capture_output=True, text=True,
                              timeout=300, check=False)  # fmt: skip
        if done.returncode != 0:
            require_service(f"npm ci in {JS} failed (run `make js-deps`):\n{done.stderr[-2000:]}")
    return node


@pytest.fixture(scope="module")
def node() -> str:
    return _node_ready()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def js_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, node: str
) -> Iterator[LiveServer]:
    """`backstack serve` with the compat schema and anonymous sign-ins on."""
    with compat_server(request.param, tmp_path_factory.mktemp(f"compat-js-{request.param}")) as server:
        yield server


def run_flow(node: str, server: LiveServer, flow: str) -> None:
    env = {**os.environ, "BACKSTACK_URL": server.url, "ANON_KEY": server.anon_key, "SERVICE_KEY": server.service_key}
    done = subprocess.run([node, str(FLOWS), flow], cwd=JS, env=env, capture_output=True, text=True, timeout=120,
                          check=False)  # fmt: skip
    log = (server.project / "server.log").read_text(errors="replace")[-3000:]
    assert done.returncode == 0, f"{flow} ({server.engine}):\n{done.stdout}\n{done.stderr}\n--- server log ---\n{log}"
    assert f"ok {flow}" in done.stdout


@pytest.mark.parametrize("flow", ["auth", "updateUser", "anonymous", "mfa", "admin", "data", "realtime"])
def test_supabase_js(node: str, js_server: LiveServer, flow: str) -> None:
    run_flow(node, js_server, flow)
