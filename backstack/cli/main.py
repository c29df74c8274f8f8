"""The `backstack` command: one typer app, one module per command group."""

from __future__ import annotations

import typer

from backstack import __version__
from backstack.cli.db import db_app
from backstack.cli.init import init
from backstack.cli.keys import keys
from backstack.cli.mail import mail
from backstack.cli.migrate import migrate_app
from backstack.cli.policies import policies
from backstack.cli.project import Command, Group
from backstack.cli.serve import serve

app = typer.Typer(
    cls=Group,
    name="backstack",
    help="Supabase-compatible APIs on SQLite or PostgreSQL. Every command honours DATABASE_URL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("init", cls=Command)(init)
app.command("serve", cls=Command)(serve)
app.command("keys", cls=Command)(keys)
app.command("mail", cls=Command)(mail)
app.command("policies", cls=Command)(policies)
app.add_typer(migrate_app, name="migrate")
app.add_typer(db_app, name="db")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"backstack {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Supabase-compatible APIs on SQLite or PostgreSQL."""


def main() -> None:
    """Console-script entry point (and `python -m backstack`: same name in usage lines and errors)."""
    app(prog_name="backstack")
