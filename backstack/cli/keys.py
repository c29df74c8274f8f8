"""`backstack keys`: print the project's anon and service_role keys."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from backstack.cli.consoles import console
from backstack.cli.project import DirOption, project_settings
from backstack.core import json
from backstack.core.keys import ApiKeys, project_keys

if TYPE_CHECKING:
    from backstack.config import Settings


def keys_for(settings: Settings) -> ApiKeys:
    """The keys a server with these settings accepts."""
    return project_keys(
        settings.jwt_secret, issued_at=settings.api_keys_issued_at, lifetime_years=settings.api_key_expiry_years
    )


def keys(
    project_dir: DirOption = Path("."),
    as_json: Annotated[bool, typer.Option("--json", help='Print {"anon": ..., "service_role": ...}.')] = False,
) -> None:
    """Print the anon key (safe in browsers) and the service_role key (bypasses policies; keep it secret)."""
    api_keys = keys_for(project_settings(project_dir))
    if as_json:
        typer.echo(json.dumps_str(api_keys.as_dict()))
        return
    console.print("[bold]anon[/] (public, for browsers and apps):")
    typer.echo(api_keys.anon)
    console.print("[bold]service_role[/] (secret, bypasses policies; servers only):")
    typer.echo(api_keys.service_role)
