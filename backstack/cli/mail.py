"""`backstack mail`: the dev inbox, where auth mails land while no SMTP server is configured."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from backstack.auth.mail import InboxEntry, read_inbox
from backstack.cli.consoles import console
from backstack.cli.project import DirOption, open_engine, project_settings, run
from backstack.core import json


async def _entries(project_dir: Path, to: str | None, limit: int) -> list[InboxEntry]:
    settings = project_settings(project_dir)
    async with open_engine(settings) as engine:
        return await read_inbox(engine, to=to, limit=limit)


def mail(
    project_dir: DirOption = Path("."),
    to: Annotated[str | None, typer.Option("--to", metavar="EMAIL", help="Only mails sent to this address.")] = None,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=1, metavar="N", help="How many of the newest mails to list.")
    ] = 20,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the mails as a JSON array (with their HTML and text bodies).")
    ] = False,
) -> None:
    """List the auth mails in the dev inbox (sign-up confirmations, magic links, codes), newest first."""
    entries = run(_entries(project_dir, to, limit))
    if as_json:
        typer.echo(json.dumps_str([entry.to_json() for entry in entries]))
        return
    if not entries:
        console.print("The dev inbox is empty. Auth mails appear here while no smtp_host is configured.")
        return
    table = Table(show_lines=True)
    table.add_column("time (UTC)", no_wrap=True)
    table.add_column("to")
    table.add_column("subject")
    table.add_column("links / codes", overflow="fold")
    for entry in entries:
        carried = [*entry.links, *(f"code {code}" for code in entry.codes)]
        table.add_row(
            entry.created_at.strftime("%Y-%m-%d %H:%M:%S"), entry.to, entry.subject, "\n".join(carried) or "-"
        )
    console.print(table)
