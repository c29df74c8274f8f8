"""`backstack init DIR`: create a project folder, or complete one, without touching what exists."""

from __future__ import annotations

import time
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from backstack.cli.consoles import console
from backstack.cli.project import fail
from backstack.config import CONFIG_FILE
from backstack.core.keys import generate_secret

TEMPLATES = resources.files("backstack.cli") / "templates"
EXAMPLES = ("todos",)


def _template(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


def project_files(project_dir: Path, *, example: str | None = None) -> dict[Path, str]:
    """Every file `init` writes, with its content (a fresh secret each call: only used if new)."""
    toml = _template("backstack.toml").replace("{jwt_secret}", generate_secret())
    toml = toml.replace("{issued_at}", str(int(time.time())))
    files = {
        project_dir / CONFIG_FILE: toml,
        project_dir / "seed.sql": _template("seed.sql"),
        project_dir / ".gitignore": _template("gitignore"),
        project_dir / "migrations" / ".gitkeep": "",
        project_dir / "functions" / ".gitkeep": "",
    }
    if example:
        for item in (TEMPLATES / "examples" / example).iterdir():
            files[project_dir / "migrations" / item.name] = item.read_text(encoding="utf-8")
    return files


def write_project(project_dir: Path, *, example: str | None = None) -> list[tuple[Path, bool]]:
    """Write the files that are missing; return every file with whether it was created."""
    results = []
    for path, content in project_files(project_dir, example=example).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with path.open("x", encoding="utf-8") as handle:  # "x": never overwrite, even in a race
                handle.write(content)
        except FileExistsError:
            results.append((path, False))
        else:
            results.append((path, True))
    return results


def init(
    project_dir: Annotated[
        Path, typer.Argument(help="Folder to create or complete.", show_default=False, metavar="DIR")
    ],
    example: Annotated[
        str | None,
        typer.Option("--example", metavar="NAME", help=f"Add an example schema as a migration: {', '.join(EXAMPLES)}."),
    ] = None,
) -> None:
    """Create a project: backstack.toml (with a new JWT secret), migrations/, functions/, seed.sql, .gitignore.

    Safe to run again: existing files, and so the secret and the keys, are never changed.
    """
    if example is not None and example not in EXAMPLES:
        fail(f"unknown example {example!r}.", hint=f"choose one of: {', '.join(EXAMPLES)}.")
    if project_dir.exists() and not project_dir.is_dir():
        fail(f"{project_dir} exists and is not a folder.", hint="choose another name for the project folder.")
    for path, created in write_project(project_dir, example=example):
        if path.name != ".gitkeep":
            console.print(f"  {'[green]created[/]' if created else '[dim]kept   [/]'} {path}")
    console.print(f"\nProject ready in [bold]{project_dir}[/]. Next:")
    console.print(f"  backstack migrate new create_tables --dir {project_dir}   # write your schema")
    console.print(f"  backstack serve --dir {project_dir}                       # run the API")
