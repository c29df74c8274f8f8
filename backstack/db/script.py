"""Running a project's SQL file (a migration, the seed) in one transaction on either engine, and
naming the statement that failed.

Why apart from `migrate.py`: the history (which files, in which order, checksums) does not care how
a file runs, and running one is the part that differs per engine. PostgreSQL runs the file as sent,
under an advisory lock that serialises processes applying migrations; SQLite runs its translation
(`db.translate.ddl`). Either way an error says "statement N, line L: <text>" of the file as
written: the translator numbers statements as `statements_of` does, and PostgreSQL, which does not
say which statement of a script failed, is asked by running the file again one statement at a time
in a transaction that is always rolled back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from backstack.core.errors import ApiError, DatabaseError
from backstack.db.sqlite.writes import split_statements
from backstack.db.translate.ddl import column_types_of, split, translate

if TYPE_CHECKING:
    from backstack.db.protocol import Engine

PG_LOCK = 7_262_871_535  # pg_advisory_xact_lock key held while one process applies migrations


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement of a SQL file: its number (from 1), the line its code starts on, its text."""

    number: int
    line: int
    source: str


_BLANKS = re.compile(r"(?:\s+|--[^\n]*|/\*.*?\*/)*", re.DOTALL)  # whitespace and comments
_NUMBER = re.compile(r"\bstatement (\d+)\b")


def statements_of(sql: str) -> list[Statement]:
    """The statements of a PostgreSQL script, numbered as `db.translate.ddl.split` (and so the translator)
    counts them, each with the line its code starts on."""
    found: list[Statement] = []
    position = 0
    for number, source in enumerate(split(sql), 1):
        start = max(sql.find(source, position), position)  # split returns slices of `sql`, stripped
        code = start + _BLANKS.match(source).end()  # type: ignore[union-attr]  # matches the empty string
        found.append(Statement(number, sql.count("\n", 0, code) + 1, source))
        position = start + len(source)
    return found


async def run_file(engine: Engine, sql: str, label: str, tail: str = "") -> bool:
    """Run a file's SQL plus `tail` (our own bookkeeping) in one transaction; a failure names the file
    (`label`) and, when it can be told, the statement's number and line. False when nothing ran."""
    if engine.dialect.is_sqlite:
        return await _run_file_sqlite(engine, sql, label, tail)
    if not tail and not split(sql):
        return False
    lock = f"select pg_advisory_xact_lock({PG_LOCK});\n"
    try:
        await engine.execute_script(lock + sql + ("\n;\n" + tail if tail else ""))
    except ApiError as error:
        statement = await _locate_postgres(engine, statements_of(sql), error)
        raise _named(error, label, statement) from None
    return True


async def _run_file_sqlite(engine: Engine, sql: str, label: str, tail: str) -> bool:
    statements = statements_of(sql)
    try:
        translated = translate(sql, column_types=column_types_of(await engine.schema()))
    except ApiError as error:  # from the translator, which numbers statements as statements_of does
        statement = _numbered(statements, _statement_number(error))
        raise _named(error, label, statement, refused=error.message.startswith("SQLite cannot run")) from None
    owners: list[Statement | None] = []  # statement of the SQLite script -> statement of the file
    script = ""
    for number, item in enumerate(translated, 1):
        for part in item.sqlite:
            owners += [_numbered(statements, number)] * len(split_statements(part + ";"))
            script += f"{part};\n"
    if not script and not tail:
        return False
    try:
        await engine.execute_script(script + tail)
    except ApiError as error:
        index = _statement_number(error)
        raise _named(error, label, owners[index - 1] if index and index <= len(owners) else None) from None
    return True


def _statement_number(error: ApiError) -> int | None:
    """The statement number an engine or translator error quotes ("statement 3: ..."), if any."""
    for text in (str(error.details or ""), error.message):
        match = _NUMBER.search(text)
        if match:
            return int(match[1])
    return None


def _numbered(statements: list[Statement], number: int | None) -> Statement | None:
    return statements[number - 1] if number and 0 < number <= len(statements) else None


class _RolledBack(Exception):
    """Ends the diagnostic transaction of `_locate_postgres`."""


async def _locate_postgres(engine: Engine, statements: list[Statement], error: ApiError) -> Statement | None:
    """Which statement failed. PostgreSQL runs a script sent as one message without saying, so after
    a failure run the file again one statement at a time, under the same lock, in a transaction that
    is always rolled back; the first statement failing with the same SQLSTATE is the one."""
    found: list[Statement] = []
    try:
        async with engine.transaction() as conn:
            await conn.execute(f"select pg_advisory_xact_lock({PG_LOCK})")
            await conn.execute("set local statement_timeout = 0")
            for statement in statements:
                try:
                    await conn.execute(statement.source)
                except ApiError as again:
                    if again.code == error.code:
                        found.append(statement)
                    raise _RolledBack from None
            raise _RolledBack
    except (_RolledBack, ApiError):
        pass
    return found[0] if found else None


def _named(error: ApiError, label: str, statement: Statement | None, *, refused: bool = False) -> ApiError:
    """The error naming the file (`label`) in its message and, when known, the statement's number and
    line in its details ("statement 3, line 7: <text>"), alike on both engines."""
    if statement is None:
        message, details = f"{label} failed: {error.message}", error.details
    elif refused:  # the translator's "SQLite cannot run statement N: ...", its reason in details
        where = f"statement {statement.number}, line {statement.line}"
        message, details = f"{label} failed: SQLite cannot run {where}: {_head(statement.source)}", error.details
    else:
        extra = None if _statement_number(error) is not None else error.details  # SQLite's own numbering goes
        message = f"{label} failed: {error.message}"
        details = f"statement {statement.number}, line {statement.line}: {_head(statement.source)}"
        details += f" ({extra})" if extra else ""
    return DatabaseError(error.code, message, details, error.hint, status=error.status)


def _head(source: str, limit: int = 100) -> str:
    """The statement on one line, comments left out, cut at `limit` characters."""
    text = " ".join(source[_BLANKS.match(source).end() :].split())  # type: ignore[union-attr]
    return text if len(text) <= limit else text[: limit - 3] + "..."
