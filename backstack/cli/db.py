"""`backstack db reset`: start the database over from the migrations and seed.sql."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from backstack.cli.consoles import console
from backstack.cli.migrate import apply_with_progress
from backstack.cli.project import (
    Command,
    DirOption,
    Group,
    describe_database,
    open_engine,
    project_settings,
    run,
)
from backstack.db import migrate as migrations

db_app = typer.Typer(cls=Group, help="Manage the project's database.", no_args_is_help=True)


@db_app.command("reset", cls=Command)
def reset(
    project_dir: DirOption = Path("."),
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Drop every user table, re-apply all migrations, then load seed.sql. Destroys the data."""
    settings = project_settings(project_dir)
    where = describe_database(settings)
    if not yes and not typer.confirm(f"Drop all tables and data in {where}?", default=False):
        console.print("Nothing changed.")
        raise typer.Exit(1)

    async def body() -> bool:
        async with open_engine(settings) as engine:
            await migrations.drop_all(engine)
            await apply_with_progress(engine, settings.project_dir)
            return await migrations.load_seed(engine, settings.project_dir)

    seeded = run(body())
    console.print(f"Reset {where}{' and loaded seed.sql' if seeded else ''}.")
