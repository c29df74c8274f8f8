"""The project folder a command works on: its settings, its engine, and errors that say what to do next."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console

from backstack.config import CONFIG_FILE, Settings, load_settings
from backstack.core.errors import ApiError
from backstack.db.engine import Engine, connect

T = TypeVar("T")

console = Console(highlight=False, soft_wrap=True)  # long lines (keys, URLs) stay copyable
errors = Console(stderr=True, highlight=False)

DirOption = Annotated[
    Path, typer.Option("--dir", "-d", help="Project folder (holds backstack.toml).", show_default="current folder")
]


def fail(message: str, *, hint: str | None = None, code: int = 1) -> NoReturn:
    """Print an error and what to do about it, then exit with `code`."""
    errors.print(f"[bold red]Error:[/] {message}")
    if hint:
        errors.print(f"[yellow]Next:[/] {hint}")
    raise typer.Exit(code)


def project_settings(project_dir: Path, **overrides: Any) -> Settings:
    """Settings of an initialised project; exits with a hint when the folder is not one."""
    if not (project_dir / CONFIG_FILE).is_file():
        fail(
            f"{project_dir} is not a backstack project (no {CONFIG_FILE}).",
            hint=f"run `backstack init {project_dir}` to create one, or pass --dir with the project folder.",
        )
    settings = load_settings(project_dir, **overrides)
    if not settings.jwt_secret:
        fail(
            f"{project_dir / CONFIG_FILE} has no jwt_secret.",
            hint='add jwt_secret = "<a long random string>" to it, or set BACKSTACK_JWT_SECRET.',
        )
    return settings


def describe_database(settings: Settings) -> str:
    """Where the data lives, for messages (the PostgreSQL password is left out)."""
    if not settings.database_url:
        return f"SQLite {settings.sqlite_path}"
    scheme, _, rest = settings.database_url.partition("://")
    credentials, at, location = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"PostgreSQL {scheme}://{user}{at}{location}" if at else f"PostgreSQL {settings.database_url}"


@contextlib.asynccontextmanager
async def open_engine(settings: Settings) -> AsyncIterator[Engine]:
    """A started engine for one command; database failures exit with a hint instead of a traceback."""
    # Imported here: backstack.app loads prometheus-client, which must not be imported before `serve`
    # has set PROMETHEUS_MULTIPROC_DIR for its workers.
    from backstack.app import prepare_database

    engine = connect(settings)
    try:
        await engine.start()
        await prepare_database(engine)
    except ApiError as error:
        fail(
            f"cannot open the database ({describe_database(settings)}): {error.message}",
            hint="start PostgreSQL or correct DATABASE_URL / database_url in backstack.toml.",
        )
    try:
        yield engine
    finally:
        await engine.close()


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a command's async body; an ApiError (bad migration, database down) becomes a clean exit."""
    try:
        return asyncio.run(coro)
    except ApiError as error:
        detail = f" ({error.details})" if error.details else ""
        fail(f"{error.message}{detail}", hint=error.hint or "fix the problem above and run the command again.")
