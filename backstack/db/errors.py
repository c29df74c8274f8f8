"""Driver exceptions -> `core.errors` (SQLSTATE in `code`, PostgreSQL's wording), at the db boundary.

Services never see sqlite3 or asyncpg exceptions. SQLite's messages are rewritten into what
PostgreSQL would have said for the same failure, so a client sees one contract on both engines.
Nothing here echoes file paths or statement text.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from backstack.core.errors import ApiError, DatabaseError, Unavailable, status_for_sqlstate

if TYPE_CHECKING:
    import asyncpg

CONNECTION_MESSAGE = (
    "Could not connect with the database due to an incorrect db-uri or due to the PostgreSQL service not running."
)
POOL_TIMEOUT_MESSAGE = "Timed out acquiring connection from connection pool."
WRITE_LOCK_MESSAGE = "Timed out waiting for the database write lock."
TIMEOUT_MESSAGE = "canceling statement due to statement timeout"


def database_error(
    sqlstate: str, message: str, details: Any = None, hint: str | None = None, *, anonymous: bool = True
) -> DatabaseError:
    """A `DatabaseError` with the HTTP status PostgREST gives `sqlstate`."""
    status = status_for_sqlstate(sqlstate, anonymous=anonymous)
    return DatabaseError(sqlstate, message, details, hint, status=status)


def unavailable(code: str = "PGRST000", message: str = CONNECTION_MESSAGE, details: Any = None) -> Unavailable:
    """The 503 PostgREST answers while the database cannot be reached."""
    return Unavailable(code, message, details)


# ------------------------------------------------------------------ SQLite


@dataclass(frozen=True, slots=True)
class SqliteNames:
    """What SQLite's messages leave out, taken from the schema: constraint names by key columns."""

    # (table, columns) -> unique constraint / index name
    unique: dict[tuple[str, tuple[str, ...]], str] = field(default_factory=dict)
    # table -> its foreign keys as (name, columns, ref_table, ref_columns)
    foreign_keys: dict[str, list[tuple[str, tuple[str, ...], str, tuple[str, ...]]]] = field(default_factory=dict)
    # table -> its column names (to name an unnamed CHECK after the column it tests, as PostgreSQL does)
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)


_TARGET = re.compile(
    r"\b(?P<verb>insert(?:\s+or\s+\w+)?\s+into|update(?:\s+or\s+\w+)?|delete\s+from)\s+"
    r"(?P<name>\"(?:[^\"]|\"\")+\"|[A-Za-z_][\w$]*)",
    re.IGNORECASE,
)


def statement_target(sql: str) -> tuple[str, str] | None:
    """(verb, table) of the first insert/update/delete in `sql`: `("insert", "t")`."""
    match = _TARGET.search(sql)
    if match is None:
        return None
    name = match["name"]
    if name.startswith('"'):
        name = name[1:-1].replace('""', '"')
    return match["verb"].split()[0].lower(), name


def translate_sqlite(
    exc: sqlite3.Error, sql: str = "", names: SqliteNames | None = None, *, anonymous: bool = True
) -> ApiError:
    """The `ApiError` PostgreSQL/PostgREST would have answered for this sqlite3 exception."""
    message = str(exc)
    errname = getattr(exc, "sqlite_errorname", "") or ""
    names = names or SqliteNames()
    if errname == "SQLITE_MISMATCH" or message.startswith("cannot store") or message == "datatype mismatch":
        return database_error("22P02", _mismatch_message(message))
    if isinstance(exc, sqlite3.IntegrityError) or errname.startswith("SQLITE_CONSTRAINT"):
        return _constraint_error(message, errname, sql, names)
    if errname.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "database is locked" in message:
        return unavailable("PGRST003", WRITE_LOCK_MESSAGE)
    if errname == "SQLITE_INTERRUPT" or message == "interrupted":
        return database_error("57014", TIMEOUT_MESSAGE)
    if errname.startswith(("SQLITE_CANTOPEN", "SQLITE_IOERR", "SQLITE_FULL", "SQLITE_CORRUPT", "SQLITE_NOTADB")):
        return unavailable("PGRST000", "The database file cannot be read or written.", _first_word(errname))
    if errname == "SQLITE_READONLY" or "readonly" in message:
        return database_error("25006", "cannot execute statement in a read-only transaction")
    return _sql_error(message, anonymous=anonymous)


def _first_word(errname: str) -> str:
    return errname.removeprefix("SQLITE_") or "unknown"


def _mismatch_message(message: str) -> str:
    match = re.match(r"cannot store (\w+) value in (\w+) column (\S+)", message)
    if match:
        return f'invalid input syntax for type {match[2].lower()}: column "{match[3]}"'
    return "invalid input syntax: datatype mismatch"


_NO_SUCH = (
    (re.compile(r"^no such table: (?:main\.)?(.+)$"), "42P01", 'relation "{0}" does not exist'),
    (re.compile(r"^no such column: (.+)$"), "42703", "column {0} does not exist"),
    (re.compile(r"^no such function: (.+)$"), "42883", "function {0} does not exist"),
    (re.compile(r"^table (\S+) has no column named (.+)$"), "42703", 'column "{1}" of relation "{0}" does not exist'),
    (re.compile(r"^wrong number of arguments to function (.+)\(\)$"), "42883", "function {0} does not exist"),
    (re.compile(r'^near "(.*)": syntax error$', re.S), "42601", 'syntax error at or near "{0}"'),
    (re.compile(r"^(?:table|view|index|trigger) (\S+) already exists$"), "42P07", 'relation "{0}" already exists'),
    (re.compile(r"^ambiguous column name: (.+)$"), "42702", 'column reference "{0}" is ambiguous'),
    (re.compile(r"^too many SQL variables$"), "54000", "too many parameters in one statement"),
    (re.compile(r"^parser stack overflow$"), "54001", "statement is too complex (nested too deeply)"),
    (re.compile(r"^(Expression tree is too large.*)$"), "54001", "statement is too complex: {0}"),
    (
        re.compile(r"^(too many (?:terms|columns|arguments|FROM clause terms|references).*)$"),
        "54001",
        "statement is too complex: {0}",
    ),
    (re.compile(r"^(?:.*\s)?malformed JSON$"), "22P02", "invalid input syntax for type json"),
)


def _sql_error(message: str, *, anonymous: bool) -> ApiError:
    match = re.match(r"^no such column: ([^.\s]+)$", message)
    if match:  # PostgreSQL quotes an unqualified column name, not a qualified one
        return database_error("42703", f'column "{match[1]}" does not exist', anonymous=anonymous)
    for pattern, sqlstate, template in _NO_SUCH:
        match = pattern.match(message)
        if match:
            return database_error(sqlstate, template.format(*match.groups()), anonymous=anonymous)
    if message.startswith("incomplete input"):
        return database_error("42601", "syntax error at end of input")
    if "could not convert" in message or message.startswith("invalid input"):
        return database_error("22P02", message)
    return internal_error()


def internal_error() -> DatabaseError:
    """A failure the client cannot fix; its text stays in the server log, never in the response."""
    return DatabaseError("XX000", "internal database error", status=500)


def _constraint_error(message: str, errname: str, sql: str, names: SqliteNames) -> ApiError:
    if message.startswith("UNIQUE constraint failed:") or errname in (
        "SQLITE_CONSTRAINT_UNIQUE",
        "SQLITE_CONSTRAINT_PRIMARYKEY",
    ):
        return _unique_error(message, names)
    if message.startswith("NOT NULL constraint failed:"):
        table, _, column = message.split(":", 1)[1].strip().rpartition(".")
        return database_error(
            "23502", f'null value in column "{column}" of relation "{table}" violates not-null constraint'
        )
    if message.startswith("CHECK constraint failed"):
        return _check_error(message, sql, names)
    if message.startswith("FOREIGN KEY constraint failed"):
        return _foreign_key_error(sql, names)
    if errname == "SQLITE_CONSTRAINT_TRIGGER" or "constraint failed" not in message:
        return database_error("P0001", message)
    return database_error("23000", message)


def _unique_error(message: str, names: SqliteNames) -> ApiError:
    spec = message.split(":", 1)[1].strip() if ":" in message else ""
    if spec.startswith("index "):
        name = spec.removeprefix("index ").strip("'\"")
        return database_error("23505", f'duplicate key value violates unique constraint "{name}"')
    pairs = [part.strip().rpartition(".") for part in spec.split(",") if part.strip()]
    table = pairs[0][0] if pairs else ""
    columns = tuple(col for _, _, col in pairs)
    name = names.unique.get((table, columns)) or f"{table}_{'_'.join(columns)}_key"
    if columns == ("rowid",):
        name = f"{table}_pkey"
    details = f"Key ({', '.join(columns)}) already exists." if columns else None
    return database_error("23505", f'duplicate key value violates unique constraint "{name}"', details)


def _check_error(message: str, sql: str, names: SqliteNames) -> ApiError:
    spec = message.split(":", 1)[1].strip() if ":" in message else ""
    target = statement_target(sql)
    table = target[1] if target else ""
    if re.fullmatch(r"[A-Za-z_][\w$]*", spec) and spec not in names.columns.get(table, ()):
        name = spec
    else:
        words = re.findall(r"[A-Za-z_][\w$]*", re.sub(r"'(?:[^']|'')*'", "", spec))
        known = names.columns.get(table)
        col = next((w for w in words if (w in known if known else w.lower() not in _SQL_WORDS)), "")
        name = f"{table}_{col}_check" if col else f"{table}_check"
    relation = f'relation "{table}"' if table else "relation"
    return database_error("23514", f'new row for {relation} violates check constraint "{name}"')


_SQL_WORDS = {"and", "or", "not", "is", "null", "in", "like", "glob", "between", "length", "lower", "upper", "trim"}


def _foreign_key_error(sql: str, names: SqliteNames) -> ApiError:
    target = statement_target(sql)
    if target is None:
        return database_error("23503", "insert or update violates foreign key constraint")
    verb, table = target
    if verb == "delete":
        return _referenced_error(table, names)
    fks = names.foreign_keys.get(table, [])
    name = f' "{fks[0][0]}"' if len(fks) == 1 else ""
    return database_error("23503", f'insert or update on table "{table}" violates foreign key constraint{name}')


def _referenced_error(table: str, names: SqliteNames) -> ApiError:
    refs = [(child, fk) for child, fks in names.foreign_keys.items() for fk in fks if fk[2] == table]
    if len(refs) == 1:
        child, fk = refs[0]
        return database_error(
            "23503",
            f'update or delete on table "{table}" violates foreign key constraint "{fk[0]}" on table "{child}"',
            f'Key is still referenced from table "{child}".',
        )
    return database_error("23503", f'update or delete on table "{table}" violates foreign key constraint')


def foreign_key_violation(
    verb: str, table: str, fk: tuple[str, tuple[str, ...], str, tuple[str, ...]], child: str, values: tuple[Any, ...]
) -> ApiError:
    """The precise 23503 error once the violating row is known (see SqliteEngine's FK diagnosis)."""
    name, columns, parent, ref_columns = fk
    shown = ", ".join("NULL" if v is None else str(v) for v in values)
    if verb == "delete" or child != table:
        return database_error(
            "23503",
            f'update or delete on table "{parent}" violates foreign key constraint "{name}" on table "{child}"',
            f'Key ({", ".join(ref_columns)})=({shown}) is still referenced from table "{child}".',
        )
    return database_error(
        "23503",
        f'insert or update on table "{child}" violates foreign key constraint "{name}"',
        f'Key ({", ".join(columns)})=({shown}) is not present in table "{parent}".',
    )


# ---------------------------------------------------------------- asyncpg


def translate_asyncpg(exc: BaseException, *, anonymous: bool = True) -> ApiError:
    """The `ApiError` for an asyncpg (or socket) exception: SQLSTATE, message, detail, hint as sent."""
    import asyncpg

    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, TimeoutError):  # asyncpg's command_timeout: the server did not cancel in time
        return database_error("57014", TIMEOUT_MESSAGE)
    if is_connection_error(exc):
        return unavailable("PGRST001", "Database client error. Retrying the connection.")
    if isinstance(exc, asyncpg.PostgresError):
        return _postgres_error(exc, anonymous=anonymous)
    if isinstance(exc, asyncpg.DataError):
        return database_error("22P02", "invalid input syntax for a query parameter")
    return internal_error()


def _postgres_error(exc: asyncpg.PostgresError, *, anonymous: bool) -> ApiError:
    sqlstate = str(getattr(exc, "sqlstate", "") or "XX000")
    message = str(getattr(exc, "message", "") or "database error")
    detail = getattr(exc, "detail", None)
    hint = getattr(exc, "hint", None)
    if sqlstate.startswith(("08", "57P")):
        return unavailable("PGRST001", "Database client error. Retrying the connection.", message)
    return database_error(sqlstate, message, detail, hint, anonymous=anonymous)


def is_connection_error(exc: BaseException) -> bool:
    """True for failures of the connection itself (refused, reset, closed, server shutting down).

    A `TimeoutError` (an OSError in Python) is a statement that ran too long, not a lost connection:
    retrying it would only run it again.
    """
    import asyncpg

    if isinstance(exc, TimeoutError):
        return False
    connection_types: tuple[type[BaseException], ...] = (
        OSError,
        ConnectionError,
        asyncpg.PostgresConnectionError,
        asyncpg.ConnectionDoesNotExistError,
        asyncpg.CannotConnectNowError,
        asyncpg.AdminShutdownError,
        asyncpg.CrashShutdownError,
        # the server closed the connection while it was idle in the pool and the protocol noticed
        # mid-call: "cannot switch to state ...; another operation is in progress"
        asyncpg.exceptions.InternalClientError,
    )
    if isinstance(exc, connection_types):
        return True
    if isinstance(exc, asyncpg.InterfaceError):
        text = str(exc)
        # "released back to the pool": the connection died while in use and asyncpg detached it
        return any(s in text for s in ("connection is closed", "pool is closed", "released back to the pool"))
    return False
