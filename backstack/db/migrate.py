"""Migrations: `migrations/NNNN_name.sql` files applied in order, recorded in a history table.

Files are PostgreSQL SQL (run verbatim on PostgreSQL, translated by `db.translate.ddl` on SQLite). Each file
runs in one transaction together with its history row (version, name, sha256 checksum,
applied_at) in `_backstack.migrations` (PostgreSQL) or `_backstack_migrations` (SQLite), so a
failed migration leaves neither schema changes nor a record. Editing a file after it was applied
is refused by name: migrations are history, write a new one instead.

Python API (the CLI wraps it):
    new_migration(project_dir, name) -> Path
    await pending(engine, project_dir) -> list[Migration]
    await apply(engine, migration) -> None
    await apply_pending(engine, project_dir) -> list[str]      # filenames applied
    await status(engine, project_dir) -> list[MigrationStatus]
    await drop_all(engine) -> None
    await load_seed(engine, project_dir) -> bool
    await reset(engine, project_dir) -> list[str]               # drop_all + apply_pending + seed
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from backstack.core.errors import ApiError, Conflict, DatabaseError
from backstack.db.catalog import function_acl
from backstack.db.catalog import rls as rls_catalog
from backstack.db.dialect import quote_ident, quote_literal
from backstack.db.sqlite.writes import split_statements
from backstack.db.translate import functions as ddl_functions
from backstack.db.translate.ddl import column_types_of, split, translate

if TYPE_CHECKING:
    from pathlib import Path

    from backstack.db.engine import Engine

MIGRATIONS_DIR = "migrations"
SEED_FILE = "seed.sql"
PG_HISTORY = "_backstack.migrations"
SQLITE_HISTORY = "_backstack_migrations"
_FILENAME = re.compile(r"^(?P<version>\d+)_(?P<name>[A-Za-z0-9_\-]+)\.sql$")
_NAME = re.compile(r"^[A-Za-z0-9_]+$")
_PG_LOCK = 7_262_871_535  # pg_advisory_xact_lock key held while one process applies migrations


@dataclass(frozen=True, slots=True)
class Migration:
    """One migration file."""

    version: int
    name: str
    path: Path

    @property
    def filename(self) -> str:
        return self.path.name

    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        """sha256 of the file with line endings normalised (a Windows checkout is not an edit)."""
        return hashlib.sha256(self.path.read_bytes().replace(b"\r\n", b"\n")).hexdigest()


@dataclass(frozen=True, slots=True)
class MigrationStatus:
    """A migration as `status` reports it: `state` is applied, pending, changed or missing (no file)."""

    version: int
    name: str
    filename: str
    state: str
    applied_at: str | None = None


class MigrationError(Conflict):
    """A migration file disagrees with the history (edited after being applied, duplicate version)."""


def history_table(engine: Engine) -> str:
    return SQLITE_HISTORY if engine.dialect.is_sqlite else PG_HISTORY


def discover(project_dir: Path) -> list[Migration]:
    """The migration files of the project, by version; refuses two files with one version."""
    folder = project_dir / MIGRATIONS_DIR
    found: dict[int, Migration] = {}
    for path in sorted(folder.glob("*.sql")) if folder.is_dir() else []:
        match = _FILENAME.match(path.name)
        if match is None:
            continue
        version = int(match["version"])
        if version in found:
            raise MigrationError(
                "BSM01", f"two migrations have version {version}: {found[version].filename} and {path.name}"
            )
        found[version] = Migration(version, match["name"], path)
    return [found[v] for v in sorted(found)]


def new_migration(project_dir: Path, name: str) -> Path:
    """Create `migrations/NNNN_name.sql`, numbered after the last one; ValueError for a bad name."""
    if not _NAME.match(name):
        raise ValueError(f"invalid migration name {name!r}: use letters, digits and underscores")
    existing = discover(project_dir)
    version = existing[-1].version + 1 if existing else 1
    folder = project_dir / MIGRATIONS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{version:04d}_{name}.sql"
    path.write_text(
        f"-- {path.name}: PostgreSQL SQL, applied in one transaction by `backstack migrate up`.\n"
        "-- On SQLite it is translated; statements SQLite cannot honour fail with their text.\n\n",
        encoding="utf-8",
    )
    return path


async def ensure_history(engine: Engine) -> None:
    """Create the history table if it does not exist."""
    if engine.dialect.is_sqlite:
        await engine.execute_script(
            f"create table if not exists {SQLITE_HISTORY} (version integer primary key, name text not null, "
            "checksum text not null, applied_at text not null)"
        )
        return
    await engine.execute_script(
        "create schema if not exists _backstack; "
        f"create table if not exists {PG_HISTORY} (version bigint primary key, name text not null, "
        "checksum text not null, applied_at timestamptz not null default now())"
    )


async def applied(engine: Engine) -> dict[int, tuple[str, str, str]]:
    """version -> (name, checksum, applied_at) from the history table."""
    await ensure_history(engine)
    rows = await engine.fetch_all(f"select version, name, checksum, applied_at from {history_table(engine)}")  # noqa: S608 (our history table)
    return {int(v): (str(n), str(c), _timestamp(a)) for v, n, c, a in rows}


def _timestamp(value: object) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _verify(files: list[Migration], history: dict[int, tuple[str, str, str]]) -> None:
    for migration in files:
        record = history.get(migration.version)
        if record is not None and record[1] != migration.checksum:
            raise MigrationError(
                "BSM02",
                f"migration {migration.filename} was changed after it was applied",
                f"applied checksum {record[1][:12]}..., file checksum {migration.checksum[:12]}...",
                "restore the file and write a new migration for the change",
            )


async def pending(engine: Engine, project_dir: Path) -> list[Migration]:
    """Files not yet applied, in order; raises MigrationError if an applied file was edited."""
    files = discover(project_dir)
    history = await applied(engine)
    _verify(files, history)
    return [m for m in files if m.version not in history]


async def apply(engine: Engine, migration: Migration) -> None:
    """Run one migration and record it, in one transaction; errors name the file, statement and line."""
    now = "strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))" if engine.dialect.is_sqlite else "now())"
    record = (
        f"insert into {history_table(engine)} (version, name, checksum, applied_at) values "  # noqa: S608 (int version, quote_literal'd values)
        f"({migration.version}, {quote_literal(migration.name)}, {quote_literal(migration.checksum)}, {now}"
    )
    try:
        await _run_file(engine, migration.sql(), f"migration {migration.filename}", record)
    except DatabaseError as error:
        if error.code == "23505" and "migrations" in error.message:
            raise MigrationError(
                "BSM03", f"migration {migration.filename} was applied concurrently by another process"
            ) from None
        raise


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


async def _run_file(engine: Engine, sql: str, label: str, tail: str = "") -> bool:
    """Run a file's SQL plus `tail` (our own bookkeeping) in one transaction; a failure names the file
    (`label`) and, when it can be told, the statement's number and line. False when nothing ran."""
    if engine.dialect.is_sqlite:
        return await _run_file_sqlite(engine, sql, label, tail)
    if not tail and not split(sql):
        return False
    lock = f"select pg_advisory_xact_lock({_PG_LOCK});\n"
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
            await conn.execute(f"select pg_advisory_xact_lock({_PG_LOCK})")
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


async def apply_pending(engine: Engine, project_dir: Path) -> list[str]:
    """Apply every pending migration in order; return the filenames applied."""
    done: list[str] = []
    for migration in await pending(engine, project_dir):
        await apply(engine, migration)
        done.append(migration.filename)
    return done


async def status(engine: Engine, project_dir: Path) -> list[MigrationStatus]:
    """Every migration known from files or history, by version, with its state."""
    files = {m.version: m for m in discover(project_dir)}
    history = await applied(engine)
    result: list[MigrationStatus] = []
    for version in sorted(set(files) | set(history)):
        migration, record = files.get(version), history.get(version)
        if migration is None and record is not None:
            result.append(MigrationStatus(version, record[0], "", "missing", record[2]))
        elif migration is not None and record is None:
            result.append(MigrationStatus(version, migration.name, migration.filename, "pending"))
        elif migration is not None and record is not None:
            state = "applied" if record[1] == migration.checksum else "changed"
            result.append(MigrationStatus(version, migration.name, migration.filename, state, record[2]))
    return result


async def load_seed(engine: Engine, project_dir: Path) -> bool:
    """Run `seed.sql` (PostgreSQL SQL; translated on SQLite) in one transaction, if it has statements."""
    path = project_dir / SEED_FILE
    if not path.is_file():
        return False
    return await _run_file(engine, path.read_text(encoding="utf-8"), SEED_FILE)


async def drop_all(engine: Engine) -> None:
    """Drop every user table, view (and on PostgreSQL routine, sequence, type) of the exposed
    schemas, and forget the migration history; other schemas (auth...) and internal tables are
    kept: on SQLite, the `_`-prefixed tables that stand for them (with the RLS catalog rows of the dropped tables)."""
    if engine.dialect.is_sqlite:
        await _drop_all_sqlite(engine)
    else:
        await _drop_all_postgres(engine)
    await engine.reload_schema()


async def _drop_all_sqlite(engine: Engine) -> None:
    rows = await engine.fetch_all(
        "select type, name from sqlite_schema where type in ('table', 'view') "
        "and name not like 'sqlite\\_%' escape '\\' and name not like '\\_%' escape '\\'"
    )
    virtual = {r[0] for r in await engine.fetch_all("select name from sqlite_schema where sql like 'CREATE VIRTUAL%'")}
    shadows = {r[1] for r in rows if any(r[1].startswith(v + "_") for v in virtual)}
    views = [f"drop view if exists {quote_ident(n)}" for t, n in rows if t == "view"]
    tables = [f"drop table if exists {quote_ident(n)}" for t, n in rows if t == "table" and n not in shadows]
    functions = [
        ddl_functions.CREATE_CATALOG,
        f"DELETE FROM {ddl_functions.CATALOG}",  # noqa: S608 (our catalog table); as PostgreSQL's drop routine
        *function_acl.CREATE,
        f"DELETE FROM {function_acl.ACL}",  # noqa: S608 (our catalog table)
    ]
    statements = ["PRAGMA defer_foreign_keys = ON", *views, *tables, *rls_catalog.RESET, *functions]
    await ensure_history(engine)
    statements.append(f"delete from {SQLITE_HISTORY}")  # noqa: S608 (our history table)
    await engine.execute_script(";\n".join(statements))


_PG_DROP_ALL = """
do $$
declare r record;
begin
  for r in
    select format('drop %s if exists %I.%I cascade',
                  case c.relkind when 'v' then 'view' when 'm' then 'materialized view'
                                 when 'f' then 'foreign table' else 'table' end,
                  n.nspname, c.relname) as cmd
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = any(%(schemas)s) and c.relkind in ('r', 'p', 'v', 'm', 'f')
      and not exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype = 'e')
  loop execute r.cmd; end loop;
  for r in
    select format('drop routine if exists %s cascade', p.oid::regprocedure) as cmd
    from pg_proc p join pg_namespace n on n.oid = p.pronamespace
    where n.nspname = any(%(schemas)s)
      and not exists (select 1 from pg_depend d where d.objid = p.oid and d.deptype = 'e')
  loop execute r.cmd; end loop;
  for r in
    select format('drop %s if exists %I.%I cascade', case c.relkind when 'S' then 'sequence' end,
                  n.nspname, c.relname) as cmd
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = any(%(schemas)s) and c.relkind = 'S'
      and not exists (select 1 from pg_depend d where d.objid = c.oid and d.deptype = 'e')
  loop execute r.cmd; end loop;
  for r in
    select format('drop type if exists %I.%I cascade', n.nspname, t.typname) as cmd
    from pg_type t join pg_namespace n on n.oid = t.typnamespace
    where n.nspname = any(%(schemas)s) and t.typtype in ('e', 'c', 'd', 'r')
      and (t.typrelid = 0 or (select c.relkind from pg_class c where c.oid = t.typrelid) = 'c')
      and not exists (select 1 from pg_depend d where d.objid = t.oid and d.deptype = 'e')
  loop execute r.cmd; end loop;
end $$;
"""


async def _drop_all_postgres(engine: Engine) -> None:
    schemas = getattr(engine, "schemas", ["public"])
    array = "array[" + ", ".join(quote_literal(s) for s in schemas) + "]::text[]"
    await ensure_history(engine)
    await engine.execute_script(_PG_DROP_ALL.replace("%(schemas)s", array) + f"; delete from {PG_HISTORY}")  # noqa: S608 (quote_literal'd schemas, our history table)


async def reset(engine: Engine, project_dir: Path) -> list[str]:
    """Drop everything, re-apply every migration, load seed.sql; return the migrations applied."""
    await drop_all(engine)
    done = await apply_pending(engine, project_dir)
    await load_seed(engine, project_dir)
    return done
