"""`backstack migrate new NAME | up | status`: the project's ordered SQL migrations."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from backstack.cli.consoles import console
from backstack.cli.project import (
    Command,
    DirOption,
    Group,
    describe_database,
    fail,
    open_engine,
    project_settings,
    run,
)
from backstack.db import migrate as migrations

if TYPE_CHECKING:
    from backstack.db.engine import Engine

_STATES = {
    "applied": "[green]applied[/]",
    "pending": "[yellow]pending[/]",
    "changed": "[red]changed after it was applied[/]",
    "missing": "[red]applied, file missing[/]",
}

migrate_app = typer.Typer(
    cls=Group, help="Write, apply and list SQL migrations (migrations/NNNN_name.sql).", no_args_is_help=True
)


async def apply_with_progress(engine: Engine, project_dir: Path, *, quiet_when_current: bool = False) -> int:
    """Apply pending migrations one by one with a progress bar; return how many were applied."""
    pending = await migrations.pending(engine, project_dir)
    if not pending:
        if not quiet_when_current:
            console.print("Database is up to date: no pending migrations.")
        return 0
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task("Applying migrations", total=len(pending))
        for migration in pending:
            progress.update(task, description=f"Applying {migration.filename}")
            await migrations.apply(engine, migration)
            progress.advance(task)
        progress.update(task, description="Applied migrations")
    return len(pending)


@migrate_app.command("new", cls=Command)
def new(
    name: Annotated[str, typer.Argument(help="What the migration does, e.g. create_todos.", show_default=False)],
    project_dir: DirOption = Path("."),
) -> None:
    """Create an empty migration file, numbered after the last one; write PostgreSQL SQL in it."""
    settings = project_settings(project_dir)
    try:
        path = migrations.new_migration(settings.project_dir, name)
    except ValueError as error:
        fail(str(error), hint="use letters, digits and underscores, e.g. `backstack migrate new add_todos`.")
    console.print(f"Created [bold]{path}[/]. Write PostgreSQL SQL in it, then run `backstack migrate up`.")


@migrate_app.command("up", cls=Command)
def up(project_dir: DirOption = Path(".")) -> None:
    """Apply every pending migration, in order, each in its own transaction."""
    settings = project_settings(project_dir)

    async def body() -> int:
        async with open_engine(settings) as engine:
            return await apply_with_progress(engine, settings.project_dir)

    count = run(body())
    if count:
        console.print(f"Applied {count} migration{'s' if count != 1 else ''} to {describe_database(settings)}.")


@migrate_app.command("status", cls=Command)
def status(project_dir: DirOption = Path(".")) -> None:
    """List migrations and whether each is applied."""
    settings = project_settings(project_dir)

    async def body() -> list[migrations.MigrationStatus]:
        async with open_engine(settings) as engine:
            return await migrations.status(engine, settings.project_dir)

    rows = run(body())
    if not rows:
        console.print("No migrations yet: `backstack migrate new NAME` creates one.")
        return
    table = Table(title=f"Migrations ({describe_database(settings)})")
    table.add_column("version", justify="right")
    table.add_column("file")
    table.add_column("state")
    table.add_column("applied at")
    for row in rows:
        state = _STATES.get(row.state, row.state)
        table.add_row(str(row.version), row.filename or row.name, state, row.applied_at or "")
    console.print(table)
    if any(row.state in ("changed", "missing") for row in rows):
        fail(
            "the migration files disagree with the database history.",
            hint="restore the changed or missing files; write a new migration for further changes.",
        )
