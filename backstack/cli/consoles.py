"""The CLI's rich consoles, sized when they print rather than when they are imported.

rich fixes a console's width from `COLUMNS` at construction and otherwise falls back to 80 columns
when the output is not a terminal, so `backstack policies > report.txt` (or into `grep`, a CI log)
wrapped table cells mid-expression. Here the width is decided at each print: `COLUMNS` when set (a
user's explicit choice), else the width of the terminal the output goes to (resizes included), else
no limit at all: text sent to a pipe or a file keeps its lines whole, as psql does, so SQL the CLI
tells users to run can be copied as printed.
"""

from __future__ import annotations

import os

from rich.console import Console, ConsoleDimensions

UNWRAPPED = 10_000  # "no limit": rich tables never expand to the width, they shrink to their content
_FALLBACK = ConsoleDimensions(80, 25)  # a terminal whose size cannot be read


class CliConsole(Console):
    """A `rich.console.Console` whose `size` is read from the environment and the output at print time."""

    fixed: ConsoleDimensions | None = None  # set through `size = (w, h)`, as on any rich console

    @property
    def size(self) -> ConsoleDimensions:
        if self.fixed is not None:
            return self.fixed
        terminal = _terminal_size(self.file) if self.is_terminal else None
        width = _env_int("COLUMNS") or (terminal.width if terminal else UNWRAPPED)
        height = _env_int("LINES") or (terminal.height if terminal else _FALLBACK.height)
        return ConsoleDimensions(width, height)

    @size.setter
    def size(self, new_size: tuple[int, int]) -> None:
        self.fixed = ConsoleDimensions(*new_size)


def _terminal_size(file: object) -> ConsoleDimensions:
    try:
        columns, lines = os.get_terminal_size(file.fileno())  # type: ignore[attr-defined]
    except (AttributeError, ValueError, OSError):  # a file without a descriptor, or not a terminal
        return _FALLBACK
    return ConsoleDimensions(columns or _FALLBACK.width, lines or _FALLBACK.height)


def _env_int(name: str) -> int | None:
    value = os.environ.get(name, "")
    return int(value) if value.isdigit() and int(value) > 0 else None


console = CliConsole(highlight=False, soft_wrap=True)  # long lines (keys, URLs) stay copyable
errors = CliConsole(stderr=True, highlight=False, soft_wrap=True)  # commands in hints stay on one line
