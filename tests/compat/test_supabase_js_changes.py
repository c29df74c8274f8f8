"""supabase-js's `postgres_changes` (Node 20, vsn 2.0.0) against a live server on both engines: the
`changes` flow of tests/compat/js/flows.mjs over tests/realtime/changes_schema.sql."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compat.conftest import LiveServer, compat_server
from tests.compat.test_supabase_js import node, run_flow

pytestmark = pytest.mark.compat
SCHEMA = Path(__file__).parents[1] / "realtime" / "changes_schema.sql"
__all__ = ["node"]  # the fixture, shared with test_supabase_js


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def changes_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, node: str
) -> Iterator[LiveServer]:
    with compat_server(request.param, tmp_path_factory.mktemp(f"compat-js-changes-{request.param}"), SCHEMA) as live:
        yield live


def test_supabase_js_postgres_changes(node: str, changes_server: LiveServer) -> None:
    run_flow(node, changes_server, "changes")
