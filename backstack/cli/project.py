"""The project folder a command works on: its settings, its engine, and errors that say what to do next."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import shlex
from collections.abc import AsyncIterator, Coroutine
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar
from urllib.parse import unquote, urlsplit

import typer
from typer.core import TyperCommand, TyperGroup

from backstack.cli.consoles import errors
from backstack.config import CONFIG_FILE, Settings, load_settings
from backstack.core.errors import ApiError
from backstack.db.engine import Engine, connect

T = TypeVar("T")


DirOption = Annotated[
    Path,
    typer.Option(
        "--dir", "-d", metavar="DIR", help="Project folder (holds backstack.toml).", show_default="current folder"
    ),
]


class _Readable:
    """Help screens that read as plain usage: typer 0.2x labels every option `<bool>`/`<str>`/`<int>`,
    wraps required arguments in `{braces}` and shows a text default as `(127.0.0.1)`. A flag gets no
    label, any other option its name in capitals (or its own metavar), a text default shows as given.
    Only how help renders changes (docs/cli.md reads the same parameters)."""

    def get_params(self, ctx: Any) -> list[Any]:
        params: list[Any] = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if param.metavar is None:
                param.metavar = "" if getattr(param, "is_flag", False) else (param.name or "").upper()
            if param.param_type_name == "argument" and hasattr(param, "display_type_rich"):
                param.display_type_rich = _no_label  # its name column already says what it is
            if isinstance(getattr(param, "show_default", None), str) and hasattr(param, "_get_default_string"):
                param._get_default_string = functools.partial(_default_as_given, param.show_default)
        return params

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces: list[str] = super().collect_usage_pieces(ctx)  # type: ignore[misc]
        return [re.sub(r"\{(\S+?)\}", r"\1", piece) for piece in pieces]


def _no_label(ctx: Any = None) -> None:
    return None


def _default_as_given(shown: str, **_: Any) -> str:
    return shown


class Command(_Readable, TyperCommand):
    """A command whose --help reads well (`app.command(..., cls=Command)`)."""


class Group(_Readable, TyperGroup):
    """A command group whose --help reads well (`typer.Typer(cls=Group)`)."""


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
    _check_scheme(settings.database_url)
    if not settings.jwt_secret:
        fail(
            f"{project_dir / CONFIG_FILE} has no jwt_secret.",
            hint='add jwt_secret = "<a long random string>" to it, or set BACKSTACK_JWT_SECRET.',
        )
    return settings


POSTGRES_SCHEMES = ("postgresql", "postgres")


def _check_scheme(database_url: str | None) -> None:
    """Refuse a URL for another database (mysql://, sqlite://...) by name, before trying to connect."""
    if not database_url:
        return
    scheme = urlsplit(database_url).scheme.lower() if "://" in database_url else ""
    if scheme not in POSTGRES_SCHEMES:
        shown = f"{scheme}://" if scheme else "no scheme"
        fail(
            f"DATABASE_URL (or database_url in {CONFIG_FILE}) has {shown}; backstack supports "
            f"{' and '.join(f'{s}://' for s in POSTGRES_SCHEMES)} (PostgreSQL) only.",
            hint="use postgresql://USER@HOST:5432/DBNAME, or unset DATABASE_URL to use the embedded SQLite "
            "file .backstack/app.db.",
        )


def _connection_failure(settings: Settings, error: ApiError) -> tuple[str, str]:
    """What went wrong opening PostgreSQL, and what to do: told apart by the driver's SQLSTATE or errno."""
    cause = error.__cause__
    url = urlsplit(settings.database_url or "")
    host, port = url.hostname or "localhost", url.port or 5432
    user, name = unquote(url.username or ""), unquote(url.path.lstrip("/"))
    sqlstate = getattr(cause, "sqlstate", None)
    if sqlstate == "3D000":  # invalid_catalog_name
        command = ["createdb", "-h", host, "-p", str(port), *(["-U", user] if user else []), name or "DBNAME"]
        return (
            f'database "{name}" does not exist on the PostgreSQL server at {host}:{port}',
            f"create it: `{shlex.join(command)}`, or correct DATABASE_URL / database_url in {CONFIG_FILE}.",
        )
    if sqlstate in ("28P01", "28000"):  # wrong password, role or pg_hba rule
        return (
            f"PostgreSQL at {host}:{port} refused the login: {cause}",
            f"correct the user or password in DATABASE_URL / database_url in {CONFIG_FILE}.",
        )
    if isinstance(cause, ConnectionRefusedError) or (isinstance(cause, OSError) and not sqlstate):
        reason = getattr(cause, "strerror", None) or "no answer"
        return (
            f"no PostgreSQL server answers at {host}:{port} ({reason})",
            f"start PostgreSQL, or correct the host and port in DATABASE_URL / database_url in {CONFIG_FILE}.",
        )
    return (error.message, f"start PostgreSQL or correct DATABASE_URL / database_url in {CONFIG_FILE}.")


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
        message, hint = _connection_failure(settings, error) if settings.database_url else (error.message, None)
        fail(
            f"cannot open the database ({describe_database(settings)}): {message}",
            hint=hint or "fix the problem above and run the command again.",
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
