"""Generated reference pages: docs/cli.md from the real command definitions, docs/settings.md from Settings.

Both pages hold a block between `<!-- generated:NAME -->` and `<!-- /generated:NAME -->` markers
that this module writes; prose around it is kept. `python -m backstack.cli.reference` (`make docs`)
rewrites the blocks; `tests/test_docs.py` fails when they are stale.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer.main
from pydantic_core import PydanticUndefined

from backstack.cli.main import app
from backstack.config import Settings

DOCS = Path(__file__).resolve().parents[2] / "docs"


# Typer ships its own copy of click, so commands and parameters are read by duck typing.


def _default(param: Any) -> str:
    shown = getattr(param, "show_default", None)
    if isinstance(shown, str):
        return shown
    if param.default is None or (getattr(param, "is_flag", False) and not param.default):
        return ""
    return str(param.default)


def _command_section(command: Any, path: list[str], parent: Any) -> list[str]:
    ctx = command.context_class(command, info_name=path[-1], parent=parent)
    lines = [f"### `{' '.join(path)}`", ""]
    pieces = [re.sub(r"\{(\w+)\}", lambda m: m[1].upper(), piece) for piece in command.collect_usage_pieces(ctx)]
    usage = " ".join([*path, *pieces])
    lines += [f"    {usage}", "", (command.help or "").strip(), ""]
    params = [p for p in command.params if p.name != "help" and not getattr(p, "hidden", False)]
    if params:
        lines += ["| argument / option | default | meaning |", "|---|---|---|"]
        for param in params:
            option = param.param_type_name == "option"
            names = ", ".join(f"`{o}`" for o in param.opts) if option else f"`{param.name.upper()}`"
            helptext = getattr(param, "help", None) or ""
            lines.append(f"| {names} | {_default(param)} | {helptext} |")
        lines.append("")
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            lines += _command_section(sub, [*path, name], ctx)
    return lines


def cli_reference() -> str:
    """Every command with its usage, help and options, as the CLI defines them."""
    root: Any = typer.main.get_command(app)
    ctx = root.context_class(root, info_name="backstack")
    lines: list[str] = []
    for name, command in root.commands.items():
        lines += _command_section(command, ["backstack", name], ctx)
    return "\n".join(lines).rstrip() + "\n"


def _setting_default(info: Any) -> str:
    if info.default is PydanticUndefined:
        return ""
    value = info.default
    return f"`{value.as_posix() if isinstance(value, Path) else value!r}`".replace("|", "\\|")


def settings_reference() -> str:
    """One row per setting: key, environment variable, default and description."""
    lines = ["| key (`backstack.toml`) | environment | default | meaning |", "|---|---|---|---|"]
    for name, info in Settings.model_fields.items():
        description = (info.description or "").replace("|", "\\|")
        lines.append(f"| `{name}` | `BACKSTACK_{name.upper()}` | {_setting_default(info)} | {description} |")
    return "\n".join(lines) + "\n"


GENERATORS = {"cli.md": ("cli", cli_reference), "settings.md": ("settings", settings_reference)}


def _pattern(block: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- generated:{block} -->\n)(.*?)(<!-- /generated:{block} -->)", re.S)


def render(page: str, text: str) -> str:
    """`text` with its generated block replaced by fresh output."""
    block, generate = GENERATORS[page]
    pattern = _pattern(block)
    if not pattern.search(text):
        raise ValueError(f"docs/{page} has no <!-- generated:{block} --> block")
    return pattern.sub(lambda m: m[1] + generate() + m[3], text)


def main() -> None:
    for page in GENERATORS:
        path = DOCS / page
        path.write_text(render(page, path.read_text(encoding="utf-8")), encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
