"""Every SQLite <-> PostgreSQL difference the SQL builders need, in one module."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DialectName = Literal["sqlite", "postgres"]


def quote_ident(name: str) -> str:
    """Quote an identifier for either engine; embedded quotes are doubled, NUL is refused."""
    if "\x00" in name:
        raise ValueError("identifier contains NUL")
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """Quote a string literal for either engine (standard_conforming_strings on PostgreSQL)."""
    if "\x00" in value:
        raise ValueError("literal contains NUL")
    return "'" + value.replace("'", "''") + "'"


@dataclass(frozen=True, slots=True)
class Dialect:
    """The engine a statement is compiled for."""

    name: DialectName

    @property
    def is_sqlite(self) -> bool:
        return self.name == "sqlite"

    def placeholder(self, index: int) -> str:
        """The placeholder for the 1-based parameter `index`."""
        return "?" if self.name == "sqlite" else f"${index}"


SQLITE = Dialect("sqlite")
POSTGRES = Dialect("postgres")
