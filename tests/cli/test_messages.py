"""What a new user reads when something is wrong, and on --help (issue 18, section 4): each message
says what failed and what to do next, before anything listens."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import pytest
import typer.main

from backstack.cli.main import app
from tests.cli.test_commands import invoke, ok
from tests.conftest import create_pg_database, drop_pg_database, pg_url


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# ---------------------------------------------------------------- functions/*.py that fail to import

BROKEN_FUNCTIONS = [
    ("from backstack import rpc\n\nimport not_a_module_anywhere\n", "ModuleNotFoundError", 3),
    ("from backstack import rpc\n\n@rpc\ndef f(ctx) -> int\n    return 1\n", "SyntaxError", 4),
    ("from backstack import rpc\n\nLIMIT = 1 / 0\n", "ZeroDivisionError", 3),
]


@pytest.mark.parametrize(("source", "kind", "line"), BROKEN_FUNCTIONS, ids=[k for _, k, _ in BROKEN_FUNCTIONS])
def test_serve_refuses_a_broken_function_file_before_listening(
    tmp_path: Path, source: str, kind: str, line: int
) -> None:
    """Was: the banner and `Listening at` printed, then a worker died with a long traceback."""
    ok("init", str(tmp_path))
    (tmp_path / "functions" / "broken.py").write_text(source)
    port = _free_port()
    result = invoke("serve", "--dir", str(tmp_path), "--port", str(port))
    assert result.exit_code == 1, result.output
    assert f"functions/broken.py: {kind}" in result.output
    assert f"(line {line})" in result.output
    assert "Next: fix that file" in result.output
    assert "API URL" not in result.output and "Traceback" not in result.output
    with socket.socket() as probe:  # nothing was left listening
        probe.bind(("127.0.0.1", port))


# ---------------------------------------------------------------- DATABASE_URL


@pytest.mark.parametrize("url", ["mysql://root@127.0.0.1/app", "sqlite:///app.db", "127.0.0.1:5432/app"])
def test_database_url_of_another_kind_lists_the_supported_schemes(tmp_path: Path, url: str) -> None:
    ok("init", str(tmp_path))
    for args in (["migrate", "up"], ["serve"]):
        result = invoke(*args, "--dir", str(tmp_path), database_url=url)
        assert result.exit_code == 1, result.output
        assert "postgresql://" in result.output and "postgres://" in result.output
        assert "Next:" in result.output and "unset DATABASE_URL" in result.output
        assert "service not running" not in result.output


@pytest.mark.postgres
def test_database_that_does_not_exist_offers_createdb(tmp_path: Path) -> None:
    existing = create_pg_database()  # proves the server answers (skips loudly when it does not)
    try:
        missing = f"{existing}_missing"
        ok("init", str(tmp_path))
        result = invoke("migrate", "up", "--dir", str(tmp_path), database_url=pg_url(missing))
        assert result.exit_code == 1, result.output
        assert f'database "{missing}" does not exist' in result.output
        assert re.search(rf"Next: create it: `createdb -h \S+ -p \d+ (-U \S+ )?{missing}`", result.output), (
            result.output
        )
        assert "service not running" not in result.output
    finally:
        drop_pg_database(existing)


def test_nothing_listening_says_start_postgresql(tmp_path: Path) -> None:
    ok("init", str(tmp_path))
    url = f"postgresql://postgres@127.0.0.1:{_free_port()}/x"
    result = invoke("migrate", "up", "--dir", str(tmp_path), database_url=url)
    assert result.exit_code == 1
    assert "no PostgreSQL server answers at 127.0.0.1:" in result.output and "start PostgreSQL" in result.output


# ---------------------------------------------------------------- busy port


def test_busy_port_names_backstack_port_for_make(tmp_path: Path) -> None:
    """`make serve` takes no options: the hint must give the environment variable too."""
    ok("init", str(tmp_path))
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = invoke("serve", "--dir", str(tmp_path), "--port", str(port))
    assert result.exit_code == 1, result.output
    assert f"port {port} on 127.0.0.1 is already in use" in result.output
    assert f"--port {port + 1}" in result.output and f"BACKSTACK_PORT={port + 1} make serve" in result.output


# ---------------------------------------------------------------- --help


def _command_paths() -> list[list[str]]:
    paths: list[list[str]] = [[]]

    def walk(command: Any, path: list[str]) -> None:
        for name, sub in getattr(command, "commands", {}).items():
            paths.append([*path, name])
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return paths


@pytest.mark.parametrize("path", _command_paths(), ids=lambda p: " ".join(p) or "backstack")
def test_help_screens_read_well(path: list[str]) -> None:
    """No `<bool>`/`<str>` type labels, `{project_dir}` braces or `(127.0.0.1)` defaults."""
    text = ok(*path, "--help")
    assert not re.search(r"<(bool|str|int|path|float)[^>]*>", text), text
    assert not re.search(r"\{[a-z_]+\}", text), text
    assert not re.search(r"\[default: \(", text), text
    assert "Usage: backstack" in text


# ---------------------------------------------------------------- README


def test_readme_quick_start_says_where_backstack_is_and_how_to_change_the_port() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("## Your own project", 1)[0]
    commands = re.findall(r"^(make \w+)", quick.split("```sh", 1)[1].split("```", 1)[0], re.M)
    assert commands == ["make serve", "make test"]
    assert "BACKSTACK_PORT=8001 make serve" in quick
    own = readme.split("## Your own project", 1)[1].split("##", 1)[0]
    assert "source .venv/bin/activate" in own and ".venv/bin/backstack" in own
    assert own.index("source .venv/bin/activate") < own.index("backstack init myapp")
