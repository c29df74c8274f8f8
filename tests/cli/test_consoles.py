"""The CLI consoles' width: COLUMNS read when printing, the terminal's width, and no wrapping into a pipe."""

from __future__ import annotations

import fcntl
import io
import os
import pty
import struct
import termios

import pytest
from rich.table import Table

from backstack.cli.consoles import UNWRAPPED, CliConsole

LONG = " ".join(["alter table a_table_with_a_rather_long_name enable row level security;"] * 3)


def table() -> Table:
    grid = Table()
    grid.add_column("hint")
    grid.add_row(LONG)
    return grid


def test_a_pipe_gets_whole_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    out = io.StringIO()
    console = CliConsole(file=out)
    console.print(table())
    assert console.width == UNWRAPPED
    assert LONG in out.getvalue()  # one cell line, not wrapped at 80 columns
    assert max(len(line) for line in out.getvalue().splitlines()) == len(LONG) + 4  # no padding


def test_columns_is_read_at_print_time_not_at_import(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")  # as in pytest-xdist workers: GNU readline exports it
    out = io.StringIO()
    console = CliConsole(file=out)
    monkeypatch.setenv("COLUMNS", "200")
    assert console.width == 200
    monkeypatch.setenv("COLUMNS", "60")
    console.print(table())
    assert max(len(line) for line in out.getvalue().splitlines()) == 60


def test_a_terminal_gets_its_own_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)
    leader, follower = pty.openpty()
    try:
        with os.fdopen(follower, "w", closefd=False) as file:
            fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
            console = CliConsole(file=file)
            assert console.is_terminal
            assert (console.width, console.height) == (100, 30)
    finally:
        os.close(leader)
        os.close(follower)


def test_an_explicit_size_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    console = CliConsole(file=io.StringIO())
    console.size = (50, 10)
    assert (console.width, console.height) == (50, 10)
