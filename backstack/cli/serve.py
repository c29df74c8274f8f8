"""`backstack serve`: apply pending migrations, print the URL and keys, then serve with granian.

Granian runs the app through the factory `backstack.app:app_from_env` in each worker process; the
command passes the project folder and its own options through BACKSTACK_* environment variables, so
`--workers N` processes all build the same app. On SIGTERM (or Ctrl-C) granian stops accepting
connections, lets the requests it has read finish (their answers say `Connection: close`; idle
keep-alive connections are closed at once), runs the app's shutdown after the last one, and exits
with status 0; a worker still busy after `shutdown_grace_seconds` is killed.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from backstack import __version__
from backstack.cache import rate_limits_shared
from backstack.cli.consoles import console
from backstack.cli.keys import keys_for
from backstack.cli.migrate import apply_with_progress
from backstack.cli.policies import api_privileges_of, open_tables_warning
from backstack.cli.project import DirOption, describe_database, fail, open_engine, project_settings, run
from backstack.config import available_cores
from backstack.core.rpc import RpcLoadError, load_rpc_functions
from backstack.realtime.bus import realtime_shared
from backstack.web.site import UnsafePublicDir, public_folder

if TYPE_CHECKING:
    from collections.abc import Mapping

    from backstack.config import Settings
    from backstack.db.schema.model import Table

APP_FACTORY = "backstack.app:app_from_env"


def serve(
    project_dir: DirOption = Path("."),
    host: Annotated[
        str | None,
        typer.Option(
            "--host",
            metavar="HOST",
            show_default="127.0.0.1",
            help="Address to listen on (or `host` in backstack.toml).",
        ),
    ] = None,
    port: Annotated[
        int | None,
        typer.Option(
            "--port",
            "-p",
            metavar="PORT",
            show_default="8000",
            help="Port to listen on (or `port` in backstack.toml, or BACKSTACK_PORT).",
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            "-w",
            metavar="N",
            min=1,
            show_default="one per CPU core",
            help="Worker processes (or `workers` in backstack.toml, or BACKSTACK_WORKERS).",
        ),
    ] = None,
) -> None:
    """Apply pending migrations, then serve the APIs; prints the API URL, the anon and service_role keys."""
    overrides = {"host": host, "port": port, "workers": workers}
    settings = project_settings(project_dir, **overrides)
    auto_workers = settings.workers == 0
    settings = settings.model_copy(update={"workers": settings.workers or available_cores()})
    _export(project_dir, settings, overrides)  # first: prometheus-client reads it when first imported
    _check_functions(project_dir)
    _check_site(settings)
    tables, warning = run(_prepare(settings))
    _check_port(settings.host, settings.port)
    _print_banner(project_dir, settings, tables, warning, auto_workers=auto_workers)
    _run_granian(settings)


async def _prepare(settings: Settings) -> tuple[dict[str, Table], str | None]:
    """Apply pending migrations; return the exposed tables by name (for the examples printed) and the
    warning about tables open to every key, if any."""
    async with open_engine(settings) as engine:
        await apply_with_progress(engine, settings.project_dir, quiet_when_current=True)
        schema = await engine.reload_schema()
        privileges = await api_privileges_of(engine, schema, settings)
    tables = dict(sorted(schema.tables.items()))
    return tables, open_tables_warning(list(tables.values()), privileges)


def _check_functions(project_dir: Path) -> None:
    """Import functions/*.py now: a file that fails must stop `serve` before it listens, not kill a worker."""
    try:
        load_rpc_functions(project_dir / "functions")
    except RpcLoadError as error:
        fail(
            f"{error}",
            hint="fix that file (or rename it to start with `_` so it is skipped), then run `backstack serve` again.",
        )


def _check_site(settings: Settings) -> None:
    """A public_dir that would publish the project's secrets stops `serve` before it listens."""
    try:
        public_folder(settings)
    except UnsafePublicDir as error:
        fail(f"{error}.", hint="set public_dir in backstack.toml (or BACKSTACK_PUBLIC_DIR) to the site's own folder.")


def _check_port(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                fail(
                    f"port {port} on {host} is already in use.", hint=f"stop the other server, or {_other_port(port)}."
                )
            fail(
                f"cannot listen on {host}:{port}: {error.strerror}.",
                hint=f"pass another --host (BACKSTACK_HOST), or {_other_port(port)}.",
            )


def _other_port(port: int) -> str:
    """How to pick another port, from the command line and from `make serve` (which takes no options)."""
    other = port + 1 if port < 65535 else 8001
    return (
        f"use another port: `backstack serve --port {other}`, or the environment variable "
        f"BACKSTACK_PORT={other} (also for make: `BACKSTACK_PORT={other} make serve`)"
    )


def local_url(settings: Settings) -> str:
    """The URL to print: site_url when set, else loopback when listening on every interface."""
    if settings.site_url:
        return settings.site_url.rstrip("/")
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host  # noqa: S104
    return f"http://{f'[{host}]' if ':' in host else host}:{settings.port}"


def _print_banner(
    project_dir: Path, settings: Settings, tables: dict[str, Table], warning: str | None, *, auto_workers: bool = False
) -> None:
    api_keys = keys_for(settings)
    url = local_url(settings)
    table = "todos" if "todos" in tables else next(iter(tables), "your_table")
    console.print(f"\n[bold]backstack {__version__}[/] serving {project_dir} ({describe_database(settings)})")
    console.print(f"  API URL       [bold cyan]{url}[/]")
    console.print(f"  data API      {url}/rest/v1   health: {url}/health")
    site = public_folder(settings)
    served = f"{escape(str(site))} (public_dir)" if site else "landing page (no public/ folder)"
    console.print(f"  site          {url}/   {served}")
    typer.echo(f"  anon key      {api_keys.anon}")
    typer.echo(f"  service_role  {api_keys.service_role}")
    console.print("\nTry it with curl:")
    typer.echo(f"  curl '{url}/rest/v1/{table}?select=*' -H 'apikey: {api_keys.anon}'")
    console.print("\nor with supabase-py (pip install supabase):")
    typer.echo("  from supabase import create_client")
    typer.echo(f'  sb = create_client("{url}", "{api_keys.anon}")')
    typer.echo(f'  print(sb.table("{table}").select("*").execute().data)')
    if not tables:
        console.print("\n[dim]No tables yet: `backstack migrate new NAME` writes a migration.[/]")
    if warning:
        console.print(f"\n[red]Warning:[/] {escape(warning)}", soft_wrap=True)
    how = " (one per CPU core; `--workers N` to change)" if auto_workers else ""
    console.print(f"\nWorkers: {settings.workers}{how}.", soft_wrap=True)
    console.print(f"Auth rate limits are counted {escape(rate_limits_shared(settings))}.", soft_wrap=True)
    console.print(f"Realtime is shared {escape(realtime_shared(settings))}.", soft_wrap=True)
    console.print("Stop with Ctrl-C (in-flight requests finish first).\n")


def _export(project_dir: Path, settings: Settings, overrides: Mapping[str, object]) -> None:
    """Hand the command's settings to the worker processes through the environment."""
    os.environ["BACKSTACK_PROJECT_DIR"] = str(project_dir.resolve())
    for name, value in overrides.items():
        if value is not None:
            os.environ[f"BACKSTACK_{name.upper()}"] = str(value)
    os.environ["BACKSTACK_WORKERS"] = str(settings.workers)  # resolved: the workers build the same limiter
    if settings.database_url:
        os.environ["BACKSTACK_DATABASE_URL"] = settings.database_url
    if settings.workers > 1:  # request metrics summed over workers (prometheus-client multiprocess mode)
        metrics_dir = settings.data_dir / "metrics"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir.resolve())


def _run_granian(settings: Settings) -> None:
    # Imported here: prometheus-client must see PROMETHEUS_MULTIPROC_DIR before it is first imported.
    from granian import Granian
    from granian.constants import Interfaces, Loops
    from granian.http import HTTP1Settings
    from granian.log import LogLevels

    Granian(
        APP_FACTORY,
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=max(1, settings.workers),
        loop=Loops.auto,
        log_level=LogLevels.__members__.get(settings.log_level.lower(), LogLevels.info),
        log_access=False,  # the app writes its own JSON access log
        http1_settings=HTTP1Settings(header_read_timeout=int(settings.header_read_timeout * 1000)),
        # Without it granian waits for a stuck request forever; after it, the worker is killed (SIGKILL).
        workers_kill_timeout=settings.shutdown_grace_seconds,
    ).serve()
